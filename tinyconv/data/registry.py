"""Datasets by name, and the batch transforms that go with them (used by the command line)."""

import os

from .datasets import CIFAR10, MNIST, Digits, FashionMNIST
from .transforms import Compose, Normalize, RandomCrop, RandomHorizontalFlip, ToFloat

__all__ = ["DATASETS", "default_data_dir", "default_transforms", "get_dataset"]

# name -> (class, sub-folder of a data directory)
DATASETS = {
    "mnist": (MNIST, "mnist"),
    "fashion-mnist": (FashionMNIST, "fashion-mnist"),
    "cifar10": (CIFAR10, "cifar10"),
    "digits": (Digits, None),
}
_ALIASES = {"fashionmnist": "fashion-mnist", "fashion_mnist": "fashion-mnist",
            "cifar-10": "cifar10", "cifar_10": "cifar10"}

# Per-channel statistics of the training sets (0..1 scale), the values commonly used with them.
_MNIST_NORM = ((0.1307,), (0.3081,))
_FASHION_NORM = ((0.2860,), (0.3530,))
_CIFAR_NORM = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))


def _canonical(name, where):
    if not isinstance(name, str):
        raise TypeError(f"{where}: dataset name must be a str, got {type(name).__name__}")
    key = name.lower()
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"{where}: unknown dataset {name!r}; choose one of "
                         f"{', '.join(DATASETS)}")
    return key


def default_data_dir():
    """``$TINYCONV_DATA_DIR`` if set, else ``~/.cache/tinyconv/data``."""
    return os.environ.get("TINYCONV_DATA_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "tinyconv", "data")


def get_dataset(name, data_dir=None, train=True, download=False):
    """The dataset called ``name``: 'mnist', 'fashion-mnist', 'cifar10' or 'digits'.

    Parameters
    ----------
    name : str
        Case-insensitive; 'fashion_mnist', 'fashionmnist' and 'cifar-10' work too.
    data_dir : str or os.PathLike, optional
        A folder with one sub-folder per dataset (``mnist/``, ``fashion-mnist/``, ``cifar10/``),
        or the dataset's own folder: used as is when the sub-folder does not exist. Default
        :func:`default_data_dir`. Ignored for 'digits', which is embedded in the package.
    train : bool
    download : bool
        Fetch missing files (md5-checked) into the dataset's folder.
    """
    key = _canonical(name, "get_dataset")
    cls, sub = DATASETS[key]
    if sub is None:
        return cls(train=train)
    data_dir = os.fspath(data_dir) if data_dir is not None else default_data_dir()
    root = os.path.join(data_dir, sub)
    if os.path.isfile(data_dir) or (not os.path.isdir(root) and os.path.isdir(data_dir)
                                    and _holds_files(key, data_dir)):
        root = data_dir  # the dataset's own folder (or CIFAR-10's archive)
    return cls(root, train=train, download=download)


def _holds_files(key, folder):
    names = os.listdir(folder)
    if key == "cifar10":
        return any(n.endswith(".bin") or n in ("cifar-10-batches-bin", CIFAR10.archive)
                   for n in names)
    return any("idx" in n for n in names)


def default_transforms(name, train=True):
    """The batch transform to train or evaluate on dataset ``name`` with.

    - digits: ``ToFloat(1/16)`` (pixels are counts 0..16).
    - mnist, fashion-mnist: ``ToFloat(1/255)`` then ``Normalize`` with the training set's mean
      and standard deviation (MNIST 0.1307, 0.3081; Fashion-MNIST 0.2860, 0.3530).
    - cifar10: for training ``RandomCrop(32, padding=4)`` and ``RandomHorizontalFlip()`` on the
      uint8 images, then ``ToFloat`` and per-channel ``Normalize``; for testing only the last two.
    """
    key = _canonical(name, "default_transforms")
    if key == "digits":
        return Compose([ToFloat(1 / 16)])
    if key in ("mnist", "fashion-mnist"):
        mean, std = _MNIST_NORM if key == "mnist" else _FASHION_NORM
        return Compose([ToFloat(), Normalize(mean, std)])
    steps = [RandomCrop(32, padding=4), RandomHorizontalFlip()] if train else []
    return Compose(steps + [ToFloat(), Normalize(*_CIFAR_NORM)])
