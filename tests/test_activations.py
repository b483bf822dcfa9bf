"""Activations (tinyconv.ops.activation, csrc/_act.pyx): every function and layer against PyTorch.

Forward and input gradient (with a random upstream gradient) in float32 and float64 on inputs
that span several kernel blocks and contain every kink, plus: gradients at the kinks equal to
PyTorch's exactly, PReLU's weight gradient, RReLU in evaluation (exact) and training mode
(slopes within [lower, upper], gradient = the slope used), finite differences in float64,
identical results with 1 and 2 threads, NaN propagation, reprs, and every error message.
"""

import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv import _kernels, nn

FLOATS = [np.float32, np.float64]


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch (the test oracle) is not installed")


def tol(dtype):
    # float32: both libraries are within ~2 ulp of the true value; the absolute term covers
    # PyTorch's own cancellation in 1 + erf(x) (gelu) and 1 - y^2 (tanh') near zero.
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-13)


# The kinks of every activation here (and the softplus thresholds of the cases below).
KINKS = [0.0, -0.0, 6.0, -3.0, 3.0, -1.0, 1.0, -2.0, 0.5, 0.3, 1.5, 10.0, 20.0, -20.0]


def sample(shape, dtype, seed=0, scale=3.0):
    """Random values (scale * N(0, 1)) with every kink planted at the start."""
    x = np.random.default_rng(seed).standard_normal(shape) * scale
    flat = x.reshape(-1)
    n = min(flat.size, len(KINKS))
    flat[:n] = KINKS[:n]
    return x.astype(dtype)


def noise(shape, dtype, seed=1):
    """A random upstream gradient (no zeros)."""
    return np.asarray(np.random.default_rng(seed).standard_normal(shape) + 0.1, dtype)


# (name, kwargs): every functional activation; the same kwargs work for torch.
FUNCS = [
    ("relu", {}), ("relu6", {}), ("leaky_relu", {}), ("leaky_relu", {"negative_slope": -0.3}),
    ("rrelu", {"lower": 0.1, "upper": 0.4}),  # training=False: exact
    ("hardtanh", {}), ("hardtanh", {"min_val": -2.0, "max_val": 0.5}),
    ("elu", {}), ("elu", {"alpha": 0.7}), ("selu", {}), ("celu", {"alpha": 1.5}),
    ("celu", {"alpha": -0.5}),
    ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("silu", {}), ("mish", {}),
    ("sigmoid", {}), ("tanh", {}), ("softplus", {}), ("softplus", {"beta": 2, "threshold": 3}),
    ("softplus", {"beta": -1.5, "threshold": 10}), ("softsign", {}), ("hardsigmoid", {}),
    ("hardswish", {}), ("threshold", {"threshold": 0.3, "value": -4.0}),
    ("softmax", {"dim": 1}), ("log_softmax", {"dim": 0}),
]
IDS = [n + "".join(f"-{k}={v}" for k, v in kw.items()) for n, kw in FUNCS]

# 3*7*31*29 = 18879 elements: three kernel blocks (8192) and a short vector tail.
SHAPE = (3, 7, 31, 29)


def run_both(torch, name, kw, x, g):
    """Output and input gradient of F.<name> in tinyconv and in PyTorch."""
    xt = tc.tensor(x, requires_grad=True)
    y = getattr(F, name)(xt, **kw)
    y.backward(g)
    xth = torch.tensor(x, requires_grad=True)
    yth = getattr(torch.nn.functional, name)(xth, **kw)
    yth.backward(torch.from_numpy(g))
    return (y, xt.grad.numpy()), (yth.detach().numpy(), xth.grad.numpy())


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,kw", FUNCS, ids=IDS)
def test_matches_torch(name, kw, dtype, torch):
    x = sample(SHAPE, dtype)
    g = noise(SHAPE, dtype)
    (y, gx), (yth, gxth) = run_both(torch, name, kw, x, g)
    assert y.dtype == dtype and y.shape == x.shape and gx.dtype == dtype
    np.testing.assert_allclose(y.numpy(), yth, **tol(dtype), err_msg="output")
    np.testing.assert_allclose(gx, gxth, **grad_tol(name, dtype), err_msg="input gradient")


def grad_tol(name, dtype):
    if name == "hardsigmoid" and dtype == np.float64:
        # PyTorch multiplies by 1/6 rounded to float32 even in float64 (relative error 3e-8)
        return dict(rtol=1e-7, atol=0)
    return tol(dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,kw", [f for f in FUNCS if "softmax" not in f[0]],
                         ids=[i for i in IDS if "softmax" not in i])
def test_kink_gradients_equal_torch_exactly(name, kw, dtype, torch):
    x = np.array(KINKS + [np.float32(kw.get("threshold", 20)) / kw.get("beta", 1)], dtype)
    g = np.random.default_rng(2).standard_normal(x.shape).astype(dtype)
    (y, gx), (yth, gxth) = run_both(torch, name, kw, x, g)
    if name in ("relu", "relu6", "leaky_relu", "rrelu", "hardtanh", "threshold", "hardswish"):
        np.testing.assert_array_equal(y.numpy(), yth)
        np.testing.assert_array_equal(gx, gxth)
    elif name == "hardsigmoid" and dtype == np.float64:
        # PyTorch multiplies by 1/6 rounded to float32 even in float64; zero at the kinks.
        np.testing.assert_array_equal(gx[np.abs(x) >= 3], gxth[np.abs(x) >= 3])
        np.testing.assert_allclose(gx, gxth, rtol=1e-7)
    else:  # smooth, or kinks at 0 of the elu family: equal up to rounding
        np.testing.assert_allclose(gx, gxth, **tol(dtype))
        if name in ("elu", "celu", "selu", "hardsigmoid", "softplus"):
            np.testing.assert_allclose(gx, gxth, rtol=np.finfo(dtype).eps * 4, atol=0)


def test_kink_choices_are_the_documented_ones():
    """The derivatives at the kinks, spelled out (these hold without the oracle)."""
    def grad(fn, xs):
        x = tc.tensor(np.array(xs), requires_grad=True)
        fn(x).backward(np.ones(len(xs)))
        return x.grad.numpy().tolist()

    assert grad(F.relu, [0.0]) == [0.0]
    assert grad(F.relu6, [0.0, 6.0]) == [0.0, 0.0]
    assert grad(lambda x: F.leaky_relu(x, 0.2), [0.0]) == [0.2]
    assert grad(F.hardtanh, [-1.0, 1.0]) == [0.0, 0.0]
    assert grad(lambda x: F.elu(x, 0.5), [0.0]) == [0.5]
    assert grad(F.hardsigmoid, [-3.0, 3.0]) == [0.0, 0.0]
    assert grad(F.hardswish, [-3.0, 3.0, 0.0]) == [0.0, 1.0, 0.5]
    assert grad(lambda x: F.threshold(x, 1.0, 5.0), [1.0, 1.5]) == [0.0, 1.0]
    assert grad(lambda x: F.softplus(x, 2.0, 10.0), [5.000001])[0] == 1.0
    assert grad(lambda x: F.rrelu(x, 0.1, 0.3), [0.0]) == [pytest.approx(0.2)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,kw", [f for f in FUNCS if "softmax" not in f[0]],
                         ids=[i for i in IDS if "softmax" not in i])
def test_nan_propagates(name, kw, dtype, torch):
    x = np.array([np.nan, 1.0, -1.0, np.nan], dtype)
    g = np.array([1.0, 2.0, 3.0, 4.0], dtype)
    (y, gx), (yth, gxth) = run_both(torch, name, kw, x, g)
    assert np.isnan(y.numpy()[[0, 3]]).all()
    np.testing.assert_allclose(y.numpy(), yth, **tol(dtype))
    # the gradient at NaN is whatever PyTorch's formula gives (NaN, 0 or the upstream gradient)
    np.testing.assert_allclose(gx, gxth, **grad_tol(name, dtype), equal_nan=True)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "silu", "gelu", "elu", "softplus", "mish"])
def test_far_tails_are_finite_and_match_torch(name, dtype, torch):
    lim = 100.0 if dtype == np.float32 else 800.0
    x = np.linspace(-lim, lim, 4001).astype(dtype)
    g = np.ones_like(x)
    (y, gx), (yth, gxth) = run_both(torch, name, {}, x, g)
    assert np.isfinite(y.numpy()).all() and np.isfinite(gx).all()
    np.testing.assert_allclose(y.numpy(), yth, **tol(dtype))
    np.testing.assert_allclose(gx, gxth, **tol(dtype))


def test_softplus_large_threshold_stays_finite(torch):
    x = tc.tensor(np.array([100.0, -100.0, 0.0], np.float32), requires_grad=True)
    y = F.softplus(x, threshold=1000.0)
    np.testing.assert_allclose(y.numpy(), [100.0, 0.0, np.log(2)], rtol=1e-6, atol=1e-30)
    y.backward(np.ones(3, np.float32))
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 0.0, 0.5], atol=1e-30)


def test_gelu_lower_tail_keeps_relative_accuracy():
    import math

    x = np.linspace(-13, -4, 91)
    ref = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    np.testing.assert_allclose(F.gelu(tc.tensor(x)).numpy(), ref, rtol=1e-13)
    ours32 = F.gelu(tc.tensor(x.astype(np.float32))).numpy()
    ref32 = np.array([float(v) * 0.5 * math.erfc(-float(v) / math.sqrt(2))
                      for v in x.astype(np.float32)])
    np.testing.assert_allclose(ours32, ref32, rtol=1e-6)  # (x^2/2 is not rounded to float)


def test_noncontiguous_input(torch):
    x = sample((6, 40, 50), np.float32).transpose(2, 0, 1)[:, ::2]
    g = noise(x.shape, np.float32)
    (y, gx), (yth, gxth) = run_both(torch, "gelu", {}, x, g)
    np.testing.assert_allclose(y.numpy(), yth, **tol(np.float32))
    np.testing.assert_allclose(gx, gxth, **tol(np.float32))


def test_empty_and_scalar_inputs(torch):
    for shape in [(0,), (2, 0, 3), ()]:
        x = sample(shape, np.float64) if shape else np.array(-0.7)
        (y, gx), (yth, gxth) = run_both(torch, "silu", {}, x, np.ones(shape))
        assert y.shape == shape and gx.shape == shape
        np.testing.assert_allclose(y.numpy(), yth, **tol(np.float64))
        np.testing.assert_allclose(gx, gxth, **tol(np.float64))


def test_tensor_methods_use_the_kernels():
    x = tc.tensor(sample((5, 7), np.float32), requires_grad=True)
    np.testing.assert_array_equal(x.relu().numpy(), F.relu(x).numpy())
    np.testing.assert_array_equal(x.sigmoid().numpy(), F.sigmoid(x).numpy())
    np.testing.assert_array_equal(x.tanh().numpy(), F.tanh(x).numpy())
    x.sigmoid().backward(np.ones((5, 7), np.float32))
    s = F.sigmoid(x).numpy()
    np.testing.assert_allclose(x.grad.numpy(), s * (1 - s), rtol=1e-6)


# ------------------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("name,kw", [f for f in FUNCS], ids=IDS)
def test_gradcheck(name, kw):
    x = np.random.default_rng(5).standard_normal((3, 5)) * 3
    for k in KINKS:  # finite differences need a margin around the kinks
        x[np.abs(x - k) < 1e-3] += 0.01
    x[np.abs(x - 1.5) < 0.01] = 1.6  # softplus(beta=2, threshold=3) switches at 1.5
    t = tc.tensor(x, requires_grad=True)
    assert tc.gradcheck(lambda a: getattr(F, name)(a, **kw), [t])


def test_gradcheck_prelu_and_rrelu_training():
    x = tc.tensor(np.random.default_rng(6).standard_normal((2, 3, 4)), requires_grad=True)
    w = tc.tensor(np.array([0.2, -0.5, 1.3]), requires_grad=True)
    assert tc.gradcheck(F.prelu, [x, w])
    w1 = tc.tensor(np.array([0.3]), requires_grad=True)
    assert tc.gradcheck(F.prelu, [x, w1])

    def rrelu_train(a):
        tc.manual_seed(7)  # the same slopes on every call
        return F.rrelu(a, 0.1, 0.6, training=True)

    assert tc.gradcheck(rrelu_train, [x])


# ------------------------------------------------------------------------- threads
@pytest.mark.parametrize("dtype", FLOATS)
def test_one_and_two_threads_identical(dtype):
    x = sample((5, 7, 61, 67), dtype, seed=8)  # 143k elements: parallel, 18 blocks
    g = noise(x.shape, dtype)
    w = np.linspace(-1, 1, 7).astype(dtype)
    before = tc.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            tc.set_num_threads(n)
            out = []
            for name, kw in FUNCS:
                if "softmax" in name:
                    continue
                xt = tc.tensor(x, requires_grad=True)
                y = getattr(F, name)(xt, **kw)
                y.backward(g)
                out += [y.numpy(), xt.grad.numpy()]
            xt = tc.tensor(x, requires_grad=True)
            for wt in (tc.tensor(w, requires_grad=True), tc.tensor(w[:1], requires_grad=True)):
                F.prelu(xt, wt).backward(g)
                out += [wt.grad.numpy()]
            out += [xt.grad.numpy()]
            tc.manual_seed(3)
            xt = tc.tensor(x, requires_grad=True)
            F.rrelu(xt, training=True).backward(g)
            out += [xt.grad.numpy()]
            results.append(out)
    finally:
        tc.set_num_threads(before)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------- derivative masks
MASKED_CASES = [("relu", ()), ("leaky_relu", (0.01,)), ("leaky_relu", (0.0,)),
                ("leaky_relu", (-0.5,)), ("hardtanh", (0.0, 6.0)), ("hardtanh", (-1.0, 2.0)),
                ("threshold", (0.5, 2.0))]


def _mask_levels():
    from tinyconv import _act

    best = _act.mask_level()
    order = ["scalar", "avx2", "avx512"]
    return order[:order.index(best) + 1]


@pytest.mark.parametrize("n", [1, 7, 8, 15, 17, 8191, 8192, 8200, 3 * 8192 + 21])
@pytest.mark.parametrize("kind,params", MASKED_CASES, ids=lambda v: str(v))
def test_masked_backward_equals_the_saved_tensor_backward(kind, params, n):
    """The float32 bit-mask path (relu family) gives exactly the values of the kernels that
    read the saved input/output, at every instruction-set level the CPU runs, with the kinks,
    -0, infinities and NaN in both the input and the upstream gradient, and lengths that are
    not multiples of 8, 16 or the block."""
    from tinyconv import _act

    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    specials = np.array([0, -0.0, np.nan, np.inf, -np.inf, 6, -1, 2, 0.5], np.float32)
    x[rng.integers(0, n, size=min(n, 40))] = rng.choice(specials, size=min(n, 40))
    g = rng.standard_normal(n).astype(np.float32)
    g[rng.integers(0, n, size=min(n, 10))] = rng.choice(
        np.array([np.inf, -np.inf, np.nan], np.float32), size=min(n, 10))
    y_ref = _kernels.activation(kind, x, *params)
    saved = y_ref if kind in _kernels.ACTIVATION_FROM_OUTPUT else x
    gx_ref = _kernels.activation_backward(kind, g, saved, *params)
    try:
        for level in _mask_levels():
            _act.mask_level(level)
            y, mask = _kernels.activation_masked(kind, x, *params)
            assert mask.dtype == np.uint8 and mask.shape == ((n + 7) // 8,)
            np.testing.assert_array_equal(y, y_ref, err_msg=level)
            np.testing.assert_array_equal(
                _kernels.activation_backward_masked(kind, g, mask, *params), gx_ref,
                err_msg=level)
    finally:
        _act.mask_level("best")


def test_masked_path_is_what_autograd_uses():
    """float32 relu saves n/8 bytes for its backward; float64 and no-grad calls save nothing
    of the kind."""
    x = tc.tensor(np.linspace(-2, 2, 64, dtype=np.float32), requires_grad=True)
    y = F.relu(x)
    assert y._node.ctx.masked and y._node.ctx.saved_tensors[0].nbytes == 8
    y.backward(np.ones(64, np.float32))
    np.testing.assert_array_equal(x.grad.numpy(), (x.numpy() > 0).astype(np.float32))
    assert not F.relu(tc.tensor(np.ones(4), requires_grad=True))._node.ctx.masked


def test_show_config_names_the_simd_levels(capsys):
    from tinyconv import _act

    tc.show_config()
    line = [ln for ln in capsys.readouterr().out.splitlines() if "SIMD:" in ln]
    assert line and f"relu-family masks {_act.mask_level()}" in line[0]


def test_mask_level_rejects_unknown_levels():
    from tinyconv import _act

    with pytest.raises(ValueError, match="mask_level: unknown level 'sse9'"):
        _act.mask_level("sse9")
    assert _act.mask_level() == _act.mask_level("best")


# ------------------------------------------------------------------------- PReLU
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,num", [((4, 3, 9, 11), 3), ((4, 3, 9, 11), 1), ((6, 5), 5),
                                       ((2, 4, 7), 4), ((7,), 1), ((), 1), ((3, 2, 5000), 2)])
def test_prelu_matches_torch(shape, num, dtype, torch):
    ours = nn.PReLU(num, dtype=dtype)
    ours.weight.data[...] = np.linspace(-0.5, 0.8, num)
    theirs = torch.nn.PReLU(num).to(torch.float64 if dtype == np.float64 else torch.float32)
    theirs.load_state_dict({k: torch.from_numpy(np.array(v))
                            for k, v in ours.state_dict().items()})
    x = sample(shape, dtype) if shape else np.array(-1.5, dtype)
    g = noise(shape, dtype)
    xt = tc.tensor(x, requires_grad=True)
    xth = torch.tensor(x, requires_grad=True)
    y, yth = ours(xt), theirs(xth)
    y.backward(g)
    yth.backward(torch.from_numpy(g))
    assert y.dtype == dtype and ours.weight.grad.dtype == dtype
    np.testing.assert_allclose(y.numpy(), yth.detach().numpy(), **tol(dtype))
    np.testing.assert_allclose(xt.grad.numpy(), xth.grad.numpy(), **tol(dtype))
    # torch sums the weight gradient in float32; tinyconv in double
    wtol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else tol(dtype)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), **wtol)


def test_prelu_weight_gradient_exact_in_double():
    x = sample((3, 2, 4, 5), np.float64)
    g = noise(x.shape, np.float64)
    w = tc.tensor(np.array([0.1, 0.2]), requires_grad=True)
    F.prelu(tc.tensor(x), w).backward(g)
    expect = np.where(x > 0, 0, x * g).sum(axis=(0, 2, 3))
    np.testing.assert_allclose(w.grad.numpy(), expect, rtol=1e-13)
    assert tc.tensor(x).requires_grad is False  # no input gradient was needed


def test_prelu_module_state_dict_and_init(torch):
    m = nn.PReLU(4, init=0.1)
    assert list(m.state_dict()) == ["weight"]
    assert m.weight.shape == (4,) and m.weight.dtype == np.float32
    np.testing.assert_array_equal(m.weight.numpy(), np.full(4, 0.1, np.float32))
    t = torch.nn.PReLU(4, init=0.1)
    np.testing.assert_array_equal(m.weight.numpy(), t.weight.detach().numpy())
    m.load_state_dict({"weight": np.array([1.0, 2.0, 3.0, 4.0], np.float32)})
    assert m.weight.numpy().tolist() == [1.0, 2.0, 3.0, 4.0]
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    assert nn.PReLU(dtype=tc.float64).weight.dtype == np.float64


# ------------------------------------------------------------------------- RReLU
def test_rrelu_eval_is_leaky_relu_with_the_mean_slope(torch):
    m = nn.RReLU(0.1, 0.3)
    m.eval()
    x = sample((4, 6), np.float32)
    y = m(tc.tensor(x))
    expect = torch.nn.functional.leaky_relu(torch.from_numpy(x), 0.2).numpy()
    np.testing.assert_array_equal(y.numpy(), expect)


@pytest.mark.parametrize("dtype", FLOATS)
def test_rrelu_training_slopes_and_gradient(dtype):
    lower, upper = 0.1, 0.4
    m = nn.RReLU(lower, upper)
    assert m.training
    x = sample((50, 400), dtype)
    x.reshape(-1)[:3] = [0.0, -0.0, np.nan]
    g = noise(x.shape, dtype)
    tc.manual_seed(11)
    xt = tc.tensor(x, requires_grad=True)
    y = m(xt)
    y.backward(g)
    y, gx = y.numpy(), xt.grad.numpy()
    neg = x < 0
    slope = y[neg] / x[neg]
    eps = np.finfo(dtype).eps * 4
    assert slope.min() >= dtype(lower) * (1 - eps) and slope.max() <= dtype(upper) * (1 + eps)
    assert slope.std() > 0.05 and abs(slope.mean() - 0.25) < 0.01  # U(0.1, 0.4) per element
    np.testing.assert_allclose(gx[neg], g[neg] * slope, rtol=eps)  # the slope used
    pos = x > 0
    np.testing.assert_array_equal(y[pos], x[pos])
    np.testing.assert_array_equal(gx[pos], g[pos])
    # x == 0 takes a random slope too (PyTorch's x <= 0 branch); NaN passes through
    assert lower <= gx.reshape(-1)[0] / g.reshape(-1)[0] <= upper
    assert np.isnan(y.reshape(-1)[2]) and gx.reshape(-1)[2] == g.reshape(-1)[2]
    # the same seed gives the same slopes, another seed others
    tc.manual_seed(11)
    np.testing.assert_array_equal(m(tc.tensor(x)).numpy(), y)
    tc.manual_seed(12)
    assert not np.array_equal(m(tc.tensor(x)).numpy()[neg], y[neg])


def test_rrelu_equal_bounds_is_a_fixed_slope():
    x = tc.tensor(np.array([-2.0, 3.0]), requires_grad=True)
    y = F.rrelu(x, 0.25, 0.25, training=True)
    assert y.numpy().tolist() == [-0.5, 3.0]


# ------------------------------------------------------------------------- modules
# (torch-style constructor call, as a string evaluated against either nn namespace)
MODULES = [
    "ReLU()", "ReLU(inplace=True)", "ReLU6()", "ReLU6(True)", "LeakyReLU()",
    "LeakyReLU(0.2, True)", "PReLU()", "PReLU(3, 0.1)", "RReLU()", "RReLU(0.1, 0.3, True)",
    "ELU()", "ELU(2.0, True)", "SELU()", "SELU(True)", "CELU()", "CELU(2.0, True)", "GELU()",
    "GELU('tanh')", "SiLU()", "SiLU(True)", "Mish()", "Mish(True)", "Sigmoid()", "Tanh()",
    "Softplus()", "Softplus(2, 10)", "Softsign()", "Hardtanh()", "Hardtanh(-2, 3, True)",
    "Hardsigmoid()", "Hardsigmoid(True)", "Hardswish()", "Hardswish(True)",
    "Threshold(0.1, 20)", "Threshold(0.1, 20, True)", "Softmax(1)", "LogSoftmax()",
    "LogSoftmax(dim=0)",
]


@pytest.mark.parametrize("expr", MODULES)
def test_module_repr_matches_torch(expr, torch):
    assert repr(eval("nn." + expr)) == repr(eval("torch.nn." + expr))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("expr", [m for m in MODULES if "Softmax" not in m])
def test_module_matches_torch(expr, dtype, torch):
    ours = eval("nn." + expr)
    theirs = eval("torch.nn." + expr)
    ours.eval()  # RReLU: the deterministic mode
    theirs.eval()
    if isinstance(ours, nn.PReLU):
        ours.weight.data[...] = np.linspace(-0.3, 0.9, ours.num_parameters)
        theirs.load_state_dict({"weight": torch.from_numpy(ours.weight.numpy().copy())})
        ours = ours.double() if dtype == np.float64 else ours
        theirs = theirs.double() if dtype == np.float64 else theirs
    x = sample((2, 3, 5, 7), dtype)
    g = noise(x.shape, dtype)
    xt, xth = tc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yth = ours(xt), theirs(xth * 1)  # torch's inplace=True needs a non-leaf
    y.backward(g)
    yth.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y.numpy(), yth.detach().numpy(), **tol(dtype))
    name = type(ours).__name__.lower()
    np.testing.assert_allclose(xt.grad.numpy(), xth.grad.numpy(), **grad_tol(name, dtype))


def test_every_torch_activation_name_exists():
    for name in ["relu", "relu6", "leaky_relu", "prelu", "rrelu", "elu", "selu", "celu", "gelu",
                 "silu", "mish", "sigmoid", "tanh", "softplus", "softsign", "hardtanh",
                 "hardsigmoid", "hardswish", "threshold", "softmax", "log_softmax"]:
        assert callable(getattr(F, name)) and name in F.__all__
    for name in ["ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU", "CELU", "GELU",
                 "SiLU", "Mish", "Sigmoid", "Tanh", "Softplus", "Softsign", "Hardtanh",
                 "Hardsigmoid", "Hardswish", "Threshold", "Softmax", "LogSoftmax"]:
        assert issubclass(getattr(nn, name), nn.Module) and name in nn.__all__


# ------------------------------------------------------------------------- errors
def _x(*shape, dtype=np.float32):
    return tc.tensor(np.ones(shape, dtype))


ERRORS = [
    (lambda: nn.PReLU(0), ValueError, r"PReLU: num_parameters must be positive, got 0"),
    (lambda: nn.PReLU(2.5), TypeError, r"PReLU: num_parameters must be an int, got 2.5"),
    (lambda: nn.PReLU(3, init="a"), TypeError, r"PReLU: init must be a number, got 'a'"),
    (lambda: nn.PReLU(3)(_x(2, 4, 5)), ValueError,
     r"prelu: weight has 3 parameters but the input has 4 channels \(dim 1 of input "
     r"\(2, 4, 5\); 1 below 2-D\), and there must be 1 parameter or one per channel"),
    (lambda: F.prelu(_x(3), _x(3)), ValueError,
     r"prelu: weight has 3 parameters but the input has 1 channels \(dim 1 of input \(3,\)"),
    (lambda: F.prelu(_x(2, 3), _x(1, 3)), ValueError,
     r"prelu: weight must be a scalar or 1-D tensor, got shape \(1, 3\)"),
    (lambda: F.prelu(_x(2, 3), _x(3, dtype=np.float64)), TypeError,
     r"prelu: input is float32 but weight is float64"),
    (lambda: F.prelu(_x(2, 3), np.ones(3)), TypeError,
     r"prelu: weight must be a Tensor, got ndarray"),
    (lambda: nn.RReLU(0.5, 0.1), ValueError,
     r"RReLU: lower bound \(0.5\) must be less than or equal to the upper bound \(0.1\)"),
    (lambda: F.rrelu(_x(3), 0.5, 0.1, training=True), ValueError,
     r"rrelu: lower bound \(0.5\) must be less than or equal to the upper bound \(0.1\)"),
    (lambda: F.rrelu(_x(3), 0.5, float("nan")), ValueError,
     r"rrelu: lower bound \(0.5\) must be less than or equal to the upper bound \(nan\)"),
    (lambda: nn.CELU(0), ValueError, r"CELU: alpha cannot be 0 \(celu divides by it\)"),
    (lambda: F.celu(_x(3), 0.0), ValueError, r"celu: alpha cannot be 0"),
    (lambda: nn.Softplus(beta=0), ValueError, r"Softplus: beta cannot be 0"),
    (lambda: F.softplus(_x(3), 0), ValueError, r"softplus: beta cannot be 0"),
    (lambda: F.softplus(_x(3), 1, None), TypeError,
     r"softplus: threshold must be a number, got NoneType"),
    (lambda: nn.Hardtanh(2, 1), ValueError,
     r"Hardtanh: min_val \(2\) cannot be greater than max_val \(1\)"),
    (lambda: F.hardtanh(_x(3), 2, 1), ValueError,
     r"hardtanh: min_val \(2.0\) cannot be greater than max_val \(1.0\)"),
    (lambda: nn.LeakyReLU("a"), TypeError, r"LeakyReLU: negative_slope must be a number"),
    (lambda: F.leaky_relu(_x(3), "a"), TypeError,
     r"leaky_relu: negative_slope must be a number, got str"),
    (lambda: F.elu(_x(3), True), TypeError, r"elu: alpha must be a number, got bool"),
    (lambda: nn.Threshold(0.1, None), TypeError, r"Threshold: value must be a number"),
    (lambda: F.threshold(_x(3), "0", 1), TypeError, r"threshold: threshold must be a number"),
    (lambda: nn.Softplus(threshold="x"), TypeError, r"Softplus: threshold must be a number"),
    (lambda: nn.GELU("erf"), ValueError, r"GELU: approximate must be 'none' or 'tanh'"),
    (lambda: F.sigmoid(tc.tensor([1, 2])), TypeError,
     r"sigmoid: input must be float32 or float64, got int64"),
    (lambda: F.mish(np.ones(3)), TypeError, r"mish: input must be a Tensor, got ndarray"),
    (lambda: tc.tensor([1, 2]).relu(), TypeError,
     r"relu: input must be float32 or float64, got int64"),
    # the kernel wrappers' own guards
    (lambda: _kernels.activation("swish", np.ones(3)), ValueError,
     r"activation: unknown kind 'swish'"),
    (lambda: _kernels.activation("mul", np.ones(3)), ValueError,
     r"activation: 'mul' exists only as a backward"),
    (lambda: _kernels.activation("relu", np.ones(3, np.int32)), TypeError,
     r"relu: x must be float32 or float64, got int32"),
    (lambda: _kernels.activation_backward("gelu", np.ones(3), np.ones(4)), ValueError,
     r"gelu_backward: grad_out has shape \(3,\) but saved has shape \(4,\)"),
    (lambda: _kernels.activation_backward("gelu", np.ones(3), np.ones(3, np.float32)),
     TypeError, r"gelu_backward: grad_out is float64 but saved is float32"),
    (lambda: _kernels.activation_masked("gelu", np.ones(3, np.float32)), ValueError,
     r"activation_masked: 'gelu' has no derivative mask"),
    (lambda: _kernels.activation_masked("relu", np.ones(3)), TypeError,
     r"activation_masked: x must be float32, got float64"),
    (lambda: _kernels.activation_backward_masked("relu", np.ones(9, np.float32),
                                                 np.ones(1, np.uint8)), ValueError,
     r"relu_backward: mask must be a contiguous uint8 array of 2 bytes for grad_out of shape"),
    (lambda: _kernels.prelu(np.ones((2, 3)), np.ones(0)), ValueError,
     r"prelu: weight is empty"),
    (lambda: _kernels.prelu(np.ones((2, 3)), np.ones(2)), ValueError,
     r"prelu: weight has 2 entries but x \(2, 3\) has 3 channels \(dim 1\)"),
    (lambda: _kernels.prelu_backward(np.ones((2, 3)), np.ones((3, 2)), np.ones(1)), ValueError,
     r"prelu_backward: grad_out has shape \(2, 3\) but x has shape \(3, 2\)"),
    (lambda: _kernels.rrelu_train(np.ones(3), np.ones(2), 0.1, 0.2), ValueError,
     r"rrelu: u has shape \(2,\) but x has shape \(3,\)"),
    (lambda: _kernels.rrelu_train(np.ones(3), np.ones(3), 0.3, 0.2), ValueError,
     r"rrelu: lower \(0.3\) must not exceed upper \(0.2\)"),
]


@pytest.mark.parametrize("call,exc,pattern", ERRORS)
def test_errors(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_kernel_wrapper_keeps_u_of_a_readonly_or_aliased_buffer():
    x = -np.ones(4)
    u = np.full(4, 0.5)
    u.flags.writeable = False
    y, slopes = _kernels.rrelu_train(x, u, 0.0, 1.0)
    assert y.tolist() == [-0.5] * 4 and slopes.tolist() == [0.5] * 4
    assert u.tolist() == [0.5] * 4
