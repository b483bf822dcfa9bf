"""The model zoo: classic CNNs written with :mod:`tinyconv.nn`, and a registry by name.

Every factory takes ``num_classes``, ``in_channels`` and ``input_size`` (an int or an (H, W)
pair; models with a flattening classifier are sized for it, the others check or ignore it), so
the command line can build any of them with the same three arguments::

    model = tinyconv.models.get_model("resnet20", num_classes=10, in_channels=3, input_size=32)

``num_classes`` defaults to 10 everywhere (tinyconv targets MNIST- and CIFAR-sized problems).
Where a model has an ImageNet and a small-image layout (AlexNet, VGG, GoogLeNet, ResNet-18/34/50)
``layout=None`` picks the ImageNet one from 128 pixels up. Parameter names and ``state_dict``
keys follow torchvision where torchvision has the model (VGG, ResNet), so weights can be moved
both ways with ``load_state_dict``.

=================  ==========================================================================
name               model
=================  ==========================================================================
lenet5             :class:`LeNet5` (ReLU, max-pool; ``classic=True``: tanh, average pool)
simple_convnet     :class:`SimpleConvNet` of "Deep Learning from Scratch"
alexnet            :class:`AlexNet` with LRN, 32x32 layout by default
vgg11/13/16/19     :class:`VGG` (``batch_norm=True`` or the ``*_bn`` names for BatchNorm)
small_vgg          3 blocks of (conv-BN-ReLU) x 2 + pool, 32/64/128 channels
googlenet          :class:`GoogLeNet` at a quarter of the paper's widths
resnet8 ... 110    CIFAR ResNets (6n+2 layers, 16/32/64 channels)
resnet18/34/50     ImageNet ResNets (CIFAR stem below 128 pixels)
unet               :class:`UNet`, per-pixel output (N, num_classes, H, W)
=================  ==========================================================================
"""

from .alexnet import AlexNet, alexnet
from .googlenet import BasicConv2d, GoogLeNet, InceptionBlock, googlenet
from .lenet import LeNet5, SimpleConvNet, lenet5, simple_convnet
from .resnet import (BasicBlock, Bottleneck, ResNet, resnet8, resnet18, resnet20, resnet32,
                     resnet34, resnet44, resnet50, resnet56, resnet110)
from .unet import DoubleConv, UNet, UpBlock, unet
from .vgg import (VGG, cfgs, small_vgg, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn,
                  vgg19, vgg19_bn)

__all__ = [
    "get_model", "list_models",
    "LeNet5", "lenet5", "SimpleConvNet", "simple_convnet", "AlexNet", "alexnet",
    "VGG", "cfgs", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn",
    "vgg19_bn", "small_vgg", "BasicConv2d", "InceptionBlock", "GoogLeNet", "googlenet",
    "BasicBlock", "Bottleneck", "ResNet", "resnet8", "resnet20", "resnet32", "resnet44",
    "resnet56", "resnet110", "resnet18", "resnet34", "resnet50",
    "DoubleConv", "UpBlock", "UNet", "unet",
]

# name -> (factory, task). "classification" models output (N, num_classes);
# "segmentation" models output (N, num_classes, H, W).
_REGISTRY = {
    "lenet5": (lenet5, "classification"),
    "simple_convnet": (simple_convnet, "classification"),
    "alexnet": (alexnet, "classification"),
    "vgg11": (vgg11, "classification"),
    "vgg13": (vgg13, "classification"),
    "vgg16": (vgg16, "classification"),
    "vgg19": (vgg19, "classification"),
    "vgg11_bn": (vgg11_bn, "classification"),
    "vgg13_bn": (vgg13_bn, "classification"),
    "vgg16_bn": (vgg16_bn, "classification"),
    "vgg19_bn": (vgg19_bn, "classification"),
    "small_vgg": (small_vgg, "classification"),
    "googlenet": (googlenet, "classification"),
    "resnet8": (resnet8, "classification"),
    "resnet20": (resnet20, "classification"),
    "resnet32": (resnet32, "classification"),
    "resnet44": (resnet44, "classification"),
    "resnet56": (resnet56, "classification"),
    "resnet110": (resnet110, "classification"),
    "resnet18": (resnet18, "classification"),
    "resnet34": (resnet34, "classification"),
    "resnet50": (resnet50, "classification"),
    "unet": (unet, "segmentation"),
}

_TASKS = ("classification", "segmentation")


def list_models(task=None):
    """Sorted names accepted by :func:`get_model`.

    Parameters
    ----------
    task : {None, 'classification', 'segmentation'}
        Only models of this kind: classification models output (N, num_classes),
        segmentation models (N, num_classes, H, W). None lists all.
    """
    if task is not None and task not in _TASKS:
        raise ValueError(f"list_models: task must be None, 'classification' or 'segmentation', "
                         f"got {task!r}")
    return sorted(k for k, (_, t) in _REGISTRY.items() if task is None or t == task)


def get_model(name, **kwargs):
    """Build the model registered as ``name`` (case-insensitive), passing ``kwargs`` on.

    Every factory accepts ``num_classes``, ``in_channels`` and ``input_size``; other keywords
    are model-specific (``width_mult``, ``batch_norm``, ``layout``, ...).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    """
    if not isinstance(name, str):
        raise TypeError(f"get_model: name must be a string, got {type(name).__name__}")
    key = name.lower()
    if key not in _REGISTRY:
        raise ValueError(f"get_model: unknown model {name!r}; available: "
                         f"{', '.join(list_models())}")
    return _REGISTRY[key][0](**kwargs)
