"""``pad``: constant, reflect, replicate and circular padding with PyTorch's argument order.

``pad`` is ``(left_last, right_last, left_second_last, right_second_last, ...)``: pairs for the
last dimension first. Constant padding may be negative (it crops), as in PyTorch.
"""

import numpy as np

from ..autograd import Function

__all__ = ["pad"]

_MODES = ("constant", "reflect", "replicate", "circular")


def _index_map(n, lo, hi, mode):
    """Source index for each output position along one dimension of size ``n``."""
    pos = np.arange(-lo, n + hi)
    if mode == "reflect":
        period = 2 * (n - 1)
        pos = np.abs(pos) % period if period else np.zeros_like(pos)
        return np.where(pos >= n, period - pos, pos)
    if mode == "replicate":
        return np.clip(pos, 0, n - 1)
    return pos % n  # circular


class Pad(Function):
    @staticmethod
    def forward(ctx, x, pairs, mode, value):
        # pairs: per dimension of x, (lo, hi)
        ctx.pairs, ctx.mode, ctx.shape = pairs, mode, x.shape
        if mode == "constant":
            crop = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi) in zip(x.shape, pairs))
            inner = x[crop]
            widths = [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]
            return np.pad(inner, widths, mode="constant", constant_values=value)
        ctx.maps = []
        out = x
        for d, (lo, hi) in enumerate(pairs):
            if lo or hi:
                idx = _index_map(x.shape[d], lo, hi, mode)
                ctx.maps.append((d, idx))
                out = np.take(out, idx, axis=d)
        return np.ascontiguousarray(out)

    @staticmethod
    def backward(ctx, g):
        if ctx.mode == "constant":
            gx = np.zeros(ctx.shape, dtype=g.dtype)
            src = tuple(slice(max(lo, 0), g.shape[d] - max(hi, 0))
                        for d, (lo, hi) in enumerate(ctx.pairs))
            dst = tuple(slice(max(-lo, 0), n - max(-hi, 0))
                        for n, (lo, hi) in zip(ctx.shape, ctx.pairs))
            gx[dst] = g[src]
            return gx, None, None, None
        for d, idx in reversed(ctx.maps):
            shape = list(g.shape)
            shape[d] = ctx.shape[d]
            acc = np.zeros(shape, dtype=g.dtype)
            moved = np.moveaxis(acc, d, 0)
            np.add.at(moved, idx, np.moveaxis(g, d, 0))
            g = acc
        return g, None, None, None


def pad(input, pad, mode="constant", value=0.0):
    """Pad the last ``len(pad) // 2`` dimensions of ``input``.

    Parameters
    ----------
    input : Tensor
    pad : tuple of int
        ``(left, right)`` for the last dimension, then the one before it, and so on.
    mode : {'constant', 'reflect', 'replicate', 'circular'}
    value : float
        Fill value for ``'constant'``.

    Output size along a padded dimension: ``n + left + right``.
    """
    if mode not in _MODES:
        raise ValueError(f"pad: unknown mode {mode!r}; expected one of {', '.join(_MODES)}")
    pad = tuple(pad)
    if len(pad) % 2 or any(not isinstance(p, (int, np.integer)) for p in pad):
        raise ValueError(f"pad: padding must be an even number of ints, got {pad}")
    k = len(pad) // 2
    if k > input.ndim:
        raise ValueError(f"pad: {len(pad)} padding values for a tensor of shape {input.shape}")
    pairs = [(0, 0)] * (input.ndim - k) + [(pad[2 * i], pad[2 * i + 1]) for i in reversed(range(k))]
    for d, (lo, hi) in enumerate(pairs):
        n = input.shape[d]
        if mode == "constant":
            if n + lo + hi < 0:
                raise ValueError(f"pad: padding {pad} gives a negative size for dimension {d} "
                                 f"of input {input.shape}")
            continue
        if lo < 0 or hi < 0:
            raise ValueError(f"pad: negative padding {pad} is only allowed with mode='constant'")
        if mode == "reflect" and (lo >= n or hi >= n) and (lo or hi):
            raise ValueError(f"pad: reflect padding ({lo}, {hi}) must be smaller than the size "
                             f"{n} of dimension {d} of input {input.shape}")
        if mode == "circular" and (lo > n or hi > n):
            raise ValueError(f"pad: circular padding ({lo}, {hi}) must be at most the size "
                             f"{n} of dimension {d} of input {input.shape}")
        if mode == "replicate" and n == 0 and (lo or hi):
            raise ValueError(f"pad: cannot replicate-pad an empty dimension of {input.shape}")
    return Pad.apply(input, tuple(pairs), mode, value)
