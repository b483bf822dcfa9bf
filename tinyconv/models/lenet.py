"""LeNet-5 (LeCun et al., 1998) and the SimpleConvNet of "Deep Learning from Scratch" (Saito).

Both are small enough to train on MNIST in minutes on two cores, and both accept the 8x8
digits of the command line's embedded dataset.
"""

from collections import OrderedDict

from .. import nn
from ._common import check_common, input_hw, shrink

__all__ = ["LeNet5", "lenet5", "SimpleConvNet", "simple_convnet"]


class LeNet5(nn.Module):
    """LeNet-5: two convolution/subsampling stages and three fully connected layers.

    The 1998 layout adapted to 28x28 input (MNIST) by padding C1 by 2, which gives C1 the
    28x28 output it had on the paper's 32x32 images::

        features    C1 Conv2d(in_channels, 6, 5, padding=2) - act - S2 pool(2)
                    C3 Conv2d(6, 16, 5) - act - S4 pool(2)
        flatten     (N, 16 * h * w)                      h = w = 5 for 28x28 input
        classifier  C5 Linear(16*h*w, 120) - act - F6 Linear(120, 84) - act
                    output Linear(84, num_classes)

    By default ``act`` is ReLU and ``pool`` max-pooling: with SGD + momentum this reaches 99 %
    test accuracy on MNIST within a few epochs, sooner than the paper's scaled tanh with
    trainable average subsampling (``classic=True`` gives tanh and plain 2x2 average pooling).
    Left out from the paper: C3's partial connection table, the trainable coefficients of the
    subsampling layers and the RBF output layer (a Linear layer with cross-entropy instead).
    C5 is a Linear layer over the flattened 16x5x5 maps, equivalent to the paper's 5x5
    convolution on a 5x5 input.

    Inputs smaller than 12 pixels (such as 8x8 digits) pad C3 by 2 as well, so that S4 still
    has an output (16x2x2 for 8x8 input).

    Parameters
    ----------
    num_classes : int
        Outputs of the last layer.
    in_channels : int
        Channels of the input images.
    input_size : int or (int, int)
        Height and width of the input images; sets the size of C5.
    classic : bool
        Tanh and average pooling instead of ReLU and max-pooling.

    Shape: (N, in_channels, H, W) -> (N, num_classes).
    """

    def __init__(self, num_classes=10, in_channels=1, input_size=28, classic=False):
        super().__init__()
        num_classes, in_channels = check_common("LeNet5", num_classes, in_channels)
        hw0 = input_hw("LeNet5", input_size)
        hw = shrink("LeNet5", hw0, hw0, "C1", 5, 1, 2)
        hw = shrink("LeNet5", hw, hw0, "S2", 2, 2)
        pad3 = tuple(0 if n - 4 >= 2 else 2 for n in hw)
        hw = shrink("LeNet5", hw, hw0, "C3", 5, 1, pad3)
        hw = shrink("LeNet5", hw, hw0, "S4", 2, 2)
        act = nn.Tanh if classic else nn.ReLU
        pool = nn.AvgPool2d if classic else nn.MaxPool2d
        self.input_size = hw0
        self.features = nn.Sequential(OrderedDict([
            ("c1", nn.Conv2d(in_channels, 6, 5, padding=2)), ("act1", act()), ("s2", pool(2)),
            ("c3", nn.Conv2d(6, 16, 5, padding=pad3 if any(pad3) else 0)), ("act3", act()),
            ("s4", pool(2)),
        ]))
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(OrderedDict([
            ("c5", nn.Linear(16 * hw[0] * hw[1], 120)), ("act5", act()),
            ("f6", nn.Linear(120, 84)), ("act6", act()),
            ("output", nn.Linear(84, num_classes)),
        ]))

    def forward(self, x):
        return self.classifier(self.flatten(self.features(x)))


def lenet5(num_classes=10, in_channels=1, input_size=28, classic=False):
    """LeNet-5 (ReLU and max-pooling unless ``classic``); see :class:`LeNet5`."""
    return LeNet5(num_classes, in_channels, input_size, classic)


class SimpleConvNet(nn.Module):
    """The "simple ConvNet" of Saito's *Deep Learning from Scratch* (chapter 7).

    ``conv - relu - pool - affine - relu - affine``; with the book's defaults and 1x28x28
    input::

        conv1    Conv2d(in_channels, 30, 5)            -> (N, 30, 24, 24)
        relu1, pool1  MaxPool2d(2, 2)                   -> (N, 30, 12, 12)
        flatten                                          -> (N, 4320)
        affine1  Linear(4320, 100), relu2
        affine2  Linear(100, num_classes)

    The book's ``conv_param`` entries are the arguments ``filter_num``, ``filter_size``,
    ``filter_pad`` and ``filter_stride``. Weights start with PyTorch's default initialisation,
    not the book's N(0, 0.01^2), which trains faster.

    Parameters
    ----------
    num_classes, in_channels : int
        Outputs and input channels.
    input_size : int or (int, int)
        Height and width of the input images (8 for the 8x8 digits gives 30x2x2 features).
    filter_num, filter_size, filter_pad, filter_stride : int
        The convolution's out_channels, kernel_size, padding and stride.
    hidden_size : int
        Width of the hidden affine layer.

    Shape: (N, in_channels, H, W) -> (N, num_classes).
    """

    def __init__(self, num_classes=10, in_channels=1, input_size=28, filter_num=30,
                 filter_size=5, filter_pad=0, filter_stride=1, hidden_size=100):
        super().__init__()
        name = "SimpleConvNet"
        num_classes, in_channels = check_common(name, num_classes, in_channels)
        hw0 = input_hw(name, input_size)
        self.conv1 = nn.Conv2d(in_channels, filter_num, filter_size, filter_stride, filter_pad)
        hw = shrink(name, hw0, hw0, "conv1", filter_size, filter_stride, filter_pad)
        hw = shrink(name, hw, hw0, "pool1", 2, 2)
        self.input_size = hw0
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2, 2)
        self.flatten = nn.Flatten()
        self.affine1 = nn.Linear(filter_num * hw[0] * hw[1], hidden_size)
        self.relu2 = nn.ReLU()
        self.affine2 = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        return self.affine2(self.relu2(self.affine1(self.flatten(x))))


def simple_convnet(num_classes=10, in_channels=1, input_size=28, **kwargs):
    """:class:`SimpleConvNet`; keyword arguments (``filter_num``, ...) go to the class."""
    return SimpleConvNet(num_classes, in_channels, input_size, **kwargs)
