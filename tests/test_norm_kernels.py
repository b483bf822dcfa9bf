"""The compiled batch-norm kernels (csrc/_norm.pyx through tinyconv._kernels) against plain
numpy formulas in float64, in float32 and float64, training and evaluation, with and without
the affine parameters, on odd sizes; 1 thread against 2; non-contiguous input; the wrappers'
error messages. (batch_norm itself is checked against PyTorch and finite differences in
test_nn.py, test_layers.py and the op database.)"""

import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv import _kernels as K

FLOATS = [np.float32, np.float64]
# (N, C, L): CIFAR-like, one channel, one value per plane (BatchNorm1d on (N, C)), one image,
# and sizes that are no multiple of the vector width or of the four-plane groups.
SHAPES = [(8, 3, 37), (5, 1, 9), (7, 4, 1), (1, 5, 13), (6, 16, 64)]
EPS = 1e-5


def tol(dtype):
    return {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-10}


def make(rng, shape, dtype, affine=True):
    x = (rng.standard_normal(shape) * 2 + rng.standard_normal((1, shape[1]) + (1,) * (len(shape) - 2)) * 3)
    g = rng.standard_normal(shape)
    c = shape[1]
    w = rng.standard_normal(c) if affine else None
    b = rng.standard_normal(c) if affine else None
    cast = (lambda a: None if a is None else a.astype(dtype))
    return cast(x), cast(g), cast(w), cast(b)


def ref_forward(x, w, b, mean=None, var=None, eps=EPS):
    """Training (mean, var None: the batch's own) or evaluation batch norm, in float64."""
    x = x.astype(np.float64)
    if mean is None:
        mean, var = x.mean(axis=(0, 2)), x.var(axis=(0, 2))
    xhat = (x - mean[:, None]) / np.sqrt(var[:, None] + eps)
    w = np.ones_like(mean) if w is None else w.astype(np.float64)
    b = np.zeros_like(mean) if b is None else b.astype(np.float64)
    return xhat * w[:, None] + b[:, None], mean, var


def ref_backward(x, g, w, mean, var, training, eps=EPS):
    """(gx, gw, gb) of ref_forward, in float64 (the textbook formulas)."""
    x, g = x.astype(np.float64), g.astype(np.float64)
    invstd = 1 / np.sqrt(var + eps)
    xhat = (x - mean[:, None]) * invstd[:, None]
    gb, gw = g.sum(axis=(0, 2)), (g * xhat).sum(axis=(0, 2))
    k = invstd * (1 if w is None else w.astype(np.float64))
    if training:
        m = x.shape[0] * x.shape[2]
        gx = k[:, None] * (g - gb[:, None] / m - xhat * gw[:, None] / m)
    else:
        gx = g * k[:, None]
    return gx, gw, gb


def stats_args(x, mean, var, w):
    """mean, invstd, scale in x's dtype, as tinyconv.ops.norm.BatchNorm saves them."""
    invstd = (1 / np.sqrt(var + EPS)).astype(x.dtype)
    return mean.astype(x.dtype), invstd, invstd if w is None else invstd * w


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.fixture
def threads(monkeypatch):
    """Run every kernel on the threaded path, even for tiny inputs; restore the count after."""
    monkeypatch.setattr(K, "PARALLEL_MIN_WORK", 0)
    before = tc.get_num_threads()
    yield tc.set_num_threads
    tc.set_num_threads(before)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [True, False])
def test_train_forward_matches_formula(rng, dtype, shape, affine):
    x, _, w, b = make(rng, shape, dtype, affine)
    y, mean, var = K.batch_norm_train(x, w, b, EPS)
    y_ref, mean_ref, var_ref = ref_forward(x, w, b)
    assert y.dtype == dtype and y.shape == shape
    assert mean.dtype == var.dtype == np.float64
    np.testing.assert_allclose(mean, mean_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(var, var_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, y_ref, **tol(dtype))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SHAPES)
def test_affine_matches_formula(rng, dtype, shape):
    x, _, w, b = make(rng, shape, dtype)
    mean = rng.standard_normal(shape[1]).astype(dtype)
    var = rng.uniform(0.5, 2, shape[1]).astype(dtype)
    _, invstd, scale = stats_args(x, mean, var, w)
    y_ref = ref_forward(x, w, b, mean.astype(np.float64), var.astype(np.float64))[0]
    np.testing.assert_allclose(K.batch_norm_affine(x, mean, scale, b), y_ref, **tol(dtype))
    np.testing.assert_allclose(K.batch_norm_affine(x, mean, invstd),
                               ref_forward(x, None, None, mean.astype(np.float64),
                                           var.astype(np.float64))[0], **tol(dtype))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_backward_matches_formula(rng, dtype, shape, training, affine):
    x, g, w, _ = make(rng, shape, dtype, affine)
    if training:
        _, mean, var = K.batch_norm_train(x, w, None, EPS)
    else:
        mean = rng.standard_normal(shape[1])
        var = rng.uniform(0.5, 2, shape[1])
    m, invstd, scale = stats_args(x, mean, var, w)
    gx, gw, gb = K.batch_norm_backward(x, g, m, invstd, scale, training)
    gx_ref, gw_ref, gb_ref = ref_backward(x, g, w, m.astype(np.float64),
                                          var.astype(np.float64), training)
    assert gx.dtype == gw.dtype == gb.dtype == dtype
    np.testing.assert_allclose(gx, gx_ref, **tol(dtype))
    np.testing.assert_allclose(gw, gw_ref, **tol(dtype))
    np.testing.assert_allclose(gb, gb_ref, **tol(dtype))


@pytest.mark.parametrize("training", [True, False])
def test_backward_need_flags(rng, training):
    x, g, w, _ = make(rng, (4, 3, 10), np.float64)
    _, mean, var = K.batch_norm_train(x, w, None, EPS)
    args = (x, g) + stats_args(x, mean, var, w) + (training,)
    full = K.batch_norm_backward(*args)
    for need in [(1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 1, 1), (1, 1, 0), (0, 0, 0)]:
        got = K.batch_norm_backward(*args, *map(bool, need))
        for want, a, b in zip(need, got, full):
            if want:
                np.testing.assert_array_equal(a, b)
            else:
                assert a is None


def test_eval_backward_reads_no_x_without_sums(rng):
    x, g, w, _ = make(rng, (3, 2, 5), np.float64)
    mean, var = np.zeros(2), np.ones(2)
    args = stats_args(x, mean, var, w)
    gx = K.batch_norm_backward(np.full_like(x, np.nan), g, *args, False, True, False, False)[0]
    np.testing.assert_allclose(gx, g * args[2][:, None])


def test_variance_is_two_pass(rng):
    """A mean far from zero: E[x^2] - E[x]^2 would lose most digits even in double."""
    x = 1e6 + rng.standard_normal((16, 2, 50))
    _, mean, var = K.batch_norm_train(x)
    np.testing.assert_allclose(var, x.var(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2)), rtol=1e-15)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(9, 5, 67), (40, 600, 1), (3, 4, 260)])  # 2+ blocks each
def test_one_and_two_threads_identical(rng, threads, dtype, shape):
    x, g, w, b = make(rng, shape, dtype)
    c = shape[1]
    mean, var = rng.standard_normal(c), rng.uniform(0.5, 2, c)
    out = []
    for n in (1, 2):
        threads(n)
        y, bm, bv = K.batch_norm_train(x, w, b, EPS)
        sa = stats_args(x, bm, bv, w)
        out.append((y, bm, bv, *K.batch_norm_backward(x, g, *sa, True),
                    K.batch_norm_affine(x, *stats_args(x, mean, var, w)[::2], b),
                    *K.batch_norm_backward(x, g, *stats_args(x, mean, var, w), False)))
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


def test_public_op_one_and_two_threads_identical(rng, threads):
    x, g, w, b = make(rng, (6, 4, 16, 17), np.float32)
    grads = []
    for n in (1, 2):
        threads(n)
        xt, wt, bt = (tc.Tensor(a, requires_grad=True) for a in (x, w, b))
        rm, rv = tc.zeros(4), tc.ones(4)
        y = F.batch_norm(xt, rm, rv, wt, bt, training=True)
        y.backward(tc.Tensor(g))
        grads.append((y.data, xt.grad.data, wt.grad.data, bt.grad.data, rm.data, rv.data))
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(5, 300, 1), (3, 20, 20), (4, 3, 256), (2, 2, 300)])
def test_plane_and_column_paths_agree(rng, monkeypatch, dtype, shape):
    """Both loop orders (csrc/_norm.h), including several column blocks and a plane longer
    than a column block (where the kernels keep to the plane path whatever is asked)."""
    x, g, w, b = make(rng, shape, dtype)
    mean, var = rng.standard_normal(shape[1]), rng.uniform(0.5, 2, shape[1])
    out = []
    for below in (0, 10**9):
        monkeypatch.setattr(K, "BN_COLUMNS_BELOW", below)
        y, bm, bv = K.batch_norm_train(x, w, b, EPS)
        out.append((y, bm, bv, *K.batch_norm_backward(x, g, *stats_args(x, bm, bv, w), True),
                    K.batch_norm_affine(x, *stats_args(x, mean, var, w)[::2], b),
                    *K.batch_norm_backward(x, g, *stats_args(x, mean, var, w), False)))
    for a, c in zip(*out):
        np.testing.assert_allclose(a, c, **tol(dtype))


@pytest.mark.parametrize("dtype", FLOATS)
def test_non_contiguous_input(rng, dtype):
    base, g, w, b = make(rng, (6, 8, 20), dtype)
    x = base[:, ::2, ::3]                      # (6, 4, 7) strided view
    xc = np.ascontiguousarray(x)
    w, b = w[::2], b[::2]                      # strided vectors too
    y, mean, var = K.batch_norm_train(x, w, b)
    for a, c in zip((y, mean, var), K.batch_norm_train(xc, w.copy(), b.copy())):
        np.testing.assert_array_equal(a, c)
    sa = stats_args(xc, mean, var, w)
    gs = g[:, ::2, ::3]
    for a, c in zip(K.batch_norm_backward(x, gs, *sa, True),
                    K.batch_norm_backward(xc, np.ascontiguousarray(gs), *sa, True)):
        np.testing.assert_array_equal(a, c)


def test_public_op_non_contiguous_and_float64(rng):
    base = rng.standard_normal((4, 6, 5, 8))
    x = base.transpose(0, 1, 3, 2)[:, ::2]     # (4, 3, 8, 5), not contiguous
    rm, rv = tc.zeros(3, dtype=tc.float64), tc.ones(3, dtype=tc.float64)
    y = F.batch_norm(tc.Tensor(x), rm, rv, training=True)
    y_ref = ref_forward(np.ascontiguousarray(x).reshape(4, 3, -1), None, None)[0]
    assert y.dtype == tc.float64 and rm.dtype == tc.float64
    np.testing.assert_allclose(y.data, y_ref.reshape(x.shape), rtol=1e-12, atol=1e-12)
    m = x.size // 3
    np.testing.assert_allclose(rv.data, 0.9 + 0.1 * x.var(axis=(0, 2, 3)) * m / (m - 1))


def test_eval_backward_uses_the_statistics_of_its_forward(rng):
    """A training-mode call between an evaluation-mode forward and its backward updates the
    running statistics in place; the first call's weight gradient must not see that."""
    x, g, w, b = make(rng, (4, 3, 6), np.float64)
    bn = tc.nn.BatchNorm1d(3).double()
    bn.weight.data[:], bn.bias.data[:] = w, b
    bn.eval()
    y = bn(tc.Tensor(x))
    mean, var = bn.running_mean.data.copy(), bn.running_var.data.copy()
    bn.train()
    bn(tc.Tensor(x + 5))
    y.backward(tc.Tensor(g))
    gw = ref_backward(x, g, w, mean, var, False)[1]
    np.testing.assert_allclose(bn.weight.grad.data, gw, rtol=1e-12)


def test_empty_inputs():
    x = np.zeros((0, 3, 4), np.float32)
    assert K.batch_norm_affine(x, np.zeros(3, np.float32), np.ones(3, np.float32)).shape == x.shape
    gx, gw, gb = K.batch_norm_backward(x, x, *(np.ones(3, np.float32),) * 3, False)
    assert gx.shape == x.shape and np.all(gw == 0) and np.all(gb == 0)
    y, mean, var = K.batch_norm_train(np.zeros((2, 0, 3)))
    assert y.shape == (2, 0, 3) and mean.shape == var.shape == (0,)


def _f32(*shape):
    return np.zeros(shape, np.float32)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: K.batch_norm_train([[[1.0]]]), TypeError,
     r"batch_norm_train: x must be a numpy array, got list"),
    (lambda: K.batch_norm_train(np.zeros((2, 2, 2), np.int32)), TypeError,
     r"batch_norm_train: x must be float32 or float64, got int32"),
    (lambda: K.batch_norm_train(_f32(2, 3)), ValueError,
     r"batch_norm_train: x must be 3-D, got shape \(2, 3\)"),
    (lambda: K.batch_norm_train(_f32(2, 3, 4), _f32(4)), ValueError,
     r"batch_norm_train: weight has shape \(4,\) but x \(2, 3, 4\) has 3 channels"),
    (lambda: K.batch_norm_train(_f32(2, 3, 4), None, np.zeros(3)), TypeError,
     r"batch_norm_train: x is float32 but bias is float64"),
    (lambda: K.batch_norm_train(_f32(2, 3, 4), eps=-1), ValueError,
     r"batch_norm_train: eps must be >= 0, got -1.0"),
    (lambda: K.batch_norm_train(_f32(0, 3, 4)), ValueError,
     r"batch_norm_train: x \(0, 3, 4\) has no values per channel"),
    (lambda: K.batch_norm_affine(_f32(2, 3, 4), _f32(3), None), TypeError,
     r"batch_norm_affine: scale must be a numpy array, got NoneType"),
    (lambda: K.batch_norm_affine(_f32(2, 3, 4), _f32(3, 1), _f32(3)), ValueError,
     r"batch_norm_affine: mean must be 1-D, got shape \(3, 1\)"),
    (lambda: K.batch_norm_backward(_f32(2, 3, 4), _f32(2, 3, 5), _f32(3), _f32(3), _f32(3),
                                   True), ValueError,
     r"batch_norm_backward: grad_out has shape \(2, 3, 5\) but x has shape \(2, 3, 4\)"),
    (lambda: K.batch_norm_backward(_f32(2, 3, 4), np.zeros((2, 3, 4)), _f32(3), _f32(3),
                                   _f32(3), True), TypeError,
     r"batch_norm_backward: x is float32 but grad_out is float64"),
    (lambda: K.batch_norm_backward(_f32(2, 3, 4), _f32(2, 3, 4), _f32(3), _f32(2), _f32(3),
                                   True), ValueError,
     r"batch_norm_backward: invstd has shape \(2,\) but x \(2, 3, 4\) has 3 channels"),
])
def test_wrapper_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
