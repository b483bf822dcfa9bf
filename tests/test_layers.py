"""Tests of the normalisation, upsampling, padding and loss layers (and their functional forms).

Every layer is compared with PyTorch after copying tinyconv's parameters into the PyTorch layer
through ``load_state_dict`` (so the state_dict keys must agree): forward output, input gradient
and every parameter gradient, with a random upstream gradient, in float32 and float64. Gradients
are also checked by finite differences in float64, and every error message has a test.
"""

import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv import nn

FLOATS = [np.float32, np.float64]


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch (the test oracle) is not installed")


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-10)


def rand(shape, dtype=np.float64, seed=0, scale=1.0):
    return np.asarray(np.random.default_rng(seed).standard_normal(shape) * scale, dtype=dtype)


def _t(a, grad=True):
    return tc.tensor(a, requires_grad=grad)


def copy_into_torch(torch, ours, theirs):
    """Load our state_dict into the torch module (strict: the keys must agree)."""
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in
                            ours.state_dict().items()})


def cast_module(m, dtype):
    return m.double() if dtype == np.float64 else m.float()


def compare_module(torch, ours, theirs, x, dtype, seed=1):
    """Forward + input/parameter gradients of ``ours`` vs ``theirs`` on array ``x``."""
    xt = tc.tensor(x, requires_grad=True)
    xth = torch.tensor(x, requires_grad=True)
    y = ours(xt)
    yth = theirs(xth)
    assert y.dtype == dtype
    assert y.shape == tuple(yth.shape)
    np.testing.assert_allclose(y.numpy(), yth.detach().numpy(), **tol(dtype))
    g = rand(y.shape, dtype, seed)
    y.backward(g)
    yth.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xt.grad.numpy(), xth.grad.numpy(), **tol(dtype),
                               err_msg="input gradient")
    theirs_p = dict(theirs.named_parameters())
    assert sorted(theirs_p) == sorted(n for n, _ in ours.named_parameters())
    for name, p in ours.named_parameters():
        assert p.grad is not None, name
        assert p.grad.dtype == dtype
        np.testing.assert_allclose(p.grad.numpy(), theirs_p[name].grad.numpy(), **tol(dtype),
                                   err_msg=f"gradient of {name}")
    return y


# (id, builder taking the nn namespace (ours or torch's), input shape, input scale)
LAYERS = [
    ("lrn-alexnet", lambda nn: nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
     (2, 7, 4, 3), 30),
    ("lrn-3d-input", lambda nn: nn.LocalResponseNorm(3, alpha=0.5), (2, 6, 5), 1),
    ("lrn-even-size", lambda nn: nn.LocalResponseNorm(2, alpha=1.0, beta=0.5, k=0.5),
     (2, 5, 3, 2), 1),
    ("lrn-size-1", lambda nn: nn.LocalResponseNorm(1, alpha=2.0, beta=1.0), (2, 3, 4), 1),
    ("lrn-wider-than-channels", lambda nn: nn.LocalResponseNorm(8, alpha=3.0, beta=0.9),
     (2, 3, 2, 2), 1),
    ("lrn-5d", lambda nn: nn.LocalResponseNorm(4, alpha=1.0), (1, 6, 2, 3, 2), 1),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("spec", LAYERS, ids=[s[0] for s in LAYERS])
def test_layer_matches_torch(spec, dtype, torch):
    _, build, shape, scale = spec
    tc.manual_seed(0)
    ours = cast_module(build(nn), dtype)
    theirs = cast_module(build(torch.nn), dtype)
    copy_into_torch(torch, ours, theirs)
    compare_module(torch, ours, theirs, rand(shape, dtype, scale=scale), dtype)


@pytest.mark.parametrize("spec", LAYERS, ids=[s[0] for s in LAYERS])
def test_layer_repr_and_state_keys_match_torch(spec, torch):
    _, build, _, _ = spec
    ours, theirs = build(nn), build(torch.nn)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for (k, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        assert a.shape == tuple(b.shape), k
        assert a.dtype == b.numpy().dtype, k


# ------------------------------------------------------------------ local response norm
def test_local_response_norm_window_by_hand():
    # One nonzero channel: it enters the divisor of channels [c - (size-1)//2, c + size//2].
    x = np.zeros((1, 6, 1), np.float64)
    x[0, 2, 0] = 2.0
    ones = np.ones((1, 6, 1))
    y = F.local_response_norm(tc.tensor(x + ones), size=4, alpha=4.0, beta=1.0, k=1.0).numpy()
    sq = (x + ones)[0, :, 0] ** 2
    want = [(x + ones)[0, c, 0] / (1 + sum(sq[j] for j in range(c - 2, c + 2) if 0 <= j < 6))
            for c in range(6)]
    np.testing.assert_allclose(y[0, :, 0], want, rtol=1e-12)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 9])
@pytest.mark.parametrize("shape", [(2, 5, 3), (2, 4, 2, 3)])
def test_gradcheck_local_response_norm(size, shape):
    x = _t(rand(shape, scale=1.5))
    assert tc.gradcheck(lambda x: F.local_response_norm(x, size, alpha=0.7, beta=0.8, k=1.5),
                        [x])


def test_local_response_norm_empty_input_and_dtype():
    x = tc.zeros(0, 3, 4)
    assert F.local_response_norm(x, 3).shape == (0, 3, 4)
    assert F.local_response_norm(tc.ones(2, 3, 4), 3).dtype == np.float32


# ------------------------------------------------------------------------ error messages
def _x(*shape, dtype=np.float32):
    return tc.tensor(rand(shape, dtype))


ERRORS = [
    (lambda: nn.LocalResponseNorm(0), ValueError,
     r"LocalResponseNorm: size must be positive, got 0"),
    (lambda: nn.LocalResponseNorm(2.5), TypeError,
     r"LocalResponseNorm: size must be an int, got 2.5"),
    (lambda: nn.LocalResponseNorm(3, alpha="a"), TypeError,
     r"LocalResponseNorm: alpha must be a float, got 'a'"),
    (lambda: F.local_response_norm(_x(2, 3), 2), ValueError,
     r"local_response_norm: expected 3D or higher dimensionality input \(got 2 dimensions, "
     r"shape \(2, 3\)\)"),
    (lambda: F.local_response_norm(_x(2, 3, 4), -1), ValueError,
     r"local_response_norm: size must be positive, got -1"),
    (lambda: F.local_response_norm(_x(2, 3, 4), 3, k=None), TypeError,
     r"local_response_norm: k must be a float, got None"),
    (lambda: F.local_response_norm(tc.tensor(np.ones((2, 3, 4), np.int64)), 3), TypeError,
     r"local_response_norm: input must be float32 or float64, got int64"),
]


@pytest.mark.parametrize("call,exc,msg", ERRORS, ids=[e[2][:60] for e in ERRORS])
def test_errors(call, exc, msg):
    with pytest.raises(exc, match="^" + msg):
        call()
