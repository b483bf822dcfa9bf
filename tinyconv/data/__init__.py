"""Datasets and loading: readers for the original MNIST and CIFAR-10 files."""

from .datasets import CIFAR10, MNIST, FashionMNIST, read_idx  # noqa: F401
