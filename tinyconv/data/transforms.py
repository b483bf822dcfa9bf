"""Batch transforms: each call processes a whole (N, C, H, W) batch with vectorised numpy.

No transform loops over images or pixels in Python: random crops pick every image's window with
one fancy-index into a sliding-window view, flips select the flipped images with a mask.

Randomness: a random transform draws from, in this order of preference, the generator it was
built with, the generator passed to the call (:class:`DataLoader` passes one per batch, derived
from its own seed, so that runs are reproducible with or without background prefetch), or
tinyconv's default generator (``tinyconv.manual_seed``).

Transforms take numpy arrays or Tensors and return the same kind; the input is never modified
(unless ``Normalize(..., inplace=True)``). A 3-D input is one (C, H, W) image.
"""

import numbers

import numpy as np

from ..tensor import Tensor
from .dataset import _numpy_rng

__all__ = ["Compose", "Normalize", "RandomCrop", "RandomHorizontalFlip", "ToFloat", "Transform"]


class Transform:
    """Base class: subclasses implement ``apply(batch, rng)`` on a numpy array.

    ``random`` tells whether the transform draws random numbers (the loader only derives a seed
    for transforms that do).
    """

    random = False

    def __init__(self, generator=None):
        if generator is not None:
            _numpy_rng(generator, type(self).__name__)  # type check now, not at the first batch
        self.generator = generator

    def __call__(self, batch, generator=None):
        rng = None
        if self.random:
            rng = _numpy_rng(self.generator if self.generator is not None else generator,
                             type(self).__name__)
        if isinstance(batch, Tensor):
            return Tensor._wrap(self.apply(batch.data, rng))
        if not isinstance(batch, np.ndarray):
            raise TypeError(f"{type(self).__name__}: expected a numpy array or a Tensor, got "
                            f"{type(batch).__name__}")
        return self.apply(batch, rng)

    def apply(self, batch, rng):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class Compose(Transform):
    """Apply ``transforms`` in order; each random one gets the same generator argument."""

    def __init__(self, transforms):
        transforms = list(transforms)
        for t in transforms:
            if not callable(t):
                raise TypeError(f"Compose: {t!r} is not callable")
        self.transforms = transforms
        self.generator = None
        self.random = any(getattr(t, "random", True) for t in transforms)

    def __call__(self, batch, generator=None):
        for t in self.transforms:
            batch = t(batch, generator) if isinstance(t, Transform) else t(batch)
        return batch

    def __repr__(self):
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class ToFloat(Transform):
    """Convert to floating point and multiply by ``scale``: uint8 0..255 to float32 0..1.

    Parameters
    ----------
    scale : float
        Factor applied after the conversion (1/255 for 8-bit images; 1/16 for the 8x8 digits,
        whose pixels are counts 0..16).
    dtype : numpy dtype
        float32 (default) or float64.
    """

    def __init__(self, scale=1 / 255, dtype=np.float32):
        super().__init__()
        if not isinstance(scale, numbers.Real) or not np.isfinite(scale):
            raise ValueError(f"ToFloat: scale must be a finite number, got {scale!r}")
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"ToFloat: dtype must be floating point, got {dtype}")
        self.scale, self.dtype = float(scale), dtype

    def apply(self, batch, rng):
        # One pass: numpy converts each element and multiplies in the target dtype.
        return np.multiply(batch, self.dtype.type(self.scale), dtype=self.dtype)

    def __repr__(self):
        return f"ToFloat(scale={self.scale!r}, dtype={self.dtype.name})"


class Normalize(Transform):
    """``(x - mean[c]) / std[c]`` for each channel ``c`` (the third axis from the end).

    Parameters
    ----------
    mean, std : float or sequence of float
        One value for all channels, or one per channel.
    inplace : bool
        Overwrite the input batch (which must then be a floating-point array) instead of
        returning a new one.
    """

    def __init__(self, mean, std, inplace=False):
        super().__init__()
        mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if mean.ndim != 1 or std.ndim != 1:
            raise ValueError(f"Normalize: mean and std must be numbers or 1-D sequences, got "
                             f"shapes {mean.shape} and {std.shape}")
        if not np.all(std > 0):
            raise ValueError(f"Normalize: std must be positive, got {std.tolist()}")
        self.mean, self.std, self.inplace = mean, std, bool(inplace)

    def apply(self, batch, rng):
        if batch.dtype.kind != "f":
            raise TypeError(f"Normalize: expected a floating-point batch, got {batch.dtype}; "
                            f"apply ToFloat first")
        if batch.ndim < 3:
            raise ValueError(f"Normalize: expected (N, C, H, W) or (C, H, W), got shape "
                             f"{batch.shape}")
        c = batch.shape[-3]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if len(v) not in (1, c):
                raise ValueError(f"Normalize: {len(v)} {name} values for a batch with {c} "
                                 f"channels (shape {batch.shape})")
        dt = batch.dtype.type
        mean = self.mean.astype(dt).reshape(-1, 1, 1)
        std = self.std.astype(dt).reshape(-1, 1, 1)
        out = batch if self.inplace else None
        out = np.subtract(batch, mean, out=out)
        return np.divide(out, std, out=out)

    def __repr__(self):
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


def _pair(v, name, where):
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        v = (int(v), int(v))
    v = tuple(v)
    if len(v) != 2 or not all(isinstance(x, numbers.Integral) and x > 0 for x in v):
        raise ValueError(f"{where}: {name} must be a positive int or a pair of them, got {v!r}")
    return tuple(int(x) for x in v)


def _as_batch(batch, where):
    if batch.ndim == 3:
        return batch[None], True
    if batch.ndim != 4:
        raise ValueError(f"{where}: expected (N, C, H, W) or (C, H, W), got shape {batch.shape}")
    return batch, False


class RandomCrop(Transform):
    """Crop each image at its own random offset, after optional padding.

    Parameters
    ----------
    size : int or (int, int)
        Output height and width.
    padding : int or sequence of int
        Added to the borders first: one int for all four, ``(left/right, top/bottom)``, or
        ``(left, top, right, bottom)`` (torchvision's order).
    padding_mode : {'constant', 'edge', 'reflect', 'symmetric'}
        As in torchvision (and ``numpy.pad``).
    fill : number
        The value of constant padding.
    generator : numpy.random.Generator, optional
        See the module docstring.

    With padded size (Hp, Wp), the top-left corner of each crop is uniform over
    ``0..Hp-h`` x ``0..Wp-w``. Output (N, C, h, w), same dtype as the input (crop uint8 images
    before ToFloat: four times fewer bytes to move).
    """

    random = True
    _MODES = ("constant", "edge", "reflect", "symmetric")

    def __init__(self, size, padding=0, padding_mode="constant", fill=0, generator=None):
        super().__init__(generator)
        self.size = _pair(size, "size", "RandomCrop")
        if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
            padding = (int(padding),) * 4
        padding = tuple(padding)
        if len(padding) == 2:
            padding = padding * 2
        if len(padding) != 4 or not all(isinstance(p, numbers.Integral) and p >= 0
                                        for p in padding):
            raise ValueError(f"RandomCrop: padding must be a non-negative int or a sequence of 2 "
                             f"or 4 of them, got {padding!r}")
        if padding_mode not in self._MODES:
            raise ValueError(f"RandomCrop: padding_mode must be one of {', '.join(self._MODES)}; "
                             f"got {padding_mode!r}")
        self.padding = tuple(int(p) for p in padding)  # left, top, right, bottom
        self.padding_mode, self.fill = padding_mode, fill

    def apply(self, batch, rng):
        x, single = _as_batch(batch, "RandomCrop")
        left, top, right, bottom = self.padding
        if any(self.padding):
            widths = ((0, 0), (0, 0), (top, bottom), (left, right))
            if self.padding_mode == "constant":  # 4x faster than np.pad for this case
                n, c, hh, ww = x.shape
                padded = np.full((n, c, hh + top + bottom, ww + left + right), self.fill,
                                 dtype=x.dtype)
                padded[:, :, top:top + hh, left:left + ww] = x
                x = padded
            else:
                x = np.pad(x, widths, mode=self.padding_mode)
        h, w = self.size
        n, _, hp, wp = x.shape
        if h > hp or w > wp:
            raise ValueError(f"RandomCrop: crop size {(h, w)} is larger than the padded image "
                             f"{(hp, wp)} (input {batch.shape}, padding {self.padding})")
        top_off = rng.integers(0, hp - h + 1, size=n)
        left_off = rng.integers(0, wp - w + 1, size=n)
        windows = np.lib.stride_tricks.sliding_window_view(x, (h, w), axis=(2, 3))
        # windows: (N, C, Hp-h+1, Wp-w+1, h, w); the advanced indices on axes 0, 2, 3 pick one
        # window per image and move the batch axis first: (N, C, h, w), a fresh array.
        out = windows[np.arange(n), :, top_off, left_off]
        return out[0] if single else out

    def __repr__(self):
        return (f"RandomCrop(size={self.size}, padding={self.padding}, "
                f"padding_mode={self.padding_mode!r})")


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability ``p`` (drawn independently per image)."""

    random = True

    def __init__(self, p=0.5, generator=None):
        super().__init__(generator)
        if not isinstance(p, numbers.Real) or not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)

    def apply(self, batch, rng):
        x, single = _as_batch(batch, "RandomHorizontalFlip")
        flip = rng.random(len(x)) < self.p
        out = x.copy()
        out[flip] = x[flip, :, :, ::-1]
        return out[0] if single else out

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"
