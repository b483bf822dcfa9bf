"""Deformable convolution (DCNv1, and DCNv2 with a modulation mask), torchvision's semantics.

Each kernel tap ``t = i*kW + j`` of each output position samples the input not on the regular
grid but at a learned fractional offset ``(dy, dx)``, by bilinear interpolation::

    y = oy*stride[0] - padding[0] + i*dilation[0] + dy[n, g, t, oy, ox]
    x = ox*stride[1] - padding[1] + j*dilation[1] + dx[n, g, t, oy, ox]
    col[c*K + t, (n, oy, ox)] = mask[n, g, t, oy, ox] * bilinear(input[n, c], y, x)

with ``g`` the offset group of channel ``c``. The rest is an ordinary convolution: a GEMM of the
weight with those columns, per weight group. Algorithm (chunks of images, as conv2d)::

    out_g          = weight_g @ col_g                   (deform_im2col, then GEMM)
    grad_weight_g += grad_out_g @ col_g.T
    grad_col_g     = weight_g.T @ grad_out_g
    grad_input     = deform_col2im(grad_col)            (bilinear weights, scattered)
    grad_offset, grad_mask from grad_col and the bilinear derivatives (deform_offset_grad)

Bilinear sampling reads zero outside the image exactly like torchvision's CPU kernel: a sample
is 0 unless ``-1 < y < H`` and ``-1 < x < W``, and its neighbours outside the image count as 0.
The output size is the ordinary convolution's::

    H_out = floor((H + 2*padding[0] - dilation[0]*(kH - 1) - 1) / stride[0]) + 1   (same for W)
"""

import numpy as np

from .. import _kernels as K
from .. import _parallel
from ..autograd import Function
from ._util import check_float, check_nonnegative, check_positive, ntuple

__all__ = ["deform_conv2d"]

# Bytes of column buffer per chunk of images (cache-sized, as for conv2d).
_COL_BUDGET = 4 << 20


class _Geometry:
    __slots__ = ("k", "s", "p", "d", "groups", "out_hw")

    def __init__(self, k, s, p, d, groups, out_hw):
        self.k, self.s, self.p, self.d, self.groups, self.out_hw = k, s, p, d, groups, out_hw


class _SerialBlas:
    """BLAS on one thread for the duration of a call, so that the kernels get every thread.

    The deformable kernels cost several times the GEMMs between them (a bilinear sample per
    column element, where conv2d's im2col copies), and beside a multi-threaded BLAS they would
    run on one thread (``_kernels._threads``) against OpenBLAS workers that spin after each
    GEMM: a 64-channel 3x3 layer on a batch of 8 32x32 images took 2-5x longer that way than
    with everything on one thread (2 cores).
    """

    def __enter__(self):
        self.prev = _parallel.blas_threads()
        if self.prev > 1:
            _parallel.set_blas_threads(1)

    def __exit__(self, *exc):
        if self.prev > 1:
            _parallel.set_blas_threads(self.prev)
        return False


class DeformConv2d(Function):
    @staticmethod
    def forward(ctx, x, offset, weight, bias, mask, geo):
        with _SerialBlas():
            return DeformConv2d._forward(ctx, x, offset, weight, bias, mask, geo)

    @staticmethod
    def backward(ctx, gout):
        with _SerialBlas():
            return DeformConv2d._backward(ctx, gout)

    @staticmethod
    def _forward(ctx, x, offset, weight, bias, mask, geo):
        n, c = x.shape[:2]
        o, g = weight.shape[0], geo.groups
        L = geo.out_hw[0] * geo.out_hw[1]
        w = weight.reshape(g, o // g, -1)
        out = np.empty((n, o, L), dtype=x.dtype)
        rows = c * geo.k[0] * geo.k[1]
        nb = max(1, min(n, _COL_BUDGET // max(rows * L * x.itemsize, 1)))
        buf = np.empty(rows * L * nb, dtype=x.dtype)
        for n0 in range(0, n, nb):
            sl = slice(n0, n0 + nb)
            col = K.deform_im2col(x[sl], offset[sl], None if mask is None else mask[sl],
                                  geo.k, geo.s, geo.p, geo.d,
                                  out=buf[:rows * L * len(x[sl])].reshape(rows, -1))
            y = np.matmul(w, col.reshape(g, rows // g, -1))
            K.cols_to_nchw(y.reshape(o, -1, L), bias, out=out[sl])
        ctx.save_for_backward(x, offset, weight, mask)
        ctx.geo = geo
        return out.reshape((n, o) + geo.out_hw)

    @staticmethod
    def _backward(ctx, gout):
        x, offset, weight, mask = ctx.saved_tensors
        geo = ctx.geo
        need_x, need_off, need_w, need_b, need_m = ctx.needs_input_grad[:5]
        n, c = x.shape[:2]
        o, g = weight.shape[0], geo.groups
        L = geo.out_hw[0] * geo.out_hw[1]
        rows = c * geo.k[0] * geo.k[1]
        w = weight.reshape(g, o // g, rows // g)
        gout = gout.reshape(n, o, L)
        gx = np.empty(x.shape, x.dtype) if need_x else None
        goff = np.empty(offset.shape, x.dtype) if need_off else None
        gm = np.empty(mask.shape, x.dtype) if need_m else None
        gw = np.zeros(w.shape, x.dtype) if need_w else None
        nb = max(1, min(n, _COL_BUDGET // max(rows * L * x.itemsize, 1)))
        for n0 in range(0, n, nb):
            sl = slice(n0, n0 + nb)
            ms = None if mask is None else mask[sl]
            gcols = K.nchw_to_cols(gout[sl]).reshape(g, o // g, -1)
            if need_w:
                col = K.deform_im2col(x[sl], offset[sl], ms, geo.k, geo.s, geo.p, geo.d)
                gw += np.matmul(gcols, col.reshape(g, rows // g, -1).transpose(0, 2, 1))
            if need_x or need_off or need_m:
                gcol = np.matmul(w.transpose(0, 2, 1), gcols).reshape(rows, -1)
            if need_x:
                K.deform_col2im(gcol, offset[sl], ms, x[sl].shape, geo.k, geo.s, geo.p, geo.d,
                                out=gx[sl])
            if need_off or need_m:
                go, gmk = K.deform_offset_grad(gcol, x[sl], offset[sl], ms, geo.k, geo.s,
                                               geo.p, geo.d)
                if need_off:
                    goff[sl] = go
                if need_m:
                    gm[sl] = gmk
        gb = K.bias_grad(gout) if need_b else None
        return gx, goff, (gw.reshape(weight.shape) if need_w else None), gb, gm, None


def _shapes(input, offset, weight, mask):
    s = f"input {input.shape}, offset {offset.shape}, weight {weight.shape}"
    return f"({s}, mask {mask.shape})" if mask is not None else f"({s})"


def deform_conv2d(input, offset, weight, bias=None, stride=(1, 1), padding=(0, 0),
                  dilation=(1, 1), mask=None):
    """Deformable 2-D convolution (torchvision.ops.deform_conv2d).

    Parameters
    ----------
    input : Tensor (N, C_in, H, W)
    offset : Tensor (N, 2*offset_groups*kH*kW, H_out, W_out)
        ``(dy, dx)`` for every kernel tap ``t = i*kW + j`` of every offset group ``g`` in
        channels ``2*(g*kH*kW + t)`` and ``2*(g*kH*kW + t) + 1``. Offset group ``g`` covers input
        channels ``[g*C_in/offset_groups, (g+1)*C_in/offset_groups)``;
        ``offset_groups = offset.shape[1] // (2*kH*kW)`` must divide C_in.
    weight : Tensor (C_out, C_in/groups, kH, kW)
        ``groups = C_in // weight.shape[1]`` (as torchvision, the groups follow from the shapes).
    bias : Tensor (C_out,), optional
    stride, padding, dilation : int or pair of ints
    mask : Tensor (N, offset_groups*kH*kW, H_out, W_out), optional
        DCNv2 modulation: multiplies the sample of each tap. None means all ones.

    Returns
    -------
    Tensor (N, C_out, H_out, W_out), with
    ``H_out = floor((H + 2*padding[0] - dilation[0]*(kH-1) - 1)/stride[0]) + 1``, same for W.

    Samples use bilinear interpolation with zeros outside the image (torchvision's CPU kernel);
    sample positions that are NaN or infinite read as 0. With zero offsets (and a mask of ones)
    this is ``conv2d(input, weight, bias, stride, padding, dilation, groups)``. Every input gets
    a gradient; the offset gradient is that of the bilinear interpolation, which has kinks where
    a sample position crosses an integer coordinate.
    """
    op = "deform_conv2d"
    for t, what in ((input, "input"), (offset, "offset"), (weight, "weight")):
        check_float(t, what, op)
    if mask is not None:
        check_float(mask, "mask", op)
    if bias is not None:
        check_float(bias, "bias", op)
    shapes = _shapes(input, offset, weight, mask)
    for t, what in ((input, "input"), (offset, "offset"), (weight, "weight"), (mask, "mask")):
        if t is not None and t.ndim != 4:
            raise ValueError(f"{op}: {what} must be 4-D, got shape {t.shape} {shapes}")
    for t, what in ((offset, "offset"), (weight, "weight"), (mask, "mask"), (bias, "bias")):
        if t is not None and t.dtype != input.dtype:
            raise TypeError(f"{op}: input is {input.dtype} but {what} is {t.dtype} {shapes}")
    s = ntuple(stride, 2, "stride", op)
    p = ntuple(padding, 2, "padding", op)
    d = ntuple(dilation, 2, "dilation", op)
    check_positive(s, "stride", op)
    check_nonnegative(p, "padding", op)
    check_positive(d, "dilation", op)
    n, c, h, w = input.shape
    o, cg, kh, kw = weight.shape
    if kh == 0 or kw == 0 or cg == 0:
        raise ValueError(f"{op}: weight has an empty dimension {shapes}")
    taps = kh * kw
    if offset.shape[1] == 0 or offset.shape[1] % (2 * taps):
        raise ValueError(f"{op}: offset has {offset.shape[1]} channels, which is not a positive "
                         f"multiple of 2*kH*kW = {2 * taps} {shapes}")
    og = offset.shape[1] // (2 * taps)
    if c % og:
        raise ValueError(f"{op}: the {og} offset groups (offset channels {offset.shape[1]} / "
                         f"{2 * taps}) do not divide the {c} input channels {shapes}")
    if c % cg:
        raise ValueError(f"{op}: input has {c} channels, which is not a multiple of the {cg} "
                         f"input channels per group of weight {shapes}")
    groups = c // cg
    if o % groups:
        raise ValueError(f"{op}: the {groups} weight groups (input channels {c} / weight.shape[1] "
                         f"{cg}) do not divide the {o} output channels {shapes}")
    oh = (h + 2 * p[0] - d[0] * (kh - 1) - 1) // s[0] + 1
    ow = (w + 2 * p[1] - d[1] * (kw - 1) - 1) // s[1] + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"{op}: the output size ({oh}, {ow}) is not positive: kernel "
                         f"({kh}, {kw}) with dilation {d} does not fit the input ({h}, {w}) "
                         f"padded by {p} {shapes}")
    if offset.shape[0] != n or offset.shape[2:] != (oh, ow):
        raise ValueError(f"{op}: offset must have shape ({n}, {offset.shape[1]}, {oh}, {ow}) "
                         f"(batch and output size), got {offset.shape} {shapes}")
    if mask is not None and mask.shape != (n, og * taps, oh, ow):
        raise ValueError(f"{op}: mask must have shape ({n}, {og * taps}, {oh}, {ow}) (offset "
                         f"groups {og} * kH*kW {taps} channels), got {mask.shape} {shapes}")
    if bias is not None and bias.shape != (o,):
        raise ValueError(f"{op}: bias must have shape ({o},), got {bias.shape} {shapes}")
    geo = _Geometry((kh, kw), s, p, d, groups, (oh, ow))
    return DeformConv2d.apply(input, offset, weight, bias, mask, geo)
