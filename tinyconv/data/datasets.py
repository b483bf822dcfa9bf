"""Readers for the datasets' original file formats, and the embedded 8x8 digits.

MNIST / Fashion-MNIST: IDX files (gzipped or not): a big-endian header -- magic 0x00000803 for
images (then count, rows, cols as uint32) or 0x00000801 for labels (then count) -- followed by
uint8 data. CIFAR-10: the binary version, each record 1 label byte + 3072 pixel bytes (1024 R,
1024 G, 1024 B, row-major), in ``data_batch_1..5.bin`` and ``test_batch.bin``; read from the
``cifar-10-batches-bin`` folder or straight from the ``cifar-10-binary.tar.gz`` that holds it.

Arrays are kept as stored (uint8 images in (N, 1, 28, 28), (N, 3, 32, 32) or (N, 1, 8, 8), int64
labels); scaling to float is a transform's job (:func:`tinyconv.data.default_transforms`).

``download=True`` fetches missing files from the public mirrors (those torchvision uses for
MNIST and Fashion-MNIST; the CIFAR authors' page for CIFAR-10) and checks their md5 sums.
"""

import gzip
import os
import tarfile
import zipfile
import zlib

import numpy as np

from .dataset import ArrayDataset
from .download import fetch_files

__all__ = ["CIFAR10", "MNIST", "Digits", "FashionMNIST", "read_idx"]

_IDX_MAGIC = {0x00000803: 3, 0x00000801: 1}


def read_idx(path):
    """Read an IDX file (``.gz`` or plain) into a uint8 array, checking header and length."""
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"read_idx: cannot read {path}: {e} (truncated or corrupt file?)") \
            from None
    if len(raw) < 8:
        raise ValueError(f"read_idx: {path} is too short to be an IDX file ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in _IDX_MAGIC:
        raise ValueError(f"read_idx: {path} has magic number {magic:#010x}; expected 0x00000803 "
                         f"(images) or 0x00000801 (labels)")
    ndim = _IDX_MAGIC[magic]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"read_idx: {path} ends inside its header ({len(raw)} bytes)")
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise ValueError(f"read_idx: {path} holds {len(raw)} bytes but its header {dims} needs "
                         f"{expected}: the file is truncated or corrupt")
    # A bytearray, so that the array is writable like any other (one copy, ~10 ms for MNIST).
    return np.frombuffer(bytearray(raw), dtype=np.uint8, offset=header).reshape(dims)


def _check_labels(labels, n_classes, source, dataset):
    if labels.size and int(labels.max()) >= n_classes:
        raise ValueError(f"{dataset}: label {int(labels.max())} in {source} is out of range "
                         f"0..{n_classes - 1}: the file is corrupt")


class MNIST(ArrayDataset):
    """MNIST from its four IDX files (gzipped or not) in ``root``.

    Parameters
    ----------
    root : str or os.PathLike
        The folder holding ``train-images-idx3-ubyte[.gz]`` and the three others.
    train : bool
        The 60,000 training images, or the 10,000 test images.
    download : bool
        Fetch missing files into ``root`` from the mirrors (md5-checked) first.

    Attributes ``data`` (N, 1, 28, 28) uint8, ``targets`` (N,) int64, ``classes``; ``len`` and
    indexing give ``(image, label)`` pairs; ``get_batch(indices)`` gathers a batch at once.
    """

    name = "MNIST"
    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
               "http://yann.lecun.com/exdb/mnist/"]
    resources = [("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                 ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
                 ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
                 ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")]
    files = {
        True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    }
    classes = [str(i) for i in range(10)]

    def __init__(self, root, train=True, download=False):
        root = os.fspath(root)
        self.root, self.train = root, bool(train)
        if download:
            fetch_files(root, self.resources, self.mirrors, self.name)
        if not os.path.isdir(root):
            raise FileNotFoundError(
                f"{self.name}: data directory {root!r} does not exist; put "
                f"{', '.join(n for n, _ in self.resources)} there, or pass download=True")
        img_name, lbl_name = self.files[self.train]
        images = read_idx(self._find(root, img_name))
        labels = read_idx(self._find(root, lbl_name))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{self.name}: images {images.shape} and labels {labels.shape} "
                             f"in {root} do not match")
        _check_labels(labels, len(self.classes), os.path.join(root, lbl_name), self.name)
        self.data = images[:, None, :, :]
        self.targets = labels.astype(np.int64)

    def _find(self, root, name):
        # Also the dotted names some mirrors use (train-images.idx3-ubyte).
        for base in (name, name.replace("-idx", ".idx")):
            for candidate in (base, base + ".gz"):
                p = os.path.join(root, candidate)
                if os.path.exists(p):
                    return p
        raise FileNotFoundError(
            f"{self.name}: {name} (or {name}.gz) not found in {os.path.abspath(root)}; put the "
            f"original files there, or pass download=True")


class FashionMNIST(MNIST):
    """Fashion-MNIST: the same IDX layout and file names as MNIST (keep it in its own folder)."""

    name = "FashionMNIST"
    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                 ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
                 ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
                 ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]


class CIFAR10(ArrayDataset):
    """CIFAR-10 from the binary version: the batch files, or the archive that holds them.

    Parameters
    ----------
    root : str or os.PathLike
        A folder holding ``data_batch_1..5.bin`` and ``test_batch.bin``, or holding the folder
        ``cifar-10-batches-bin`` with them, or holding ``cifar-10-binary.tar.gz`` (read directly,
        not extracted); or the path of that archive.
    train : bool
        The 50,000 training images (five batches), or the 10,000 test images.
    download : bool
        If the files are not there, fetch ``cifar-10-binary.tar.gz`` (162 MB, md5-checked) into
        ``root`` and read from it.

    Attributes ``data`` (N, 3, 32, 32) uint8 (channels R, G, B), ``targets`` (N,) int64,
    ``classes``.
    """

    name = "CIFAR10"
    mirrors = ["https://www.cs.toronto.edu/~kriz/"]
    archive = "cifar-10-binary.tar.gz"
    # The md5 the dataset's page publishes (torchvision reads the pickled python version instead).
    resources = [(archive, "c32a1d4ab5d03f1284b67883e8d87530")]
    record = 1 + 3 * 32 * 32
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]

    def __init__(self, root, train=True, download=False):
        root = os.fspath(root)
        self.root, self.train = root, bool(train)
        names = [f"data_batch_{i}.bin" for i in range(1, 6)] if self.train else ["test_batch.bin"]
        parts = [(src, self._records(raw, src))
                 for src, raw in self._locate(root, names, download)]
        n = sum(len(rows) for _, rows in parts)
        # Filled part by part: contiguous images without a concatenated copy of the records.
        self.data = np.empty((n, 3, 32, 32), dtype=np.uint8)
        self.targets = np.empty(n, dtype=np.int64)
        start = 0
        for src, rows in parts:
            _check_labels(rows[:, 0], 10, src, self.name)
            self.targets[start:start + len(rows)] = rows[:, 0]
            self.data[start:start + len(rows)] = rows[:, 1:].reshape(-1, 3, 32, 32)
            start += len(rows)

    def _locate(self, root, names, download):
        if os.path.isfile(root) and root.endswith((".tar.gz", ".tgz")):
            return self._read_tar(root, names)
        sub = os.path.join(root, "cifar-10-batches-bin")
        folder = sub if os.path.isdir(sub) else root
        if all(os.path.exists(os.path.join(folder, n)) for n in names):
            self._read_meta(os.path.join(folder, "batches.meta.txt"))
            return [(os.path.join(folder, n), self._read_bin(os.path.join(folder, n)))
                    for n in names]
        archive = os.path.join(root, self.archive)
        if download:
            fetch_files(root, self.resources, self.mirrors, self.name)
        if os.path.exists(archive):
            return self._read_tar(archive, names)
        missing = [n for n in names if not os.path.exists(os.path.join(folder, n))]
        raise FileNotFoundError(
            f"CIFAR10: {', '.join(missing)} not found in {os.path.abspath(folder)}, nor "
            f"{self.archive} in {os.path.abspath(root)}; put the binary version's files (or its "
            f"archive) there, or pass download=True")

    def _read_bin(self, path):
        return np.fromfile(path, dtype=np.uint8)

    def _read_meta(self, path):
        if os.path.exists(path):
            with open(path) as f:
                names = [c for c in f.read().split() if c]
            if len(names) == 10:
                self.classes = names

    def _read_tar(self, path, names):
        found = {}
        wanted = set(names)
        try:
            with tarfile.open(path, "r:gz") as tf:
                for m in tf:
                    base = os.path.basename(m.name)
                    if m.isfile() and base in wanted:
                        found[base] = np.frombuffer(tf.extractfile(m).read(), dtype=np.uint8)
                        if len(found) == len(wanted):
                            break
        except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
            raise ValueError(f"CIFAR10: cannot read {path}: {e}: the archive is truncated or "
                             f"corrupt") from None
        missing = sorted(wanted - set(found))
        if missing:
            raise ValueError(f"CIFAR10: {path} does not contain {', '.join(missing)}: not the "
                             f"binary version's archive, or truncated")
        return [(f"{path}:{n}", found[n]) for n in names]

    def _records(self, raw, source):
        if raw.size == 0 or raw.size % self.record:
            raise ValueError(f"CIFAR10: {source} holds {raw.size} bytes, not a multiple of the "
                             f"{self.record}-byte record: the file is truncated or corrupt")
        return raw.reshape(-1, self.record)


_DIGITS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits.npz")


class Digits(ArrayDataset):
    """The 8x8 handwritten digits shipped inside tinyconv: works offline, right after install.

    1,797 images of the digits 0-9, each pixel a count 0..16 of the "on" pixels in a 4x4 block
    of a 32x32 bitmap: the test part of the UCI "Optical Recognition of Handwritten Digits"
    data (E. Alpaydin, C. Kaynak, 1998; UCI Machine Learning Repository,
    https://doi.org/10.24432/C50P49, CC BY 4.0), as scikit-learn ships it
    (``sklearn/datasets/data/digits.csv.gz``). Stored as ``tinyconv/data/digits.npz``
    (uint8 images and labels, 46 kB) with a fixed stratified split: 1,437 train and 360 test
    images, each class split in proportion (test images per class
    [36, 37, 35, 37, 36, 36, 36, 36, 35, 36]), chosen once with numpy and stored in the file, so
    the split never depends on a numpy version.

    Parameters
    ----------
    root : str or os.PathLike, optional
        A folder holding (or the path of) a ``digits.npz`` to read instead of the embedded one.
    train : bool
        The 1,437 training images or the 360 test images.

    Attributes ``data`` (N, 1, 8, 8) uint8 with values 0..16 (scale by 1/16, not 1/255:
    ``ToFloat(1/16)``), ``targets`` (N,) int64, ``classes``.
    """

    name = "Digits"
    classes = [str(i) for i in range(10)]

    def __init__(self, root=None, train=True, download=False):
        path = _DIGITS_FILE if root is None else os.fspath(root)
        if os.path.isdir(path):
            path = os.path.join(path, "digits.npz")
        if not os.path.exists(path):
            raise FileNotFoundError(f"Digits: {path} not found"
                                    + ("; reinstall tinyconv" if root is None else ""))
        self.root, self.train = path, bool(train)
        try:
            with np.load(path, allow_pickle=False) as z:
                images, labels, test = z["images"], z["labels"], z["test"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as e:
            raise ValueError(f"Digits: cannot read {path}: {e}: corrupt file") from None
        if images.shape != (len(labels), 8, 8) or test.shape != labels.shape or \
                images.dtype != np.uint8 or (images.size and images.max() > 16):
            raise ValueError(f"Digits: {path} holds images {images.shape} {images.dtype}, labels "
                             f"{labels.shape}, split {test.shape}: corrupt file")
        _check_labels(labels, 10, path, self.name)
        keep = test == 0 if self.train else test != 0
        self.data = np.ascontiguousarray(images[keep][:, None])
        self.targets = labels[keep].astype(np.int64)
