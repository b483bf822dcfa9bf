"""Datasets and loading: readers, the embedded digits, batch transforms, the DataLoader.

Everything works on whole batches with numpy: array-backed datasets are gathered with one
fancy-index per batch and transforms are vectorised (see :mod:`tinyconv.data.dataloader` for
reproducible shuffling and resuming, :mod:`tinyconv.data.transforms` for the transforms).
"""

from . import transforms  # noqa: F401
from .dataloader import DataLoader  # noqa: F401
from .dataset import Dataset, Subset, TensorDataset, random_split  # noqa: F401
from .datasets import CIFAR10, MNIST, Digits, FashionMNIST, read_idx  # noqa: F401
from .download import DownloadError  # noqa: F401
from .registry import default_data_dir, default_transforms, get_dataset  # noqa: F401
from .transforms import Compose, Normalize, RandomCrop, RandomHorizontalFlip, ToFloat  # noqa: F401
