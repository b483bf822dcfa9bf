"""Readers for the datasets' original file formats.

MNIST / Fashion-MNIST: IDX files (gzipped or not): a big-endian header -- magic 0x00000803 for
images (then count, rows, cols as uint32) or 0x00000801 for labels (then count) -- followed by
uint8 data. CIFAR-10: the binary batches, each record 1 label byte + 3072 pixel bytes (1024 R,
1024 G, 1024 B, row-major).

Arrays are returned as stored (uint8 images in (N, 1, 28, 28) or (N, 3, 32, 32), int64 labels);
scaling to float is the caller's (or a transform's) job.
"""

import gzip
import os

import numpy as np

__all__ = ["read_idx", "MNIST", "FashionMNIST", "CIFAR10"]

_IDX_MAGIC = {0x00000803: 3, 0x00000801: 1}


def read_idx(path):
    """Read an IDX file (``.gz`` or plain) into a uint8 array, checking header and length."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"read_idx: cannot read {path}: {e}") from None
    if len(raw) < 8:
        raise ValueError(f"read_idx: {path} is too short to be an IDX file ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in _IDX_MAGIC:
        raise ValueError(f"read_idx: {path} has magic number {magic:#010x}; expected 0x00000803 "
                         f"(images) or 0x00000801 (labels)")
    ndim = _IDX_MAGIC[magic]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise ValueError(f"read_idx: {path} holds {len(raw)} bytes but its header {dims} needs "
                         f"{expected}: the file is truncated or corrupt")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _find(root, names, dataset):
    for name in names:
        for candidate in (name, name + ".gz"):
            p = os.path.join(root, candidate)
            if os.path.exists(p):
                return p
    raise FileNotFoundError(
        f"{dataset}: none of {', '.join(names)} (or .gz) found in {os.path.abspath(root)}; put the "
        f"original files there"
    )


class MNIST:
    """MNIST from its four IDX files in ``root``.

    Attributes ``data`` (N, 1, 28, 28) uint8 and ``targets`` (N,) int64; ``len`` and indexing
    give ``(image, label)`` pairs.
    """

    name = "MNIST"
    files = {
        True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    }
    classes = [str(i) for i in range(10)]

    def __init__(self, root, train=True):
        if not os.path.isdir(root):
            raise FileNotFoundError(f"{self.name}: data directory {root!r} does not exist")
        img_name, lbl_name = self.files[bool(train)]
        images = read_idx(_find(root, [img_name, img_name.replace("-idx3-", ".idx3-")],
                                self.name))
        labels = read_idx(_find(root, [lbl_name, lbl_name.replace("-idx1-", ".idx1-")],
                                self.name))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{self.name}: images {images.shape} and labels {labels.shape} "
                             f"do not match")
        self.data = images[:, None, :, :]
        self.targets = labels.astype(np.int64)

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return self.data[i], self.targets[i]


class FashionMNIST(MNIST):
    """Fashion-MNIST: the same IDX layout and file names as MNIST."""

    name = "FashionMNIST"
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]


class CIFAR10:
    """CIFAR-10 from the binary batches (``data_batch_1..5.bin``, ``test_batch.bin``).

    ``root`` may be the ``cifar-10-batches-bin`` folder or its parent.
    """

    name = "CIFAR10"
    record = 1 + 3 * 32 * 32

    def __init__(self, root, train=True):
        if not os.path.isdir(root):
            raise FileNotFoundError(f"CIFAR10: data directory {root!r} does not exist")
        sub = os.path.join(root, "cifar-10-batches-bin")
        folder = sub if os.path.isdir(sub) else root
        names = [f"data_batch_{i}.bin" for i in range(1, 6)] if train else ["test_batch.bin"]
        parts = []
        for n in names:
            p = os.path.join(folder, n)
            if not os.path.exists(p):
                raise FileNotFoundError(f"CIFAR10: {n} not found in {os.path.abspath(folder)}; "
                                        f"put the binary version's files there")
            raw = np.fromfile(p, dtype=np.uint8)
            if raw.size == 0 or raw.size % self.record:
                raise ValueError(f"CIFAR10: {p} holds {raw.size} bytes, not a multiple of the "
                                 f"{self.record}-byte record: the file is truncated or corrupt")
            parts.append(raw.reshape(-1, self.record))
        rows = np.concatenate(parts)
        self.targets = rows[:, 0].astype(np.int64)
        if self.targets.max() > 9:
            raise ValueError(f"CIFAR10: label {self.targets.max()} out of range 0..9: corrupt file")
        self.data = rows[:, 1:].reshape(-1, 3, 32, 32)
        meta = os.path.join(folder, "batches.meta.txt")
        self.classes = ([c for c in open(meta).read().split() if c] if os.path.exists(meta)
                        else [str(i) for i in range(10)])

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return self.data[i], self.targets[i]
