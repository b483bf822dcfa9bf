"""Max, average, adaptive pooling and max unpooling in 1, 2 and 3 spatial dimensions.

Output size per spatial dimension (PyTorch's rule)::

    out = floor_or_ceil((in + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1
    if ceil_mode and (out - 1) * stride >= in + padding: out -= 1

so that with ``ceil_mode`` the last window always starts inside the input or its left padding.
Indices returned by max pooling are flat positions within each input plane (``h*W + w`` in 2-D),
as in PyTorch, and are what ``max_unpool`` consumes.
"""

import numpy as np

from .. import _kernels as K
from ..autograd import Function
from ..tensor import Tensor
from ._util import check_float, check_nonnegative, check_positive, check_rank, ntuple, pad3, to5d

__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
           "max_unpool1d", "max_unpool2d", "max_unpool3d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
           "adaptive_max_pool2d", "adaptive_max_pool3d", "pool_output_size"]


def pool_output_size(size, kernel_size, stride, padding=0, dilation=1, ceil_mode=False):
    """Pooling output size along one dimension, PyTorch's rule including the ceil_mode fix."""
    num = size + 2 * padding - dilation * (kernel_size - 1) - 1
    out = (-(-num // stride) if ceil_mode else num // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _to5(x):
    """(N, C, *S) -> (N, C, D, H, W) view."""
    return x.reshape(to5d(x.shape))


def _scatter_max(ctx, g):
    """Backward of max and adaptive max pooling: route each gradient to its argmax."""
    (idx,) = ctx.saved_tensors
    return K.max_pool_backward(g.reshape(idx.shape), idx, to5d(ctx.x_shape)).reshape(ctx.x_shape)


class MaxPool(Function):
    @staticmethod
    def forward(ctx, x, k, s, p, d, out_sp):
        out, idx = K.max_pool(_to5(x), k, s, p, d, pad3(out_sp, 1))
        shape = x.shape[:2] + tuple(out_sp)
        ctx.save_for_backward(idx)
        ctx.x_shape = x.shape
        return out.reshape(shape), idx.reshape(shape)

    @staticmethod
    def backward(ctx, g, _gidx):
        return (_scatter_max(ctx, g), None, None, None, None, None)


class AvgPool(Function):
    @staticmethod
    def forward(ctx, x, k, s, p, out_sp, count_include_pad, divisor):
        out = K.avg_pool(_to5(x), k, s, p, pad3(out_sp, 1), count_include_pad, divisor)
        ctx.args = (k, s, p, count_include_pad, divisor)
        ctx.x_shape = x.shape
        return out.reshape(x.shape[:2] + tuple(out_sp))

    @staticmethod
    def backward(ctx, g):
        k, s, p, cip, div = ctx.args
        g5 = g.reshape(to5d(g.shape))
        gx = K.avg_pool_backward(g5, to5d(ctx.x_shape), k, s, p, cip, div)
        return gx.reshape(ctx.x_shape), None, None, None, None, None, None


class AdaptiveAvgPool(Function):
    @staticmethod
    def forward(ctx, x, out_sp):
        out = K.adaptive_avg_pool(_to5(x), pad3(out_sp, 1))
        ctx.x_shape = x.shape
        return out.reshape(x.shape[:2] + tuple(out_sp))

    @staticmethod
    def backward(ctx, g):
        gx = K.adaptive_avg_pool_backward(g.reshape(to5d(g.shape)), to5d(ctx.x_shape))
        return gx.reshape(ctx.x_shape), None


class AdaptiveMaxPool(Function):
    @staticmethod
    def forward(ctx, x, out_sp):
        out, idx = K.adaptive_max_pool(_to5(x), pad3(out_sp, 1))
        shape = x.shape[:2] + tuple(out_sp)
        ctx.save_for_backward(idx)
        ctx.x_shape = x.shape
        return out.reshape(shape), idx.reshape(shape)

    @staticmethod
    def backward(ctx, g, _gidx):
        return _scatter_max(ctx, g), None


class MaxUnpool(Function):
    @staticmethod
    def forward(ctx, x, idx, out_sp):
        out = K.max_unpool(_to5(x), idx.reshape(to5d(idx.shape)), pad3(out_sp, 1))
        ctx.save_for_backward(idx)
        ctx.x_shape = x.shape
        return out.reshape(x.shape[:2] + tuple(out_sp))

    @staticmethod
    def backward(ctx, g):
        (idx,) = ctx.saved_tensors
        gx = K.max_unpool_backward(g.reshape(to5d(g.shape)), idx.reshape(to5d(idx.shape)),
                                   to5d(ctx.x_shape))
        return gx.reshape(ctx.x_shape), None, None


def _batch(x, nd, op):
    check_float(x, "input", op)
    batched = check_rank(x, nd, op)
    if any(v == 0 for v in x.shape[1 if batched else 0:]):
        raise ValueError(f"{op}: input has an empty dimension (input {x.shape})")
    return (x if batched else x.unsqueeze(0)), batched


def _window_args(op, nd, x, kernel_size, stride, padding, dilation, ceil_mode):
    k = ntuple(kernel_size, nd, "kernel_size", op)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else \
        ntuple(stride, nd, "stride", op)
    p = ntuple(padding, nd, "padding", op)
    d = ntuple(dilation, nd, "dilation", op)
    check_positive(k, "kernel_size", op)
    check_positive(s, "stride", op)
    check_positive(d, "dilation", op)
    check_nonnegative(p, "padding", op)
    if any(pi > ki // 2 for pi, ki in zip(p, k)):
        raise ValueError(f"{op}: padding {p} should be at most half of the kernel size {k} "
                         f"(input {x.shape})")
    out = tuple(pool_output_size(i, ki, si, pi, di, ceil_mode)
                for i, ki, si, pi, di in zip(x.shape[2:], k, s, p, d))
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: input {x.shape} is too small for kernel {k}, stride {s}, "
                         f"padding {p}, dilation {d}: the output size would be {out}")
    return k, s, p, d, out


def _max_pool(op, nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    x, batched = _batch(input, nd, op)
    k, s, p, d, out = _window_args(op, nd, x, kernel_size, stride, padding, dilation, ceil_mode)
    y, idx = MaxPool.apply(x, pad3(k, 1), pad3(s, 1), pad3(p, 0), pad3(d, 1), out)
    if not batched:
        y, idx = y.squeeze(0), idx.squeeze(0)
    return (y, idx) if return_indices else y


def _avg_pool(op, nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    x, batched = _batch(input, nd, op)
    k, s, p, _, out = _window_args(op, nd, x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or not isinstance(divisor_override,
                                                                (int, np.integer)):
            raise TypeError(f"{op}: divisor_override must be an int, got {divisor_override!r}")
        if divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must be non-zero")
    y = AvgPool.apply(x, pad3(k, 1), pad3(s, 1), pad3(p, 0), out, bool(count_include_pad),
                      None if divisor_override is None else int(divisor_override))
    return y if batched else y.squeeze(0)


def _adaptive_size(op, nd, x, output_size):
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size,) * nd
    output_size = tuple(output_size)
    if len(output_size) != nd:
        raise ValueError(f"{op}: output_size must have {nd} elements, got {output_size}")
    out = tuple(int(i) if o is None else o for o, i in zip(output_size, x.shape[2:]))
    if any(isinstance(o, bool) or not isinstance(o, (int, np.integer)) or o < 1 for o in out):
        raise ValueError(f"{op}: output_size must be positive ints, got {output_size} "
                         f"(input {x.shape})")
    return tuple(int(o) for o in out)


def _adaptive(op, nd, fn, input, output_size, return_indices=False):
    x, batched = _batch(input, nd, op)
    out = _adaptive_size(op, nd, x, output_size)
    res = fn.apply(x, out)
    if fn is AdaptiveAvgPool:
        return res if batched else res.squeeze(0)
    y, idx = res
    if not batched:
        y, idx = y.squeeze(0), idx.squeeze(0)
    return (y, idx) if return_indices else y


def _max_unpool(op, nd, input, indices, kernel_size, stride, padding, output_size):
    x, batched = _batch(input, nd, op)
    if not isinstance(indices, Tensor) or indices.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be an integer Tensor, got "
                        f"{getattr(indices, 'dtype', type(indices).__name__)}")
    idx = indices if batched else indices.unsqueeze(0)
    if idx.shape != x.shape:
        raise ValueError(f"{op}: indices {indices.shape} must have the shape of the input "
                         f"{input.shape}")
    k = ntuple(kernel_size, nd, "kernel_size", op)
    s = k if stride is None else ntuple(stride, nd, "stride", op)
    p = ntuple(padding, nd, "padding", op)
    check_positive(k, "kernel_size", op)
    check_positive(s, "stride", op)
    check_nonnegative(p, "padding", op)
    default = tuple((i - 1) * si - 2 * pi + ki for i, ki, si, pi in zip(x.shape[2:], k, s, p))
    if output_size is None:
        out = default
    else:
        out = tuple(int(v) for v in (output_size.shape if isinstance(output_size, Tensor)
                                     else output_size))
        if len(out) == nd + 2 or (len(out) == nd + 1 and not batched):
            out = out[-nd:]
        if len(out) != nd:
            raise ValueError(f"{op}: output_size must have {nd} or {nd + 2} elements, got "
                             f"{tuple(output_size)}")
        for o, dflt, si in zip(out, default, s):
            if not dflt - si < o < dflt + si:
                raise ValueError(f"{op}: invalid output_size {out}: each size must lie strictly "
                                 f"between {tuple(a - b for a, b in zip(default, s))} and "
                                 f"{tuple(a + b for a, b in zip(default, s))} (input {input.shape})")
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: output size {out} is not positive (input {input.shape})")
    y = MaxUnpool.apply(x, idx.data.astype(np.int64, copy=False), out)
    return y if batched else y.squeeze(0)


# ---------------------------------------------------------------- public API
def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """1-D max pooling over (N, C, L); ``stride`` defaults to ``kernel_size``.

    Returns ``(output, indices)`` when ``return_indices``. Output size: see module docstring.
    """
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling over (N, C, H, W); ``stride`` defaults to ``kernel_size``.

    ``padding`` (implicit -inf) must be at most half the kernel. NaN propagates as in PyTorch.
    """
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """3-D max pooling over (N, C, D, H, W); ``stride`` defaults to ``kernel_size``."""
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """1-D average pooling over (N, C, L); ``stride`` defaults to ``kernel_size``."""
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2-D average pooling over (N, C, H, W).

    The divisor is the window clipped to the padded input when ``count_include_pad``, the window
    clipped to the input otherwise, or ``divisor_override`` when given (PyTorch's rules).
    """
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """3-D average pooling over (N, C, D, H, W); divisor rules as :func:`avg_pool2d`."""
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of :func:`max_pool1d`: place values at ``indices``, zeros elsewhere.

    Default output size ``(L-1)*stride - 2*padding + kernel_size``.
    """
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding,
                       output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of :func:`max_pool2d`; ``output_size`` resolves ambiguous sizes."""
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding,
                       output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of :func:`max_pool3d`."""
    return _max_unpool("max_unpool3d", 3, input, indices, kernel_size, stride, padding,
                       output_size)


def adaptive_avg_pool1d(input, output_size):
    """Average over windows ``[floor(i*L/out), ceil((i+1)*L/out))`` to a fixed output size."""
    return _adaptive("adaptive_avg_pool1d", 1, AdaptiveAvgPool, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    """2-D adaptive average pooling; ``None`` in ``output_size`` keeps that input size."""
    return _adaptive("adaptive_avg_pool2d", 2, AdaptiveAvgPool, input, output_size)


def adaptive_avg_pool3d(input, output_size):
    """3-D adaptive average pooling."""
    return _adaptive("adaptive_avg_pool3d", 3, AdaptiveAvgPool, input, output_size)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """1-D adaptive max pooling (windows as :func:`adaptive_avg_pool1d`)."""
    return _adaptive("adaptive_max_pool1d", 1, AdaptiveMaxPool, input, output_size,
                     return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """2-D adaptive max pooling (windows as :func:`adaptive_avg_pool2d`)."""
    return _adaptive("adaptive_max_pool2d", 2, AdaptiveMaxPool, input, output_size,
                     return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """3-D adaptive max pooling."""
    return _adaptive("adaptive_max_pool3d", 3, AdaptiveMaxPool, input, output_size,
                     return_indices)
