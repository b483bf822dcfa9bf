"""Tests of the compiled kernels through tinyconv._kernels (no torch needed).

Each kernel is checked against a naive numpy/Python reference written independently of the
kernel's index arithmetic, backward kernels are checked as exact adjoints of their forwards,
and results with 1 thread must equal results with several.
"""

import importlib
import itertools
import math
import sys

import numpy as np
import pytest

from tinyconv import _kernels as K
from tinyconv import _parallel

FLOATS = [np.float32, np.float64]


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def all_threads(monkeypatch):
    """Force every kernel onto the threaded path, even for tiny inputs and for the kernels
    that otherwise stay on one thread beside a multi-threaded BLAS."""
    monkeypatch.setattr(K, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(_parallel, "blas_threads", lambda: 1, raising=False)
    old = _parallel.get_num_threads()
    yield
    _parallel.set_num_threads(old)


def out_size(i, k, s, p, d=1, ceil=False):
    """PyTorch's pooling output size (pooling_output_shape), floor or ceil mode."""
    num = i + 2 * p - d * (k - 1) - 1
    o = (-(-num // s) if ceil else num // s) + 1
    if ceil and (o - 1) * s >= i + p:
        o -= 1
    return o


# ----------------------------------------------------------------------------- references

def ref_im2col(x, k, s, p, d):
    N, C, D, H, W = x.shape
    o = [out_size(i, kk, ss, pp, dd) for i, kk, ss, pp, dd in zip((D, H, W), k, s, p, d)]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pp, pp) for pp in p])
    col = np.zeros((C, k[0], k[1], k[2], N, *o), x.dtype)
    for i, j, kk in itertools.product(range(k[0]), range(k[1]), range(k[2])):
        a, b, c = i * d[0], j * d[1], kk * d[2]
        patch = xp[:, :, a:a + s[0] * (o[0] - 1) + 1:s[0], b:b + s[1] * (o[1] - 1) + 1:s[1],
                   c:c + s[2] * (o[2] - 1) + 1:s[2]]
        col[:, i, j, kk] = patch.transpose(1, 0, 2, 3, 4)
    return col.reshape(C * k[0] * k[1] * k[2], N * o[0] * o[1] * o[2])


def ref_max_pool(x, k, s, p, d, osz):
    N, C, D, H, W = x.shape
    out = np.empty((N, C, *osz), x.dtype)
    idx = np.empty((N, C, *osz), np.int64)
    for n, c, a, b, e in itertools.product(range(N), range(C), *map(range, osz)):
        m, best, first = -np.inf, None, True
        for i, j, kk in itertools.product(*map(range, k)):
            z, y, w = a * s[0] - p[0] + i * d[0], b * s[1] - p[1] + j * d[1], \
                e * s[2] - p[2] + kk * d[2]
            if 0 <= z < D and 0 <= y < H and 0 <= w < W:
                v = x[n, c, z, y, w]
                flat = (z * H + y) * W + w
                if first:
                    best, first = flat, False
                if v > m or np.isnan(v):
                    m, best = v, flat
        out[n, c, a, b, e] = m
        idx[n, c, a, b, e] = -1 if best is None else best
    return out, idx


def ref_avg_pool(x, k, s, p, osz, cip, div_override):
    N, C, D, H, W = x.shape
    out = np.zeros((N, C, *osz), x.dtype)
    for n, c, *o in itertools.product(range(N), range(C), *map(range, osz)):
        lo, hi, padded = [], [], 1
        for oo, kk, ss, pp, ii in zip(o, k, s, p, (D, H, W)):
            st = oo * ss - pp
            en = min(st + kk, ii + pp)
            padded *= en - st
            lo.append(max(st, 0))
            hi.append(min(en, ii))
        if any(a >= b for a, b in zip(lo, hi)):
            continue
        win = x[n, c, lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]].astype(np.float64)
        div = div_override if div_override else (padded if cip else win.size)
        out[(n, c, *o)] = win.sum() / div
    return out


def adaptive_bounds(o, i, osz):
    return math.floor(o * i / osz), math.ceil((o + 1) * i / osz)


def ref_adaptive(x, osz, mode):
    N, C, D, H, W = x.shape
    out = np.empty((N, C, *osz), x.dtype)
    idx = np.empty((N, C, *osz), np.int64)
    for n, c, *o in itertools.product(range(N), range(C), *map(range, osz)):
        (d0, d1), (h0, h1), (w0, w1) = [adaptive_bounds(oo, ii, ss)
                                        for oo, ii, ss in zip(o, (D, H, W), osz)]
        win = x[n, c, d0:d1, h0:h1, w0:w1]
        if mode == "avg":
            out[(n, c, *o)] = win.astype(np.float64).mean()
        else:
            flat = win.reshape(-1)
            nan = np.flatnonzero(np.isnan(flat))
            j = nan[-1] if nan.size else int(np.argmax(flat))
            z, y, w = np.unravel_index(j, win.shape)
            out[(n, c, *o)] = flat[j]
            idx[(n, c, *o)] = ((d0 + z) * H + h0 + y) * W + w0 + w
    return out, idx


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- im2col

CONV_CASES = [
    # (N, C, D, H, W), kernel, stride, padding, dilation
    ((2, 3, 1, 1, 11), (1, 1, 3), (1, 1, 1), (0, 0, 1), (1, 1, 1)),     # 1-D
    ((1, 2, 1, 1, 9), (1, 1, 2), (1, 1, 4), (0, 0, 0), (1, 1, 1)),      # 1-D stride > kernel
    ((2, 3, 1, 7, 6), (1, 3, 3), (1, 1, 1), (0, 1, 1), (1, 1, 1)),      # 2-D same padding
    ((2, 2, 1, 9, 8), (1, 3, 2), (1, 2, 3), (0, 1, 0), (1, 1, 1)),      # 2-D strided, odd
    ((1, 2, 1, 10, 11), (1, 3, 3), (1, 1, 2), (0, 2, 3), (1, 2, 3)),    # dilation + padding
    ((3, 1, 1, 5, 5), (1, 2, 2), (1, 3, 3), (0, 0, 0), (1, 1, 1)),      # stride > kernel, C=1
    ((1, 1, 1, 4, 4), (1, 3, 3), (1, 1, 1), (0, 3, 3), (1, 1, 1)),      # padding > kernel-1
    ((2, 2, 5, 6, 4), (2, 3, 2), (1, 2, 1), (1, 1, 0), (2, 1, 1)),      # 3-D
    ((1, 3, 4, 4, 5), (3, 1, 2), (2, 1, 2), (1, 0, 1), (1, 1, 2)),      # 3-D mixed
    ((2, 2, 1, 1, 1), (1, 1, 1), (1, 1, 1), (0, 0, 0), (1, 1, 1)),      # 1x1 on 1x1
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,k,s,p,d", CONV_CASES)
def test_im2col_matches_reference(rng, dtype, shape, k, s, p, d):
    x = rng.standard_normal(shape).astype(dtype)
    col = K.im2col(x, k, s, p, d)
    assert col.dtype == dtype
    np.testing.assert_array_equal(col, ref_im2col(x, k, s, p, d))


@pytest.mark.parametrize("shape,k,s,p,d", CONV_CASES)
def test_col2im_is_adjoint_of_im2col(rng, shape, k, s, p, d):
    x = rng.standard_normal(shape)
    col = K.im2col(x, k, s, p, d)
    y = rng.standard_normal(col.shape)
    back = K.col2im(y, shape, k, s, p, d)
    assert back.shape == shape
    lhs, rhs = np.vdot(col, y), np.vdot(x, back)
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs))


@pytest.mark.parametrize("shape,k,s,p,d", CONV_CASES)
def test_col2im_matches_dense_transpose(rng, shape, k, s, p, d):
    # Build im2col's matrix column by column and compare col2im with its transpose.
    n = int(np.prod(shape))
    cols = []
    for i in range(n):
        e = np.zeros(n)
        e[i] = 1
        cols.append(K.im2col(e.reshape(shape), k, s, p, d).ravel())
    A = np.stack(cols, axis=1)
    y = rng.standard_normal(A.shape[0])
    col_shape = K.im2col(np.zeros(shape), k, s, p, d).shape
    np.testing.assert_allclose(K.col2im(y.reshape(col_shape), shape, k, s, p, d).ravel(),
                               A.T @ y, rtol=1e-12, atol=1e-12)


def test_col2im_overwrites_out(rng):
    shape, k, s, p, d = CONV_CASES[2]
    x = rng.standard_normal(shape)
    y = rng.standard_normal(K.im2col(x, k, s, p, d).shape)
    out = np.full(shape, 7.0)
    res = K.col2im(y, shape, k, s, p, d, out=out)
    assert res is out
    np.testing.assert_array_equal(out, K.col2im(y, shape, k, s, p, d))


def test_im2col_out_buffer_reused(rng):
    shape, k, s, p, d = CONV_CASES[3]
    x = rng.standard_normal(shape).astype(np.float32)
    col = K.im2col(x, k, s, p, d)
    buf = np.full(col.shape, np.nan, np.float32)
    assert K.im2col(x, k, s, p, d, out=buf) is buf
    np.testing.assert_array_equal(buf, col)
    with pytest.raises(ValueError, match="im2col: out must be"):
        K.im2col(x, k, s, p, d, out=np.empty(col.shape, np.float64))
    with pytest.raises(ValueError, match="im2col: out must be"):
        K.im2col(x, k, s, p, d, out=np.empty((col.shape[0], col.shape[1] + 1), np.float32))


def test_im2col_non_contiguous_input(rng):
    x = rng.standard_normal((2, 3, 1, 8, 10))[:, :, :, ::2, 1:]
    np.testing.assert_array_equal(K.im2col(x, (1, 2, 3), (1, 1, 2), (0, 1, 1), (1, 1, 1)),
                                  ref_im2col(np.ascontiguousarray(x), (1, 2, 3), (1, 1, 2),
                                             (0, 1, 1), (1, 1, 1)))


def test_im2col_errors():
    x = np.zeros((1, 1, 1, 4, 4), np.float32)
    with pytest.raises(TypeError, match="im2col: x must be float32 or float64, got int64"):
        K.im2col(np.zeros((1, 1, 1, 4, 4), np.int64), (1, 3, 3), (1, 1, 1), (0, 0, 0), (1, 1, 1))
    with pytest.raises(ValueError, match="im2col: x must be 5-D"):
        K.im2col(np.zeros((1, 4, 4), np.float32), (1, 3, 3), (1, 1, 1), (0, 0, 0), (1, 1, 1))
    with pytest.raises(ValueError, match="kernel does not fit"):
        K.im2col(x, (1, 5, 5), (1, 1, 1), (0, 0, 0), (1, 1, 1))
    with pytest.raises(ValueError, match="stride must be >= 1"):
        K.im2col(x, (1, 3, 3), (1, 0, 1), (0, 0, 0), (1, 1, 1))
    with pytest.raises(ValueError, match="padding must be >= 0"):
        K.im2col(x, (1, 3, 3), (1, 1, 1), (0, -1, 0), (1, 1, 1))
    with pytest.raises(TypeError, match="kernel must contain ints"):
        K.im2col(x, (1, 3.0, 3), (1, 1, 1), (0, 0, 0), (1, 1, 1))
    with pytest.raises(ValueError, match="kernel must have 3 entries"):
        K.im2col(x, (3, 3), (1, 1, 1), (0, 0, 0), (1, 1, 1))


def test_col2im_shape_mismatch():
    col = np.zeros((9, 16), np.float64)
    K.col2im(col, (1, 1, 1, 4, 4), (1, 3, 3), (1, 1, 1), (0, 1, 1), (1, 1, 1))
    with pytest.raises(ValueError, match=r"col2im: col has shape \(9, 16\)"):
        K.col2im(col, (1, 1, 1, 5, 4), (1, 3, 3), (1, 1, 1), (0, 1, 1), (1, 1, 1))
    with pytest.raises(ValueError, match="col2im: col has shape"):
        K.col2im(col, (2, 1, 1, 4, 4), (1, 3, 3), (1, 1, 1), (0, 1, 1), (1, 1, 1))


def test_empty_batch():
    x = np.zeros((0, 3, 1, 5, 5), np.float32)
    col = K.im2col(x, (1, 3, 3), (1, 1, 1), (0, 1, 1), (1, 1, 1))
    assert col.shape == (27, 0)
    assert K.col2im(col, x.shape, (1, 3, 3), (1, 1, 1), (0, 1, 1), (1, 1, 1)).shape == x.shape


# ----------------------------------------------------------------------------- layout

@pytest.mark.parametrize("dtype", FLOATS)
def test_layout_helpers(rng, dtype):
    src = rng.standard_normal((5, 3, 7)).astype(dtype)
    bias = rng.standard_normal(5).astype(dtype)
    np.testing.assert_array_equal(K.cols_to_nchw(src, None), src.transpose(1, 0, 2))
    np.testing.assert_allclose(K.cols_to_nchw(src, bias),
                               src.transpose(1, 0, 2) + bias[None, :, None], **tol(dtype))
    back = K.nchw_to_cols(K.cols_to_nchw(src, None))
    np.testing.assert_array_equal(back, src)
    g = rng.standard_normal((4, 5, 37)).astype(dtype)
    bg = K.bias_grad(g)
    assert bg.dtype == dtype and bg.shape == (5,)
    np.testing.assert_allclose(bg, g.astype(np.float64).sum(axis=(0, 2)), **tol(dtype))


def test_layout_errors():
    src = np.zeros((5, 3, 7), np.float32)
    with pytest.raises(ValueError, match=r"cols_to_nchw: bias has shape \(4,\)"):
        K.cols_to_nchw(src, np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="cols_to_nchw: src is float32 but bias is float64"):
        K.cols_to_nchw(src, np.zeros(5, np.float64))
    with pytest.raises(TypeError, match="bias_grad: g must be float32 or float64"):
        K.bias_grad(np.zeros((2, 3, 4), np.int32))


# ----------------------------------------------------------------------------- max pool

POOL_CASES = [
    # (N, C, D, H, W), kernel, stride, padding, dilation, ceil_mode
    ((2, 3, 1, 1, 10), (1, 1, 3), (1, 1, 2), (0, 0, 1), (1, 1, 1), False),   # 1-D
    ((2, 2, 1, 1, 10), (1, 1, 3), (1, 1, 2), (0, 0, 1), (1, 1, 1), True),    # 1-D ceil
    ((2, 3, 1, 8, 8), (1, 2, 2), (1, 2, 2), (0, 0, 0), (1, 1, 1), False),    # LeNet-style
    ((1, 2, 1, 7, 9), (1, 3, 3), (1, 2, 2), (0, 1, 1), (1, 1, 1), True),     # ceil + pad
    ((1, 2, 1, 6, 6), (1, 3, 3), (1, 2, 2), (0, 1, 1), (1, 1, 1), True),     # ceil, last in pad
    ((2, 1, 1, 9, 10), (1, 3, 2), (1, 2, 3), (0, 1, 1), (1, 2, 3), False),   # dilation
    ((1, 2, 1, 5, 5), (1, 2, 2), (1, 3, 3), (0, 0, 0), (1, 1, 1), True),     # stride > kernel
    ((1, 2, 5, 6, 7), (2, 3, 2), (2, 2, 1), (1, 1, 1), (1, 1, 2), True),     # 3-D
    ((3, 2, 1, 9, 15), (1, 2, 2), (1, 2, 2), (0, 0, 0), (1, 1, 1), False),   # 2x2, odd sizes
    ((2, 2, 1, 6, 9), (1, 2, 3), (1, 2, 3), (0, 0, 0), (1, 1, 1), False),    # tiles, 2x3
    ((2, 2, 4, 4, 6), (2, 2, 2), (2, 2, 2), (0, 0, 0), (1, 1, 1), False),    # tiles, 3-D
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,k,s,p,d,ceil", POOL_CASES)
def test_max_pool_matches_reference(rng, dtype, shape, k, s, p, d, ceil):
    x = rng.standard_normal(shape).astype(dtype)
    osz = tuple(out_size(i, *a, ceil=ceil) for i, *a in zip(shape[2:], k, s, p, d))
    out, idx = K.max_pool(x, k, s, p, d, osz)
    ref_out, ref_idx = ref_max_pool(x, k, s, p, d, osz)
    assert out.dtype == dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(idx, ref_idx)
    # backward: scatter-add of grad_out at the argmax positions
    g = rng.standard_normal(out.shape).astype(dtype)
    gx = K.max_pool_backward(g, idx, shape)
    ref = np.zeros(shape, np.float64).reshape(shape[0] * shape[1], -1)
    for pl, (gi, ii) in enumerate(zip(g.reshape(len(ref), -1), idx.reshape(len(ref), -1))):
        np.add.at(ref[pl], ii, gi.astype(np.float64))
    np.testing.assert_allclose(gx, ref.reshape(shape), **tol(dtype))


def test_max_pool_nan_and_ties():
    x = np.array([1.0, 3.0, 3.0, np.nan, 2.0, np.nan, 5.0, 0.0], np.float32).reshape(1, 1, 1, 1, 8)
    out, idx = K.max_pool(x, (1, 1, 2), (1, 1, 2), (0, 0, 0), (1, 1, 1), (1, 1, 4))
    np.testing.assert_array_equal(out.ravel(), [3.0, np.nan, np.nan, 5.0])
    np.testing.assert_array_equal(idx.ravel(), [1, 3, 5, 6])
    out, idx = K.max_pool(x, (1, 1, 3), (1, 1, 1), (0, 0, 0), (1, 1, 1), (1, 1, 6))
    np.testing.assert_array_equal(idx.ravel(), [1, 3, 3, 5, 5, 5])  # ties: first; NaN: last


@pytest.mark.parametrize("k", [(1, 2, 2), (1, 2, 3)])
def test_max_pool_tiles_nan_ties_and_inf(rng, k):
    """Windows that tile the input (the 2x2 row-buffer kernel, the general tile loop) keep
    _max_window's rule: ties keep the first tap in window order, NaN wins (the last NaN)."""
    x = np.round(rng.standard_normal((2, 3, 1, 8, 12))).astype(np.float32)
    x[x > 1] = np.nan
    x[x < -1] = -np.inf
    osz = (1, 8 // k[1], 12 // k[2])
    out, idx = K.max_pool(x, k, k, (0, 0, 0), (1, 1, 1), osz)
    ref_out, ref_idx = ref_max_pool(x, k, k, (0, 0, 0), (1, 1, 1), osz)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(idx, ref_idx)


def test_max_pool_empty_window_gives_minus_one():
    # kernel 2, dilation 2, padding 1 on a length-1 input: taps at -1 and 1, both outside
    x = np.ones((1, 1, 1, 1, 1), np.float64)
    out, idx = K.max_pool(x, (1, 1, 2), (1, 1, 1), (0, 0, 1), (1, 1, 2), (1, 1, 1))
    assert out.ravel()[0] == -np.inf and idx.ravel()[0] == -1
    np.testing.assert_array_equal(K.max_pool_backward(np.ones_like(out), idx, x.shape), [[[[[0]]]]])


def test_max_pool_backward_bad_index():
    g = np.ones((1, 1, 1, 2, 2), np.float32)
    idx = np.array([0, 3, 15, 16]).reshape(1, 1, 1, 2, 2)
    with pytest.raises(ValueError, match=r"max_pool_backward: 1 indices lie outside \[0, 16\)"):
        K.max_pool_backward(g, idx, (1, 1, 1, 4, 4))
    with pytest.raises(ValueError, match="max_pool_backward: indices has shape"):
        K.max_pool_backward(g, idx[..., :1], (1, 1, 1, 4, 4))
    with pytest.raises(TypeError, match="max_pool_backward: indices must be an integer array"):
        K.max_pool_backward(g, idx.astype(np.float32), (1, 1, 1, 4, 4))


# ----------------------------------------------------------------------------- avg pool

AVG_CASES = [
    # (N, C, D, H, W), kernel, stride, padding, ceil_mode
    ((2, 3, 1, 1, 10), (1, 1, 3), (1, 1, 2), (0, 0, 1), False),
    ((2, 2, 1, 1, 10), (1, 1, 3), (1, 1, 2), (0, 0, 1), True),
    ((2, 3, 1, 8, 8), (1, 2, 2), (1, 2, 2), (0, 0, 0), False),
    ((1, 2, 1, 7, 9), (1, 3, 3), (1, 2, 2), (0, 1, 1), True),
    ((1, 2, 1, 6, 6), (1, 3, 3), (1, 2, 2), (0, 1, 1), True),   # window runs past the padding
    ((1, 2, 1, 5, 6), (1, 4, 4), (1, 3, 3), (0, 2, 2), True),
    ((1, 2, 1, 5, 5), (1, 2, 2), (1, 3, 3), (0, 0, 0), True),
    ((1, 2, 5, 6, 7), (2, 3, 2), (2, 2, 1), (1, 1, 1), True),   # 3-D
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("cip,div", [(True, None), (False, None), (True, 3), (False, -2)])
@pytest.mark.parametrize("shape,k,s,p,ceil", AVG_CASES)
def test_avg_pool_matches_reference(rng, dtype, cip, div, shape, k, s, p, ceil):
    x = rng.standard_normal(shape).astype(dtype)
    osz = tuple(out_size(i, *a, ceil=ceil) for i, *a in zip(shape[2:], k, s, p))
    out = K.avg_pool(x, k, s, p, osz, cip, div)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, ref_avg_pool(x, k, s, p, osz, cip, div), **tol(dtype))
    # backward is the exact adjoint (float64)
    x64 = x.astype(np.float64)
    g = rng.standard_normal(out.shape)
    gx = K.avg_pool_backward(g, shape, k, s, p, cip, div)
    lhs = np.vdot(K.avg_pool(x64, k, s, p, osz, cip, div), g)
    assert abs(lhs - np.vdot(x64, gx)) <= 1e-12 * max(1.0, abs(lhs))


def test_avg_pool_divisor_rule_past_padding():
    # ceil_mode: the last window [3, 6) of a length-5 input with padding 1 covers the input
    # [3, 5) plus one padding cell; PyTorch divides by 3 with count_include_pad, else by 2.
    x = np.arange(5, dtype=np.float64).reshape(1, 1, 1, 1, 5)
    assert out_size(5, 3, 2, 1, ceil=True) == 3
    out = K.avg_pool(x, (1, 1, 3), (1, 1, 2), (0, 0, 1), (1, 1, 3), True, None)
    np.testing.assert_allclose(out.ravel(), [1 / 3, 6 / 3, 7 / 3])
    out = K.avg_pool(x, (1, 1, 3), (1, 1, 2), (0, 0, 1), (1, 1, 3), False, None)
    np.testing.assert_allclose(out.ravel(), [1 / 2, 6 / 3, 7 / 2])
    # window [5, 8) on length 6, padding 1: padded size clipped at I + p = 7 -> 2
    x = np.ones((1, 1, 1, 1, 6))
    out = K.avg_pool(x, (1, 1, 3), (1, 1, 3), (0, 0, 1), (1, 1, 3), True, None)
    np.testing.assert_allclose(out.ravel(), [2 / 3, 1, 1 / 2])


def test_avg_pool_divisor_errors():
    x = np.ones((1, 1, 1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="avg_pool: divisor_override must be non-zero"):
        K.avg_pool(x, (1, 2, 2), (1, 2, 2), (0, 0, 0), (1, 2, 2), True, 0)
    with pytest.raises(TypeError, match="avg_pool: divisor_override must be an int"):
        K.avg_pool(x, (1, 2, 2), (1, 2, 2), (0, 0, 0), (1, 2, 2), True, 2.5)


# ----------------------------------------------------------------------------- adaptive pools

ADAPTIVE_CASES = [
    ((2, 3, 1, 1, 10), (1, 1, 3)),
    ((2, 2, 1, 7, 9), (1, 3, 4)),
    ((1, 2, 1, 5, 5), (1, 7, 6)),     # output larger than input: overlapping windows
    ((1, 2, 1, 6, 6), (1, 1, 1)),     # global pooling
    ((1, 2, 5, 6, 7), (2, 4, 3)),     # 3-D
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,osz", ADAPTIVE_CASES)
def test_adaptive_pools_match_reference(rng, dtype, shape, osz):
    x = rng.standard_normal(shape).astype(dtype)
    x.reshape(-1)[::7] = x.reshape(-1)[3]  # some ties
    ref_avg, _ = ref_adaptive(x, osz, "avg")
    np.testing.assert_allclose(K.adaptive_avg_pool(x, osz), ref_avg, **tol(dtype))
    out, idx = K.adaptive_max_pool(x, osz)
    ref_out, ref_idx = ref_adaptive(x, osz, "max")
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(idx, ref_idx)
    # adaptive avg backward is the adjoint of the forward
    x64 = x.astype(np.float64)
    g = rng.standard_normal(out.shape)
    lhs = np.vdot(K.adaptive_avg_pool(x64, osz), g)
    rhs = np.vdot(x64, K.adaptive_avg_pool_backward(g, shape))
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs))


def test_adaptive_max_pool_nan():
    x = np.array([[1.0, np.nan], [4.0, 2.0]]).reshape(1, 1, 1, 2, 2)
    out, idx = K.adaptive_max_pool(x, (1, 1, 1))
    assert np.isnan(out.ravel()[0]) and idx.ravel()[0] == 1


# ----------------------------------------------------------------------------- max unpool

@pytest.mark.parametrize("dtype", FLOATS)
def test_max_unpool_roundtrip(rng, dtype):
    x = rng.standard_normal((2, 3, 1, 6, 8)).astype(dtype)
    out, idx = K.max_pool(x, (1, 2, 2), (1, 2, 2), (0, 0, 0), (1, 1, 1), (1, 3, 4))
    un = K.max_unpool(out, idx, (1, 6, 8))
    ref = np.zeros_like(x).reshape(6, -1)
    for pl in range(6):
        ref[pl, idx.reshape(6, -1)[pl]] = out.reshape(6, -1)[pl]
    np.testing.assert_array_equal(un, ref.reshape(x.shape))
    g = rng.standard_normal(un.shape).astype(dtype)
    gx = K.max_unpool_backward(g, idx, out.shape)
    np.testing.assert_array_equal(
        gx, np.take_along_axis(g.reshape(6, -1), idx.reshape(6, -1), 1).reshape(out.shape))


def test_max_unpool_duplicates_last_wins():
    x = np.array([1.0, 2.0, 3.0]).reshape(1, 1, 1, 1, 3)
    idx = np.array([4, 1, 4]).reshape(1, 1, 1, 1, 3)
    np.testing.assert_array_equal(K.max_unpool(x, idx, (1, 1, 5)).ravel(), [0, 2, 0, 0, 3])


@pytest.mark.parametrize("bad", [-1, 16, 1 << 40])
def test_max_unpool_bad_index(bad):
    x = np.ones((1, 2, 1, 2, 2), np.float32)
    idx = np.zeros((1, 2, 1, 2, 2), np.int64)
    idx[0, 1, 0, 1, 0] = bad
    with pytest.raises(ValueError, match=r"max_unpool: 1 indices lie outside \[0, 16\)"):
        K.max_unpool(x, idx, (1, 4, 4))
    with pytest.raises(ValueError, match=r"max_unpool_backward: 1 indices lie outside \[0, 16\)"):
        K.max_unpool_backward(np.ones((1, 2, 1, 4, 4), np.float32), idx, x.shape)


def test_max_unpool_shape_errors():
    x = np.ones((1, 2, 1, 2, 2), np.float32)
    with pytest.raises(ValueError, match="max_unpool: indices has shape"):
        K.max_unpool(x, np.zeros((1, 2, 1, 2, 3), np.int64), (1, 4, 4))
    with pytest.raises(TypeError, match="max_unpool: x must be float32 or float64"):
        K.max_unpool(x.astype(np.float16), np.zeros(x.shape, np.int64), (1, 4, 4))


# ----------------------------------------------------------------------------- threads

def _run_everything(rng, dtype):
    x = rng.standard_normal((3, 5, 2, 13, 11)).astype(dtype)
    res = []
    col = K.im2col(x, (2, 3, 3), (1, 2, 1), (1, 1, 1), (1, 1, 2))
    res += [col, K.col2im(col, x.shape, (2, 3, 3), (1, 2, 1), (1, 1, 1), (1, 1, 2))]
    out, idx = K.max_pool(x, (1, 3, 3), (1, 2, 2), (0, 1, 1), (1, 1, 1), (2, 7, 6))
    res += [out, idx, K.max_pool_backward(out, idx, x.shape)]
    a = K.avg_pool(x, (2, 3, 3), (1, 2, 2), (1, 1, 1), (3, 7, 6), False, None)
    res += [a, K.avg_pool_backward(a, x.shape, (2, 3, 3), (1, 2, 2), (1, 1, 1), False, None)]
    a = K.adaptive_avg_pool(x, (1, 5, 4))
    res += [a, K.adaptive_avg_pool_backward(a, x.shape)]
    res += list(K.adaptive_max_pool(x, (2, 3, 3)))
    res += [K.max_unpool(out, idx, x.shape[2:]), K.max_unpool_backward(x, idx, out.shape)]
    src = x.reshape(5, 3, -1)
    res += [K.cols_to_nchw(src, rng.standard_normal(5).astype(dtype)), K.nchw_to_cols(src),
            K.bias_grad(src)]
    return res


@pytest.mark.parametrize("dtype", FLOATS)
def test_one_thread_equals_many(all_threads, dtype):
    # Races show up intermittently, so the threaded runs are repeated.
    _parallel.set_num_threads(1)
    ref = _run_everything(np.random.default_rng(7), dtype)
    for n in (2, 3, 2, 3, 2):
        _parallel.set_num_threads(n)
        for a, b in zip(ref, _run_everything(np.random.default_rng(7), dtype)):
            np.testing.assert_array_equal(a, b)


def test_big_im2col_threaded_matches_reference(rng):
    # large enough to take the threaded path without monkeypatching
    x = rng.standard_normal((4, 8, 1, 20, 20)).astype(np.float32)
    np.testing.assert_array_equal(K.im2col(x, (1, 3, 3), (1, 1, 1), (0, 1, 1), (1, 1, 1)),
                                  ref_im2col(x, (1, 3, 3), (1, 1, 1), (0, 1, 1), (1, 1, 1)))


def test_build_info():
    assert isinstance(K.openmp_enabled(), bool)
    assert K.version() == "0.1.0"


def test_missing_compiled_module_says_how_to_rebuild(monkeypatch):
    import tinyconv

    monkeypatch.setitem(sys.modules, "tinyconv._pool", None)   # makes `import` fail
    monkeypatch.delattr(tinyconv, "_pool", raising=False)
    monkeypatch.delitem(sys.modules, "tinyconv._kernels")
    with pytest.raises(ImportError, match=r"pip install \.`.*python setup.py build_ext --inplace"):
        importlib.import_module("tinyconv._kernels")
