"""Dataset protocol, in-memory datasets, subsets and seeded splits.

A dataset is anything with ``__len__`` and ``__getitem__`` returning a sample (a tuple of arrays,
usually ``(image, label)``). Array-backed datasets also provide ``get_batch(indices)``, which
returns the whole batch's fields with one numpy fancy-index per field; :class:`DataLoader` uses it
whenever it is there and falls back to indexing sample by sample otherwise (for user datasets
that compute samples on the fly).
"""

import numpy as np

from ..tensor import Tensor, default_generator

__all__ = ["Dataset", "Subset", "TensorDataset", "random_split"]


def _numpy_rng(generator, where):
    """The numpy Generator behind ``generator`` (None means tinyconv's default generator).

    Looked up at every use: ``tinyconv.manual_seed`` replaces the default generator's numpy
    Generator, and a reference taken earlier would miss the new seed.
    """
    if generator is None:
        return default_generator.rng
    if isinstance(generator, np.random.Generator):
        return generator
    rng = getattr(generator, "rng", None)  # tinyconv.default_generator and its kind
    if isinstance(rng, np.random.Generator):
        return rng
    raise TypeError(f"{where}: generator must be a numpy.random.Generator or "
                    f"tinyconv.default_generator, got {type(generator).__name__}")


def _as_index_array(indices, n, where):
    idx = np.asarray(indices)
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise ValueError(f"{where}: a boolean mask must have length {n}, got shape "
                             f"{idx.shape}")
        return np.flatnonzero(idx)
    if idx.size == 0:
        return np.zeros(0, dtype=np.int64)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{where}: indices must be integers, got dtype {idx.dtype}")
    idx = idx.astype(np.int64, copy=False).reshape(-1)
    lo, hi = int(idx.min()), int(idx.max())
    if lo < -n or hi >= n:
        bad = lo if lo < -n else hi
        raise IndexError(f"{where}: index {bad} is out of range for a dataset of {n} samples")
    return idx


def gather(dataset, indices):
    """Fields of the samples at ``indices`` stacked into arrays: a tuple, one array per field.

    Uses ``dataset.get_batch`` (one fancy-index per field) when the dataset has it, otherwise
    indexes sample by sample and stacks.
    """
    get_batch = getattr(dataset, "get_batch", None)
    if get_batch is not None:
        out = get_batch(indices)
        return out if isinstance(out, tuple) else (out,)
    samples = [dataset[int(i)] for i in indices]
    if not samples:
        raise ValueError("gather: no indices given")
    if not isinstance(samples[0], (tuple, list)):
        return (np.stack([np.asarray(s) for s in samples]),)
    return tuple(np.stack([np.asarray(s[k]) for s in samples]) for k in range(len(samples[0])))


class Dataset:
    """Base class of map-style datasets: subclasses define ``__len__`` and ``__getitem__``.

    Subclasses backed by arrays should also define ``get_batch(indices)`` returning a tuple of
    arrays (one fancy-index each) so that :class:`DataLoader` never loops over samples.
    """

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")


class ArrayDataset(Dataset):
    """Images in ``self.data`` (N, C, H, W) and labels in ``self.targets`` (N,), in memory."""

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        return self.data[index], self.targets[index]

    def get_batch(self, indices):
        """``(data[indices], targets[indices])``: one fancy-index per array."""
        return self.data[indices], self.targets[indices]

    def __repr__(self):
        split = getattr(self, "train", None)
        what = "" if split is None else ("train, " if split else "test, ")
        return (f"{type(self).__name__}({what}{len(self)} images of shape "
                f"{tuple(self.data.shape[1:])}, {self.data.dtype})")


class TensorDataset(Dataset):
    """Samples are the rows of the given arrays or Tensors (all with the same first dimension).

    Parameters
    ----------
    *tensors : numpy.ndarray or Tensor
        Stored as numpy arrays (Tensors' arrays are shared, not copied), in ``.tensors``.

    ``dataset[i]`` is the tuple ``(t[i] for t in tensors)``; ``get_batch(idx)`` fancy-indexes each.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: give at least one array or Tensor")
        arrays = []
        for k, t in enumerate(tensors):
            a = t.data if isinstance(t, Tensor) else t
            if not isinstance(a, np.ndarray):
                raise TypeError(f"TensorDataset: argument {k} is a {type(t).__name__}; expected "
                                f"a numpy array or a Tensor")
            if a.ndim == 0:
                raise ValueError(f"TensorDataset: argument {k} is 0-dimensional; samples are "
                                 f"taken along the first dimension")
            arrays.append(a)
        sizes = [len(a) for a in arrays]
        if len(set(sizes)) != 1:
            raise ValueError(f"TensorDataset: all arrays need the same first dimension, got "
                             f"sizes {sizes}")
        self.tensors = tuple(arrays)

    def __len__(self):
        return len(self.tensors[0])

    def __getitem__(self, index):
        return tuple(a[index] for a in self.tensors)

    def get_batch(self, indices):
        return tuple(a[indices] for a in self.tensors)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    ``get_batch`` maps the indices and asks the parent for the batch, so a subset of an
    array-backed dataset is gathered with one fancy-index too.
    """

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = _as_index_array(indices, len(dataset), "Subset")

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        if isinstance(index, (list, np.ndarray)):
            return gather(self.dataset, self.indices[index])
        return self.dataset[int(self.indices[index])]

    def get_batch(self, indices):
        return gather(self.dataset, self.indices[indices])


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into non-overlapping random :class:`Subset` s of the given lengths.

    Parameters
    ----------
    dataset : Dataset
    lengths : sequence of int or of float
        Sizes summing to ``len(dataset)``, or fractions summing to 1 (each rounded down, the
        remainder handed out one by one from the first, as in PyTorch).
    generator : numpy.random.Generator, optional
        The source of the permutation; by default tinyconv's generator (``manual_seed``).

    Returns
    -------
    list of Subset
    """
    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths is empty")
    if all(isinstance(x, float) for x in lengths) and all(0 <= x <= 1 for x in lengths):
        if abs(sum(lengths) - 1) > 1e-6:
            raise ValueError(f"random_split: fractions {lengths} sum to {sum(lengths)}, not 1")
        sizes = [int(np.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
    else:
        for x in lengths:
            if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 0:
                raise ValueError(f"random_split: lengths must be non-negative ints or fractions, "
                                 f"got {lengths}")
        sizes = [int(x) for x in lengths]
        if sum(sizes) != n:
            raise ValueError(f"random_split: lengths {sizes} sum to {sum(sizes)} but the dataset "
                             f"has {n} samples")
    perm = _numpy_rng(generator, "random_split").permutation(n)
    bounds = np.cumsum([0] + sizes)
    return [Subset(dataset, perm[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
