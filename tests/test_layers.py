"""Tests of the normalisation, upsampling, padding and loss layers (and their functional forms).

Every layer is compared with PyTorch after copying tinyconv's parameters into the PyTorch layer
through ``load_state_dict`` (so the state_dict keys must agree): forward output, input gradient
and every parameter gradient, with a random upstream gradient, in float32 and float64. Gradients
are also checked by finite differences in float64, and every error message has a test.
"""

import warnings

import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv import _kernels as K
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
    ("layernorm", lambda nn: nn.LayerNorm(5), (4, 5), 2),
    ("layernorm-2d-shape", lambda nn: nn.LayerNorm((4, 3), eps=1e-3), (2, 3, 4, 3), 2),
    ("layernorm-noaffine", lambda nn: nn.LayerNorm([6], elementwise_affine=False), (3, 2, 6), 2),
    ("layernorm-nobias", lambda nn: nn.LayerNorm(6, bias=False), (3, 6), 2),
    ("groupnorm", lambda nn: nn.GroupNorm(3, 6), (2, 6, 4, 3), 2),
    ("groupnorm-one-group", lambda nn: nn.GroupNorm(1, 4, eps=1e-3), (3, 4, 5), 2),
    ("groupnorm-instance", lambda nn: nn.GroupNorm(4, 4), (2, 4, 3, 3), 2),
    ("groupnorm-2d-input", lambda nn: nn.GroupNorm(2, 6), (3, 6), 2),
    ("groupnorm-noaffine", lambda nn: nn.GroupNorm(2, 4, affine=False), (2, 4, 3), 2),
    ("groupnorm-nobias", lambda nn: nn.GroupNorm(2, 4, bias=False), (2, 4, 2, 2, 2), 2),
    ("upsample-nearest1d-2.5", lambda nn: nn.Upsample(scale_factor=2.5), (2, 3, 5), 1),
    ("upsample-nearest2d-size", lambda nn: nn.Upsample(size=(7, 5)), (2, 3, 4, 3), 1),
    ("upsample-nearest3d", lambda nn: nn.Upsample(scale_factor=(1.5, 2, 0.7)), (1, 2, 3, 2, 5), 1),
    ("upsample-linear-corners", lambda nn: nn.Upsample(9, mode="linear", align_corners=True),
     (2, 3, 4), 1),
    ("upsample-bilinear-1.7", lambda nn: nn.Upsample(scale_factor=1.7, mode="bilinear"),
     (2, 2, 4, 5), 1),
    ("upsample-bilinear-recompute", lambda nn: nn.Upsample(
        scale_factor=(1.7, 0.6), mode="bilinear", recompute_scale_factor=True), (2, 2, 4, 5), 1),
    ("upsample-trilinear", lambda nn: nn.Upsample(size=(3, 4, 2), mode="trilinear"),
     (1, 2, 2, 3, 4), 1),
    ("upsample-area", lambda nn: nn.Upsample(size=(3, 2), mode="area"), (2, 2, 7, 5), 1),
    ("upsampling-nearest2d", lambda nn: nn.UpsamplingNearest2d(scale_factor=2), (2, 2, 3, 4), 1),
    ("upsampling-bilinear2d", lambda nn: nn.UpsamplingBilinear2d(size=(5, 7)), (2, 2, 3, 4), 1),
    ("zeropad1d", lambda nn: nn.ZeroPad1d((2, 1)), (2, 3, 4), 1),
    ("zeropad2d", lambda nn: nn.ZeroPad2d((1, 0, 2, 3)), (2, 3, 4, 3), 1),
    ("zeropad2d-crop", lambda nn: nn.ZeroPad2d((-1, 2, 0, -2)), (3, 4, 5), 1),
    ("zeropad3d", lambda nn: nn.ZeroPad3d(1), (1, 2, 2, 3, 2), 1),
    ("constantpad1d", lambda nn: nn.ConstantPad1d(2, 3.5), (2, 3, 4), 1),
    ("constantpad2d", lambda nn: nn.ConstantPad2d((1, 2, 0, 1), -1.0), (2, 3, 2, 2), 1),
    ("constantpad3d", lambda nn: nn.ConstantPad3d((1, 0, 0, 2, 1, 1), 0.5), (2, 2, 2, 2), 1),
    ("reflectionpad1d", lambda nn: nn.ReflectionPad1d((3, 1)), (2, 3, 5), 1),
    ("reflectionpad2d", lambda nn: nn.ReflectionPad2d((1, 2, 2, 0)), (2, 2, 3, 4), 1),
    ("reflectionpad3d", lambda nn: nn.ReflectionPad3d(1), (2, 2, 3, 2, 3), 1),
    ("replicationpad1d", lambda nn: nn.ReplicationPad1d((0, 4)), (3, 4), 1),
    ("replicationpad2d", lambda nn: nn.ReplicationPad2d(2), (2, 2, 3, 2), 1),
    ("replicationpad3d", lambda nn: nn.ReplicationPad3d((1, 2, 0, 1, 2, 0)), (1, 2, 2, 3, 2), 1),
    ("circularpad1d", lambda nn: nn.CircularPad1d((2, 3)), (2, 3, 4), 1),
    ("circularpad2d", lambda nn: nn.CircularPad2d((1, 2, 3, 0)), (2, 2, 3, 4), 1),
    ("circularpad3d", lambda nn: nn.CircularPad3d(1), (2, 2, 3, 2), 1),
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
    for i, p in enumerate(ours.parameters()):  # not the ones/zeros PyTorch starts from
        p.data[...] = rand(p.shape, dtype, seed=100 + i)
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


# --------------------------------------------------------------- layer and group norm
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
def test_gradcheck_layer_norm(affine):
    x = _t(rand((3, 2, 4), scale=2) + 1)
    w = _t(rand((2, 4), seed=1)) if affine in ("both", "weight") else None
    b = _t(rand((2, 4), seed=2)) if affine in ("both", "bias") else None
    params = [p for p in (w, b) if p is not None]

    def fn(x, *ps):
        it = iter(ps)
        return F.layer_norm(x, (2, 4), next(it) if w is not None else None,
                            next(it) if b is not None else None, eps=1e-3)

    assert tc.gradcheck(fn, [x] + params)


@pytest.mark.parametrize("groups", [1, 2, 4])
@pytest.mark.parametrize("shape", [(3, 4), (2, 4, 3), (2, 4, 2, 3)])
def test_gradcheck_group_norm(groups, shape):
    x = _t(rand(shape, scale=2) - 1)
    w, b = _t(rand((4,), seed=1)), _t(rand((4,), seed=2))
    assert tc.gradcheck(lambda x, w, b: F.group_norm(x, groups, w, b, eps=1e-3), [x, w, b])
    assert tc.gradcheck(lambda x: F.group_norm(x, groups), [x])


@pytest.mark.parametrize("dtype", FLOATS)
def test_layer_and_group_norm_functional_match_torch(dtype, torch):
    x = rand((2, 6, 3, 4), dtype, scale=3) + 2
    w, b = rand((3, 4), dtype, seed=1), rand((3, 4), dtype, seed=2)
    ours = F.layer_norm(tc.tensor(x), [3, 4], tc.tensor(w), tc.tensor(b), 1e-2)
    theirs = torch.nn.functional.layer_norm(torch.tensor(x), [3, 4], torch.tensor(w),
                                            torch.tensor(b), 1e-2)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), **tol(dtype))
    w, b = rand((6,), dtype, seed=1), rand((6,), dtype, seed=2)
    ours = F.group_norm(tc.tensor(x), 3, tc.tensor(w), tc.tensor(b), 1e-2)
    theirs = torch.nn.functional.group_norm(torch.tensor(x), 3, torch.tensor(w), torch.tensor(b),
                                            1e-2)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), **tol(dtype))


def test_layer_norm_normalises_rows_and_keeps_constant_rows_finite():
    x = np.concatenate([rand((3, 8), scale=5) + 7, np.full((1, 8), 3.0)])
    y = F.layer_norm(tc.tensor(x), 8, eps=0.0 + 1e-12).numpy()
    np.testing.assert_allclose(y[:3].mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(y[:3].var(axis=1), 1, rtol=1e-9)
    assert np.array_equal(y[3], np.zeros(8))
    assert nn.LayerNorm(4)(tc.zeros(0, 4)).shape == (0, 4)


# ------------------------------------------------------------------------ interpolate
def _random_interp_case(rng, mode, nd):
    spatial = tuple(int(v) for v in rng.integers(1, 8, nd))
    kw = {}
    if rng.random() < 0.5:
        kw["size"] = tuple(int(v) for v in rng.integers(1, 12, nd))
    else:
        sf = tuple(float(rng.choice([0.5, 0.7, 1.3, 1.5, 2.0, 2.5, 3.0, 1 / 3, 0.37, 2.2]))
                   for _ in range(nd))
        if any(int(n * f) < 1 for n, f in zip(spatial, sf)):
            kw["size"] = spatial
        else:
            kw["scale_factor"] = sf
            if rng.random() < 0.3:
                kw["recompute_scale_factor"] = True
    if mode in ("linear", "bilinear", "trilinear"):
        kw["align_corners"] = bool(rng.random() < 0.5)
    return spatial, kw


def _torch_grad_is_adjoint(spatial, out, kw, mode, dtype):
    """False where PyTorch's nearest backward is not the adjoint of its forward (see interp.py)."""
    if mode != "nearest":
        return True
    from tinyconv.ops.interp import _nearest_map
    given = "scale_factor" in kw and not kw.get("recompute_scale_factor")
    for n, o, s in zip(spatial, out, kw.get("scale_factor", (None,) * len(spatial))):
        if len(spatial) != 2 and given and o in (n, 2 * n):
            return False
        if dtype == np.float64:
            s = s if given else None
            a = _nearest_map(n, o, s, len(spatial), np.dtype(np.float32))[0][0]
            b = _nearest_map(n, o, s, len(spatial), np.dtype(np.float64))[0][0]
            if not np.array_equal(a, b):
                return False
    return True


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mode,nd", [("nearest", 1), ("nearest", 2), ("nearest", 3),
                                     ("linear", 1), ("bilinear", 2), ("trilinear", 3),
                                     ("area", 1), ("area", 2)])
def test_interpolate_random_cases_match_torch(mode, nd, dtype, torch):
    rng = np.random.default_rng(nd * 7 + len(mode))
    for _ in range(40):
        spatial, kw = _random_interp_case(rng, mode, nd)
        x = rand((2, 2) + spatial, dtype, seed=int(rng.integers(1000)))
        xt, xth = tc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y = F.interpolate(xt, mode=mode, **kw)
        yth = torch.nn.functional.interpolate(xth, mode=mode, **kw)
        assert y.shape == tuple(yth.shape), (spatial, kw)
        assert y.dtype == dtype
        np.testing.assert_allclose(y.numpy(), yth.detach().numpy(), **tol(dtype),
                                   err_msg=f"{spatial} {kw}")
        g = rand(y.shape, dtype, seed=3)
        y.backward(g)
        yth.backward(torch.from_numpy(g))
        if _torch_grad_is_adjoint(spatial, y.shape[2:], kw, mode, dtype):
            np.testing.assert_allclose(xt.grad.numpy(), xth.grad.numpy(), **tol(dtype),
                                       err_msg=f"gradient {spatial} {kw}")


@pytest.mark.parametrize("dtype", FLOATS)
def test_interpolate_long_1d_index_rules_match_torch(dtype, torch):
    # Many sizes and awkward ratios in 1-D, where float rounding of o * scale decides indices.
    rng = np.random.default_rng(4)
    for mode in ("nearest", "linear"):
        for trial in range(150):
            n = int(rng.integers(1, 70))
            x = np.arange(n, dtype=dtype).reshape(1, 1, n) + 1
            if trial % 2:
                kw = {"size": int(rng.integers(1, 150))}
            else:
                kw = {"scale_factor": float(rng.integers(1, 40)) / float(rng.integers(1, 40))}
                if int(n * kw["scale_factor"]) < 1:
                    continue
            if mode == "linear":
                kw["align_corners"] = bool(trial % 3 == 0)
            y = F.interpolate(tc.tensor(x), mode=mode, **kw).numpy()
            yth = torch.nn.functional.interpolate(torch.tensor(x), mode=mode, **kw).numpy()
            np.testing.assert_allclose(y, yth, **tol(dtype), err_msg=f"{mode} {n} {kw}")


def test_interpolate_uses_given_scale_factor_in_the_mapping(torch):
    x = np.arange(12, dtype=np.float32).reshape(1, 1, 12) ** 2
    # floor(12 * 0.55) = 6 outputs: step 1/0.55 (given) differs from 12/6 = 2 (recomputed).
    given = F.interpolate(tc.tensor(x), scale_factor=0.55, mode="linear").numpy()
    recomputed = F.interpolate(tc.tensor(x), scale_factor=0.55, mode="linear",
                               recompute_scale_factor=True).numpy()
    assert not np.allclose(given, recomputed)
    for kw, ours in (({}, given), ({"recompute_scale_factor": True}, recomputed)):
        theirs = torch.nn.functional.interpolate(torch.tensor(x), scale_factor=0.55,
                                                 mode="linear", **kw).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    # nearest: 5 * 1.3 -> 6 outputs, indices floor(o / 1.3) = 0 0 1 2 3 3.
    y = F.interpolate(tc.tensor(np.arange(5.0).reshape(1, 1, 5)), scale_factor=1.3)
    assert y.numpy().ravel().tolist() == [0, 0, 1, 2, 3, 3]


def test_interpolate_nearest_backward_is_the_adjoint_where_torch_is_not(torch):
    # 1-D, 1.3 on size 3: PyTorch's forward picks floor(o / 1.3) = 0 0 1, but its backward
    # routes the gradient as if it were the identity. Ours is the true gradient.
    x = tc.tensor(np.zeros((1, 1, 3)), requires_grad=True)
    y = F.interpolate(x, scale_factor=1.3)
    assert y.shape == (1, 1, 3)
    y.backward(np.array([[[1.0, 2.0, 3.0]]]))
    assert x.grad.numpy().ravel().tolist() == [3.0, 3.0, 0.0]
    xth = torch.zeros(1, 1, 3, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.interpolate(xth, scale_factor=1.3).backward(
        torch.tensor([[[1.0, 2.0, 3.0]]], dtype=torch.float64))
    assert xth.grad.numpy().ravel().tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("mode,shape,kw", [
    ("nearest", (2, 2, 5), {"scale_factor": 1.7}),
    ("nearest", (1, 2, 3, 4), {"size": (5, 3)}),
    ("nearest", (1, 1, 2, 3, 2), {"scale_factor": (2, 1.5, 0.5)}),
    ("linear", (2, 2, 5), {"size": 8, "align_corners": True}),
    ("linear", (2, 2, 6), {"scale_factor": 0.6}),
    ("bilinear", (1, 2, 3, 4), {"scale_factor": (1.5, 2.3)}),
    ("bilinear", (1, 2, 4, 3), {"size": (2, 7), "align_corners": True}),
    ("trilinear", (1, 1, 2, 3, 2), {"size": (3, 2, 4)}),
    ("area", (1, 2, 5, 4), {"size": (2, 3)}),
])
def test_gradcheck_interpolate(mode, shape, kw):
    assert tc.gradcheck(lambda x: F.interpolate(x, mode=mode, **kw), [_t(rand(shape))])


def test_interpolate_keeps_dtype_and_copies_identity():
    x = tc.ones(1, 2, 3, 4)
    y = F.interpolate(x, size=(3, 4))
    assert y.dtype == np.float32 and np.array_equal(y.numpy(), x.numpy())
    y.numpy()[...] = 5
    assert x.numpy().max() == 1
    assert F.interpolate(tc.ones(1, 1, 4, dtype=tc.float64), scale_factor=2,
                         mode="linear").dtype == np.float64


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_interpolate_same_result_with_one_and_two_threads(mode):
    x = _t(rand((4, 8, 33, 30), np.float32, scale=3))
    g = rand((4, 8, 50, 71), np.float32, seed=1)
    results = []
    before = tc.get_num_threads()
    try:
        for n in (1, 2):
            tc.set_num_threads(n)
            x.grad = None
            y = F.interpolate(x, size=(50, 71), mode=mode)
            y.backward(g)
            results.append((y.numpy().copy(), x.grad.numpy().copy()))
    finally:
        tc.set_num_threads(before)
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1])


def test_interpolate_nearest_keeps_infinities_in_place():
    x = np.zeros((1, 1, 2, 3), np.float32)
    x[0, 0, 1, 2] = np.inf
    y = F.interpolate(tc.tensor(x), scale_factor=2).numpy()
    assert np.isinf(y).sum() == 4 and not np.isnan(y).any()


def test_upsample_falsy_scale_factor_means_not_given_like_torch(torch):
    ours, theirs = nn.Upsample(scale_factor=0), torch.nn.Upsample(scale_factor=0)
    assert ours.scale_factor is None and theirs.scale_factor is None
    assert repr(ours) == repr(theirs)
    with pytest.raises(ValueError, match="interpolate: either size or scale_factor"):
        ours(tc.ones(1, 1, 2))


# ---------------------------------------------------------------------------- losses
def _probs(shape, dtype, seed):
    return np.random.default_rng(seed).uniform(0.02, 0.98, shape).astype(dtype)


def _targets01(shape, dtype, seed):
    t = np.random.default_rng(seed).uniform(0, 1, shape)
    t.reshape(-1)[::3] = 1.0  # hard labels mixed with soft ones
    t.reshape(-1)[1::4] = 0.0
    return t.astype(dtype)


def _log_probs(shape, dtype, seed):
    x = rand(shape, np.float64, seed)
    return (x - np.log(np.exp(x).sum(axis=-1, keepdims=True))).astype(dtype)


# (id, (our fn, torch fn) builder from a namespace, input maker, target maker, kwargs maker)
LOSSES = [
    ("smooth_l1", "smooth_l1_loss", lambda d: rand((4, 5), d, 1, 2), lambda d: rand((4, 5), d, 2),
     lambda lib, d: {}),
    ("smooth_l1-beta", "smooth_l1_loss", lambda d: rand((3, 2, 4), d, 1, 2),
     lambda d: rand((3, 2, 4), d, 2), lambda lib, d: {"beta": 0.4}),
    ("smooth_l1-beta0", "smooth_l1_loss", lambda d: rand((4, 5), d, 1, 2),
     lambda d: rand((4, 5), d, 2), lambda lib, d: {"beta": 0.0}),
    ("huber", "huber_loss", lambda d: rand((4, 5), d, 1, 2), lambda d: rand((4, 5), d, 2),
     lambda lib, d: {}),
    ("huber-delta", "huber_loss", lambda d: rand((3, 2, 4), d, 1, 2),
     lambda d: rand((3, 2, 4), d, 2), lambda lib, d: {"delta": 0.3}),
    ("huber-weight", "huber_loss", lambda d: rand((4, 5), d, 1, 2), lambda d: rand((4, 5), d, 2),
     lambda lib, d: {"delta": 1.5, "weight": lib.tensor(np.abs(rand((4, 5), d, 9)))}),
    ("bce", "binary_cross_entropy", lambda d: _probs((4, 5), d, 1),
     lambda d: _targets01((4, 5), d, 2), lambda lib, d: {}),
    ("bce-weight", "binary_cross_entropy", lambda d: _probs((4, 3, 2), d, 1),
     lambda d: _targets01((4, 3, 2), d, 2),
     lambda lib, d: {"weight": lib.tensor(np.abs(rand((3, 1), d, 9)))}),
    ("bce-logits", "binary_cross_entropy_with_logits", lambda d: rand((4, 5), d, 1, 3),
     lambda d: _targets01((4, 5), d, 2), lambda lib, d: {}),
    ("bce-logits-weights", "binary_cross_entropy_with_logits", lambda d: rand((4, 3), d, 1, 3),
     lambda d: _targets01((4, 3), d, 2),
     lambda lib, d: {"weight": lib.tensor(np.abs(rand((4, 1), d, 9))),
                     "pos_weight": lib.tensor(np.array([0.5, 2.0, 3.0], d))}),
    ("bce-logits-pos-weight-4d", "binary_cross_entropy_with_logits",
     lambda d: rand((2, 3, 2, 4), d, 1, 3), lambda d: _targets01((2, 3, 2, 4), d, 2),
     lambda lib, d: {"pos_weight": lib.tensor(np.array([0.5, 2.0, 3.0, 1.0], d))}),
    ("kl_div", "kl_div", lambda d: _log_probs((4, 5), d, 1), lambda d: _probs((4, 5), d, 2),
     lambda lib, d: {}),
    ("kl_div-log-target", "kl_div", lambda d: _log_probs((3, 2, 5), d, 1),
     lambda d: _log_probs((3, 2, 5), d, 2), lambda lib, d: {"log_target": True}),
]
REDUCTIONS = ["mean", "sum", "none"]


LOSS_CASES = [(spec, red) for spec in LOSSES
              for red in REDUCTIONS + (["batchmean"] if spec[1] == "kl_div" else [])]


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("spec,reduction", LOSS_CASES,
                         ids=[f"{s[0]}-{r}" for s, r in LOSS_CASES])
def test_loss_matches_torch(spec, reduction, dtype, torch):
    _, name, make_x, make_t, make_kw = spec
    x, t = make_x(dtype), make_t(dtype)
    xt, tt = tc.tensor(x, requires_grad=True), tc.tensor(t, requires_grad=True)
    xth, tth = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    y = getattr(F, name)(xt, tt, reduction=reduction, **make_kw(tc, dtype))
    yth = getattr(torch.nn.functional, name)(xth, tth, reduction=reduction,
                                             **make_kw(torch, dtype))
    assert y.dtype == dtype and y.shape == tuple(yth.shape)
    np.testing.assert_allclose(y.numpy(), yth.detach().numpy(), **tol(dtype))
    g = rand(y.shape, dtype, seed=5)
    y.backward(g)
    yth.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xt.grad.numpy(), xth.grad.numpy(), **tol(dtype),
                               err_msg="input gradient")
    np.testing.assert_allclose(tt.grad.numpy(), tth.grad.numpy(), **tol(dtype),
                               err_msg="target gradient")


LOSS_MODULES = [
    ("SmoothL1Loss", {"beta": 0.5}, "smooth_l1"),
    ("SmoothL1Loss", {"reduction": "sum"}, "smooth_l1"),
    ("HuberLoss", {"delta": 0.7, "reduction": "none"}, "huber"),
    ("BCELoss", {"weight": np.array([0.5, 1.0, 2.0, 1.5, 0.1])}, "bce"),
    ("BCEWithLogitsLoss", {"pos_weight": np.array([0.5, 2.0, 3.0])}, "bce-logits-weights"),
    ("BCEWithLogitsLoss", {"weight": np.array([1.0, 2.0, 3.0]),
                           "pos_weight": np.array([0.5, 2.0, 3.0]), "reduction": "sum"},
     "bce-logits-weights"),
    ("KLDivLoss", {"reduction": "batchmean"}, "kl_div"),
    ("KLDivLoss", {"reduction": "sum", "log_target": True}, "kl_div-log-target"),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("cls,kw,data", LOSS_MODULES,
                         ids=[f"{c}-{'-'.join(k)}" for c, k, _ in LOSS_MODULES])
def test_loss_module_matches_torch(cls, kw, data, dtype, torch):
    _, _, make_x, make_t, _ = next(s for s in LOSSES if s[0] == data)
    ours = getattr(nn, cls)(**{k: tc.tensor(v.astype(dtype)) if isinstance(v, np.ndarray) else v
                               for k, v in kw.items()})
    theirs = getattr(torch.nn, cls)(**{k: torch.tensor(v.astype(dtype))
                                       if isinstance(v, np.ndarray) else v
                                       for k, v in kw.items()})
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x, t = make_x(dtype), make_t(dtype)
    xt, xth = tc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yth = ours(xt, tc.tensor(t)), theirs(xth, torch.tensor(t))
    np.testing.assert_allclose(y.numpy(), yth.detach().numpy(), **tol(dtype))
    g = rand(y.shape, dtype, seed=5)
    y.backward(g)
    yth.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xt.grad.numpy(), xth.grad.numpy(), **tol(dtype))


@pytest.mark.parametrize("spec", LOSSES, ids=[s[0] for s in LOSSES])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_gradcheck_losses(spec, reduction):
    _, name, make_x, make_t, make_kw = spec
    x, t = make_x(np.float64), make_t(np.float64)
    if name in ("smooth_l1_loss", "huber_loss"):
        x[np.abs(np.abs(x - t) - 0.5) < 1e-3] += 0.01  # keep away from the kinks
    kw = make_kw(tc, np.float64)
    fn = getattr(F, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kl_div's 'mean' warning
        assert tc.gradcheck(lambda x, t: fn(x, t, reduction=reduction, **kw), [_t(x), _t(t)])


@pytest.mark.parametrize("dtype", FLOATS)
def test_bce_with_logits_is_exact_for_huge_logits(dtype, torch):
    x = np.array([1e4, -1e4, 1e4, -1e4, 0.0, 30.0, -30.0], dtype)
    t = np.array([1.0, 0.0, 0.0, 1.0, 0.5, 0.0, 1.0], dtype)
    pw = np.full(7, 2.0, dtype)
    cases = (({}, {}), ({"pos_weight": tc.tensor(pw)}, {"pos_weight": torch.tensor(pw)}))
    for kw, kwt in cases:
        xt = tc.tensor(x, requires_grad=True)
        y = F.binary_cross_entropy_with_logits(xt, tc.tensor(t), reduction="none", **kw)
        y.sum().backward()
        xth = torch.tensor(x, requires_grad=True)
        yth = torch.nn.functional.binary_cross_entropy_with_logits(
            xth, torch.tensor(t), reduction="none", **kwt)
        yth.sum().backward()
        assert np.isfinite(y.numpy()).all() and np.isfinite(xt.grad.numpy()).all()
        np.testing.assert_allclose(y.numpy(), yth.detach().numpy(), rtol=1e-6)
        np.testing.assert_allclose(xt.grad.numpy(), xth.grad.numpy(), rtol=1e-6, atol=1e-30)
    # The confident right answers cost nothing; the confident wrong ones cost |logit|.
    assert y.numpy()[0] == 0 and y.numpy()[1] == 0 and y.numpy()[2] == 1e4


@pytest.mark.parametrize("dtype", FLOATS)
def test_bce_clamps_log_at_minus_100_like_torch(dtype, torch):
    x = np.array([0.0, 1.0, 0.0, 1.0, 1e-30, 0.5], dtype)
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.3], dtype)
    xt = tc.tensor(x, requires_grad=True)
    y = F.binary_cross_entropy(xt, tc.tensor(t), reduction="none")
    y.sum().backward()
    xth = torch.tensor(x, requires_grad=True)
    yth = torch.nn.functional.binary_cross_entropy(xth, torch.tensor(t), reduction="none")
    yth.sum().backward()
    assert y.numpy()[0] == 100 and y.numpy()[1] == 100 and y.numpy()[2] == 0
    np.testing.assert_allclose(y.numpy(), yth.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(xt.grad.numpy(), xth.grad.numpy(), rtol=1e-6)
    assert np.isfinite(xt.grad.numpy()).all()


def test_kl_div_zero_target_and_mean_warning(torch):
    x = _log_probs((2, 4), np.float64, 1)
    t = np.array([[0.0, 0.5, 0.5, 0.0], [0.25, 0.25, 0.25, 0.25]])
    for red in ("sum", "batchmean", "none"):
        y = F.kl_div(tc.tensor(x), tc.tensor(t), reduction=red).numpy()
        yth = torch.nn.functional.kl_div(torch.tensor(x), torch.tensor(t), reduction=red)
        np.testing.assert_allclose(y, yth.numpy(), rtol=1e-12)
    with pytest.warns(UserWarning, match="reduction: 'mean' divides the total loss"):
        F.kl_div(tc.tensor(x), tc.tensor(t))
    assert np.isclose(F.kl_div(tc.tensor(x), tc.tensor(t), reduction="batchmean").item(),
                      np.sum(np.where(t > 0, t * (np.log(np.where(t > 0, t, 1)) - x), 0)) / 2)


def test_smooth_l1_and_huber_broadcast_warns_like_torch(torch):
    a, b = rand((3, 4)), rand((4,), seed=1)
    for name in ("smooth_l1_loss", "huber_loss"):
        with pytest.warns(UserWarning, match="Using a target size"):
            y = getattr(F, name)(tc.tensor(a), tc.tensor(b))
        with pytest.warns(UserWarning):
            yth = getattr(torch.nn.functional, name)(torch.tensor(a), torch.tensor(b))
        np.testing.assert_allclose(y.numpy(), yth.numpy(), rtol=1e-12)


def test_huber_is_delta_times_smooth_l1():
    a, b = _t(rand((5, 3), scale=2)), _t(rand((5, 3), seed=1))
    h = F.huber_loss(a, b, delta=0.6, reduction="none").numpy()
    s = F.smooth_l1_loss(a, b, beta=0.6, reduction="none").numpy()
    np.testing.assert_allclose(h, 0.6 * s, rtol=1e-12)


def test_one_hot_matches_torch(torch):
    t = np.array([[0, 3], [2, 1], [3, 3]], np.int64)
    for nc in (-1, 4, 6):
        ours = F.one_hot(tc.tensor(t), nc)
        theirs = torch.nn.functional.one_hot(torch.tensor(t), nc)
        assert ours.dtype == np.int64 and not ours.requires_grad
        assert np.array_equal(ours.numpy(), theirs.numpy())
    assert F.one_hot(tc.tensor(np.array(2)), 3).numpy().tolist() == [0, 0, 1]
    assert F.one_hot(tc.tensor(np.zeros(0, np.int64)), 3).shape == (0, 3)


@pytest.mark.parametrize("dtype", FLOATS)
def test_cross_entropy_huge_logits_with_weight_ignore_and_smoothing(dtype, torch):
    x = np.array([[1e4, 0, -1e4], [-1e4, 1e4, 1e4 - 1], [0, 0, 0], [5e3, -5e3, 0]], dtype)
    t = np.array([1, 2, -100, 0])
    w = np.array([0.5, 2.0, 1.5], dtype)
    p = np.array([[0.2, 0.8, 0], [0, 0.5, 0.5], [1, 0, 0], [0.1, 0.1, 0.8]], dtype)
    t2 = np.array([1, 2, 2, 0])
    for target, kw in ((t, {"ignore_index": -100}), (t2, {"ignore_index": 2}), (p, {})):
        for ls in (0.0, 0.2):
            xt = tc.tensor(x, requires_grad=True)
            y = F.cross_entropy(xt, tc.tensor(target), weight=tc.tensor(w), label_smoothing=ls,
                                **kw)
            y.backward()
            xth = torch.tensor(x, requires_grad=True)
            yth = torch.nn.functional.cross_entropy(xth, torch.tensor(target),
                                                    weight=torch.tensor(w), label_smoothing=ls,
                                                    **kw)
            yth.backward()
            assert np.isfinite(y.item()) and np.isfinite(xt.grad.numpy()).all()
            np.testing.assert_allclose(y.numpy(), yth.detach().numpy(), rtol=1e-5)
            np.testing.assert_allclose(xt.grad.numpy(), xth.grad.numpy(), rtol=1e-5, atol=1e-7)


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


# ------------------------------------------------------------------- conv and batch norm
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("nd,mode,stride,dilation", [(1, "zeros", 1, 1), (2, "zeros", 2, (1, 2)),
                                                     (2, "reflect", 1, 1),
                                                     (2, "circular", (1, 2), 1),
                                                     (3, "replicate", 1, 1)])
def test_conv_padding_full_equals_explicit_padding(nd, mode, stride, dilation, dtype, torch):
    k = (3, 2, 3)[:nd]
    layer = getattr(nn, f"Conv{nd}d")
    full = layer(2, 3, k, stride=stride, padding="full", dilation=dilation, padding_mode=mode)
    d = (dilation,) * nd if isinstance(dilation, int) else dilation
    pad = tuple(di * (ki - 1) for ki, di in zip(k, d))
    theirs = getattr(torch.nn, f"Conv{nd}d")(2, 3, k, stride=stride, padding=pad,
                                             dilation=dilation, padding_mode=mode)
    full, theirs = cast_module(full, dtype), cast_module(theirs, dtype)
    copy_into_torch(torch, full, theirs)
    x = rand((2, 2) + (5, 4, 4)[:nd], dtype)
    y = compare_module(torch, full, theirs, x, dtype)
    assert y.shape[2:] == tuple(theirs(torch.tensor(x)).shape[2:])
    assert "padding=full" in repr(full)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("cls,shape,kw", [
    ("BatchNorm1d", (6, 3), {}),
    ("BatchNorm1d", (4, 3, 5), {"momentum": None}),
    ("BatchNorm2d", (4, 3, 3, 2), {"momentum": 0.5, "eps": 1e-3}),
    ("BatchNorm2d", (4, 3, 3, 2), {"affine": False}),
    ("BatchNorm2d", (4, 3, 3, 2), {"track_running_stats": False}),
    ("BatchNorm2d", (4, 3, 3, 2), {"momentum": None, "affine": False}),
    ("BatchNorm3d", (2, 2, 3, 2, 2), {"momentum": None, "bias": False}),
], ids=lambda v: str(v) if not isinstance(v, tuple) else "x".join(map(str, v)))
def test_batchnorm_training_loop_tracks_torch(cls, shape, kw, dtype, torch):
    # Train steps (with a weight update), eval calls in between, then eval: outputs, input and
    # parameter gradients and every buffer must follow PyTorch at each step.
    ours = cast_module(getattr(nn, cls)(shape[1], **kw), dtype)
    theirs = cast_module(getattr(torch.nn, cls)(shape[1], **kw), dtype)
    for i, p in enumerate(ours.parameters()):
        p.data[...] = rand(p.shape, dtype, seed=50 + i)
    copy_into_torch(torch, ours, theirs)
    for step in range(5):
        for m in (ours, theirs):
            m.train(step != 3)
        x = rand(shape, dtype, seed=step, scale=step + 1) + step
        compare_module(torch, ours, theirs, x, dtype, seed=step)
        for k, v in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[k], v.numpy(), **tol(dtype),
                                       err_msg=f"{k} after step {step}")
        for p, q in zip(ours.parameters(), theirs.parameters()):
            p.data[...] -= 0.1 * p.grad.numpy()
            p.grad = None
            with torch.no_grad():
                q -= 0.1 * q.grad
            q.grad = None
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.eval()
    theirs.eval()
    compare_module(torch, ours, theirs, rand(shape, dtype, seed=9, scale=3), dtype)


# ------------------------------------------------------------------------ error messages
def _x(*shape, dtype=np.float32):
    return tc.tensor(rand(shape, dtype))


ERRORS = [
    (lambda: K.resample(np.zeros((1, 3, 1), np.float32), np.array([0, 3])), ValueError,
     r"resample: i0 holds indices outside \[0, 3\)"),
    (lambda: K.resample_backward(np.zeros((1, 2, 1), np.float32), 3, np.array([0, -1])),
     ValueError, r"resample_backward: i0 holds indices outside \[0, 3\)"),
    (lambda: K.resample(np.zeros((1, 3, 1), np.float32), np.array([0, 1]), np.ones(2),
                        np.array([1, 2]), np.ones(2)), TypeError,
     r"resample: array is float32 but w0 is float64"),
    (lambda: K.resample_backward(np.zeros((1, 2, 1)), 3, np.array([0, 1, 2])), ValueError,
     r"resample_backward: g has 2 positions along axis 1 but the tables have 3"),
    (lambda: nn.Conv2d(2, 2, 3, padding="half"), ValueError,
     r"Conv2d: padding must be an int, a tuple, 'same', 'valid' or 'full', got 'half'"),
    (lambda: nn.ConvTranspose2d(2, 2, 3, padding="full"), ValueError,
     r"ConvTranspose2d: padding must be an int or a tuple, got 'full'"),
    (lambda: nn.Conv1d(3, 4, 3, groups=2), ValueError,
     r"Conv1d: in_channels \(3\) must be divisible by groups \(2\)"),
    (lambda: nn.Conv3d(4, 3, 3, groups=2), ValueError,
     r"Conv3d: out_channels \(3\) must be divisible by groups \(2\)"),
    (lambda: nn.Conv2d(2, 2, 0), ValueError, r"Conv2d: kernel_size must be positive, got \(0, 0\)"),
    (lambda: nn.Conv1d(2, 2, 3, stride=-1), ValueError,
     r"Conv1d: stride must be positive, got \(-1,\)"),
    (lambda: nn.Conv2d(2, 2, 3, dilation=(1, 0)), ValueError,
     r"Conv2d: dilation must be positive, got \(1, 0\)"),
    (lambda: nn.Conv2d(2, 2, 3, padding=(1, -1)), ValueError,
     r"Conv2d: padding must be non-negative, got \(1, -1\)"),
    (lambda: nn.Conv1d(2, 2, 3, padding_mode="zero"), ValueError,
     r"Conv1d: padding_mode must be one of 'zeros', 'reflect', 'replicate' or 'circular', but got "
     r"padding_mode='zero'"),
    (lambda: nn.Conv3d(2, 2, 3, stride=(1, 2, 1), padding="same"), ValueError,
     r"Conv3d: padding='same' is not supported for strided convolutions \(stride \(1, 2, 1\)\)"),
    (lambda: nn.Conv2d(2, 2, 3, stride=(1, 1, 1)), TypeError,
     r"Conv2d: stride must be an int or a tuple of 2 ints, got \(1, 1, 1\)"),
    (lambda: F.smooth_l1_loss(_x(2, 3), _x(2, 3), beta=-1.0), ValueError,
     r"smooth_l1_loss: beta must be non-negative, got -1.0"),
    (lambda: nn.SmoothL1Loss(beta="a"), TypeError, r"SmoothL1Loss: beta must be a float, got 'a'"),
    (lambda: F.huber_loss(_x(2, 3), _x(2, 3), delta=0.0), ValueError,
     r"huber_loss: delta must be positive, got 0.0"),
    (lambda: nn.HuberLoss(delta=-2), ValueError, r"HuberLoss: delta must be positive, got -2"),
    (lambda: nn.HuberLoss(reduction="avg"), ValueError,
     r"HuberLoss: reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    (lambda: F.huber_loss(_x(2, 3), _x(2, 3), weight=tc.ones(3)), ValueError,
     r"huber_loss: weight must have the input's shape \(2, 3\), got \(3,\)"),
    (lambda: F.smooth_l1_loss(_x(2, 3), _x(2, 4)), ValueError,
     r"smooth_l1_loss: input \(2, 3\) and target \(2, 4\) cannot be broadcast together"),
    (lambda: F.binary_cross_entropy(tc.tensor([0.5, 1.5]), tc.tensor([0.0, 1.0])), ValueError,
     r"binary_cross_entropy: all elements of input should be between 0 and 1, got 1.5 "
     r"\(input \(2,\)\)"),
    (lambda: F.binary_cross_entropy(tc.tensor([0.5, np.nan]), tc.tensor([0.0, 1.0])),
     ValueError, r"binary_cross_entropy: all elements of input should be between 0 and 1, got "
     r"nan"),
    (lambda: F.binary_cross_entropy(tc.tensor([[0.5], [0.2]]), tc.tensor([0.0, 1.0])),
     ValueError, r"binary_cross_entropy: target size \(2,\) must be the same as input size "
     r"\(2, 1\)"),
    (lambda: F.binary_cross_entropy(tc.tensor([0.5, 0.2]), tc.tensor([0, 1])), TypeError,
     r"binary_cross_entropy: target must be float32 or float64, got int64"),
    (lambda: F.binary_cross_entropy(tc.tensor([0.5, 0.2]), tc.tensor([0.0, 1.0]),
                                    weight=tc.ones(3)), ValueError,
     r"binary_cross_entropy: weight \(3,\) cannot be broadcast to the input's shape \(2,\)"),
    (lambda: F.binary_cross_entropy_with_logits(_x(2, 3), _x(3, 2)), ValueError,
     r"binary_cross_entropy_with_logits: target size \(3, 2\) must be the same as input size "
     r"\(2, 3\)"),
    (lambda: F.binary_cross_entropy_with_logits(_x(2, 3), _x(2, 3), pos_weight=tc.ones(2)),
     ValueError, r"binary_cross_entropy_with_logits: pos_weight \(2,\) cannot be broadcast to "
     r"the input's shape \(2, 3\)"),
    (lambda: F.binary_cross_entropy_with_logits(_x(2, 3), _x(2, 3),
                                                pos_weight=tc.ones(3, dtype=tc.float64)),
     TypeError, r"binary_cross_entropy_with_logits: input is float32 but pos_weight is float64"),
    (lambda: nn.BCEWithLogitsLoss(pos_weight=[1.0, 2.0]), TypeError,
     r"BCEWithLogitsLoss: pos_weight must be a Tensor, got list"),
    (lambda: nn.BCELoss(reduction="batchmean"), ValueError,
     r"BCELoss: reduction must be 'mean', 'sum' or 'none', got 'batchmean'"),
    (lambda: nn.KLDivLoss(reduction="avg"), ValueError,
     r"KLDivLoss: reduction must be 'mean', 'batchmean', 'sum' or 'none', got 'avg'"),
    (lambda: F.kl_div(_x(2, 3), _x(2, 3), reduction="max"), ValueError,
     r"kl_div: reduction must be 'mean', 'batchmean', 'sum' or 'none', got 'max'"),
    (lambda: F.kl_div(_x(2, 3), _x(2, 4), reduction="sum"), ValueError,
     r"kl_div: input \(2, 3\) and target \(2, 4\) cannot be broadcast together"),
    (lambda: F.kl_div(_x(2, 3), tc.ones(2, 3, dtype=tc.float64), reduction="sum"), TypeError,
     r"kl_div: input is float32 but target is float64"),
    (lambda: F.one_hot(tc.tensor([1.0, 2.0])), TypeError,
     r"one_hot: one_hot is only applicable to index tensors of type int64, got float32"),
    (lambda: F.one_hot(tc.tensor([1, -1])), ValueError,
     r"one_hot: class values must be non-negative, got -1"),
    (lambda: F.one_hot(tc.tensor([1, 3]), 3), ValueError,
     r"one_hot: class values must be smaller than num_classes=3, got 3"),
    (lambda: F.one_hot(tc.tensor(np.zeros(0, np.int64))), ValueError,
     r"one_hot: can not infer the total number of classes from an empty tensor \(0,\)"),
    (lambda: F.one_hot(tc.tensor([1]), -2), ValueError,
     r"one_hot: num_classes must be -1 or non-negative, got -2"),
    (lambda: F.one_hot([1, 2]), TypeError, r"one_hot: tensor must be a Tensor, got list"),
    (lambda: F.interpolate(_x(1, 2, 4), size=3, scale_factor=2), ValueError,
     r"interpolate: only one of size or scale_factor should be defined"),
    (lambda: F.interpolate(_x(1, 2, 4)), ValueError,
     r"interpolate: either size or scale_factor should be defined"),
    (lambda: F.interpolate(_x(1, 2, 4), size=3, mode="cubic"), ValueError,
     r"interpolate: unsupported mode 'cubic'; expected one of 'nearest', 'linear', 'bilinear', "
     r"'trilinear', 'area'"),
    (lambda: F.interpolate(_x(1, 2, 4), size=3, align_corners=True), ValueError,
     r"interpolate: align_corners option can only be set with the interpolating modes: linear "
     r"\| bilinear \| trilinear \(got mode 'nearest'\)"),
    (lambda: F.interpolate(_x(1, 2, 4), size=3, mode="linear", align_corners=1), TypeError,
     r"interpolate: align_corners must be a bool or None, got 1"),
    (lambda: F.interpolate(_x(1, 2, 4, 4), size=3, mode="linear"), ValueError,
     r"interpolate: got 4-D input \(1, 2, 4, 4\), but linear mode needs 3-D input"),
    (lambda: F.interpolate(_x(1, 2, 4), size=3, mode="bilinear"), ValueError,
     r"interpolate: got 3-D input \(1, 2, 4\), but bilinear mode needs 4-D input"),
    (lambda: F.interpolate(_x(2, 4), size=3), ValueError,
     r"interpolate: expected 3-D, 4-D or 5-D input \(N, C, \*spatial\), got 2-D input of shape "
     r"\(2, 4\)"),
    (lambda: F.interpolate(_x(1, 2, 4, 4), size=(3, 3, 3)), ValueError,
     r"interpolate: input and size must have the same number of spatial dimensions, but got "
     r"input with spatial dimensions of \(4, 4\) and size \(3, 3, 3\)"),
    (lambda: F.interpolate(_x(1, 2, 4, 4), scale_factor=(2,)), ValueError,
     r"interpolate: input and scale_factor must have the same number of spatial dimensions"),
    (lambda: F.interpolate(_x(1, 2, 4), size=2.5), TypeError,
     r"interpolate: size must be an int or a tuple of ints, got 2.5"),
    (lambda: F.interpolate(_x(1, 2, 4), scale_factor="2"), TypeError,
     r"interpolate: scale_factor must be a float or a tuple of floats, got '2'"),
    (lambda: F.interpolate(_x(1, 2, 4), scale_factor=float("inf")), ValueError,
     r"interpolate: scale_factor must be finite, got inf"),
    (lambda: F.interpolate(_x(1, 2, 4), scale_factor=0.2), ValueError,
     r"interpolate: input and output sizes should be greater than 0, but got input \(4,\) and "
     r"output \(0,\) \(input \(1, 2, 4\)\)"),
    (lambda: F.interpolate(_x(1, 2, 4), size=0), ValueError,
     r"interpolate: input and output sizes should be greater than 0"),
    (lambda: F.interpolate(_x(1, 2, 4), size=3, recompute_scale_factor=True), ValueError,
     r"interpolate: recompute_scale_factor is not meaningful with an explicit size"),
    (lambda: F.interpolate(_x(1, 2, 4, 4), size=3, mode="bilinear", antialias=True), ValueError,
     r"interpolate: antialias=True is not supported"),
    (lambda: nn.Upsample(scale_factor=2, mode="bilinear")(_x(1, 2, 4)), ValueError,
     r"interpolate: got 3-D input \(1, 2, 4\), but bilinear mode needs 4-D input"),
    (lambda: nn.ZeroPad2d((1, 2)), TypeError,
     r"ZeroPad2d: padding must be an int or a tuple of 4 ints, got \(1, 2\)"),
    (lambda: nn.ReflectionPad1d(1.5), TypeError,
     r"ReflectionPad1d: padding must be an int or a tuple of 2 ints, got 1.5"),
    (lambda: nn.ReflectionPad2d(1)(_x(2, 2, 2, 3, 3)), ValueError,
     r"ReflectionPad2d: expected 3D or 4D input \(got 5D input of shape \(2, 2, 2, 3, 3\)\)"),
    (lambda: nn.CircularPad1d(1)(_x(4)), ValueError,
     r"CircularPad1d: expected 2D or 3D input \(got 1D input of shape \(4,\)\)"),
    (lambda: nn.ReflectionPad1d(3)(_x(1, 2, 3)), ValueError,
     r"pad: reflect padding \(3, 3\) must be smaller than the size 3 of dimension 2"),
    (lambda: nn.ReplicationPad1d(-1)(_x(1, 2, 3)), ValueError,
     r"pad: negative padding \(-1, -1\) is only allowed with mode='constant'"),
    (lambda: nn.LayerNorm(0), ValueError,
     r"LayerNorm: normalized_shape must hold positive sizes, got \(0,\)"),
    (lambda: nn.LayerNorm(()), TypeError,
     r"LayerNorm: normalized_shape must be an int or a non-empty tuple of ints, got \(\)"),
    (lambda: nn.LayerNorm(4.0), TypeError,
     r"LayerNorm: normalized_shape must be an int or a non-empty tuple of ints, got 4.0"),
    (lambda: nn.LayerNorm(4, eps=-1), ValueError,
     r"LayerNorm: eps must be a non-negative float, got -1"),
    (lambda: nn.LayerNorm(4, dtype=np.int32), TypeError,
     r"LayerNorm: only float32 and float64 are supported, got int32"),
    (lambda: nn.LayerNorm((3, 4))(_x(2, 4, 3)), ValueError,
     r"layer_norm: expected input with shape \(\*, 3, 4\) for normalized_shape \(3, 4\), got "
     r"input \(2, 4, 3\)"),
    (lambda: F.layer_norm(_x(4), (2, 4)), ValueError,
     r"layer_norm: expected input with shape \(\*, 2, 4\) for normalized_shape \(2, 4\), got "
     r"input \(4,\)"),
    (lambda: F.layer_norm(_x(2, 4), 4, weight=tc.ones(3)), ValueError,
     r"layer_norm: weight must have shape \(4,\) for input \(2, 4\), got \(3,\)"),
    (lambda: F.layer_norm(_x(2, 4), 4, bias=tc.zeros(4, dtype=tc.float64)), TypeError,
     r"layer_norm: input is float32 but bias is float64"),
    (lambda: F.layer_norm(_x(2, 4), 4, bias=np.zeros(4)), TypeError,
     r"layer_norm: bias must be a Tensor, got ndarray"),
    (lambda: nn.GroupNorm(2, 5), ValueError,
     r"GroupNorm: num_channels \(5\) must be divisible by num_groups \(2\)"),
    (lambda: nn.GroupNorm(0, 4), ValueError, r"GroupNorm: num_groups must be positive, got 0"),
    (lambda: nn.GroupNorm(2, 4, eps="x"), ValueError,
     r"GroupNorm: eps must be a non-negative float, got 'x'"),
    (lambda: nn.GroupNorm(2, 4)(_x(2, 6, 3)), ValueError,
     r"group_norm: weight must have shape \(6,\) for input \(2, 6, 3\), got \(4,\)"),
    (lambda: F.group_norm(_x(2, 5, 3), 2), ValueError,
     r"group_norm: expected the number of channels of input \(2, 5, 3\) to be divisible by "
     r"num_groups, got num_groups=2"),
    (lambda: F.group_norm(_x(4), 2), ValueError,
     r"group_norm: expected an input with at least 2 dimensions \(N, C, ...\), got shape "
     r"\(4,\)"),
    (lambda: F.group_norm(_x(2, 4), 2.0), TypeError,
     r"group_norm: num_groups must be an int, got 2.0"),
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
