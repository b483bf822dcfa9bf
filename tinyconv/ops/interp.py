"""``interpolate``: resize (N, C, *d) input with PyTorch's index and weight rules.

Output size per spatial dimension: ``size`` when given, else ``floor(in * scale_factor)``.

Every mode is separable, so the op is a sequence of 1-D resamplings, one per resized dimension,
each ``y[o] = w0[o] * x[i0[o]] + w1[o] * x[i1[o]]`` (a gather; 'nearest' copies ``x[i0[o]]``),
run by the compiled kernel ``_interp.resample``; its backward scatters ``g * w_k`` back onto
``i_k`` in a fixed order (exact sums, independent of the thread count). With ``scale``
the coordinate ratio of a dimension -- ``1 / scale_factor`` when ``scale_factor`` was given and
``recompute_scale_factor`` is not set, else ``in / out`` -- PyTorch's rules are:

``'nearest'``  ``i = min(floor(o * scale), in - 1)`` in the input's dtype, except ``i = o``
               when out == in and ``i = o // 2`` when out == 2 * in, shortcuts taken by
               PyTorch's 2-D kernel always and by its 1-D and 3-D kernels only without a
               scale_factor
``'linear'``, ``'bilinear'``, ``'trilinear'`` (1-, 2- and 3-D input), in the input's dtype::

    align_corners=True:   src = o * (in - 1) / (out - 1)          (0 when out == 1)
    align_corners=False:  src = max(scale * (o + 0.5) - 0.5, 0)
    i0 = min(floor(src), in - 1),  i1 = min(i0 + 1, in - 1),  w1 = clip(src - i0, 0, 1),
    w0 = 1 - w1                                                   (identity when out == in)

``'area'`` is adaptive average pooling to the output size.

The forward matches PyTorch 2.13 index for index. The backward is always the exact adjoint of
the forward, which PyTorch's 'nearest' backward is not in two corner cases, where tinyconv's
gradient therefore differs from PyTorch's: (1) PyTorch's backward takes the two shortcuts in
every dimension count, so in 1-D and 3-D with a scale_factor that is not exactly 1 or 2 but gives
out == in or out == 2 * in (1.3 on size 3, 2.2 on size 4) it routes gradients differently from
its forward; (2) for float64 input its backward computes indices in float32, its forward in
float64, which disagree when ``o * scale`` lies within float32 rounding of an integer.
"""

import math

import numpy as np

from .. import _kernels as K
from ..autograd import Function
from ._util import check_float
from .pool import adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d

__all__ = ["interpolate"]

_MODES = ("nearest", "linear", "bilinear", "trilinear", "area")
_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}
_ADAPTIVE_AVG = {1: adaptive_avg_pool1d, 2: adaptive_avg_pool2d, 3: adaptive_avg_pool3d}


# ----------------------------------------------------------------------- index rules
def _scale(n_in, n_out, scale_factor, dtype):
    """PyTorch's compute_scales_value: the source step per output step, in ``dtype``."""
    if scale_factor is not None and scale_factor > 0:
        return dtype.type(1.0 / scale_factor)
    return dtype.type(n_in) / dtype.type(n_out)


def _nearest_map(n_in, n_out, scale_factor, nd, dtype):
    o = np.arange(n_out, dtype=np.int64)
    # PyTorch's shortcuts for out == in and out == 2 * in: its 2-D kernel takes them always,
    # its 1-D and 3-D kernels only without a scale_factor (where they agree with the formula).
    if n_out in (n_in, 2 * n_in) and (scale_factor is None or nd == 2):
        return [o if n_out == n_in else o >> 1], [None]
    src = o.astype(dtype) * _scale(n_in, n_out, scale_factor, dtype)
    # PyTorch floors with floorf, i.e. after rounding the coordinate to float32.
    return [np.minimum(np.floor(src.astype(np.float32)).astype(np.int64), n_in - 1)], [None]


def _linear_map(n_in, n_out, scale_factor, align_corners, dtype):
    o = np.arange(n_out, dtype=np.int64)
    if n_out == n_in:
        return [o], [None]
    t = dtype.type
    if align_corners:
        ratio = t(n_in - 1) / t(n_out - 1) if n_out > 1 else t(0)
        src = ratio * o.astype(dtype)
    else:
        ratio = _scale(n_in, n_out, scale_factor, dtype)
        src = np.maximum(ratio * (o.astype(dtype) + t(0.5)) - t(0.5), t(0))
    # PyTorch floors with floorf, i.e. after rounding the coordinate to float32.
    i0 = np.minimum(np.floor(src.astype(np.float32)).astype(np.int64), n_in - 1)
    w1 = np.clip(src - i0.astype(dtype), t(0), t(1)).astype(dtype, copy=False)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return [i0, i1], [t(1) - w1, w1]


# -------------------------------------------------------------------------- Function
def _as3(a, axis):
    """View ``a`` as (before, a.shape[axis], after) for the 1-D resampling kernel."""
    return a.reshape(int(np.prod(a.shape[:axis])), a.shape[axis], -1)


class Interpolate(Function):
    @staticmethod
    def forward(ctx, x, maps):
        # maps: per resized dimension, (axis, input size, [indices], [weights or None])
        ctx.maps = maps
        y = x
        for axis, _, idxs, ws in maps:
            shape = y.shape[:axis] + (len(idxs[0]),) + y.shape[axis + 1:]
            y = K.resample(_as3(y, axis), idxs[0], ws[0], idxs[-1], ws[-1]).reshape(shape)
        return y if y is not x else x.copy()

    @staticmethod
    def backward(ctx, g):
        for axis, n, idxs, ws in reversed(ctx.maps):
            shape = g.shape[:axis] + (n,) + g.shape[axis + 1:]
            g = K.resample_backward(_as3(g, axis), n, idxs[0], ws[0], idxs[-1],
                                    ws[-1]).reshape(shape)
        return g, None


# ------------------------------------------------------------------------ validation
def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _per_dim(op, value, nd, what, check, spatial):
    if isinstance(value, (tuple, list)):
        if len(value) != nd:
            raise ValueError(f"{op}: input and {what} must have the same number of spatial "
                             f"dimensions, but got input with spatial dimensions of "
                             f"{tuple(spatial)} and {what} {tuple(value)}")
        values = tuple(value)
    else:
        values = (value,) * nd
    if not all(check(v) for v in values):
        kind = "an int or a tuple of ints" if what == "size" else "a float or a tuple of floats"
        raise TypeError(f"{op}: {what} must be {kind}, got {value!r}")
    return values


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dimensions of (N, C, L), (N, C, H, W) or (N, C, D, H, W) input.

    Parameters
    ----------
    input : Tensor
        3-D, 4-D or 5-D, channels in dimension 1.
    size : int or tuple of int, optional
        Output spatial size; exactly one of ``size`` and ``scale_factor`` must be given.
    scale_factor : float or tuple of float, optional
        Multiplier of the spatial size: ``out = floor(in * scale_factor)``. Unless
        ``recompute_scale_factor`` is true, ``1 / scale_factor`` (not ``in / out``) is also the
        step of the coordinate mapping, as in PyTorch.
    mode : {'nearest', 'linear', 'bilinear', 'trilinear', 'area'}
        ``'linear'`` needs 3-D input, ``'bilinear'`` 4-D and ``'trilinear'`` 5-D.
    align_corners : bool, optional
        Linear modes only (default False): map the corner pixel centres onto each other.
    recompute_scale_factor : bool, optional
        Use ``in / out`` instead of the given ``scale_factor`` in the coordinate mapping.
    antialias : bool
        Must be False (anti-aliased resizing is not implemented).

    Returns
    -------
    Tensor
        (N, C, *out), same dtype as ``input``. See the module docstring for the exact index
        and weight rules of each mode.
    """
    op = "interpolate"
    check_float(input, "input", op)
    if mode not in _MODES:
        raise ValueError(f"{op}: unsupported mode {mode!r}; expected one of "
                         f"{', '.join(repr(m) for m in _MODES)}")
    if mode in _LINEAR:
        align_corners = False if align_corners is None else align_corners
        if not isinstance(align_corners, (bool, np.bool_)):
            raise TypeError(f"{op}: align_corners must be a bool or None, got "
                            f"{align_corners!r}")
    elif align_corners is not None:
        raise ValueError(f"{op}: align_corners option can only be set with the interpolating "
                         f"modes: linear | bilinear | trilinear (got mode {mode!r})")
    if antialias:
        raise ValueError(f"{op}: antialias=True is not supported")
    if input.ndim not in (3, 4, 5):
        raise ValueError(f"{op}: expected 3-D, 4-D or 5-D input (N, C, *spatial), got "
                         f"{input.ndim}-D input of shape {input.shape}")
    nd = input.ndim - 2
    if mode in _LINEAR and _LINEAR[mode] != nd:
        raise ValueError(f"{op}: got {input.ndim}-D input {input.shape}, but {mode} mode needs "
                         f"{_LINEAR[mode] + 2}-D input")
    spatial = input.shape[2:]
    if size is not None and scale_factor is not None:
        raise ValueError(f"{op}: only one of size or scale_factor should be defined")
    if size is None and scale_factor is None:
        raise ValueError(f"{op}: either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError(f"{op}: recompute_scale_factor is not meaningful with an explicit size")
    if size is not None:
        out = tuple(int(s) for s in _per_dim(op, size, nd, "size", _is_int, spatial))
        scales = (None,) * nd
    else:
        scales = tuple(float(s) for s in
                       _per_dim(op, scale_factor, nd, "scale_factor", _is_number, spatial))
        if not all(math.isfinite(s) for s in scales):
            raise ValueError(f"{op}: scale_factor must be finite, got {scale_factor!r}")
        out = tuple(int(n * s) for n, s in zip(spatial, scales))
        if recompute_scale_factor or mode == "area":
            scales = (None,) * nd
    if any(n <= 0 for n in spatial) or any(o <= 0 for o in out):
        raise ValueError(f"{op}: input and output sizes should be greater than 0, but got input "
                         f"{tuple(spatial)} and output {out} (input {input.shape})")
    if mode == "area":
        return _ADAPTIVE_AVG[nd](input, out)
    maps = []
    for d, (n, o, s) in enumerate(zip(spatial, out, scales)):
        if mode in _LINEAR:
            idxs, ws = _linear_map(n, o, s, bool(align_corners), input.dtype)
        else:
            idxs, ws = _nearest_map(n, o, s, nd, input.dtype)
        if o == n and ws[0] is None and np.array_equal(idxs[0], np.arange(n)):
            continue  # this dimension is copied unchanged
        maps.append((d + 2, n, idxs, ws))
    return Interpolate.apply(input, tuple(maps))
