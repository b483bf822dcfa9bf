"""The convolution's three compiled paths agree with each other and with a dense reference.

ops.conv picks, per call: the per-image fused kernels (im2col + a GEMM on each OpenMP thread,
csrc/_conv.pyx) when numpy's BLAS GEMM was found and the batch has at least one image per
thread; the batch-chunked im2col/col2im + numpy.matmul path otherwise; and a direct kernel
when every group has one input channel (depthwise). These tests force each path and compare
outputs and gradients, and check the fused kernels' products against im2col/col2im.
"""

import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv import _kernels as K

pytestmark = pytest.mark.skipif(not K.fused_conv_available(),
                                reason="numpy's BLAS GEMM was not found: no fused path")

CASES = [  # (x shape, weight shape, kwargs)
    ((3, 4, 9, 11), (6, 4, 3, 3), dict(padding=1)),
    ((4, 6, 8, 7), (6, 3, 3, 2), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)),
    ((2, 5, 12), (4, 5, 4), dict(stride=3, padding=2)),
    ((2, 2, 5, 6, 4), (4, 2, 3, 2, 2), dict(padding=1, dilation=(1, 2, 1))),
    ((3, 4, 7, 7), (8, 1, 3, 3), dict(padding=2, groups=4, stride=2)),   # depthwise x2
    ((2, 1, 10, 10), (3, 1, 5, 5), dict(padding="same")),
]
T_CASES = [  # transposed: (x shape, weight shape, kwargs)
    ((3, 4, 5, 6), (4, 3, 4, 4), dict(stride=2, padding=1)),
    ((2, 4, 5, 5), (4, 2, 3, 3), dict(stride=2, padding=1, output_padding=1, groups=2)),
    ((2, 3, 4, 4), (3, 2, 3, 3), dict(stride=1, dilation=3, output_padding=2)),
    ((2, 3, 7), (3, 5, 3), dict(stride=3, padding=1, output_padding=2)),
]


def _run(fn, xs, ws, kw, fused, monkeypatch, dtype):
    monkeypatch.setattr(K, "fused_conv_available", lambda batch=None: fused)
    rng = np.random.default_rng(0)
    x = tc.tensor(rng.standard_normal(xs).astype(dtype), requires_grad=True)
    w = tc.tensor(rng.standard_normal(ws).astype(dtype), requires_grad=True)
    out_c = ws[0] if fn is F.conv2d or fn in (F.conv1d, F.conv3d) else ws[1] * kw.get("groups", 1)
    b = tc.tensor(rng.standard_normal(out_c).astype(dtype), requires_grad=True)
    y = fn(x, w, b, **kw)
    y.backward(tc.tensor(rng.standard_normal(y.shape).astype(dtype)))
    return [y.numpy(), x.grad.numpy() if hasattr(x.grad, "numpy") else x.grad,
            w.grad.numpy() if hasattr(w.grad, "numpy") else w.grad,
            b.grad.numpy() if hasattr(b.grad, "numpy") else b.grad]


def _conv_fn(xs):
    return {3: F.conv1d, 4: F.conv2d, 5: F.conv3d}[len(xs)]


def _convt_fn(xs):
    return {3: F.conv_transpose1d, 4: F.conv_transpose2d, 5: F.conv_transpose3d}[len(xs)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,kw", CASES)
def test_conv_fused_equals_chunked(monkeypatch, dtype, xs, ws, kw):
    fn = _conv_fn(xs)
    a = _run(fn, xs, ws, kw, True, monkeypatch, dtype)
    b = _run(fn, xs, ws, kw, False, monkeypatch, dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,kw", T_CASES)
def test_conv_transpose_fused_equals_chunked(monkeypatch, dtype, xs, ws, kw):
    fn = _convt_fn(xs)
    a = _run(fn, xs, ws, kw, True, monkeypatch, dtype)
    b = _run(fn, xs, ws, kw, False, monkeypatch, dtype) if kw.get("output_padding", 0) < \
        kw.get("stride", 1) else None
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)
    if b is not None:
        for u, v in zip(a, b):
            np.testing.assert_allclose(u, v, **tol)


@pytest.mark.parametrize("xs,ws,kw", T_CASES)
def test_conv_transpose_fused_matches_torch(monkeypatch, xs, ws, kw):
    """Includes output_padding >= stride (allowed when smaller than the dilation)."""
    torch = pytest.importorskip("torch", reason="PyTorch (the test oracle) is not installed")
    fn = _convt_fn(xs)
    ours = _run(fn, xs, ws, kw, True, monkeypatch, np.float64)
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.standard_normal(xs), requires_grad=True)
    w = torch.tensor(rng.standard_normal(ws), requires_grad=True)
    b = torch.tensor(rng.standard_normal(ws[1] * kw.get("groups", 1)), requires_grad=True)
    tfn = getattr(torch.nn.functional, fn.__name__)
    y = tfn(x, w, b, **kw)
    y.backward(torch.tensor(rng.standard_normal(tuple(y.shape))))
    for u, v in zip(ours, [y.detach(), x.grad, w.grad, b.grad]):
        np.testing.assert_allclose(u, v.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k,s,p,d", [((2, 3, 2), (1, 2, 1), (1, 1, 0), (1, 1, 2)),
                                     ((1, 1, 1), (1, 1, 1), (0, 0, 0), (1, 2, 1))])  # 1x1
def test_fused_kernels_are_im2col_products(dtype, k, s, p, d):
    rng = np.random.default_rng(3)
    u = rng.standard_normal((3, 4, 2, 7, 6)).astype(dtype)
    groups, M = 2, 3
    osp = tuple((i + 2 * pp - dd * (kk - 1) - 1) // ss + 1
                for i, kk, ss, pp, dd in zip(u.shape[2:], k, s, p, d))
    L = int(np.prod(osp))
    kd = 2 * int(np.prod(k))                                            # Cg * K
    a = rng.standard_normal((groups * M, kd)).astype(dtype)
    bias = rng.standard_normal(groups * M).astype(dtype)
    col = K.im2col(u, k, s, p, d).reshape(groups, kd, 3, L)           # (g, Cg*K, N, L)
    ref = np.einsum("gmk,gknl->ngml", a.reshape(groups, M, kd), col).reshape(3, groups * M, L)
    y = K.conv_unfold_gemm(u, a, bias, groups, k, s, p, d, osp)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, ref + bias[:, None], rtol=tol, atol=tol)
    gy = rng.standard_normal(y.shape).astype(dtype)
    gu, ga = K.conv_gemm_fold(u, a, gy, groups, k, s, p, d, osp)
    g4 = gy.reshape(3, groups, M, L)
    gcol = np.einsum("gmk,ngml->gknl", a.reshape(groups, M, kd), g4).reshape(2 * kd, 3 * L)
    np.testing.assert_allclose(gu, K.col2im(gcol, u.shape, k, s, p, d), rtol=tol, atol=tol)
    ga_ref = np.einsum("ngml,gknl->gmk", g4, col).reshape(a.shape)
    np.testing.assert_allclose(ga, ga_ref, rtol=tol, atol=tol)


WIDE_CASES = [  # stride 1: (u shape, groups, M, kernel, padding, dilation)
    ((6, 6, 1, 14, 14), 1, 16, (1, 5, 5), (0, 0, 0), (1, 1, 1)),     # LeNet conv2, no padding
    ((5, 4, 1, 9, 11), 2, 3, (1, 3, 3), (0, 1, 1), (1, 1, 1)),       # groups, padding
    ((3, 3, 1, 40, 36), 1, 4, (1, 3, 3), (0, 1, 1), (1, 1, 1)),      # one image per GEMM
    ((4, 3, 1, 8, 9), 1, 5, (1, 3, 2), (0, 2, 1), (1, 2, 3)),        # dilation
    ((4, 2, 1, 1, 13), 1, 3, (1, 1, 4), (0, 0, 2), (1, 1, 1)),       # 1-D
    ((3, 2, 3, 12, 12), 1, 3, (2, 3, 3), (0, 1, 1), (1, 1, 1)),      # 3-D
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,groups,M,k,p,d", WIDE_CASES)
def test_wide_im2col_equals_row_im2col(dtype, xs, groups, M, k, p, d):
    """Stride-1 small planes take the "wide" im2col (whole padded planes, csrc/_dw.h); the
    row-by-row im2col must give the same products."""
    from tinyconv import _conv
    rng = np.random.default_rng(7)
    u = rng.standard_normal(xs).astype(dtype)
    a = rng.standard_normal((groups * M, xs[1] // groups * int(np.prod(k)))).astype(dtype)
    bias = rng.standard_normal(groups * M).astype(dtype)
    osp = tuple(i + 2 * pp - dd * (kk - 1) for i, kk, pp, dd in zip(xs[2:], k, p, d))
    gy = rng.standard_normal((xs[0], groups * M, int(np.prod(osp)))).astype(dtype)
    s = (1, 1, 1)
    out = []
    for wide in (True, False):
        before = _conv.set_wide(wide)
        try:
            out.append([K.conv_unfold_gemm(u, a, bias, groups, k, s, p, d, osp),
                        *K.conv_gemm_fold(u, a, gy, groups, k, s, p, d, osp),
                        K.conv_gemm_fold(u, a, gy, groups, k, s, p, d, osp, need_a=False)[0],
                        K.conv_gemm_fold(u, a, gy, groups, k, s, p, d, osp, need_u=False)[1]])
        finally:
            _conv.set_wide(before)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for got, ref in zip(*out):
        np.testing.assert_allclose(got, ref, **tol)


DW_CASES = [  # channelwise kernels: (x shape (N, C, D, H, W), outputs per channel, k, s, p, d)
    ((4, 8, 1, 16, 16), 1, (1, 3, 3), (1, 1, 1), (0, 1, 1), (1, 1, 1)),   # 3x3 "wide" path
    ((2, 3, 1, 7, 9), 2, (1, 5, 3), (1, 1, 1), (0, 2, 0), (1, 1, 2)),     # mult 2, dilation
    ((2, 4, 1, 1, 11), 1, (1, 1, 5), (1, 1, 1), (0, 0, 3), (1, 1, 1)),    # 1-D, pad > k/2
    ((2, 2, 5, 6, 7), 2, (3, 3, 3), (1, 1, 1), (1, 1, 1), (1, 1, 1)),     # 3-D
    ((1, 5, 1, 1, 1), 1, (1, 1, 1), (1, 1, 1), (0, 0, 0), (1, 1, 1)),     # 1x1 planes
    ((3, 4, 1, 6, 6), 2, (1, 7, 7), (1, 1, 1), (0, 3, 3), (1, 1, 1)),     # kernel > plane
    ((3, 4, 1, 7, 7), 1, (1, 3, 3), (1, 2, 2), (0, 1, 1), (1, 1, 1)),     # strided path
    ((2, 3, 1, 9, 8), 2, (1, 3, 2), (1, 2, 3), (0, 2, 1), (1, 2, 1)),     # strided path
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,mult,k,s,p,d", DW_CASES)
def test_channelwise_kernels_equal_grouped_gemm(dtype, xs, mult, k, s, p, d):
    """The direct depthwise kernels (stride 1: whole padded planes, csrc/_dw.h; else tap by
    tap) against the fused im2col+GEMM kernels with one group per input channel."""
    rng = np.random.default_rng(5)
    n, c = xs[:2]
    u = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal((c * mult, int(np.prod(k)))).astype(dtype)
    bias = rng.standard_normal(c * mult).astype(dtype)
    osp = tuple((i + 2 * pp - dd * (kk - 1) - 1) // ss + 1
                for i, kk, ss, pp, dd in zip(xs[2:], k, s, p, d))
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    y = K.channelwise_conv(u, w, bias, k, s, p, d, osp)
    np.testing.assert_allclose(y, K.conv_unfold_gemm(u, w, bias, c, k, s, p, d, osp), **tol)
    gy = rng.standard_normal(y.shape).astype(dtype)
    gu, gw = K.channelwise_conv_backward(u, w, gy, k, s, p, d, osp)
    ref_u, ref_w = K.conv_gemm_fold(u, w, gy, c, k, s, p, d, osp)
    np.testing.assert_allclose(gu, ref_u, **tol)
    np.testing.assert_allclose(gw, ref_w, **tol)
    only_x, none_w = K.channelwise_conv_backward(u, w, gy, k, s, p, d, osp, need_w=False)
    none_x, only_w = K.channelwise_conv_backward(u, w, gy, k, s, p, d, osp, need_x=False)
    assert none_w is None and none_x is None
    np.testing.assert_allclose(only_x, gu, **tol)
    np.testing.assert_allclose(only_w, gw, **tol)


def test_channelwise_propagates_nan_and_inf():
    u = np.zeros((1, 2, 1, 5, 5), np.float32)
    u[0, 0, 0, 2, 2] = np.nan
    u[0, 1, 0, 0, 0] = np.inf
    w = np.ones((2, 9), np.float32)
    y = K.channelwise_conv(u, w, None, (1, 3, 3), (1, 1, 1), (0, 1, 1), (1, 1, 1), (1, 5, 5))
    y = y.reshape(2, 5, 5)
    assert np.isnan(y[0, 1:4, 1:4]).all() and not np.isnan(y[0, 0, 0])
    assert np.isinf(y[1, :2, :2]).all() and (y[1, 3:, 3:] == 0).all()


def test_fused_kernel_errors():
    u = np.zeros((2, 4, 1, 5, 5), np.float32)
    with pytest.raises(ValueError, match=r"conv_unfold_gemm: u \(2, 4, 1, 5, 5\) with groups=2"):
        K.conv_unfold_gemm(u, np.zeros((4, 9), np.float32), None, 2, (1, 3, 3), (1, 1, 1),
                           (0, 0, 0), (1, 1, 1), (1, 3, 3))
    with pytest.raises(TypeError, match="conv_unfold_gemm: u is float32 but a is float64"):
        K.conv_unfold_gemm(u, np.zeros((4, 36)), None, 1, (1, 3, 3), (1, 1, 1), (0, 0, 0),
                           (1, 1, 1), (1, 3, 3))
    with pytest.raises(ValueError, match=r"conv_gemm_fold: gy has shape \(2, 4, 8\)"):
        K.conv_gemm_fold(u, np.zeros((4, 36), np.float32), np.zeros((2, 4, 8), np.float32), 1,
                         (1, 3, 3), (1, 1, 1), (0, 0, 0), (1, 1, 1), (1, 3, 3))
    with pytest.raises(ValueError, match=r"channelwise_conv: x \(2, 4, 1, 5, 5\)"):
        K.channelwise_conv(u, np.zeros((6, 9), np.float32), None, (1, 3, 3), (1, 1, 1),
                           (0, 0, 0), (1, 1, 1), (1, 3, 3))


def test_fused_one_thread_equals_two():
    rng = np.random.default_rng(5)
    u = rng.standard_normal((5, 16, 1, 20, 20)).astype(np.float32)   # above PARALLEL_MIN_WORK
    a = rng.standard_normal((8, 144)).astype(np.float32)
    args = (1, (1, 3, 3), (1, 1, 1), (0, 0, 0), (1, 1, 1), (1, 18, 18))
    before = tc.get_num_threads()
    try:
        tc.set_num_threads(1)
        y1 = K.conv_unfold_gemm(u, a, None, *args)
        g1 = K.conv_gemm_fold(u, a, y1, *args)
        tc.set_num_threads(2)
        y2 = K.conv_unfold_gemm(u, a, None, *args)
        g2 = K.conv_gemm_fold(u, a, y1, *args)
    finally:
        tc.set_num_threads(before)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(g1[0], g2[0])
    # per-thread partial sums: the same terms added in another order (sums of ~2000 terms)
    np.testing.assert_allclose(g1[1], g2[1], rtol=1e-5, atol=1e-6 * np.abs(g1[1]).max())


@pytest.mark.parametrize("wshape", [(6, 4, 1, 1), (6, 4, 3, 3)])
def test_backward_uses_the_forward_path(wshape):
    """The path is chosen in forward (it depends on the thread count) and kept for backward."""
    rng = np.random.default_rng(7)
    xa = rng.standard_normal((3, 4, 6, 6))
    wa = rng.standard_normal(wshape)
    before = tc.get_num_threads()
    grads = []
    try:
        for first, second in [(4, 1), (1, 4), (1, 1)]:
            x, w = tc.tensor(xa, requires_grad=True), tc.tensor(wa, requires_grad=True)
            tc.set_num_threads(first)
            y = F.conv2d(x, w)
            tc.set_num_threads(second)
            y.backward(tc.tensor(np.ones(y.shape)))
            grads.append((x.grad.numpy(), w.grad.numpy()))
    finally:
        tc.set_num_threads(before)
    for gx, gw in grads[:2]:
        np.testing.assert_allclose(gx, grads[2][0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gw, grads[2][1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("threaded", [False, True])
def test_gemm_matches_numpy(monkeypatch, dtype, ta, tb, threaded):
    if threaded:
        monkeypatch.setattr(K, "GEMM_PARALLEL_MIN", 0)
    rng = np.random.default_rng(11)
    a = rng.standard_normal((7, 5) if ta else (5, 7)).astype(dtype)
    b = rng.standard_normal((9, 7) if tb else (7, 9)).astype(dtype)
    ref = (a.T if ta else a) @ (b.T if tb else b)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(K.gemm(a, b, ta, tb), ref, rtol=tol, atol=tol)
    out = np.ones((5, 9), dtype)
    K.gemm(a, b, ta, tb, out=out, beta=2.0)
    np.testing.assert_allclose(out, ref + 2, rtol=tol, atol=tol)


def test_gemm_errors():
    with pytest.raises(ValueError, match=r"gemm: op\(a\) is \(2, 3\) and op\(b\) is \(4, 5\)"):
        K.gemm(np.zeros((2, 3)), np.zeros((4, 5)))
    with pytest.raises(TypeError, match="gemm: a is float32 but b is float64"):
        K.gemm(np.zeros((2, 3), np.float32), np.zeros((3, 5)))
    assert K.gemm(np.zeros((2, 0)), np.zeros((0, 3))).tolist() == [[0.0] * 3] * 2


DIRECT_CASES = [  # stride 1, float32: (u shape, groups, M, kernel, padding, dilation)
    ((3, 6, 1, 14, 14), 1, 16, (1, 5, 5), (0, 0, 0), (1, 1, 1)),     # LeNet conv2
    ((2, 1, 1, 28, 28), 1, 6, (1, 5, 5), (0, 2, 2), (1, 1, 1)),      # M < one register block
    ((2, 8, 1, 9, 11), 2, 13, (1, 3, 2), (0, 1, 0), (1, 2, 1)),      # groups, dilation, odd M
    ((2, 3, 1, 1, 40), 1, 70, (1, 1, 3), (0, 0, 1), (1, 1, 1)),      # 1-D, M > 64
    ((2, 2, 5, 6, 7), 1, 9, (3, 3, 3), (1, 1, 1), (1, 1, 1)),        # 3-D
    ((2, 4, 1, 3, 3), 1, 8, (1, 3, 3), (0, 2, 2), (1, 1, 1)),        # padding > kernel/2
    ((2, 8, 1, 5, 16), 1, 16, (1, 3, 3), (0, 1, 1), (1, 1, 1)),      # rows of whole vectors
    ((2, 8, 1, 4, 34), 2, 12, (1, 3, 3), (0, 0, 0), (1, 1, 1)),      # the same, M = 12
    ((2, 3, 4, 4, 16), 1, 8, (3, 3, 3), (1, 1, 1), (1, 1, 1)),       # 3-D, rows of vectors
]
STRIDED_CASES = [  # (u shape, groups, M, kernel, padding, dilation, stride): phase planes
    ((2, 8, 1, 12, 12), 1, 16, (1, 3, 3), (0, 1, 1), (1, 1, 1), (1, 2, 2)),
    ((2, 6, 1, 11, 13), 2, 9, (1, 3, 3), (0, 1, 0), (1, 1, 1), (1, 2, 2)),   # odd sizes
    ((2, 16, 1, 9, 9), 1, 32, (1, 1, 1), (0, 0, 0), (1, 1, 1), (1, 2, 2)),   # 1x1 shortcut
    ((2, 4, 1, 13, 14), 1, 20, (1, 5, 4), (0, 2, 1), (1, 2, 1), (1, 3, 2)),  # dilated, s 3
    ((2, 3, 1, 1, 40), 1, 70, (1, 1, 4), (0, 0, 1), (1, 1, 1), (1, 1, 2)),   # 1-D
    ((2, 2, 7, 6, 7), 1, 9, (3, 3, 3), (1, 1, 1), (1, 1, 1), (2, 2, 2)),     # 3-D
    ((2, 4, 1, 5, 5), 1, 8, (1, 3, 3), (0, 2, 2), (1, 1, 1), (1, 2, 2)),     # big padding
    ((2, 32, 1, 9, 9), 2, 12, (1, 4, 4), (0, 1, 1), (1, 1, 1), (1, 2, 2)),   # convT-like
    ((2, 8, 1, 13, 14), 1, 20, (1, 5, 4), (0, 2, 1), (1, 2, 1), (1, 3, 2)),  # phases w/o taps
    ((2, 8, 5, 6, 7), 1, 9, (3, 3, 3), (1, 1, 1), (1, 1, 1), (2, 2, 2)),     # 3-D, 8 channels
]


def _on_and_off(switch, call):
    """[call() with a path switch of tinyconv._conv on, the same with it off]."""
    out = []
    for on in (True, False):
        before = switch(on)
        try:
            out.append(call())
        finally:
            switch(before)
    return out


def _out_spatial(xs, k, p, d, s):
    return tuple((i + 2 * pp - dd * (kk - 1) - 1) // ss + 1
                 for i, kk, pp, dd, ss in zip(xs[2:], k, p, d, s))


@pytest.mark.parametrize("xs,groups,M,k,p,d,s", [c + ((1, 1, 1),) for c in DIRECT_CASES]
                         + STRIDED_CASES)
def test_direct_kernel_equals_gemm(xs, groups, M, k, p, d, s):
    """float32 forwards take the register-blocked direct kernel (csrc/_direct.h; strided ones
    on phase planes); im2col + BLAS must give the same outputs, NaN included."""
    from tinyconv import _conv
    rng = np.random.default_rng(11)
    u = rng.standard_normal(xs).astype(np.float32)
    u.flat[5] = np.nan
    a = rng.standard_normal((groups * M, xs[1] // groups * int(np.prod(k)))).astype(np.float32)
    bias = rng.standard_normal(groups * M).astype(np.float32)
    osp = _out_spatial(xs, k, p, d, s)
    out = _on_and_off(_conv.set_direct,
                      lambda: K.conv_unfold_gemm(u, a, bias, groups, k, s, p, d, osp))
    assert np.isnan(out[1]).any() or s != (1, 1, 1)   # a stride may skip u.flat[5]
    np.testing.assert_array_equal(np.isnan(out[0]), np.isnan(out[1]))
    np.testing.assert_allclose(out[0], out[1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("xs,groups,M,k,p,d", [
    ((2, 16, 1, 8, 8), 1, 16, (1, 3, 3), (0, 1, 1), (1, 1, 1)),
    ((2, 32, 1, 9, 7), 1, 20, (1, 3, 3), (0, 1, 1), (1, 1, 1)),     # odd outputs: half tiles
    ((2, 32, 1, 5, 6), 2, 24, (1, 3, 3), (0, 0, 0), (1, 1, 1)),     # groups, no padding
    ((1, 16, 1, 2, 4), 1, 16, (1, 3, 3), (0, 1, 1), (1, 1, 1)),     # one tile row
    ((2, 16, 1, 3, 40), 1, 8, (1, 3, 3), (0, 2, 2), (1, 1, 1)),     # M < a register block
    # 3x3x3: rows (c, z) of the products read a ring of transformed planes, zeros outside
    ((2, 8, 5, 8, 8), 1, 16, (3, 3, 3), (1, 1, 1), (1, 1, 1)),
    ((2, 16, 4, 7, 9), 1, 8, (3, 3, 3), (0, 1, 1), (1, 1, 1)),      # no depth padding
    ((1, 8, 3, 6, 6), 2, 8, (3, 3, 3), (2, 1, 0), (1, 1, 1)),       # end planes: zero slots
    ((2, 8, 2, 5, 5), 1, 12, (3, 3, 3), (3, 1, 1), (1, 1, 1)),      # planes of zero taps only
    ((2, 16, 3, 6, 6), 1, 16, (1, 3, 3), (1, 1, 1), (1, 1, 1)),     # 1x3x3 on a volume
    ((1, 4, 18, 4, 4), 1, 4, (3, 3, 3), (1, 1, 1), (1, 1, 1)),      # a deep ring of slots
    # dilated: Winograd on the dh*dw phase planes, read and written in place
    ((2, 16, 1, 16, 16), 1, 16, (1, 3, 3), (0, 2, 2), (1, 2, 2)),   # 8x8 phases, padding 1
    ((2, 16, 1, 12, 18), 2, 8, (1, 3, 3), (0, 0, 6), (1, 2, 3)),    # groups; 6 phases
    ((1, 16, 1, 8, 8), 1, 24, (1, 3, 3), (0, 4, 2), (1, 2, 1)),     # one direction only
    ((2, 16, 1, 9, 8), 1, 16, (1, 3, 3), (0, 2, 2), (1, 2, 2)),     # odd height: direct
])
def test_winograd_equals_direct(xs, groups, M, k, p, d):
    """Winograd F(2x2, 3x3) (csrc/_wino.h) gives the direct kernel's outputs to float
    rounding, and a NaN input reaches the same outputs (thresholds lowered to reach it)."""
    from tinyconv import _conv
    rng = np.random.default_rng(13)
    u = rng.standard_normal(xs).astype(np.float32)
    u[0, 1, xs[2] // 2, 1, 2] = np.nan
    a = rng.standard_normal((groups * M, xs[1] // groups * int(np.prod(k)))).astype(np.float32)
    b = rng.standard_normal(groups * M).astype(np.float32)
    osp = _out_spatial(xs, k, p, d, (1, 1, 1))
    before = _conv.set_winograd(True, 1, 1, 1, 1)
    try:
        out = _on_and_off(_conv.set_winograd, lambda: K.conv_unfold_gemm(
            u, a, b if M != 20 else None, groups, k, (1, 1, 1), p, d, osp))
    finally:
        _conv.set_winograd(before, 32, 256, 8, 64, 16, 64)
    assert np.isnan(out[1]).any()
    np.testing.assert_array_equal(np.isnan(out[0]), np.isnan(out[1]))
    scale = np.nanmax(np.abs(out[1]))       # sums of up to 432 products: tolerance to scale
    np.testing.assert_allclose(out[0], out[1], rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize("xs,groups,M,k,p", [
    ((2, 16, 1, 8, 8), 1, 16, (1, 3, 3), (0, 1, 1)),
    ((3, 8, 1, 9, 7), 1, 20, (1, 3, 3), (0, 1, 1)),       # odd outputs: half tiles; M not a vector
    ((2, 16, 1, 6, 10), 2, 24, (1, 3, 3), (0, 0, 0)),     # groups, no padding
    ((1, 30, 1, 5, 4), 1, 8, (1, 3, 3), (0, 2, 2)),       # 30 rows: a padded row block
    ((2, 8, 1, 3, 40), 1, 70, (1, 3, 3), (0, 1, 1)),      # 20 tiles in a row; 5 vectors of M
    # 3x3x3: rows (c, z) read the ring of transformed planes, zeros outside the volume
    ((2, 8, 5, 8, 8), 1, 16, (3, 3, 3), (1, 1, 1)),
    ((1, 8, 3, 6, 6), 2, 8, (3, 3, 3), (2, 1, 0)),        # end planes: zero slots; groups
    ((2, 16, 4, 7, 9), 1, 8, (3, 3, 3), (0, 1, 1)),       # no depth padding
])
def test_winograd_weight_grad_equals_direct(xs, groups, M, k, p):
    """The weight gradient of a 3x3 (or 3x3x3) stride-1 layer on Winograd F(2x2, 3x3) equals
    the direct kernel's to float rounding, and an input NaN reaches the same weights
    (thresholds lowered to reach it)."""
    from tinyconv import _conv
    rng = np.random.default_rng(16)
    s, d = (1, 1, 1), (1, 1, 1)
    u = rng.standard_normal(xs).astype(np.float32)
    u[1 % xs[0], 1, xs[2] // 2, xs[3] // 2, xs[4] // 2] = np.nan
    a = rng.standard_normal((groups * M, xs[1] // groups * int(np.prod(k)))).astype(np.float32)
    osp = _out_spatial(xs, k, p, d, s)
    gy = rng.standard_normal((xs[0], groups * M, int(np.prod(osp)))).astype(np.float32)
    before = _conv.set_winograd(True, 1, 1, 1, 1)
    try:
        out = _on_and_off(_conv.set_winograd, lambda: K.conv_gemm_fold(
            u, a, gy, groups, k, s, p, d, osp, need_u=False)[1])
    finally:
        _conv.set_winograd(before, 32, 256, 8, 64)
    assert np.isnan(out[1]).any()
    np.testing.assert_array_equal(np.isnan(out[0]), np.isnan(out[1]))
    scale = np.nanmax(np.abs(out[1]))
    np.testing.assert_allclose(out[0], out[1], rtol=1e-5, atol=2e-6 * scale)


@pytest.mark.parametrize("xs,groups,M,p", [
    ((2, 8, 1, 16, 16), 1, 8, (0, 1, 1)),      # the transposed layer of DCGAN / U-Net
    ((2, 4, 1, 9, 7), 1, 6, (0, 0, 0)),        # odd sizes: phase planes of unequal size
    ((1, 6, 1, 12, 10), 2, 3, (0, 2, 1)),      # groups; paddings 2 and 1
    ((2, 3, 1, 2, 3), 1, 2, (0, 1, 2)),        # one tile, half of it outside
    ((1, 2, 1, 6, 40), 1, 9, (0, 1, 1)),       # rows of many tiles, M < a register block
])
def test_winograd22_input_grad_equals_direct(xs, groups, M, p):
    """The input gradient of a 4x4 stride-2 convolution (a transposed convolution's forward)
    on F(2x2, 2x2) equals the direct kernel's to float rounding, NaN reaching the same
    places (thresholds lowered to reach it)."""
    from tinyconv import _conv
    rng = np.random.default_rng(15)
    k, s, d = (1, 4, 4), (1, 2, 2), (1, 1, 1)
    osp = _out_spatial(xs, k, p, d, s)
    a = rng.standard_normal((groups * M, xs[1] // groups * 16)).astype(np.float32)
    gy = rng.standard_normal((xs[0], groups * M, int(np.prod(osp)))).astype(np.float32)
    gy[0, 1, min(osp[2] + 1, gy.shape[2] - 1)] = np.nan
    before = _conv.set_winograd(True, -1, -1, -1, -1, 1, 1)
    try:
        out = _on_and_off(_conv.set_winograd, lambda: K.conv_gemm_fold(
            xs, a, gy, groups, k, s, p, d, osp, need_a=False)[0])
    finally:
        _conv.set_winograd(before, 32, 256, 8, 64, 16, 64)
    assert np.isnan(out[1]).any()
    np.testing.assert_array_equal(np.isnan(out[0]), np.isnan(out[1]))
    scale = np.nanmax(np.abs(out[1]))
    np.testing.assert_allclose(out[0], out[1], rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize("xs,ws,kw", [
    ((2, 64, 16, 16), (64, 64, 3, 3), dict(padding=1)),
    ((2, 16, 6, 8, 8), (32, 16, 3, 3, 3), dict(padding=1)),           # 3x3x3: 16 -> 32, 8x8
    ((2, 32, 32, 32), (32, 32, 3, 3), dict(padding=2, dilation=2)),   # on the 4 phases
    ((2, 32, 16, 16), (32, 24, 4, 4), dict(stride=2, padding=1, transposed=True)),  # F(2, 2)
    ((2, 24, 32, 32), (32, 24, 4, 4), dict(stride=2, padding=1)),     # F(2, 2) in its dX
])
def test_winograd_layer_matches_torch(xs, ws, kw):
    """Layers that take Winograd at the default thresholds in their forward and their input
    gradient (a flipped convolution alike): outputs and every gradient match PyTorch."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(14)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ws) * 0.05).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    fn = {4: "conv2d", 5: "conv3d"}[len(xs)]
    if kw.pop("transposed", False):
        fn, b = "conv_transpose2d", rng.standard_normal(ws[1]).astype(np.float32)
    y0 = getattr(torch.nn.functional, fn)(torch.tensor(x), torch.tensor(w), **kw)
    gy = rng.standard_normal(tuple(y0.shape)).astype(np.float32)
    xt, wt, bt = (tc.tensor(v, requires_grad=True) for v in (x, w, b))
    y = getattr(F, fn)(xt, wt, bt, **kw)
    y.backward(tc.tensor(gy))
    xr, wr, br = (torch.tensor(v, requires_grad=True) for v in (x, w, b))
    yr = getattr(torch.nn.functional, fn)(xr, wr, br, **kw)
    yr.backward(torch.tensor(gy))
    for ours, ref in ((y, yr), (xt.grad, xr.grad), (wt.grad, wr.grad), (bt.grad, br.grad)):
        ref = ref.detach().numpy()
        np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("xs,groups,M,k,p,d,s", [c + ((1, 1, 1),) for c in [
    ((3, 6, 1, 14, 14), 1, 16, (1, 5, 5), (0, 0, 0), (1, 1, 1)),     # LeNet conv2: 150 rows
    ((2, 16, 1, 9, 10), 1, 5, (1, 3, 3), (0, 1, 1), (1, 1, 1)),      # M padded to a vector
    ((2, 8, 1, 7, 12), 2, 40, (1, 3, 3), (0, 2, 1), (1, 2, 1)),      # 3 vectors, dilated
    ((2, 12, 1, 6, 6), 1, 100, (1, 3, 3), (0, 1, 1), (1, 1, 1)),     # 4 + 3 vectors
    ((3, 16, 1, 1, 30), 4, 24, (1, 1, 5), (0, 0, 2), (1, 1, 1)),     # conv1d, groups
    ((2, 4, 5, 6, 7), 1, 32, (3, 3, 2), (1, 0, 1), (1, 1, 2)),       # conv3d
    ((2, 2, 1, 8, 8), 1, 64, (1, 3, 3), (0, 1, 1), (1, 1, 1)),       # 18 rows of 6
    ((2, 8, 1, 5, 16), 1, 16, (1, 3, 3), (0, 1, 1), (1, 1, 1)),      # rows of whole vectors
    ((2, 3, 4, 4, 16), 1, 20, (3, 3, 3), (1, 1, 1), (1, 1, 1)),      # 3-D, rows of vectors
]] + STRIDED_CASES)
def test_direct_weight_grad_equals_gemm(xs, groups, M, k, p, d, s):
    """float32 weight gradients take dc_wgrad_f (csrc/_direct.h) unless its padded
    row blocks waste over 25 %, strided input gradients with 8+ channels per group the phase
    kernels; im2col + BLAS + col2im must give the same sums."""
    from tinyconv import _conv
    rng = np.random.default_rng(12)
    u = rng.standard_normal(xs).astype(np.float32)
    a = rng.standard_normal((groups * M, xs[1] // groups * int(np.prod(k)))).astype(np.float32)
    osp = _out_spatial(xs, k, p, d, s)
    gy = rng.standard_normal((xs[0], groups * M, int(np.prod(osp)))).astype(np.float32)
    out = _on_and_off(_conv.set_direct,
                      lambda: K.conv_gemm_fold(u, a, gy, groups, k, s, p, d, osp))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-5, atol=1e-5)
    scale = np.abs(out[1][1]).max()
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,kw", [
    ((2, 16, 9, 10), (20, 16, 3, 3), dict(padding=1)),
    ((2, 32, 7, 8), (8, 16, 3, 3), dict(padding=(2, 1), dilation=(2, 1), groups=2)),
    ((2, 16, 11), (8, 16, 4), dict(padding="same")),               # asymmetric padding
    ((2, 16, 3, 5, 4), (4, 16, 3, 3, 2), dict(padding=(1, 0, 1))),
])
def test_grad_input_as_flipped_conv_equals_fold(monkeypatch, dtype, xs, ws, kw):
    """With 16+ channels per group and stride 1 a float32 input gradient is a forward
    convolution of the output gradient (direct kernel); it must equal the col2im result."""
    from tinyconv.ops import conv as conv_ops
    fn = _conv_fn(xs)
    a = _run(fn, xs, ws, kw, True, monkeypatch, dtype)
    monkeypatch.setattr(conv_ops, "_grad_input_as_conv", lambda geo, cg, dt: False)
    b = _run(fn, xs, ws, kw, True, monkeypatch, dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, **tol)
