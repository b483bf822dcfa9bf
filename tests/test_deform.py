"""Deformable convolution: tinyconv.ops.deform_conv2d and nn.DeformConv2d.

Oracles: conv2d (zero offsets and a mask of ones reduce deform_conv2d to it), a slow numpy
transcription of torchvision's CPU kernel (bilinear_interpolate, get_coordinate_weight), and
finite differences in float64.
"""

import math

import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn as nn
import tinyconv.nn.functional as F
from tinyconv import _kernels as K
from tinyconv import _parallel
from tinyconv.ops import deform_conv2d


def out_size(i, k, s, p, d):
    return (i + 2 * p - d * (k - 1) - 1) // s + 1


# ----------------------------------------------------------------------------- numpy reference

def _at(img, i, j):
    H, W = img.shape
    return img[i, j] if 0 <= i < H and 0 <= j < W else 0.0


def ref_bilinear(img, y, x):
    """torchvision's bilinear_interpolate."""
    H, W = img.shape
    if y <= -1 or y >= H or x <= -1 or x >= W:
        return 0.0
    y0, x0 = math.floor(y), math.floor(x)
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * _at(img, y0, x0) + (1 - ly) * lx * _at(img, y0, x0 + 1)
            + ly * (1 - lx) * _at(img, y0 + 1, x0) + ly * lx * _at(img, y0 + 1, x0 + 1))


def ref_coord_weight(img, y, x):
    """torchvision's get_coordinate_weight: (d/dy, d/dx) of the bilinear sample."""
    y0, x0 = math.floor(y), math.floor(x)
    v = {(a, b): _at(img, y0 + a, x0 + b) for a in (0, 1) for b in (0, 1)}
    ly, lx = y - y0, x - x0
    gy = lx * (v[1, 1] - v[0, 1]) + (1 - lx) * (v[1, 0] - v[0, 0])
    gx = ly * (v[1, 1] - v[1, 0]) + (1 - ly) * (v[0, 1] - v[0, 0])
    return gy, gx


def _positions(x, offset, weight, stride, padding, dilation):
    """Yield (n, c, t, oy, ox, y, x, g_off) for every sample of the deformable columns."""
    N, C, H, W = x.shape
    kh, kw = weight.shape[2:]
    K_ = kh * kw
    og = offset.shape[1] // (2 * K_)
    oH, oW = offset.shape[2:]
    for n in range(N):
        for c in range(C):
            g = c // (C // og)
            for i in range(kh):
                for j in range(kw):
                    t = i * kw + j
                    for oy in range(oH):
                        for ox in range(oW):
                            dy = offset[n, 2 * (g * K_ + t), oy, ox]
                            dx = offset[n, 2 * (g * K_ + t) + 1, oy, ox]
                            yy = oy * stride[0] - padding[0] + i * dilation[0] + dy
                            xx = ox * stride[1] - padding[1] + j * dilation[1] + dx
                            yield n, c, t, oy, ox, yy, xx, g


def ref_deform_conv2d(x, offset, weight, bias, stride, padding, dilation, mask):
    N, C = x.shape[:2]
    O, cg, kh, kw = weight.shape
    K_ = kh * kw
    oH, oW = offset.shape[2:]
    col = np.zeros((N, C, K_, oH, oW))
    for n, c, t, oy, ox, yy, xx, g in _positions(x, offset, weight, stride, padding, dilation):
        m = 1.0 if mask is None else mask[n, g * K_ + t, oy, ox]
        col[n, c, t, oy, ox] = m * ref_bilinear(x[n, c], yy, xx)
    G = C // cg
    out = np.zeros((N, O, oH, oW))
    for grp in range(G):
        cs, os_ = slice(grp * cg, (grp + 1) * cg), slice(grp * (O // G), (grp + 1) * (O // G))
        out[:, os_] = np.einsum("nctyx,oct->noyx", col[:, cs],
                                weight[os_].reshape(O // G, cg, K_))
    if bias is not None:
        out += bias[None, :, None, None]
    return out


def ref_offset_mask_grad(x, offset, weight, gout, stride, padding, dilation, mask):
    """torchvision's grad_offset / grad_mask, from its formulas (not from finite differences)."""
    N, C = x.shape[:2]
    O, cg, kh, kw = weight.shape
    K_ = kh * kw
    G = C // cg
    # grad of the columns: gcol[n, c, t, oy, ox] = sum_o weight[o, c, t] * gout[n, o]
    gcol = np.zeros((N, C) + (K_,) + offset.shape[2:])
    for grp in range(G):
        cs, os_ = slice(grp * cg, (grp + 1) * cg), slice(grp * (O // G), (grp + 1) * (O // G))
        gcol[:, cs] = np.einsum("noyx,oct->nctyx", gout[:, os_],
                                weight[os_].reshape(O // G, cg, K_))
    goff = np.zeros(offset.shape)
    gmask = None if mask is None else np.zeros(mask.shape)
    H, W = x.shape[2:]
    for n, c, t, oy, ox, yy, xx, g in _positions(x, offset, weight, stride, padding, dilation):
        m = 1.0 if mask is None else mask[n, g * K_ + t, oy, ox]
        if -1 <= yy < H and -1 <= xx < W:
            gy, gx = ref_coord_weight(x[n, c], yy, xx)
            goff[n, 2 * (g * K_ + t), oy, ox] += m * gy * gcol[n, c, t, oy, ox]
            goff[n, 2 * (g * K_ + t) + 1, oy, ox] += m * gx * gcol[n, c, t, oy, ox]
        if mask is not None:
            gmask[n, g * K_ + t, oy, ox] += gcol[n, c, t, oy, ox] * ref_bilinear(x[n, c], yy, xx)
    return goff, gmask


# ----------------------------------------------------------------------------- helpers

def make_case(rng, N, C, H, W, O, k, stride=(1, 1), padding=(0, 0),  # noqa: E741
              dilation=(1, 1), groups=1, offset_groups=1, scale=1.0, use_mask=False,
              dtype=np.float64, fractional=False):
    kh, kw = k
    oH = out_size(H, kh, stride[0], padding[0], dilation[0])
    oW = out_size(W, kw, stride[1], padding[1], dilation[1])
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((O, C // groups, kh, kw))
    b = rng.standard_normal(O)
    off = rng.standard_normal((N, 2 * offset_groups * kh * kw, oH, oW)) * scale
    if fractional:
        # keep every sample position at least 0.2 away from an integer (bilinear kinks)
        off = np.round(off) + rng.choice([-1, 1], off.shape) * rng.uniform(0.2, 0.8, off.shape)
    m = rng.uniform(0.1, 1.0, (N, offset_groups * kh * kw, oH, oW)) if use_mask else None
    return [None if a is None else a.astype(dtype) for a in (x, off, w, b, m)]


def T(a, grad=False):
    return None if a is None else tc.tensor(a, requires_grad=grad)


# ----------------------------------------------------------------------------- conv2d reduction

REDUCE = [
    dict(N=2, C=3, H=7, W=6, O=4, k=(3, 3)),
    dict(N=1, C=4, H=8, W=9, O=6, k=(3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
    dict(N=3, C=4, H=6, W=6, O=6, k=(3, 3), padding=(1, 1), groups=2, offset_groups=2),
    dict(N=2, C=6, H=5, W=7, O=3, k=(2, 2), stride=(2, 2), groups=3, offset_groups=3),
    dict(N=1, C=2, H=4, W=4, O=2, k=(1, 1)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", REDUCE, ids=[str(i) for i in range(len(REDUCE))])
def test_zero_offsets_reduce_to_conv2d(case, dtype):
    rng = np.random.default_rng(0)
    case = dict(case)
    groups = case.pop("groups", 1)
    x, off, w, b, _ = make_case(rng, groups=groups, dtype=dtype, **case)
    N, oc, oH, oW = off.shape
    off[:] = 0
    ones = np.ones((N, oc // 2, oH, oW), dtype)
    s, p, d = case.get("stride", (1, 1)), case.get("padding", (0, 0)), case.get("dilation", (1, 1))
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    gout = rng.standard_normal((N, w.shape[0], oH, oW)).astype(dtype)

    ref_args = [T(a, True) for a in (x, w, b)]
    ref = F.conv2d(ref_args[0], ref_args[1], ref_args[2], s, p, d, groups)
    ref.backward(gout)
    for mask in (None, ones):
        args = [T(a, True) for a in (x, off, w, b)]
        y = deform_conv2d(args[0], args[1], args[2], args[3], s, p, d, mask=T(mask))
        assert y.dtype == dtype and y.shape == ref.shape
        np.testing.assert_allclose(y.numpy(), ref.numpy(), **tol)
        y.backward(gout)
        for a, r in zip((args[0], args[2], args[3]), ref_args):
            np.testing.assert_allclose(a.grad.numpy(), r.grad.numpy(), **tol)


def test_integer_offsets_shift_the_samples():
    # dy = 1 everywhere moves every window down one row: with padding 1 that is conv2d of the
    # input padded by 0 rows on top and 2 below (and 1 column left and right)
    rng = np.random.default_rng(1)
    x, off, w, b, _ = make_case(rng, 1, 2, 6, 5, 3, (3, 3), padding=(1, 1))
    off[:] = 0
    off[:, 0::2] = 1.0
    padded = np.pad(x, [(0, 0), (0, 0), (0, 2), (1, 1)])
    y = deform_conv2d(T(x), T(off), T(w), T(b), padding=1)
    np.testing.assert_allclose(y.numpy(), F.conv2d(T(padded), T(w), T(b)).numpy(),
                               rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- numpy reference

REF = [
    dict(N=1, C=2, H=5, W=6, O=3, k=(3, 3), scale=1.5),
    dict(N=2, C=4, H=5, W=5, O=4, k=(3, 3), padding=(1, 1), scale=2.5, groups=2,
         offset_groups=2, use_mask=True),
    dict(N=1, C=3, H=6, W=4, O=2, k=(2, 3), stride=(2, 1), padding=(2, 1), dilation=(2, 1),
         scale=3.0, use_mask=True),
    dict(N=2, C=2, H=3, W=3, O=2, k=(3, 3), padding=(2, 2), scale=4.0, offset_groups=2),
    # more output positions than one table block of the kernels (256)
    dict(N=1, C=2, H=19, W=17, O=2, k=(3, 3), padding=(1, 1), scale=2.0, use_mask=True),
]


@pytest.mark.parametrize("case", REF, ids=[str(i) for i in range(len(REF))])
def test_matches_numpy_reference(case):
    rng = np.random.default_rng(2)
    case = dict(case)
    groups = case.pop("groups", 1)
    x, off, w, b, m = make_case(rng, groups=groups, **case)
    s, p, d = case.get("stride", (1, 1)), case.get("padding", (0, 0)), case.get("dilation", (1, 1))
    # exact integer positions too: on the image border, in the padding band, at -1 and at H
    off.reshape(-1)[::7] = np.round(off.reshape(-1)[::7])
    H, W = x.shape[2:]
    ref = ref_deform_conv2d(x, off, w, b, s, p, d, m)
    # some samples must land outside the image and some in the border band (-1, 0) / (H-1, H)
    ys = np.array([yy for *_, yy, xx, g in _positions(x, off, w, s, p, d)])
    assert (ys <= -1).any() and (ys >= H).any() and ((ys > -1) & (ys < 0)).any() \
        and ((ys > H - 1) & (ys < H)).any()
    args = [T(a, True) for a in (x, off, w, b, m)]
    y = deform_conv2d(args[0], args[1], args[2], args[3], s, p, d, mask=args[4])
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-12, atol=1e-12)

    y32 = deform_conv2d(*[T(a.astype(np.float32)) for a in (x, off, w, b)], s, p, d,
                        mask=None if m is None else T(m.astype(np.float32)))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32.numpy(), ref, rtol=1e-4, atol=1e-4)

    gout = rng.standard_normal(y.shape)
    y.backward(gout)
    goff, gmask = ref_offset_mask_grad(x, off, w, gout, s, p, d, m)
    np.testing.assert_allclose(args[1].grad.numpy(), goff, rtol=1e-10, atol=1e-10)
    if m is not None:
        np.testing.assert_allclose(args[4].grad.numpy(), gmask, rtol=1e-10, atol=1e-10)


def test_offset_gradient_at_the_padding_edge_is_torchvisions():
    # Zero offsets with padding 1 put the first tap row exactly at y = -1, where the sample is 0
    # but torchvision's coordinate weight is the one-sided derivative from inside the image.
    rng = np.random.default_rng(3)
    x, off, w, b, _ = make_case(rng, 1, 2, 4, 4, 2, (3, 3), padding=(1, 1))
    off[:] = 0
    a = [T(v, True) for v in (x, off, w)]
    y = deform_conv2d(a[0], a[1], a[2], padding=1)
    gout = rng.standard_normal(y.shape)
    y.backward(gout)
    goff, _ = ref_offset_mask_grad(x, off, w, gout, (1, 1), (1, 1), (1, 1), None)
    np.testing.assert_allclose(a[1].grad.numpy(), goff, rtol=1e-12, atol=1e-12)
    assert np.abs(a[1].grad.numpy()[0, 0, 0]).max() > 0   # tap (0, 0), dy, top row


def test_non_finite_and_far_offsets_sample_zero():
    rng = np.random.default_rng(4)
    x, off, w, _, m = make_case(rng, 1, 2, 5, 5, 2, (3, 3), use_mask=True)
    off[0, :, 0, 0] = np.nan
    off[0, :, 1, 1] = np.inf
    off[0, :, 2, 2] = -1e30
    off[0, 0, 0, 1] = 1e300
    col = K.deform_im2col(x, off, m, (3, 3), (1, 1), (0, 0), (1, 1))
    col = col.reshape(2, 9, 3, 3)
    assert np.all(col[:, :, 0, 0] == 0) and np.all(col[:, :, 1, 1] == 0)
    assert np.all(col[:, :, 2, 2] == 0) and np.all(col[:, 0, 0, 1] == 0)
    gcol = rng.standard_normal((18, 9))
    gx = K.deform_col2im(gcol, off, m, x.shape, (3, 3), (1, 1), (0, 0), (1, 1))
    goff, gm = K.deform_offset_grad(gcol, x, off, m, (3, 3), (1, 1), (0, 0), (1, 1))
    assert np.isfinite(gx).all()
    assert np.all(goff[0, :, 2, 2] == 0) and np.all(gm[0, :, 2, 2] == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_col2im_is_the_adjoint_of_im2col(dtype):
    # <im2col(x), c> == <x, col2im(c)> for any x and c: col2im is im2col's transpose in x
    # (12 channels span two channel blocks of col2im's work units, 340 positions two tables)
    rng = np.random.default_rng(9)
    x, off, _, _, m = make_case(rng, 2, 12, 17, 20, 1, (3, 3), padding=(1, 2), dilation=(1, 2),
                                offset_groups=3, use_mask=True, scale=3.0, dtype=dtype)
    prm = ((3, 3), (1, 1), (1, 2), (1, 2))
    col = K.deform_im2col(x, off, m, *prm)
    c = rng.standard_normal(col.shape).astype(dtype)
    back = K.deform_col2im(c, off, m, x.shape, *prm)
    lhs, rhs = np.vdot(col.astype(np.float64), c), np.vdot(x.astype(np.float64), back)
    assert abs(lhs - rhs) <= (1e-4 if dtype == np.float32 else 1e-10) * abs(lhs)


# ----------------------------------------------------------------------------- gradcheck

GRAD = [
    dict(N=1, C=2, H=4, W=5, O=2, k=(2, 2), padding=(1, 0)),
    dict(N=2, C=4, H=4, W=4, O=2, k=(3, 3), padding=(1, 1), stride=(2, 1), groups=2,
         offset_groups=2, use_mask=True),
    dict(N=1, C=2, H=5, W=4, O=3, k=(2, 2), dilation=(2, 1), use_mask=True, scale=2.0),
]


@pytest.mark.parametrize("case", GRAD, ids=[str(i) for i in range(len(GRAD))])
def test_gradcheck(case):
    rng = np.random.default_rng(5)
    case = dict(case)
    groups = case.pop("groups", 1)
    arrays = make_case(rng, groups=groups, fractional=True, **case)
    s, p, d = case.get("stride", (1, 1)), case.get("padding", (0, 0)), case.get("dilation", (1, 1))
    args = [T(a, True) for a in arrays]

    def fn(x, off, w, b, m):
        return deform_conv2d(x, off, w, b, s, p, d, mask=m)

    assert tc.gradcheck(fn, args, eps=1e-6, atol=1e-6, rtol=1e-5)


def test_gradcheck_without_bias_and_partial_requires_grad():
    rng = np.random.default_rng(6)
    x, off, w, _, _ = make_case(rng, 1, 2, 4, 4, 2, (2, 2), fractional=True)
    args = [T(x), T(off, True), T(w)]
    assert tc.gradcheck(lambda a, o, ww: deform_conv2d(a, o, ww), args)
    assert args[0].grad is None and args[2].grad is None


# ----------------------------------------------------------------------------- threads

@pytest.fixture
def all_threads(monkeypatch):
    monkeypatch.setattr(K, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(_parallel, "blas_threads", lambda: 1, raising=False)
    old = _parallel.get_num_threads()
    yield
    _parallel.set_num_threads(old)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_thread_equals_two(all_threads, dtype):
    rng = np.random.default_rng(7)
    x, off, w, b, m = make_case(rng, 3, 20, 7, 6, 4, (3, 3), padding=(1, 1), offset_groups=2,
                                use_mask=True, scale=2.0, dtype=dtype)
    prm = ((3, 3), (1, 1), (1, 1), (1, 1))
    gcol = rng.standard_normal((180, 3 * 42)).astype(dtype)

    def run():
        col = K.deform_im2col(x, off, m, *prm)
        gx = K.deform_col2im(gcol, off, m, x.shape, *prm)
        goff, gm = K.deform_offset_grad(gcol, x, off, m, *prm)
        return col, gx, goff, gm

    _parallel.set_num_threads(1)
    ref = run()
    for n in (2, 2, 2):
        _parallel.set_num_threads(n)
        for a, r in zip(run(), ref):
            np.testing.assert_array_equal(a, r)


# ----------------------------------------------------------------------------- errors

def _err_args():
    rng = np.random.default_rng(8)
    x, off, w, b, m = make_case(rng, 2, 4, 6, 6, 4, (3, 3), use_mask=True, dtype=np.float32)
    return [T(a) for a in (x, off, w, b, m)]


def test_offset_channels_not_a_multiple():
    x, off, w, b, _ = _err_args()
    bad = T(np.zeros((2, 17, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"deform_conv2d: offset has 17 channels, which is not "
                                         r"a positive multiple of 2\*kH\*kW = 18"):
        deform_conv2d(x, bad, w, b)
    with pytest.raises(ValueError, match="offset has 0 channels"):
        deform_conv2d(x, T(np.zeros((2, 0, 4, 4), np.float32)), w, b)


def test_offset_groups_must_divide_channels():
    x, _, w, b, _ = _err_args()
    with pytest.raises(ValueError, match=r"the 3 offset groups .* do not divide the 4 input"):
        deform_conv2d(x, T(np.zeros((2, 54, 4, 4), np.float32)), w, b)


def test_wrong_offset_spatial_size_and_batch():
    x, _, w, b, _ = _err_args()
    with pytest.raises(ValueError, match=r"offset must have shape \(2, 18, 4, 4\) .*got "
                                         r"\(2, 18, 5, 4\)"):
        deform_conv2d(x, T(np.zeros((2, 18, 5, 4), np.float32)), w, b)
    with pytest.raises(ValueError, match=r"offset must have shape \(2, 18, 2, 2\)"):
        deform_conv2d(x, T(np.zeros((2, 18, 4, 4), np.float32)), w, b, stride=2)
    with pytest.raises(ValueError, match=r"offset must have shape \(2, 18, 4, 4\)"):
        deform_conv2d(x, T(np.zeros((1, 18, 4, 4), np.float32)), w, b)


def test_mask_shape():
    x, off, w, b, _ = _err_args()
    with pytest.raises(ValueError, match=r"deform_conv2d: mask must have shape \(2, 9, 4, 4\) "
                                         r"\(offset groups 1 \* kH\*kW 9 channels\), got "
                                         r"\(2, 18, 4, 4\)"):
        deform_conv2d(x, off, w, b, mask=T(np.ones((2, 18, 4, 4), np.float32)))
    with pytest.raises(ValueError, match=r"mask must be 4-D"):
        deform_conv2d(x, off, w, b, mask=T(np.ones((2, 9, 16), np.float32)))


def test_channel_and_group_mismatch():
    x, off, _, _, _ = _err_args()
    with pytest.raises(ValueError, match=r"input has 4 channels, which is not a multiple of the "
                                         r"3 input channels per group of weight"):
        deform_conv2d(x, off, T(np.zeros((4, 3, 3, 3), np.float32)))
    with pytest.raises(ValueError, match=r"the 2 weight groups .* do not divide the 3 output"):
        deform_conv2d(x, off, T(np.zeros((3, 2, 3, 3), np.float32)))
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\), got \(3,\)"):
        deform_conv2d(x, off, T(np.zeros((4, 4, 3, 3), np.float32)),
                      T(np.zeros(3, np.float32)))


def test_types_and_sizes():
    x, off, w, b, m = _err_args()
    with pytest.raises(TypeError, match="deform_conv2d: input is float32 but offset is float64"):
        deform_conv2d(x, off.double(), w, b)
    with pytest.raises(TypeError, match="deform_conv2d: offset must be a Tensor"):
        deform_conv2d(x, off.numpy(), w, b)
    with pytest.raises(ValueError, match="deform_conv2d: input must be 4-D"):
        deform_conv2d(x[0], off, w, b)
    with pytest.raises(ValueError, match=r"the output size \(-2, -2\) is not positive"):
        deform_conv2d(x, off, w, b, dilation=4)
    with pytest.raises(ValueError, match="deform_conv2d: stride must be positive"):
        deform_conv2d(x, off, w, b, stride=0)


def test_kernel_wrappers_reject_bad_shapes():
    x = np.zeros((1, 2, 4, 4))
    with pytest.raises(ValueError, match=r"deform_im2col: offset has shape \(1, 8, 3, 3\)"):
        K.deform_im2col(x, np.zeros((1, 8, 3, 3)), None, (3, 3), (1, 1), (0, 0), (1, 1))
    with pytest.raises(TypeError, match="deform_im2col: x is float64 but offset is float32"):
        K.deform_im2col(x, np.zeros((1, 18, 2, 2), np.float32), None, (3, 3), (1, 1), (0, 0),
                        (1, 1))
    with pytest.raises(ValueError, match=r"deform_col2im: col has shape \(18, 3\)"):
        K.deform_col2im(np.zeros((18, 3)), np.zeros((1, 18, 2, 2)), None, x.shape, (3, 3),
                        (1, 1), (0, 0), (1, 1))


def test_empty_batch():
    x = tc.zeros(0, 2, 5, 5, requires_grad=True)
    off = tc.zeros(0, 18, 3, 3, requires_grad=True)
    w = tc.randn(3, 2, 3, 3, requires_grad=True)
    y = deform_conv2d(x, off, w)
    assert y.shape == (0, 3, 3, 3)
    y.sum().backward()
    assert x.grad.shape == x.shape and np.all(w.grad.numpy() == 0)


# ----------------------------------------------------------------------------- nn.DeformConv2d

def test_module_forward_state_dict_and_init():
    tc.manual_seed(0)
    layer = nn.DeformConv2d(4, 6, 3, stride=1, padding=1, groups=2)
    assert tuple(layer.state_dict()) == ("weight", "bias")
    assert layer.weight.shape == (6, 2, 3, 3) and layer.weight.dtype == np.float32
    bound = 1 / math.sqrt(2 * 9)
    assert np.abs(layer.weight.numpy()).max() <= bound and np.abs(layer.bias.numpy()).max() <= bound
    x = tc.randn(2, 4, 5, 5)
    off = tc.randn(2, 18, 5, 5, requires_grad=True)
    mask = tc.rand(2, 9, 5, 5, requires_grad=True)
    y = layer(x, off, mask)
    assert y.shape == (2, 6, 5, 5)
    ref = deform_conv2d(x, off, layer.weight, layer.bias, padding=1, mask=mask)
    np.testing.assert_array_equal(y.numpy(), ref.numpy())
    (y * y).sum().backward()
    assert layer.weight.grad.shape == layer.weight.shape and off.grad is not None
    assert mask.grad is not None
    zero = layer(x, tc.zeros(2, 18, 5, 5))
    np.testing.assert_allclose(zero.numpy(), F.conv2d(x, layer.weight, layer.bias, padding=1,
                                                      groups=2).numpy(), rtol=1e-5, atol=1e-5)
    assert "DeformConv2d(4, 6, kernel_size=(3, 3)" in repr(layer) and "groups=2" in repr(layer)


def test_module_without_bias_and_errors():
    layer = nn.DeformConv2d(2, 2, (2, 3), bias=False)
    assert layer.bias is None and tuple(layer.state_dict()) == ("weight",)
    with pytest.raises(ValueError, match=r"DeformConv2d: in_channels \(3\) must be divisible by "
                                         r"groups \(2\)"):
        nn.DeformConv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="DeformConv2d: padding must be non-negative"):
        nn.DeformConv2d(2, 2, 3, padding=-1)
