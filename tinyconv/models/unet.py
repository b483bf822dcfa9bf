"""U-Net (Ronneberger et al., 2015): an encoder-decoder with skip connections, for per-pixel
outputs (segmentation, denoising).

The encoder halves the maps ``depth`` times (2x2 max-pool, then two 3x3 convolutions that
double the channels); the decoder doubles them back with 2x2/2 ``ConvTranspose2d`` layers,
concatenates (``tinyconv.cat``) the encoder maps of the same resolution and applies two 3x3
convolutions. A 1x1 convolution gives ``num_classes`` output maps. Unlike the paper, the 3x3
convolutions are padded (the output has the input's size) and followed by BatchNorm2d; odd
sizes work because each up-convolution is asked for its skip connection's size
(``ConvTranspose2d(..., output_size=...)``).
"""

from collections import OrderedDict

from .. import functional as F
from .. import nn
from ..nn.module import _check_size
from ._common import check_common, input_hw, shrink

__all__ = ["DoubleConv", "UpBlock", "UNet", "unet"]


class DoubleConv(nn.Sequential):
    """``(Conv2d 3x3, padding 1 - BatchNorm2d - ReLU) x 2``; (N, C_in, H, W) -> (N, C_out, H, W).

    Without ``batch_norm`` the convolutions have biases and there is no BatchNorm2d.
    """

    def __init__(self, in_channels, out_channels, batch_norm=True):
        layers = []
        for c_in in (in_channels, out_channels):
            layers.append(nn.Conv2d(c_in, out_channels, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class UpBlock(nn.Module):
    """``up``: ConvTranspose2d(in, in/2, 2, stride=2); ``conv``: DoubleConv on [skip, up(x)].

    ``forward(x, skip)``: (N, C, h, w) and (N, C/2, H, W) -> (N, C/2, H, W), with H in
    {2h, 2h + 1} (likewise W).
    """

    def __init__(self, in_channels, out_channels, batch_norm=True):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        self.conv = DoubleConv(2 * out_channels, out_channels, batch_norm)

    def forward(self, x, skip):
        x = self.up(x, output_size=skip.shape[-2:])
        return self.conv(F.cat([skip, x], 1))


class UNet(nn.Module):
    """U-Net with ``depth`` down- and up-sampling steps.

    Parameters
    ----------
    num_classes : int
        Output channels (one map per class; use cross-entropy over dimension 1).
    in_channels : int
        Input channels.
    input_size : int or (int, int)
        Input height and width, checked to survive ``depth`` halvings (at least ``2**depth``).
    width : int
        Channels after the first DoubleConv; level ``i`` has ``width * 2**i`` (paper: 64).
    depth : int
        Number of 2x2 max-pools (paper: 4).
    batch_norm : bool
        BatchNorm2d in every DoubleConv.

    Shape: (N, in_channels, H, W) -> (N, num_classes, H, W).
    """

    def __init__(self, num_classes=2, in_channels=1, input_size=32, width=16, depth=3,
                 batch_norm=True):
        super().__init__()
        name = "UNet"
        num_classes, in_channels = check_common(name, num_classes, in_channels)
        width = _check_size(name, "width", width)
        depth = _check_size(name, "depth", depth)
        hw0 = input_hw(name, input_size)
        hw = hw0
        for i in range(depth):
            hw = shrink(name, hw, hw0, f"the max-pool of down{i + 1}", 2, 2)
        self.input_size = hw0
        self.depth = depth
        self.inc = DoubleConv(in_channels, width, batch_norm)
        self.downs = nn.ModuleList(
            nn.Sequential(OrderedDict([("pool", nn.MaxPool2d(2)),
                                       ("conv", DoubleConv(width * 2 ** i, width * 2 ** (i + 1),
                                                           batch_norm))]))
            for i in range(depth))
        self.ups = nn.ModuleList(UpBlock(width * 2 ** (i + 1), width * 2 ** i, batch_norm)
                                 for i in reversed(range(depth)))
        self.outc = nn.Conv2d(width, num_classes, 1)

    def forward(self, x):
        x = self.inc(x)
        skips = []
        for down in self.downs:
            skips.append(x)
            x = down(x)
        for up, skip in zip(self.ups, reversed(skips)):
            x = up(x, skip)
        return self.outc(x)


def unet(num_classes=2, in_channels=1, input_size=32, **kwargs):
    """:class:`UNet` (per-pixel output (N, num_classes, H, W)); keyword arguments (``width``,
    ``depth``, ``batch_norm``) go to the class."""
    return UNet(num_classes, in_channels, input_size, **kwargs)
