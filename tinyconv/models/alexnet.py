"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012) with local response normalisation and dropout.

Five convolutions (widths 64, 192, 384, 256, 256: torchvision's one-GPU variant), each of the
first two followed by ReLU, ``LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2)`` (the paper's
constants) and an overlapping 3x3/2 max-pool; a third max-pool after the fifth convolution;
then a classifier ``Dropout - Linear - ReLU - Dropout - Linear - ReLU - Linear``.

Layouts:

- ``'cifar'`` (default; sized for 32x32): a 5x5/1 first convolution and max-pools padded by 1,
  so the maps go 32 -> 16 -> 8 -> 4 (any input from 1 pixel works: 8x8 gives 1x1); hidden
  width 1024.
- ``'imagenet'``: the paper's 11x11/4 first convolution (padding 2) and unpadded pools,
  ``AdaptiveAvgPool2d((6, 6))`` and hidden width 4096, as torchvision (which has no LRN).
"""

from .. import nn
from ._common import check_common, choose_layout, input_hw, scaled, shrink

__all__ = ["AlexNet", "alexnet"]


class AlexNet(nn.Module):
    """AlexNet with LRN after the first two convolutions; see the module docstring.

    Parameters
    ----------
    num_classes, in_channels : int
        Outputs and input channels.
    layout : {'cifar', 'imagenet', None}
        None picks 'imagenet' when the smaller side of ``input_size`` is at least 128 pixels.
    input_size : int or (int, int)
        Input height and width; the 'cifar' classifier is sized for it.
    width_mult : float
        Scales the convolution widths and the hidden width.
    hidden_features : int or None
        Hidden width of the classifier (None: 1024 'cifar', 4096 'imagenet', times
        ``width_mult``).
    dropout : float
        Dropout probability before each hidden Linear layer.
    lrn : bool
        Include the LocalResponseNorm layers.

    Shape: (N, in_channels, H, W) -> (N, num_classes).
    """

    def __init__(self, num_classes=10, in_channels=3, layout=None, input_size=32,
                 width_mult=1.0, hidden_features=None, dropout=0.5, lrn=True):
        super().__init__()
        name = "AlexNet"
        num_classes, in_channels = check_common(name, num_classes, in_channels)
        hw0 = input_hw(name, input_size)
        self.layout = layout = choose_layout(name, layout, hw0)
        self.input_size = hw0
        c1, c2, c3, c4, c5 = (scaled(name, c, width_mult) for c in (64, 192, 384, 256, 256))
        if layout == "imagenet":
            k1, s1, p1, pool_pad = 11, 4, 2, 0
            hidden = scaled(name, 4096, width_mult) if hidden_features is None \
                else hidden_features
        else:
            k1, s1, p1, pool_pad = 5, 1, 2, 1
            hidden = scaled(name, 1024, width_mult) if hidden_features is None \
                else hidden_features

        def norm():
            return [nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)] if lrn else []

        def pool(hw, where):
            return nn.MaxPool2d(3, 2, pool_pad), shrink(name, hw, hw0, where, 3, 2, pool_pad)

        hw = shrink(name, hw0, hw0, "conv1", k1, s1, p1)
        pool1, hw = pool(hw, "the first max-pool")
        pool2, hw = pool(hw, "the second max-pool")
        pool3, hw = pool(hw, "the third max-pool")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, k1, s1, p1), nn.ReLU(inplace=True), *norm(), pool1,
            nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(inplace=True), *norm(), pool2,
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, 3, padding=1), nn.ReLU(inplace=True), pool3)
        if layout == "imagenet":
            self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
            hw = (6, 6)
        else:
            self.avgpool = nn.Identity()
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(c5 * hw[0] * hw[1], hidden), nn.ReLU(inplace=True),
            nn.Dropout(p=dropout), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def alexnet(num_classes=10, in_channels=3, input_size=32, **kwargs):
    """:class:`AlexNet` (sized for 32x32 input by default); keyword arguments (``layout``,
    ``width_mult``, ``hidden_features``, ``dropout``, ``lrn``) go to the class."""
    return AlexNet(num_classes, in_channels, input_size=input_size, **kwargs)
