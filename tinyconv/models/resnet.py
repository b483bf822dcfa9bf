"""Residual networks (He et al., 2015): ``BasicBlock``, ``Bottleneck`` and ``ResNet``.

Two families share one class:

- CIFAR ResNets of the paper's section 4.2 (``resnet8/20/32/44/56/110``): a 3x3 convolution
  with 16 channels, three stages of ``n`` basic blocks with 16, 32 and 64 channels (the first
  block of stages 2 and 3 halves the maps), global average pooling and a Linear layer:
  ``6n + 2`` weighted layers.
- ImageNet ResNets (``resnet18/34/50``) with torchvision's layout and ``state_dict`` keys
  (``conv1``, ``bn1``, ``layer1.0.conv1``, ..., ``fc``); the stride of a bottleneck sits on its
  3x3 convolution (ResNet v1.5). ``layout='cifar'`` swaps the 7x7/2 stem and its max-pool for
  one 3x3/1 convolution, the usual choice for 32x32 images.

Where the shape changes between a block's input and output the shortcut is a 1x1 convolution
with stride and a BatchNorm2d (the paper's option B); elsewhere it is the identity. Note that
the paper's CIFAR networks used option A (zero-padded identity); B adds a few parameters.
"""

from .. import nn
from ..nn import init
from ..nn.module import _check_size
from ._common import check_common, choose_layout, input_hw

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet8", "resnet20", "resnet32", "resnet44",
           "resnet56", "resnet110", "resnet18", "resnet34", "resnet50"]


def conv3x3(in_planes, out_planes, stride=1):
    """3x3 convolution, padding 1, no bias (a BatchNorm2d follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    """1x1 convolution, no bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + s(x))``.

    ``stride`` sits on ``conv1``; ``downsample`` is the shortcut module (None: identity).
    Shape: (N, inplanes, H, W) -> (N, planes, ceil(H/stride), ceil(W/stride)).
    """

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (with ``stride``), 1x1 expand to ``planes * 4``, plus the shortcut.

    Shape: (N, inplanes, H, W) -> (N, 4 * planes, ceil(H/stride), ceil(W/stride)).
    """

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """A residual network: stem, stages ``layer1``, ``layer2``, ... of blocks, pooling, ``fc``.

    Parameters
    ----------
    block : BasicBlock or Bottleneck
        The block class.
    layers : list of int
        Blocks per stage; stage ``i`` has ``width * 2**i`` planes and (from the second stage
        on) halves the maps in its first block.
    num_classes, in_channels : int
        Outputs and input channels.
    layout : {'cifar', 'imagenet', None}
        Stem: 'imagenet' is a 7x7/2 convolution and a 3x3/2 max-pool, 'cifar' a 3x3/1
        convolution. None picks 'imagenet' when the smaller side of ``input_size`` is at least
        128 pixels.
    input_size : int or (int, int)
        Input height and width (any size works: global average pooling ends the network).
    width : int
        Planes of the stem and of the first stage (64 for ImageNet ResNets, 16 for CIFAR).
    zero_init_residual : bool
        Start the last BatchNorm2d of each block at zero, so blocks begin as identities.

    Shape: (N, in_channels, H, W) -> (N, num_classes).
    """

    def __init__(self, block, layers, num_classes=10, in_channels=3, layout=None,
                 input_size=224, width=64, zero_init_residual=False):
        super().__init__()
        name = "ResNet"
        num_classes, in_channels = check_common(name, num_classes, in_channels)
        if block not in (BasicBlock, Bottleneck) and not (
                isinstance(block, type) and issubclass(block, nn.Module)
                and hasattr(block, "expansion")):
            raise TypeError(f"{name}: block must be BasicBlock, Bottleneck or a Module class "
                            f"with an 'expansion' attribute, got {block!r}")
        if not isinstance(layers, (list, tuple)) or not layers or any(
                isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in layers):
            raise ValueError(f"{name}: layers must be a non-empty list of positive ints, got "
                             f"{layers!r}")
        hw = input_hw(name, input_size)
        self.layout = layout = choose_layout(name, layout, hw)
        self.input_size = hw
        width = _check_size(name, "width", width)
        self.inplanes = width
        if layout == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3,
                                   bias=False)
        else:
            self.conv1 = conv3x3(in_channels, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1) \
            if layout == "imagenet" else nn.Identity()
        for i, n in enumerate(layers):
            stage = self._make_layer(block, width * 2 ** i, n, stride=1 if i == 0 else 2)
            setattr(self, f"layer{i + 1}", stage)
        self.num_stages = len(layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(self.inplanes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    init.zeros_(m.bn2.weight)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        x = self.avgpool(x)
        return self.fc(x.flatten(1))


def _cifar_resnet(n, num_classes, in_channels, input_size, kwargs):
    kwargs.setdefault("width", 16)
    return ResNet(BasicBlock, [n, n, n], num_classes, in_channels, layout="cifar",
                  input_size=input_size, **kwargs)


def resnet8(num_classes=10, in_channels=3, input_size=32, **kwargs):
    """CIFAR ResNet-8 (n = 1); keyword arguments (``width``, ``zero_init_residual``) go to
    :class:`ResNet`."""
    return _cifar_resnet(1, num_classes, in_channels, input_size, kwargs)


def resnet20(num_classes=10, in_channels=3, input_size=32, **kwargs):
    """CIFAR ResNet-20 (n = 3), 0.27 M parameters; see :func:`resnet8`."""
    return _cifar_resnet(3, num_classes, in_channels, input_size, kwargs)


def resnet32(num_classes=10, in_channels=3, input_size=32, **kwargs):
    """CIFAR ResNet-32 (n = 5); see :func:`resnet8`."""
    return _cifar_resnet(5, num_classes, in_channels, input_size, kwargs)


def resnet44(num_classes=10, in_channels=3, input_size=32, **kwargs):
    """CIFAR ResNet-44 (n = 7); see :func:`resnet8`."""
    return _cifar_resnet(7, num_classes, in_channels, input_size, kwargs)


def resnet56(num_classes=10, in_channels=3, input_size=32, **kwargs):
    """CIFAR ResNet-56 (n = 9); see :func:`resnet8`."""
    return _cifar_resnet(9, num_classes, in_channels, input_size, kwargs)


def resnet110(num_classes=10, in_channels=3, input_size=32, **kwargs):
    """CIFAR ResNet-110 (n = 18); see :func:`resnet8`."""
    return _cifar_resnet(18, num_classes, in_channels, input_size, kwargs)


def resnet18(num_classes=10, in_channels=3, input_size=224, **kwargs):
    """ResNet-18 (basic blocks [2, 2, 2, 2]); keyword arguments (``layout``, ``width``,
    ``zero_init_residual``) go to :class:`ResNet`. Inputs below 128 pixels get the CIFAR stem
    unless ``layout`` says otherwise."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels, input_size=input_size,
                  **kwargs)


def resnet34(num_classes=10, in_channels=3, input_size=224, **kwargs):
    """ResNet-34 (basic blocks [3, 4, 6, 3]); see :func:`resnet18`."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, in_channels, input_size=input_size,
                  **kwargs)


def resnet50(num_classes=10, in_channels=3, input_size=224, **kwargs):
    """ResNet-50 (bottleneck blocks [3, 4, 6, 3]); see :func:`resnet18`."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, input_size=input_size,
                  **kwargs)
