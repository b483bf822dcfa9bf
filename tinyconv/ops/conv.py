"""Convolution and transposed convolution in 1, 2 and 3 spatial dimensions.

Algorithm: im2col + GEMM. Every spatial kernel is the 3-D one; 1-D and 2-D inputs are viewed
with leading spatial dimensions of size 1. With ``x`` of shape (N, C, *S), weight (O, C/G, *k)
and ``col_g(x[n])`` the (C/G*prod(k), L) columns of image n's group g::

    out[n, g*Og:(g+1)*Og, :] = weight_g @ col_g(x[n])
    grad_weight_g += grad_out[n, g] @ col_g(x[n]).T
    grad_input[n]  = col2im(weight_g.T @ grad_out[n, g])

Each call takes one of these paths, chosen in forward and kept for backward:

* ``fused`` (the usual one): per image (or per block of small images) on each OpenMP thread,
  im2col into a cache-sized thread-private buffer and a single-threaded BLAS GEMM on it, in
  one parallel region (``_kernels.conv_unfold_gemm`` / ``conv_gemm_fold``). Needs numpy's
  BLAS GEMM to be found and at least one image per thread. Inside, a float32 stride-1
  forward skips im2col and BLAS for a register-blocked direct kernel (csrc/_direct.h), 1x1
  kernels without stride or padding run GEMMs on the images themselves, and small stride-1
  planes build their columns from whole padded planes (csrc/_dw.h).
* ``channelwise``: groups with one input channel each (depthwise) are computed directly
  (``_kernels.channelwise_conv``); a GEMM with K inner terms is too thin to pay. With stride 1
  each plane is copied into a zero-padded buffer and every tap is one multiply-add over the
  whole buffer (csrc/_dw.h); strided calls slide each tap row by row.
* ``chunked``: im2col of a few images at a time into a ~4 MiB buffer, ``numpy.matmul``, and a
  layout pass; ``pointwise``: 1x1 kernels as one batched matmul. Used for a batch smaller than
  the thread count (BLAS's own threads then split the one big GEMM) or without a usable BLAS.

Output size along each spatial dimension (PyTorch's formula)::

    out = floor((in + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1
"""

import numpy as np

from .. import _kernels as K
from ..autograd import Function
from ..tensor import Tensor
from ._util import (check_float, check_nonnegative, check_positive, check_rank, ntuple, pad3,
                    to5d)

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "conv_output_size", "conv_transpose_output_size"]

# Bytes of column buffer per chunk: large enough for efficient GEMMs, small enough to stay
# near the L2/L3 caches (a batch-sized buffer measured 1.5-2x slower, see DESIGN.md).
COL_BUDGET = 4 << 20


def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    """``floor((size + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1``."""
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def conv_transpose_output_size(size, kernel_size, stride=1, padding=0, output_padding=0,
                               dilation=1):
    """``(size-1)*stride - 2*padding + dilation*(kernel_size-1) + output_padding + 1``."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1


def _chunk(n, row_bytes):
    return max(1, min(n, COL_BUDGET // max(row_bytes, 1)))


class _Workspace:
    """One column buffer per call, reused by every chunk: a fresh np.empty per chunk costs
    page faults (~12 ms on a 64x64x32x32 3x3 im2col, measured), more than the copy itself."""

    def __init__(self, rows, cols_per_image, nb, dtype):
        self.rows, self.cpi = rows, cols_per_image
        self.buf = np.empty(rows * cols_per_image * nb, dtype=dtype)

    def __call__(self, nb):
        return self.buf[:self.rows * self.cpi * nb].reshape(self.rows, self.cpi * nb)


class _Geometry:
    """Everything about one convolution call that does not depend on the data."""

    __slots__ = ("k", "s", "p", "d", "groups", "lo_extra")

    def __init__(self, k, s, p, d, groups, lo_extra=None):
        self.k, self.s, self.p, self.d, self.groups = k, s, p, d, groups
        self.lo_extra = lo_extra  # per-dim extra right padding for asymmetric 'same'


def _grouped(a, groups):
    """(rows, cols) -> (groups, rows/groups, cols) view."""
    return a.reshape(groups, a.shape[0] // groups, a.shape[1])


def _pointwise(geo):
    """1x1 kernel, stride 1, no padding, one group: the columns are the input itself."""
    return (geo.groups == 1 and geo.lo_extra is None and geo.k == (1, 1, 1)
            and geo.s == (1, 1, 1) and geo.p == (0, 0, 0))


class ConvNd(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, geo):
        fused = K.fused_conv_available(x.shape[0])
        if _pointwise(geo) and not fused:
            # out[n] = W @ x[n]: one batched GEMM straight into NCHW, no im2col, no transposes
            ctx.path = "pointwise"
            n, c = x.shape[:2]
            w = weight.reshape(weight.shape[0], c)
            out = np.matmul(w, x.reshape(n, c, -1))
            if bias is not None:
                out += bias[:, None]
            ctx.save_for_backward(x, weight)
            ctx.geo, ctx.x_shape = geo, x.shape
            return out.reshape((n, w.shape[0]) + x.shape[2:])
        x5 = x.reshape(to5d(x.shape))
        if geo.lo_extra is not None:
            x5 = np.pad(x5, [(0, 0), (0, 0)] + [(0, e) for e in geo.lo_extra])
        n, c = x5.shape[:2]
        o, g = weight.shape[0], geo.groups
        out_sp = tuple(conv_output_size(i, k, s, p, d)
                       for i, k, s, p, d in zip(x5.shape[2:], geo.k, geo.s, geo.p, geo.d))
        ctx.save_for_backward(x5, weight)
        ctx.geo, ctx.has_bias, ctx.x_shape, ctx.out_sp = geo, bias is not None, x.shape, out_sp
        ctx.path = "channelwise" if c // g == 1 and g > 1 else "fused" if fused else "chunked"
        if ctx.path == "channelwise":
            out = K.channelwise_conv(x5, weight.reshape(o, -1), bias, geo.k, geo.s, geo.p,
                                     geo.d, out_sp)
            return out.reshape((n, o) + out_sp[3 - (x.ndim - 2):])
        if ctx.path == "fused":
            out = K.conv_unfold_gemm(x5, weight.reshape(o, -1), bias, g, geo.k, geo.s, geo.p,
                                     geo.d, out_sp)
            return out.reshape((n, o) + out_sp[3 - (x.ndim - 2):])
        L = int(np.prod(out_sp))
        ksz = int(np.prod(geo.k))
        w = weight.reshape(g, o // g, (c // g) * ksz)
        out = np.empty((n, o, L), dtype=x.dtype)
        nb = _chunk(n, c * ksz * L * x.itemsize)
        ws = _Workspace(c * ksz, L, nb, x.dtype)
        for n0 in range(0, n, nb):
            xb = x5[n0:n0 + nb]
            col = K.im2col(xb, geo.k, geo.s, geo.p, geo.d, out=ws(len(xb)))
            y = np.matmul(w, _grouped(col, g)) if g > 1 else np.matmul(w[0], col)
            K.cols_to_nchw(y.reshape(o, -1, L), bias, out=out[n0:n0 + nb])
        return out.reshape((n, o) + out_sp[3 - (x.ndim - 2):])

    @staticmethod
    def backward(ctx, gout):
        x5, weight = ctx.saved_tensors
        geo = ctx.geo
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        n, c = x5.shape[:2]
        o, g = weight.shape[0], geo.groups
        if ctx.path == "pointwise":
            g3, x3, w = gout.reshape(n, o, -1), x5.reshape(n, c, -1), weight.reshape(o, c)
            gx = np.matmul(w.T, g3).reshape(ctx.x_shape) if need_x else None
            gw = (np.tensordot(g3, x3, axes=([0, 2], [0, 2])).reshape(weight.shape)
                  if need_w else None)
            return gx, gw, (K.bias_grad(g3) if need_b else None), None
        gout = gout.reshape(n, o, -1)
        if ctx.path == "channelwise":
            gx, gw = K.channelwise_conv_backward(x5, weight.reshape(o, -1), gout, geo.k, geo.s,
                                                 geo.p, geo.d, ctx.out_sp, need_x, need_w)
        elif ctx.path == "fused":
            as_conv = need_x and _grad_input_as_conv(geo, c // g, x5.dtype)
            gx, gw = K.conv_gemm_fold(x5, weight.reshape(o, -1), gout, g, geo.k, geo.s, geo.p,
                                      geo.d, ctx.out_sp, need_u=need_x and not as_conv,
                                      need_a=need_w)
            if as_conv:
                gx = _grad_input_conv(gout, weight, geo, ctx.out_sp, x5.shape)
        else:
            gx, gw = _conv_backward_chunked(x5, weight, gout, geo, need_x, need_w)
        if need_x and geo.lo_extra is not None:
            gx = gx[(slice(None), slice(None)) + tuple(slice(0, s - e) for s, e in
                                                       zip(gx.shape[2:], geo.lo_extra))]
        gb = K.bias_grad(gout) if need_b else None
        return (gx.reshape(ctx.x_shape) if need_x else None,
                gw.reshape(weight.shape) if need_w else None, gb, None)


def _grad_input_as_conv(geo, cg, dtype):
    """Whether the input gradient is computed as a forward convolution of the output gradient
    with the flipped kernel, which float32 runs on the direct kernel (csrc/_direct.h; stride
    1 and padding <= dilation*(k-1) only). Measured against im2col-GEMM-col2im (2 threads):
    1.16-1.5x faster for 16-128 input channels per group, 0.3-0.7x for LeNet's 1 and 6."""
    return (dtype == np.float32 and cg >= 16 and geo.s == (1, 1, 1)
            and all(p <= d * (k - 1) for p, d, k in zip(geo.p, geo.d, geo.k)))


def _grad_input_conv(gout, weight, geo, out_sp, x_shape):
    """grad_input = conv(grad_out, flipped and transposed kernel, padding d*(k-1) - p)."""
    n, c = x_shape[:2]
    o, g = weight.shape[0], geo.groups
    m, cg = o // g, c // g
    wf = weight.reshape((g, m, cg) + geo.k)[..., ::-1, ::-1, ::-1].transpose(0, 2, 1, 3, 4, 5)
    wf = np.ascontiguousarray(wf).reshape(g * cg, m * int(np.prod(geo.k)))
    pads = tuple(d * (k - 1) - p for p, d, k in zip(geo.p, geo.d, geo.k))
    gx = K.conv_unfold_gemm(gout.reshape((n, o) + tuple(out_sp)), wf, None, g, geo.k,
                            (1, 1, 1), pads, geo.d, x_shape[2:])
    return gx.reshape(x_shape)


def _conv_backward_chunked(x5, weight, gout, geo, need_x, need_w):
    """Backward through im2col/col2im on chunks of images with numpy.matmul (no fused GEMM)."""
    n, c = x5.shape[:2]
    o, g = weight.shape[0], geo.groups
    ksz = int(np.prod(geo.k))
    L = gout.shape[2]
    w = weight.reshape(g, o // g, (c // g) * ksz)
    gx = np.empty(x5.shape, dtype=x5.dtype) if need_x else None
    gw = np.zeros(w.shape, dtype=weight.dtype) if need_w else None
    nb = _chunk(n, c * ksz * L * x5.itemsize)
    ws = _Workspace(c * ksz, L, nb, x5.dtype)
    for n0 in range(0, n, nb):
        gcols = K.nchw_to_cols(gout[n0:n0 + nb]).reshape(g, o // g, -1)
        if need_w:
            xb = x5[n0:n0 + nb]
            col = _grouped(K.im2col(xb, geo.k, geo.s, geo.p, geo.d, out=ws(len(xb))), g)
            gw += np.matmul(gcols, col.transpose(0, 2, 1))
        if need_x:
            gcol = np.matmul(w.transpose(0, 2, 1), gcols).reshape(c * ksz, -1)
            K.col2im(gcol, x5[n0:n0 + nb].shape, geo.k, geo.s, geo.p, geo.d, out=gx[n0:n0 + nb])
    return gx, gw


class ConvTransposeNd(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, geo, out_sp):
        x5 = x.reshape(to5d(x.shape))
        n, c = x5.shape[:2]
        g = geo.groups
        o = weight.shape[1] * g
        ksz = int(np.prod(geo.k))
        Lin = int(np.prod(x5.shape[2:]))
        out5 = (n, o) + pad3(out_sp, 1)
        ctx.save_for_backward(x5, weight)
        ctx.geo, ctx.x_shape = geo, x.shape
        ctx.fused = K.fused_conv_available(n)
        if ctx.fused:
            # the input-gradient half of a convolution whose output has x's shape
            out, _ = K.conv_gemm_fold(out5, weight.reshape(c, -1), x5.reshape(n, c, Lin), g,
                                      geo.k, geo.s, geo.p, geo.d, x5.shape[2:], need_a=False)
            if bias is not None:
                K.add_bias(out.reshape(n, o, -1), bias)
            return out.reshape((n, o) + tuple(out_sp))
        w = weight.reshape(g, c // g, (o // g) * ksz)
        out = np.empty(out5, dtype=x.dtype)
        nb = _chunk(n, o * ksz * Lin * x.itemsize)
        for n0 in range(0, n, nb):
            xc = K.nchw_to_cols(x5[n0:n0 + nb].reshape(-1, c, Lin)).reshape(g, c // g, -1)
            col = np.matmul(w.transpose(0, 2, 1), xc).reshape(o * ksz, -1)
            K.col2im(col, out[n0:n0 + nb].shape, geo.k, geo.s, geo.p, geo.d, out=out[n0:n0 + nb])
        if bias is not None:
            K.add_bias(out.reshape(n, o, -1), bias)
        return out.reshape((n, o) + tuple(out_sp))

    @staticmethod
    def backward(ctx, gout):
        x5, weight = ctx.saved_tensors
        geo = ctx.geo
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        n, c = x5.shape[:2]
        g = geo.groups
        o = weight.shape[1] * g
        ksz = int(np.prod(geo.k))
        Lin = int(np.prod(x5.shape[2:]))
        g5 = gout.reshape((n, o) + pad3(gout.shape[2:], 1))
        if ctx.fused:
            w2, x3 = weight.reshape(c, -1), x5.reshape(n, c, Lin)
            gx = (K.conv_unfold_gemm(g5, w2, None, g, geo.k, geo.s, geo.p, geo.d, x5.shape[2:])
                  if need_x else None)
            gw = (K.conv_gemm_fold(g5, w2, x3, g, geo.k, geo.s, geo.p, geo.d, x5.shape[2:],
                                   need_u=False)[1] if need_w else None)
            gb = K.bias_grad(gout.reshape(n, o, -1)) if need_b else None
            return (gx.reshape(ctx.x_shape) if need_x else None,
                    gw.reshape(weight.shape) if need_w else None, gb, None, None)
        w = weight.reshape(g, c // g, (o // g) * ksz)
        gx = np.empty((n, c, Lin), dtype=x5.dtype) if need_x else None
        gw = np.zeros(w.shape, dtype=weight.dtype) if need_w else None
        nb = _chunk(n, o * ksz * Lin * x5.itemsize)
        for n0 in range(0, n, nb):
            col = _grouped(K.im2col(g5[n0:n0 + nb], geo.k, geo.s, geo.p, geo.d), g)
            if need_x:
                y = np.matmul(w, col)
                K.cols_to_nchw(y.reshape(c, -1, Lin), None, out=gx[n0:n0 + nb])
            if need_w:
                xc = K.nchw_to_cols(x5[n0:n0 + nb].reshape(-1, c, Lin)).reshape(g, c // g, -1)
                gw += np.matmul(xc, col.transpose(0, 2, 1))
        gb = K.bias_grad(gout.reshape(n, o, -1)) if need_b else None
        return (gx.reshape(ctx.x_shape) if need_x else None,
                gw.reshape(weight.shape) if need_w else None, gb, None, None)


def _conv_args(op, nd, x, weight, bias, stride, padding, dilation, groups, transposed=False):
    """Validate a (transposed) convolution call; return (batched, k, s, d, groups)."""
    check_float(x, "input", op)
    check_float(weight, "weight", op)
    batched = check_rank(x, nd, op)
    shapes = f"(input {x.shape}, weight {weight.shape})"
    if weight.ndim != nd + 2:
        raise ValueError(f"{op}: weight must be {nd + 2}-D, got shape {weight.shape}")
    if weight.dtype != x.dtype:
        raise TypeError(f"{op}: input is {x.dtype} but weight is {weight.dtype} {shapes}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    groups = int(groups)
    c = x.shape[1] if batched else x.shape[0]
    k = tuple(weight.shape[2:])
    s = ntuple(stride, nd, "stride", op)
    d = ntuple(dilation, nd, "dilation", op)
    check_positive(s, "stride", op)
    check_positive(d, "dilation", op)
    if transposed:
        if weight.shape[0] != c:
            raise ValueError(f"{op}: input has {c} channels but weight expects {weight.shape[0]} "
                             f"{shapes}")
        if c % groups:
            raise ValueError(f"{op}: groups={groups} does not divide the {c} input channels "
                             f"{shapes}")
        out_c = weight.shape[1] * groups
    else:
        if c % groups:
            raise ValueError(f"{op}: groups={groups} does not divide the {c} input channels "
                             f"{shapes}")
        if weight.shape[0] % groups:
            raise ValueError(f"{op}: groups={groups} does not divide the {weight.shape[0]} output "
                             f"channels {shapes}")
        if weight.shape[1] * groups != c:
            raise ValueError(f"{op}: input has {c} channels but weight expects "
                             f"{weight.shape[1] * groups} {shapes}")
        out_c = weight.shape[0]
    if any(v == 0 for v in weight.shape):
        raise ValueError(f"{op}: weight has an empty dimension {shapes}")
    if bias is not None:
        check_float(bias, "bias", op)
        if bias.shape != (out_c,):
            raise ValueError(f"{op}: bias must have shape ({out_c},), got {bias.shape} {shapes}")
        if bias.dtype != x.dtype:
            raise TypeError(f"{op}: input is {x.dtype} but bias is {bias.dtype}")
    return batched, k, s, d, groups


def _padding(op, nd, padding, k, s, d):
    """Resolve int/tuple/'same'/'valid'/'full' padding; returns (symmetric, extra_right)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * nd, None
        if padding == "full":
            return tuple(di * (ki - 1) for ki, di in zip(k, d)), None
        if padding == "same":
            if any(v != 1 for v in s):
                raise ValueError(f"{op}: padding='same' is not supported for strided "
                                 f"convolutions (stride {s})")
            total = [di * (ki - 1) for ki, di in zip(k, d)]
            lo = tuple(t // 2 for t in total)
            extra = tuple(t - 2 * l for t, l in zip(total, lo))
            return lo, (extra if any(extra) else None)
        raise ValueError(f"{op}: padding must be an int, a tuple, 'same', 'valid' or 'full', "
                         f"got {padding!r}")
    p = ntuple(padding, nd, "padding", op)
    check_nonnegative(p, "padding", op)
    return p, None


def _conv_plan(op, nd, input, weight, bias, stride, padding, dilation, groups):
    """Validate a convolution call; return (batched, geometry). Raises on bad input."""
    batched, k, s, d, groups = _conv_args(op, nd, input, weight, bias, stride, padding,
                                          dilation, groups)
    p, extra = _padding(op, nd, padding, k, s, d)
    sp = input.shape[-nd:]
    ext = extra or (0,) * nd
    padded = tuple(i + 2 * pi + e for i, pi, e in zip(sp, p, ext))
    eff = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d))
    if any(pi < ei for pi, ei in zip(padded, eff)):
        raise ValueError(f"{op}: kernel size (after dilation) {eff} is larger than the padded "
                         f"input {padded} (input {input.shape}, weight {weight.shape})")
    geo = _Geometry(pad3(k, 1), pad3(s, 1), pad3(p, 0), pad3(d, 1), groups,
                    pad3(extra, 0) if extra else None)
    return batched, geo


#: Validated (batched, geometry) per convolution call signature; see _plan_key.
_PLANS = {}
_PLANS_MAX = 512


def _plain(v):
    """Whether ``v`` is exactly an int, a str or a tuple of ints. A bool, a float or a numpy
    integer can compare (and hash) equal to an int, so it must not find the int's cache entry:
    those take the validating path, which rejects or converts them."""
    t = type(v)
    return t is int or t is str or (t is tuple and all(type(e) is int for e in v))


def _plan_key(op, input, weight, bias, stride, padding, dilation, groups):
    """The things a convolution's validation and geometry depend on, or None when an argument
    is not of a plain type (such calls are validated every time).

    Validating a call and building its geometry cost ~10 us per call (LeNet-5's convolutions,
    measured); a training loop repeats the same few signatures, so the result is kept.
    Everything _conv_plan checks is a function of this key: the arguments' types (Tensor or
    not), shapes and dtypes, and the exact parameter values."""
    if not (isinstance(input, Tensor) and isinstance(weight, Tensor)):
        return None
    if bias is None:
        b = None
    elif isinstance(bias, Tensor):
        b = (bias.data.shape, bias.data.dtype)
    else:
        return None
    if not (_plain(stride) and _plain(padding) and _plain(dilation) and type(groups) is int):
        return None
    x, w = input.data, weight.data
    return (op, x.shape, x.dtype, w.shape, w.dtype, b, stride, padding, dilation, groups)


def _conv(op, nd, input, weight, bias, stride, padding, dilation, groups):
    key = _plan_key(op, input, weight, bias, stride, padding, dilation, groups)
    plan = _PLANS.get(key) if key is not None else None
    if plan is None:
        plan = _conv_plan(op, nd, input, weight, bias, stride, padding, dilation, groups)
        if key is not None:
            if len(_PLANS) >= _PLANS_MAX:
                _PLANS.clear()
            _PLANS[key] = plan
    batched, geo = plan
    x = input if batched else input.unsqueeze(0)
    y = ConvNd.apply(x, weight, bias, geo)
    return y if batched else y.squeeze(0)


def _conv_transpose(op, nd, input, weight, bias, stride, padding, output_padding, groups,
                    dilation, output_size=None):
    batched, k, s, d, groups = _conv_args(op, nd, input, weight, bias, stride, padding,
                                          dilation, groups, transposed=True)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple for transposed convolution, "
                         f"got {padding!r}")
    p = ntuple(padding, nd, "padding", op)
    op_ = ntuple(output_padding, nd, "output_padding", op)
    check_nonnegative(p, "padding", op)
    check_nonnegative(op_, "output_padding", op)
    if any(o >= max(si, di) for o, si, di in zip(op_, s, d)):
        raise ValueError(f"{op}: output_padding {op_} must be smaller than either stride {s} or "
                         f"dilation {d}")
    x = input if batched else input.unsqueeze(0)
    out_sp = tuple(conv_transpose_output_size(i, ki, si, pi, oi, di)
                   for i, ki, si, pi, oi, di in zip(x.shape[2:], k, s, p, op_, d))
    if any(v <= 0 for v in out_sp):
        raise ValueError(f"{op}: the output size {out_sp} is not positive (input {input.shape}, "
                         f"weight {weight.shape}, stride {s}, padding {p}, dilation {d})")
    geo = _Geometry(pad3(k, 1), pad3(s, 1), pad3(p, 0), pad3(d, 1), groups)
    y = ConvTransposeNd.apply(x, weight, bias, geo, out_sp)
    return y if batched else y.squeeze(0)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation) over (N, C_in, L) -> (N, C_out, L_out).

    ``weight`` is (C_out, C_in/groups, k). ``padding`` is an int, a 1-tuple, ``'valid'``,
    ``'same'`` (stride 1 only; odd totals put the extra element on the right, as PyTorch) or
    ``'full'``. ``L_out = floor((L + 2*padding - dilation*(k-1) - 1)/stride) + 1``.
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) over (N, C_in, H, W) -> (N, C_out, H_out, W_out).

    ``weight`` is (C_out, C_in/groups, kH, kW); ``bias`` (C_out,) or None. ``padding`` is an int,
    a pair, ``'valid'``, ``'same'`` (stride 1 only) or ``'full'`` (``dilation*(k-1)`` per side).
    ``H_out = floor((H + 2*padding[0] - dilation[0]*(kH-1) - 1)/stride[0]) + 1``, same for W.
    Unbatched (C_in, H, W) input gives unbatched output.
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution over (N, C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out).

    Output size per dimension as :func:`conv2d`; weight is (C_out, C_in/groups, kD, kH, kW).
    """
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """1-D transposed convolution (the gradient of conv1d with respect to its input).

    ``weight`` is (C_in, C_out/groups, k).
    ``L_out = (L-1)*stride - 2*padding + dilation*(k-1) + output_padding + 1``.
    """
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """2-D transposed convolution: (N, C_in, H, W) -> (N, C_out, H_out, W_out).

    ``weight`` is (C_in, C_out/groups, kH, kW).
    ``H_out = (H-1)*stride - 2*padding + dilation*(kH-1) + output_padding + 1``, same for W.
    """
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """3-D transposed convolution; sizes as :func:`conv_transpose2d` per dimension."""
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)
