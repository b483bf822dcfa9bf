"""GoogLeNet (Szegedy et al., 2014): ``InceptionBlock`` and a width-scalable ``GoogLeNet``.

An Inception block runs four branches on the same input and concatenates their outputs along
the channels (``tinyconv.cat``): a 1x1 convolution; a 1x1 bottleneck then a 3x3 convolution;
a 1x1 bottleneck then a 5x5 convolution (the paper's 5x5, where torchvision uses 3x3); a 3x3
max-pool (stride 1) then a 1x1 projection. Every convolution is ``BasicConv2d``: Conv2d, then
BatchNorm2d (which the 2014 paper predates; ``batch_norm=False`` leaves it out), then ReLU.
The auxiliary classifiers of the paper are left out.
"""

from collections import OrderedDict

from .. import functional as F
from .. import nn
from ..nn import init
from ._common import check_common, choose_layout, input_hw, scaled

__all__ = ["BasicConv2d", "InceptionBlock", "GoogLeNet", "googlenet"]

# (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) of the paper's Table 1; "M" is a
# 3x3/2 max-pool.
GOOGLENET_CFG = [
    ("inception3a", (64, 96, 128, 16, 32, 32)),
    ("inception3b", (128, 128, 192, 32, 96, 64)),
    ("maxpool3", "M"),
    ("inception4a", (192, 96, 208, 16, 48, 64)),
    ("inception4b", (160, 112, 224, 24, 64, 64)),
    ("inception4c", (128, 128, 256, 24, 64, 64)),
    ("inception4d", (112, 144, 288, 32, 64, 64)),
    ("inception4e", (256, 160, 320, 32, 128, 128)),
    ("maxpool4", "M"),
    ("inception5a", (256, 160, 320, 32, 128, 128)),
    ("inception5b", (384, 192, 384, 48, 128, 128)),
]


class BasicConv2d(nn.Module):
    """``Conv2d - BatchNorm2d(eps=0.001) - ReLU`` (the convolution has a bias only without BN)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 batch_norm=True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                              bias=not batch_norm)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001) if batch_norm else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class InceptionBlock(nn.Module):
    """Four parallel branches concatenated along channels.

    Parameters
    ----------
    in_channels : int
        Channels of the input.
    ch1x1 : int
        Output channels of the 1x1 branch.
    ch3x3red, ch3x3 : int
        Bottleneck (1x1) and output channels of the 3x3 branch.
    ch5x5red, ch5x5 : int
        Bottleneck (1x1) and output channels of the 5x5 branch.
    pool_proj : int
        Output channels of the 1x1 projection after the 3x3 max-pool.
    batch_norm : bool
        BatchNorm2d after every convolution.

    Shape: (N, in_channels, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W).
    """

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj,
                 batch_norm=True):
        super().__init__()
        bn = batch_norm
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1, batch_norm=bn)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, 1, batch_norm=bn),
                                     BasicConv2d(ch3x3red, ch3x3, 3, padding=1, batch_norm=bn))
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red, 1, batch_norm=bn),
                                     BasicConv2d(ch5x5red, ch5x5, 5, padding=2, batch_norm=bn))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                                     BasicConv2d(in_channels, pool_proj, 1, batch_norm=bn))
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x):
        return F.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class GoogLeNet(nn.Module):
    """GoogLeNet: a stem, nine Inception blocks with two max-pools, global pooling, Linear.

    Stems: 'imagenet' is the paper's 7x7/2 convolution, 3x3/2 max-pool, 1x1 and 3x3
    convolutions and another 3x3/2 max-pool; 'cifar' is a single 3x3 convolution with 192
    channels (times ``width_mult``) that keeps the resolution. The max-pools between stages
    are ``MaxPool2d(3, 2, padding=1)`` (32 -> 16 -> 8 on 32x32 input).

    Parameters
    ----------
    num_classes, in_channels : int
        Outputs and input channels.
    layout : {'cifar', 'imagenet', None}
        The stem; None picks 'imagenet' from 128 pixels (smaller side) up.
    input_size : int or (int, int)
        Input height and width (any size: global average pooling ends the network).
    width_mult : float
        Scales every channel count (1.0: the paper's widths, 6 M parameters).
    batch_norm : bool
        BatchNorm2d after every convolution.
    dropout : float
        Dropout before the last layer (the paper's 0.4).

    Shape: (N, in_channels, H, W) -> (N, num_classes).
    """

    def __init__(self, num_classes=10, in_channels=3, layout=None, input_size=32,
                 width_mult=1.0, batch_norm=True, dropout=0.4):
        super().__init__()
        name = "GoogLeNet"
        num_classes, in_channels = check_common(name, num_classes, in_channels)
        hw = input_hw(name, input_size)
        self.layout = layout = choose_layout(name, layout, hw)
        self.input_size = hw
        bn = batch_norm

        def w(c):
            return scaled(name, c, width_mult)

        if layout == "imagenet":
            stem = [("conv1", BasicConv2d(in_channels, w(64), 7, 2, 3, batch_norm=bn)),
                    ("maxpool1", nn.MaxPool2d(3, 2, padding=1)),
                    ("conv2", BasicConv2d(w(64), w(64), 1, batch_norm=bn)),
                    ("conv3", BasicConv2d(w(64), w(192), 3, padding=1, batch_norm=bn)),
                    ("maxpool2", nn.MaxPool2d(3, 2, padding=1))]
        else:
            stem = [("conv1", BasicConv2d(in_channels, w(192), 3, padding=1, batch_norm=bn))]
        self.stem = nn.Sequential(OrderedDict(stem))
        blocks, c = [], w(192)
        for key, spec in GOOGLENET_CFG:
            if spec == "M":
                blocks.append((key, nn.MaxPool2d(3, 2, padding=1)))
            else:
                block = InceptionBlock(c, *(w(v) for v in spec), batch_norm=bn)
                blocks.append((key, block))
                c = block.out_channels
        self.blocks = nn.Sequential(OrderedDict(blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    init.zeros_(m.bias)

    def forward(self, x):
        x = self.avgpool(self.blocks(self.stem(x)))
        return self.fc(self.dropout(x.flatten(1)))


def googlenet(num_classes=10, in_channels=3, input_size=32, width_mult=0.25, **kwargs):
    """A small GoogLeNet: the paper's blocks at a quarter of their widths (0.4 M parameters).

    Keyword arguments (``layout``, ``batch_norm``, ``dropout``) go to :class:`GoogLeNet`;
    ``width_mult=1.0`` gives the paper's widths.
    """
    return GoogLeNet(num_classes, in_channels, input_size=input_size, width_mult=width_mult,
                     **kwargs)
