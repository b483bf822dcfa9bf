"""VGG (Simonyan & Zisserman, 2014): stacks of 3x3 convolutions and 2x2 max-pools.

``VGG(cfg, ...)`` builds ``features`` from a configuration list (an int is a 3x3 convolution
with that many output channels, ``'M'`` a 2x2 max-pool), as torchvision does, with the same
``state_dict`` keys (``features.0.weight``, ``classifier.6.bias``, ...). Two classifier layouts:

- ``'cifar'`` (default for inputs below 128 pixels): flatten the maps (1x1 after five pools on
  32x32 input), then ``Linear(C*h*w, hidden) - ReLU - Dropout - Linear(hidden, num_classes)``,
  or ``Dropout - Linear(C*h*w, num_classes)`` when ``hidden_features`` is 0 (no Dropout when
  ``dropout`` is 0).
- ``'imagenet'``: torchvision's ``AdaptiveAvgPool2d((7, 7))`` and two 4096-wide hidden layers.
"""

from .. import nn
from ..nn import init
from ._common import check_common, choose_layout, input_hw, scaled, shrink

__all__ = ["VGG", "cfgs", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn",
           "vgg19_bn", "small_vgg"]

# Configurations A, B, D and E of the paper (VGG-11, -13, -16, -19).
cfgs = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512,
          512, 512, "M"],
    # small_vgg: three blocks of two conv-BN-ReLU and a pool, for fast CIFAR training.
    "small": [32, 32, "M", 64, 64, "M", 128, 128, "M"],
}


class VGG(nn.Module):
    """A VGG network: ``features`` (3x3 convolutions, ReLU, max-pools), then ``classifier``.

    Parameters
    ----------
    cfg : list or str
        Layer list (ints: 3x3 convolution widths, ``'M'``: 2x2 max-pool) or a key of
        :data:`cfgs` (``'A'``, ``'B'``, ``'D'``, ``'E'``, ``'small'``).
    num_classes, in_channels : int
        Outputs and input channels.
    batch_norm : bool
        BatchNorm2d after every convolution (``Conv2d - BatchNorm2d - ReLU``).
    layout : {'cifar', 'imagenet', None}
        Classifier layout (see the module docstring); None picks ``'imagenet'`` when the
        smaller side of ``input_size`` is at least 128, ``'cifar'`` otherwise.
    input_size : int or (int, int)
        Height and width of the input; the 'cifar' classifier is sized for it.
    width_mult : float
        Scales every convolution width (and the hidden widths) for thinner, faster models.
    hidden_features : int or None
        Width of the hidden classifier layers: None means 512 ('cifar') or 4096 ('imagenet'),
        scaled by ``width_mult``; 0 leaves a single Linear layer ('cifar' only).
    dropout : float
        Dropout probability in the classifier.
    init_weights : bool
        torchvision's initialisation: kaiming_normal_(fan_out) convolutions, N(0, 0.01)
        linear weights, zero biases. Otherwise PyTorch's per-layer defaults.

    Shape: (N, in_channels, H, W) -> (N, num_classes).
    """

    def __init__(self, cfg="D", num_classes=10, in_channels=3, batch_norm=False, layout=None,
                 input_size=32, width_mult=1.0, hidden_features=None, dropout=0.5,
                 init_weights=True):
        super().__init__()
        name = "VGG"
        num_classes, in_channels = check_common(name, num_classes, in_channels)
        if isinstance(cfg, str):
            if cfg not in cfgs:
                raise ValueError(f"{name}: unknown configuration {cfg!r}; known: "
                                 f"{', '.join(sorted(cfgs))}")
            cfg = cfgs[cfg]
        hw0 = input_hw(name, input_size)
        self.layout = layout = choose_layout(name, layout, hw0)
        self.input_size = hw0
        layers, c, hw = [], in_channels, hw0
        for i, v in enumerate(cfg):
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                hw = shrink(name, hw, hw0, f"max-pool features.{len(layers) - 1}", 2, 2)
            elif isinstance(v, int) and not isinstance(v, bool) and v > 0:
                out = scaled(name, v, width_mult)
                layers.append(nn.Conv2d(c, out, kernel_size=3, padding=1))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(out))
                layers.append(nn.ReLU(inplace=True))
                c = out
            else:
                raise ValueError(f"{name}: cfg entries must be positive ints or 'M', got "
                                 f"{v!r} at position {i}")
        self.features = nn.Sequential(*layers)
        if layout == "imagenet":
            hidden = scaled(name, 4096, width_mult) if hidden_features is None \
                else hidden_features
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(c * 7 * 7, hidden), nn.ReLU(True), nn.Dropout(p=dropout),
                nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(p=dropout),
                nn.Linear(hidden, num_classes))
        else:
            hidden = scaled(name, 512, width_mult) if hidden_features is None \
                else hidden_features
            self.avgpool = nn.Identity()
            flat = c * hw[0] * hw[1]
            if hidden:
                self.classifier = nn.Sequential(
                    nn.Linear(flat, hidden), nn.ReLU(True), nn.Dropout(p=dropout),
                    nn.Linear(hidden, num_classes))
            elif dropout:
                self.classifier = nn.Sequential(nn.Dropout(p=dropout),
                                                nn.Linear(flat, num_classes))
            else:
                self.classifier = nn.Sequential(nn.Linear(flat, num_classes))
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    init.zeros_(m.bias)
                elif isinstance(m, nn.BatchNorm2d):
                    init.ones_(m.weight)
                    init.zeros_(m.bias)
                elif isinstance(m, nn.Linear):
                    init.normal_(m.weight, 0, 0.01)
                    init.zeros_(m.bias)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def _vgg(cfg, batch_norm, num_classes, in_channels, input_size, kwargs):
    return VGG(cfg, num_classes, in_channels, batch_norm=batch_norm, input_size=input_size,
               **kwargs)


def vgg11(num_classes=10, in_channels=3, input_size=32, batch_norm=False, **kwargs):
    """VGG-11 (configuration A); keyword arguments (``layout``, ``width_mult``, ...) go to
    :class:`VGG`."""
    return _vgg("A", batch_norm, num_classes, in_channels, input_size, kwargs)


def vgg13(num_classes=10, in_channels=3, input_size=32, batch_norm=False, **kwargs):
    """VGG-13 (configuration B); see :func:`vgg11`."""
    return _vgg("B", batch_norm, num_classes, in_channels, input_size, kwargs)


def vgg16(num_classes=10, in_channels=3, input_size=32, batch_norm=False, **kwargs):
    """VGG-16 (configuration D); see :func:`vgg11`."""
    return _vgg("D", batch_norm, num_classes, in_channels, input_size, kwargs)


def vgg19(num_classes=10, in_channels=3, input_size=32, batch_norm=False, **kwargs):
    """VGG-19 (configuration E); see :func:`vgg11`."""
    return _vgg("E", batch_norm, num_classes, in_channels, input_size, kwargs)


def vgg11_bn(num_classes=10, in_channels=3, input_size=32, **kwargs):
    """VGG-11 with batch normalisation."""
    return _vgg("A", True, num_classes, in_channels, input_size, kwargs)


def vgg13_bn(num_classes=10, in_channels=3, input_size=32, **kwargs):
    """VGG-13 with batch normalisation."""
    return _vgg("B", True, num_classes, in_channels, input_size, kwargs)


def vgg16_bn(num_classes=10, in_channels=3, input_size=32, **kwargs):
    """VGG-16 with batch normalisation."""
    return _vgg("D", True, num_classes, in_channels, input_size, kwargs)


def vgg19_bn(num_classes=10, in_channels=3, input_size=32, **kwargs):
    """VGG-19 with batch normalisation."""
    return _vgg("E", True, num_classes, in_channels, input_size, kwargs)


def small_vgg(num_classes=10, in_channels=3, input_size=32, width_mult=1.0, dropout=0.0,
              **kwargs):
    """A small VGG for fast CIFAR-10 training on a few cores.

    Three blocks of ``(Conv2d 3x3 - BatchNorm2d - ReLU) x 2 - MaxPool2d(2)`` with 32, 64 and 128
    channels (times ``width_mult``), then one Linear layer on the flattened 128x4x4 maps (for
    32x32 input; 8x8 input gives 128x1x1). About 0.3 M parameters and 40 M multiply-adds per
    32x32 image.
    """
    kwargs.setdefault("hidden_features", 0)
    kwargs.setdefault("layout", "cifar")
    return VGG("small", num_classes, in_channels, batch_norm=True, input_size=input_size,
               width_mult=width_mult, dropout=dropout, **kwargs)
