"""Argument parsing and checks shared by the convolution and pooling ops."""

import numpy as np

from ..tensor import Tensor


def ntuple(value, n, name, op):
    """Turn an int or a sequence of ``n`` ints into a tuple of ``n`` Python ints."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),) * n
    if isinstance(value, (tuple, list)) and len(value) == n and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value
    ):
        return tuple(int(v) for v in value)
    if isinstance(value, (tuple, list)) and len(value) == 1 and n > 1:
        return ntuple(value[0], n, name, op)
    raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")


def check_positive(values, name, op):
    if any(v <= 0 for v in values):
        raise ValueError(f"{op}: {name} must be positive, got {values}")


def check_nonnegative(values, name, op):
    if any(v < 0 for v in values):
        raise ValueError(f"{op}: {name} must be non-negative, got {values}")


def check_float(t, what, op):
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {what} must be a Tensor, got {type(t).__name__}")
    if t.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: {what} must be float32 or float64, got {t.dtype} "
                        f"({what} {t.shape})")


def check_rank(x, nd, op, what="input"):
    """Accept batched (nd+2 dims) or unbatched (nd+1 dims) input; return (batched?, rank)."""
    if x.ndim == nd + 2:
        return True
    if x.ndim == nd + 1:
        return False
    raise ValueError(f"{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) {what}, "
                     f"got {x.ndim}-D {what} of shape {x.shape}")


def to5d(shape):
    """(N, C, *spatial) with 1..3 spatial dims -> (N, C, D, H, W), padding leading dims with 1."""
    n, c, *s = shape
    return (n, c) + (1,) * (3 - len(s)) + tuple(s)


def pad3(t, fill):
    """A per-spatial-dim tuple of length 1..3 -> length 3, leading dims filled with ``fill``."""
    return (fill,) * (3 - len(t)) + tuple(t)
