"""Tests of tinyconv.nn: Module machinery, every layer against PyTorch, losses, init, errors.

Layers are compared with PyTorch after copying tinyconv's parameters into the PyTorch layer
through ``load_state_dict`` (which also checks that the state_dict keys agree): forward output,
input gradient and every parameter gradient, with a random upstream gradient, in float32 and
float64. PyTorch is optional: tests that need it skip without it.
"""

import copy
import math
import pickle
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv import nn
from tinyconv.nn import init

FLOATS = [np.float32, np.float64]


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch (the test oracle) is not installed")


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-10)


def rand(shape, dtype=np.float64, seed=0, scale=1.0):
    return np.asarray(np.random.default_rng(seed).standard_normal(shape) * scale, dtype=dtype)


def copy_into_torch(torch, ours, theirs):
    """Load our state_dict into the torch module (strict: the keys must agree)."""
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in
                            ours.state_dict().items()})


def cast_module(m, dtype):
    return m.double() if dtype == np.float64 else m.float()


def compare_module(torch, ours, theirs, x, dtype, seed=1, check_params=True):
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
    if check_params:
        theirs_p = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            assert p.grad is not None, name
            assert p.grad.dtype == dtype
            np.testing.assert_allclose(p.grad.numpy(), theirs_p[name].grad.numpy(), **tol(dtype),
                                       err_msg=f"gradient of {name}")
    return y


# (id, builder taking the nn namespace (ours or torch's), input shape, input scale)
LAYERS = [
    ("conv1d", lambda nn: nn.Conv1d(3, 4, 3, stride=2, padding=1), (2, 3, 9), 1),
    ("conv1d-unbatched", lambda nn: nn.Conv1d(3, 2, 2), (3, 6), 1),
    ("conv2d", lambda nn: nn.Conv2d(3, 5, 3), (2, 3, 7, 6), 1),
    ("conv2d-groups", lambda nn: nn.Conv2d(4, 6, 3, padding=1, groups=2), (2, 4, 6, 6), 1),
    ("conv2d-dilated", lambda nn: nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(2, 1),
                                            dilation=2, bias=False), (2, 3, 9, 7), 1),
    ("conv2d-same-even", lambda nn: nn.Conv2d(2, 3, 4, padding="same", dilation=(1, 2)),
     (2, 2, 7, 8), 1),
    ("conv2d-valid", lambda nn: nn.Conv2d(2, 3, 3, padding="valid"), (2, 2, 5, 5), 1),
    ("conv2d-reflect", lambda nn: nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode="reflect"),
     (2, 2, 6, 7), 1),
    ("conv2d-replicate", lambda nn: nn.Conv2d(2, 3, 3, stride=2, padding=2,
                                              padding_mode="replicate"), (2, 2, 6, 7), 1),
    ("conv2d-circular", lambda nn: nn.Conv2d(2, 3, (3, 5), padding=(1, 2),
                                             padding_mode="circular"), (2, 2, 6, 7), 1),
    ("conv2d-reflect-same", lambda nn: nn.Conv2d(2, 3, 4, padding="same",
                                                 padding_mode="reflect"), (2, 2, 6, 7), 1),
    ("conv3d", lambda nn: nn.Conv3d(2, 3, 3, padding=1, stride=(1, 2, 1)), (2, 2, 4, 5, 4), 1),
    ("conv_transpose1d", lambda nn: nn.ConvTranspose1d(3, 4, 3, stride=2, padding=1,
                                                       output_padding=1), (2, 3, 5), 1),
    ("conv_transpose2d", lambda nn: nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2,
                                                       dilation=2), (2, 4, 4, 3), 1),
    ("conv_transpose2d-nobias", lambda nn: nn.ConvTranspose2d(2, 3, (2, 3), stride=(2, 1),
                                                              padding=(0, 1), bias=False),
     (2, 2, 3, 4), 1),
    ("conv_transpose3d", lambda nn: nn.ConvTranspose3d(2, 3, 2, stride=2), (1, 2, 2, 3, 2), 1),
    ("maxpool1d", lambda nn: nn.MaxPool1d(3, stride=2, padding=1), (2, 3, 9), 1),
    ("maxpool2d", lambda nn: nn.MaxPool2d(2), (2, 3, 6, 6), 1),
    ("maxpool2d-ceil", lambda nn: nn.MaxPool2d(3, 2, 1, ceil_mode=True), (2, 2, 7, 6), 1),
    ("maxpool2d-dilated", lambda nn: nn.MaxPool2d(2, stride=1, dilation=2), (1, 2, 6, 5), 1),
    ("maxpool3d", lambda nn: nn.MaxPool3d(2), (1, 2, 4, 4, 4), 1),
    ("avgpool1d", lambda nn: nn.AvgPool1d(3, 2, 1), (2, 3, 8), 1),
    ("avgpool2d", lambda nn: nn.AvgPool2d(3, 2, 1, count_include_pad=False), (2, 2, 7, 6), 1),
    ("avgpool2d-divisor", lambda nn: nn.AvgPool2d(2, ceil_mode=True, divisor_override=3),
     (2, 2, 5, 5), 1),
    ("avgpool3d", lambda nn: nn.AvgPool3d(2, stride=1), (1, 2, 3, 4, 3), 1),
    ("adaptive_avgpool1d", lambda nn: nn.AdaptiveAvgPool1d(4), (2, 3, 10), 1),
    ("adaptive_avgpool2d", lambda nn: nn.AdaptiveAvgPool2d((3, None)), (2, 3, 7, 5), 1),
    ("adaptive_avgpool2d-1", lambda nn: nn.AdaptiveAvgPool2d(1), (2, 3, 5, 5), 1),
    ("adaptive_avgpool3d", lambda nn: nn.AdaptiveAvgPool3d(2), (1, 2, 5, 4, 3), 1),
    ("adaptive_maxpool1d", lambda nn: nn.AdaptiveMaxPool1d(3), (2, 3, 8), 1),
    ("adaptive_maxpool2d", lambda nn: nn.AdaptiveMaxPool2d((3, 4)), (2, 3, 7, 9), 1),
    ("linear", lambda nn: nn.Linear(5, 3), (4, 5), 1),
    ("linear-3d-nobias", lambda nn: nn.Linear(5, 3, bias=False), (2, 4, 5), 1),
    ("flatten", lambda nn: nn.Flatten(), (2, 3, 4, 2), 1),
    ("flatten-0-2", lambda nn: nn.Flatten(0, 2), (2, 3, 4, 2), 1),
    ("unflatten", lambda nn: nn.Unflatten(1, (2, -1)), (3, 8, 2), 1),
    ("identity", lambda nn: nn.Identity(7, foo=1), (3, 4), 1),
    ("relu", lambda nn: nn.ReLU(), (4, 6), 1),
    ("leaky_relu", lambda nn: nn.LeakyReLU(0.2), (4, 6), 1),
    ("sigmoid", lambda nn: nn.Sigmoid(), (4, 6), 5),
    ("tanh", lambda nn: nn.Tanh(), (4, 6), 2),
    ("softmax", lambda nn: nn.Softmax(dim=1), (3, 5, 2), 3),
    ("log_softmax", lambda nn: nn.LogSoftmax(dim=-1), (3, 5), 3),
    ("gelu", lambda nn: nn.GELU(), (5, 7), 3),
    ("gelu-tanh", lambda nn: nn.GELU(approximate="tanh"), (5, 7), 3),
    ("elu", lambda nn: nn.ELU(alpha=0.7), (4, 6), 2),
    ("relu6", lambda nn: nn.ReLU6(), (4, 6), 5),
    ("hardtanh", lambda nn: nn.Hardtanh(-0.5, 0.8), (4, 6), 1),
    ("silu", lambda nn: nn.SiLU(), (4, 6), 4),
    ("batchnorm1d-2d", lambda nn: nn.BatchNorm1d(4), (6, 4), 2),
    ("batchnorm1d-3d", lambda nn: nn.BatchNorm1d(3, momentum=0.3), (4, 3, 5), 2),
    ("batchnorm2d", lambda nn: nn.BatchNorm2d(3), (4, 3, 5, 4), 2),
    ("batchnorm2d-noaffine", lambda nn: nn.BatchNorm2d(3, affine=False), (4, 3, 3, 3), 2),
    ("batchnorm2d-nostats", lambda nn: nn.BatchNorm2d(3, track_running_stats=False),
     (4, 3, 3, 3), 2),
    ("batchnorm2d-nobias", lambda nn: nn.BatchNorm2d(3, bias=False), (4, 3, 3, 3), 2),
    ("batchnorm3d", lambda nn: nn.BatchNorm3d(2, eps=1e-3), (3, 2, 3, 2, 4), 2),
    ("sequential", lambda nn: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4),
                                            nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                            nn.Linear(16, 3)), (3, 2, 4, 4), 1),
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
    # Buffers (BatchNorm running statistics) were updated identically.
    for (k, a), (k2, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        assert k == k2
        np.testing.assert_allclose(a, b.numpy(), **tol(dtype), err_msg=k)


@pytest.mark.parametrize("spec", LAYERS, ids=[s[0] for s in LAYERS])
def test_layer_repr_and_state_keys_match_torch(spec, torch):
    _, build, _, _ = spec
    ours, theirs = build(nn), build(torch.nn)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for (k, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        assert a.shape == tuple(b.shape), k
        assert a.dtype == b.numpy().dtype, k


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("spec", [s for s in LAYERS if "batchnorm" in s[0]],
                         ids=[s[0] for s in LAYERS if "batchnorm" in s[0]])
def test_batchnorm_running_stats_and_eval_match_torch(spec, dtype, torch):
    _, build, shape, scale = spec
    ours = cast_module(build(nn), dtype)
    theirs = cast_module(build(torch.nn), dtype)
    copy_into_torch(torch, ours, theirs)
    for step in range(4):
        x = rand(shape, dtype, seed=10 + step, scale=scale) + step
        ours(tc.tensor(x))
        theirs(torch.tensor(x))
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k], v.numpy(), **tol(dtype), err_msg=k)
    ours.eval()
    theirs.eval()
    compare_module(torch, ours, theirs, rand(shape, dtype, seed=3, scale=scale), dtype)


@pytest.mark.parametrize("momentum", [None, 0.5])
def test_batchnorm_momentum_and_cumulative_average(momentum, torch):
    ours, theirs = nn.BatchNorm2d(3, momentum=momentum), torch.nn.BatchNorm2d(3, momentum=momentum)
    for step in range(5):
        x = rand((4, 3, 2, 2), np.float32, seed=step, scale=step + 1)
        ours(tc.tensor(x))
        theirs(torch.tensor(x))
    assert int(ours.num_batches_tracked.item()) == 5
    assert ours.num_batches_tracked.dtype == np.int64
    np.testing.assert_allclose(ours.running_mean.numpy(), theirs.running_mean.numpy(), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(ours.running_var.numpy(), theirs.running_var.numpy(), rtol=1e-5,
                               atol=1e-6)


def test_batchnorm_without_running_stats_uses_batch_stats_in_eval(torch):
    ours = nn.BatchNorm2d(2, track_running_stats=False).eval()
    theirs = torch.nn.BatchNorm2d(2, track_running_stats=False).eval()
    x = rand((3, 2, 4, 4), np.float32, scale=3) + 1
    np.testing.assert_allclose(ours(tc.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)
    assert ours.running_mean is None and "running_mean" not in ours.state_dict()


def test_batchnorm_state_dict_aliases_buffers():
    bn = nn.BatchNorm1d(2)
    sd = bn.state_dict()
    bn(tc.tensor(rand((5, 2), np.float32)))
    assert int(sd["num_batches_tracked"]) == 1
    assert np.array_equal(sd["running_mean"], bn.running_mean.numpy())


@pytest.mark.parametrize("dtype", FLOATS)
def test_conv_transpose_output_size_matches_torch(dtype, torch):
    ours = cast_module(nn.ConvTranspose2d(3, 2, 3, stride=3, padding=1), dtype)
    theirs = cast_module(torch.nn.ConvTranspose2d(3, 2, 3, stride=3, padding=1), dtype)
    copy_into_torch(torch, ours, theirs)
    x = rand((2, 3, 4, 5), dtype)
    for size in [(10, 13), (2, 2, 12, 14), (11, 15)]:
        y = ours(tc.tensor(x), output_size=size)
        yt = theirs(torch.tensor(x), output_size=list(size))
        assert y.shape == tuple(yt.shape)
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), **tol(dtype))
    with pytest.raises(ValueError, match=r"ConvTranspose2d: requested an output size of "
                                         r"\(13, 13\), but valid sizes range from \(10, 13\) "
                                         r"to \(12, 15\) \(for an input of \(4, 5\)\)"):
        ours(tc.tensor(x), output_size=(13, 13))


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_maxpool_indices_and_unpool_match_torch(nd, torch):
    shape = (2, 3) + (6, 5, 4)[:nd]
    x = rand(shape, np.float64)
    pool = getattr(nn, f"MaxPool{nd}d")(2, stride=2, return_indices=True)
    tpool = getattr(torch.nn, f"MaxPool{nd}d")(2, stride=2, return_indices=True)
    y, idx = pool(tc.tensor(x))
    ty, tidx = tpool(torch.tensor(x))
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    unpool = getattr(nn, f"MaxUnpool{nd}d")(2, stride=2)
    tunpool = getattr(torch.nn, f"MaxUnpool{nd}d")(2, stride=2)
    assert repr(unpool) == repr(tunpool)
    yin = tc.tensor(y.numpy(), requires_grad=True)
    tyin = torch.tensor(y.numpy(), requires_grad=True)
    out = unpool(yin, idx, output_size=shape)
    tout = tunpool(tyin, tidx, output_size=list(shape))
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy())
    g = rand(out.shape, np.float64, seed=2)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(yin.grad.numpy(), tyin.grad.numpy())


def test_adaptive_maxpool_return_indices_match_torch(torch):
    x = rand((2, 3, 7, 9), np.float64)
    y, idx = nn.AdaptiveMaxPool2d((3, 4), return_indices=True)(tc.tensor(x))
    ty, tidx = torch.nn.AdaptiveMaxPool2d((3, 4), return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    np.testing.assert_allclose(y.numpy(), ty.numpy())


# ------------------------------------------------------------------------------- dropout
@pytest.mark.parametrize("dtype", FLOATS)
def test_dropout_train_and_eval(dtype):
    tc.manual_seed(0)
    layer = nn.Dropout(p=0.3)
    x = tc.tensor(rand((200, 100), dtype) + 5, requires_grad=True)
    y = layer(x)
    assert y.dtype == dtype
    kept = y.numpy() != 0
    assert abs(1 - kept.mean() - 0.3) < 0.01
    np.testing.assert_allclose(y.numpy()[kept], x.numpy()[kept] / 0.7, rtol=1e-6)
    g = rand(y.shape, dtype, seed=1)
    y.backward(g)
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, g / 0.7, 0), rtol=1e-6)
    layer.eval()
    assert np.array_equal(layer(x).numpy(), x.numpy())
    assert repr(layer) == "Dropout(p=0.3, inplace=False)"


def test_dropout_extremes_and_functional_training_flag():
    x = tc.tensor(rand((10, 10), np.float32))
    assert np.array_equal(F.dropout(x, p=0.0).numpy(), x.numpy())
    assert np.all(F.dropout(x, p=1.0).numpy() == 0)
    assert F.dropout(x, p=0.9, training=False) is x


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_feature_dropout_zeroes_whole_channels(nd):
    tc.manual_seed(1)
    layer = getattr(nn, f"Dropout{nd}d")(p=0.5)
    x = tc.tensor(rand((8, 16) + (3,) * nd, np.float32) + 10)
    y = layer(x).numpy().reshape(8, 16, -1)
    per_channel = (y != 0).all(axis=2) | (y == 0).all(axis=2)
    assert per_channel.all()
    dropped = (y == 0).all(axis=2).mean()
    assert 0.3 < dropped < 0.7
    layer.eval()
    assert layer(x) is x


def test_dropout2d_on_3d_input_is_channelwise_1d_as_torch(torch):
    x = tc.tensor(rand((4, 8, 5), np.float32) + 10)
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        y = nn.Dropout2d(0.5)(x).numpy()
    assert ((y != 0).all(axis=2) | (y == 0).all(axis=2)).all()
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        torch.nn.Dropout2d(0.5)(torch.ones(4, 8, 5))


# --------------------------------------------------------------------------------- losses
def _ce_inputs(shape, c, dtype, ignore=False, seed=0):
    rng = np.random.default_rng(seed)
    x = rand(shape, dtype, seed=seed, scale=2)
    tshape = (shape[0],) + shape[2:] if len(shape) > 1 else ()
    t = rng.integers(0, c, size=tshape).astype(np.int64)
    if ignore and t.size > 1:
        t.reshape(-1)[::3] = 1 if ignore == "class" else -100
    return x, t


CE_OPTIONS = [
    dict(),
    dict(reduction="sum"),
    dict(reduction="none"),
    dict(weight=True),
    dict(weight=True, reduction="none"),
    dict(ignore_index=1),
    dict(ignore_index=1, weight=True),
    dict(label_smoothing=0.1),
    dict(label_smoothing=0.2, weight=True),
    dict(label_smoothing=0.2, weight=True, ignore_index=1, reduction="none"),
    dict(label_smoothing=0.3, ignore_index=-100, reduction="sum"),
    dict(label_smoothing=0.25, weight=True, ignore_index=1),
]


def _opts_id(opts):
    return "-".join(f"{k}={v}" for k, v in opts.items()) or "default"


def _ce_kwargs(opts, c, dtype, lib):
    kw = dict(opts)
    if kw.get("weight"):
        w = np.linspace(0.5, 2.0, c).astype(dtype)
        kw["weight"] = tc.tensor(w) if lib == "tc" else lib.tensor(w)
    return kw


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 2, 3), (5,)], ids=["2d", "4d", "unbatched"])
@pytest.mark.parametrize("opts", CE_OPTIONS, ids=_opts_id)
def test_cross_entropy_class_indices_match_torch(opts, shape, dtype, torch):
    c = shape[1] if len(shape) > 1 else shape[0]
    x, t = _ce_inputs(shape, c, dtype, ignore="class" if opts.get("ignore_index") == 1 else
                      "default" if "ignore_index" in opts else False)
    xt = tc.tensor(x, requires_grad=True)
    xth = torch.tensor(x, requires_grad=True)
    y = F.cross_entropy(xt, tc.tensor(t), **_ce_kwargs(opts, c, dtype, "tc"))
    yth = torch.nn.functional.cross_entropy(xth, torch.tensor(t),
                                            **_ce_kwargs(opts, c, dtype, torch))
    assert y.dtype == dtype and y.shape == tuple(yth.shape)
    np.testing.assert_allclose(y.numpy(), yth.detach().numpy(), **tol(dtype))
    g = rand(y.shape, dtype, seed=5)
    y.backward(g)
    yth.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xt.grad.numpy(), xth.grad.numpy(), **tol(dtype))
    # The module computes the same thing.
    kw = _ce_kwargs(opts, c, dtype, "tc")
    ym = nn.CrossEntropyLoss(**kw)(tc.tensor(x), tc.tensor(t))
    np.testing.assert_allclose(ym.numpy(), y.numpy(), **tol(dtype))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("opts", [dict(), dict(reduction="sum"), dict(reduction="none"),
                                  dict(weight=True), dict(label_smoothing=0.2),
                                  dict(label_smoothing=0.1, weight=True, reduction="none")],
                         ids=_opts_id)
def test_cross_entropy_probabilities_match_torch(opts, dtype, torch):
    x = rand((4, 5, 3), dtype, scale=2)
    p = np.random.default_rng(1).random((4, 5, 3))
    p = (p / p.sum(axis=1, keepdims=True)).astype(dtype)
    xt, pt = tc.tensor(x, requires_grad=True), tc.tensor(p, requires_grad=True)
    xth, pth = torch.tensor(x, requires_grad=True), torch.tensor(p, requires_grad=True)
    y = F.cross_entropy(xt, pt, **_ce_kwargs(opts, 5, dtype, "tc"))
    yth = torch.nn.functional.cross_entropy(xth, pth, **_ce_kwargs(opts, 5, dtype, torch))
    np.testing.assert_allclose(y.numpy(), yth.detach().numpy(), **tol(dtype))
    g = rand(y.shape, dtype, seed=5)
    y.backward(g)
    yth.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xt.grad.numpy(), xth.grad.numpy(), **tol(dtype))
    np.testing.assert_allclose(pt.grad.numpy(), pth.grad.numpy(), **tol(dtype))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", ["plain", "unbatched", "huge", "empty", "uint8",
                                  "in-range-ignore"])
def test_cross_entropy_fast_path_equals_general_path(case, dtype):
    """The common case (2-D, mean, no weight, no smoothing, no ignored target) runs on
    CrossEntropyMean; it must give the general op's loss and gradient to the last bit (up to
    one rounding in float32's target column)."""
    from tinyconv.ops import loss as L
    shape, ii = {"unbatched": (7,), "empty": (0, 4)}.get(case, (9, 5)), -100
    x = rand(shape, dtype, seed=3, scale=1e4 if case == "huge" else 3)
    c = shape[-1]
    t = np.random.default_rng(4).integers(0, c, shape[:-1])
    if case == "uint8":
        t = t.astype(np.uint8)
    if case == "in-range-ignore":
        ii = 0 if 0 not in t else c  # a valid class index that no target uses
        t[t == ii] = 1
    xt = tc.tensor(x, requires_grad=True)
    y = F.cross_entropy(xt, tc.tensor(t), ignore_index=ii)
    assert y.grad_fn.name == "CrossEntropyMean" and y.shape == () and y.dtype == dtype
    g = rand((), dtype, seed=6)
    y.backward(g)
    x2 = tc.tensor(x.reshape((-1, c)), requires_grad=True)
    y2 = L.CrossEntropy.apply(x2, t.reshape(-1).astype(np.int64), None, ii, "mean", 0.0)
    y2.backward(g)
    np.testing.assert_array_equal(y.numpy(), y2.numpy())
    # p - 1 in the target column cancels: one rounding of the scale s = g / N, absolute
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(xt.grad.numpy().reshape(-1, c), x2.grad.numpy(), rtol=eps,
                               atol=2 * eps * abs(float(g)) / max(x2.shape[0], 1))


@pytest.mark.parametrize("opts", [dict(ignore_index=2), dict(weight=True),
                                  dict(label_smoothing=0.1), dict(reduction="sum"),
                                  dict(reduction="none"), dict(shape=(4, 3, 2))],
                         ids=_opts_id)
def test_cross_entropy_general_path_keeps_the_other_cases(opts):
    """Ignored targets, class weights, smoothing, other reductions and N-d input keep the
    general op (whose tests above cover them against PyTorch)."""
    opts = dict(opts)
    shape = opts.pop("shape", (6, 3))
    x = tc.tensor(rand(shape, np.float64), requires_grad=True)
    t = np.zeros(shape[:1] + shape[2:], np.int64)
    t[0] = 2
    y = F.cross_entropy(x, tc.tensor(t), **_ce_kwargs(opts, 3, np.float64, "tc"))
    assert y.grad_fn.name == "CrossEntropy"


@pytest.mark.parametrize("dtype", FLOATS)
def test_cross_entropy_is_stable_for_huge_logits(dtype, torch):
    x = np.array([[1e4, 0, -1e4], [-1e4, 1e4, 1e4 - 1], [0, 0, 0]], dtype=dtype)
    t = np.array([1, 1, 2])
    for ls in (0.0, 0.1):
        xt = tc.tensor(x, requires_grad=True)
        y = F.cross_entropy(xt, tc.tensor(t), label_smoothing=ls)
        y.backward()
        assert np.isfinite(y.numpy()) and np.isfinite(xt.grad.numpy()).all()
        xth = torch.tensor(x, requires_grad=True)
        yth = torch.nn.functional.cross_entropy(xth, torch.tensor(t), label_smoothing=ls)
        yth.backward()
        np.testing.assert_allclose(y.numpy(), yth.detach().numpy(), rtol=1e-5)
        np.testing.assert_allclose(xt.grad.numpy(), xth.grad.numpy(), rtol=1e-5, atol=1e-7)
    ls = F.log_softmax(tc.tensor(x), dim=1).numpy()
    assert np.isfinite(ls).all()


def test_cross_entropy_all_ignored_is_nan_like_torch(torch):
    x = rand((3, 4), np.float32)
    t = np.full(3, -100)
    y = F.cross_entropy(tc.tensor(x), tc.tensor(t))
    yth = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t))
    assert np.isnan(y.item()) and math.isnan(yth.item())


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("opts", [dict(), dict(reduction="sum"), dict(reduction="none"),
                                  dict(weight=True), dict(weight=True, ignore_index=1),
                                  dict(ignore_index=1, reduction="none")],
                         ids=_opts_id)
def test_nll_loss_matches_torch(opts, dtype, torch):
    x, t = _ce_inputs((5, 4, 3), 4, dtype, ignore="class" if "ignore_index" in opts else False)
    xt = tc.tensor(x, requires_grad=True)
    xth = torch.tensor(x, requires_grad=True)
    y = nn.NLLLoss(**_ce_kwargs(opts, 4, dtype, "tc"))(xt, tc.tensor(t))
    yth = torch.nn.NLLLoss(**_ce_kwargs(opts, 4, dtype, torch))(xth, torch.tensor(t))
    np.testing.assert_allclose(y.numpy(), yth.detach().numpy(), **tol(dtype))
    g = rand(y.shape, dtype, seed=5)
    y.backward(g)
    yth.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xt.grad.numpy(), xth.grad.numpy(), **tol(dtype))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", ["MSELoss", "L1Loss"])
def test_pointwise_losses_match_torch(name, reduction, dtype, torch):
    x, t = rand((4, 3, 2), dtype), rand((4, 3, 2), dtype, seed=1)
    xt, tt = tc.tensor(x, requires_grad=True), tc.tensor(t, requires_grad=True)
    xth, tth = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    y = getattr(nn, name)(reduction=reduction)(xt, tt)
    yth = getattr(torch.nn, name)(reduction=reduction)(xth, tth)
    assert y.dtype == dtype
    np.testing.assert_allclose(y.numpy(), yth.detach().numpy(), **tol(dtype))
    g = rand(y.shape, dtype, seed=5)
    y.backward(g)
    yth.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xt.grad.numpy(), xth.grad.numpy(), **tol(dtype))
    np.testing.assert_allclose(tt.grad.numpy(), tth.grad.numpy(), **tol(dtype))


def test_mse_loss_broadcast_warns_like_torch(torch):
    x, t = rand((4, 3), np.float32), rand((3,), np.float32)
    with pytest.warns(UserWarning, match="different to the input size"):
        y = F.mse_loss(tc.tensor(x), tc.tensor(t))
    with pytest.warns(UserWarning):
        yth = torch.nn.functional.mse_loss(torch.tensor(x), torch.tensor(t))
    np.testing.assert_allclose(y.numpy(), yth.numpy(), rtol=1e-6)


def test_legacy_size_average_reduce_flags(torch):
    for sa, rd in [(False, None), (None, False), (True, True)]:
        with pytest.warns(UserWarning):
            ours = nn.MSELoss(size_average=sa, reduce=rd)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = torch.nn.MSELoss(size_average=sa, reduce=rd)
        assert ours.reduction == theirs.reduction


# ----------------------------------------------------------------- functional activations
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,kw", [("relu", {}), ("relu6", {}), ("leaky_relu", {}),
                                     ("leaky_relu", {"negative_slope": 0.3}), ("elu", {}),
                                     ("gelu", {}), ("gelu", {"approximate": "tanh"}),
                                     ("silu", {}), ("sigmoid", {}), ("tanh", {}),
                                     ("hardtanh", {"min_val": -2.0, "max_val": 1.5}),
                                     ("softmax", {"dim": 0}), ("log_softmax", {"dim": 1})])
def test_functional_activations_match_torch(name, kw, dtype, torch):
    x = rand((6, 7), dtype, scale=4)
    x[0, :3] = [0.0, 6.0, -1.0]  # the kinks: PyTorch's subgradient choices
    xt, xth = tc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y = getattr(F, name)(xt, **kw)
    yth = getattr(torch.nn.functional, name)(xth, **kw)
    assert y.dtype == dtype
    np.testing.assert_allclose(y.numpy(), yth.detach().numpy(), **tol(dtype))
    g = rand(y.shape, dtype, seed=3)
    y.backward(g)
    yth.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xt.grad.numpy(), xth.grad.numpy(), **tol(dtype))


def test_normal_cdf_accuracy():
    from tinyconv.ops.activation import normal_cdf

    x = np.concatenate([np.linspace(-30, 9, 40001), [0.0, -0.0, 1e-300, np.inf, -np.inf]])
    ref = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    ours = normal_cdf(x)
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, ref, rtol=2e-13, atol=0)
    x32 = x.astype(np.float32)
    ours32 = normal_cdf(x32)
    assert ours32.dtype == np.float32
    ref32 = np.array([0.5 * math.erfc(-float(v) / math.sqrt(2)) for v in x32])
    np.testing.assert_allclose(ours32[x32 > -12], ref32[x32 > -12], rtol=2e-5, atol=3e-7)
    assert np.isnan(normal_cdf(np.array([np.nan]))[0])


def test_softmax_implicit_dim_warns_and_picks_torchs_dim(torch):
    for shape in [(5,), (3, 4), (2, 3, 4), (2, 3, 4, 5)]:
        x = rand(shape, np.float32)
        with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
            y = F.softmax(tc.tensor(x))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yth = torch.nn.functional.softmax(torch.tensor(x))
        np.testing.assert_allclose(y.numpy(), yth.numpy(), rtol=1e-5, atol=1e-7)


def test_softmax_dtype_argument():
    x = tc.tensor(rand((2, 3), np.float32))
    assert F.log_softmax(x, dim=1, dtype=np.float64).dtype == np.float64


# --------------------------------------------------------------------- gradient checks
def _t(a, grad=True):
    return tc.tensor(a, requires_grad=grad)


@pytest.mark.parametrize("with_affine", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 5), (3, 2, 3, 4)])
def test_gradcheck_batch_norm_training(shape, with_affine):
    c = shape[1]
    x = _t(rand(shape, scale=2) + 1)
    w = _t(rand((c,), seed=1)) if with_affine else None
    b = _t(rand((c,), seed=2)) if with_affine else None
    inputs = [x] + ([w, b] if with_affine else [])

    def fn(x, *wb):
        return F.batch_norm(x, None, None, *wb, training=True, eps=1e-3)

    assert tc.gradcheck(fn, inputs)


def test_gradcheck_batch_norm_eval():
    x = _t(rand((4, 3, 2, 2)))
    w, b = _t(rand((3,), seed=1)), _t(rand((3,), seed=2))
    rm, rv = tc.tensor(rand((3,), seed=3)), tc.tensor(np.abs(rand((3,), seed=4)) + 0.5)
    assert tc.gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False), [x, w, b])


@pytest.mark.parametrize("opts", CE_OPTIONS, ids=_opts_id)
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 2, 2)], ids=["2d", "4d"])
def test_gradcheck_cross_entropy_class_indices(opts, shape):
    x, t = _ce_inputs(shape, shape[1], np.float64,
                      ignore="class" if opts.get("ignore_index") == 1 else False)
    kw = _ce_kwargs(opts, shape[1], np.float64, "tc")
    target = tc.tensor(t)
    assert tc.gradcheck(lambda x: F.cross_entropy(x, target, **kw), [_t(x)])


@pytest.mark.parametrize("opts", [dict(), dict(weight=True, label_smoothing=0.15),
                                  dict(reduction="none", label_smoothing=0.3),
                                  dict(reduction="sum", weight=True)],
                         ids=_opts_id)
def test_gradcheck_cross_entropy_probabilities(opts):
    x = _t(rand((3, 4, 2), scale=2))
    p = np.random.default_rng(1).random((3, 4, 2))
    p = _t(p / p.sum(axis=1, keepdims=True))
    kw = _ce_kwargs(opts, 4, np.float64, "tc")
    assert tc.gradcheck(lambda x, p: F.cross_entropy(x, p, **kw), [x, p])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gradcheck_log_softmax_and_softmax(dim):
    x = _t(rand((3, 4, 2), scale=3))
    assert tc.gradcheck(lambda x: F.log_softmax(x, dim=dim), [x])
    assert tc.gradcheck(lambda x: F.softmax(x, dim=dim), [x])


def test_gradcheck_nll_and_pointwise_losses():
    x, t = _ce_inputs((4, 3, 2), 3, np.float64, ignore="class")
    target = tc.tensor(t)
    w = tc.tensor(np.array([0.5, 1.0, 2.0]))
    assert tc.gradcheck(lambda x: F.nll_loss(x, target, weight=w, ignore_index=1), [_t(x)])
    a, b = _t(rand((3, 4))), _t(rand((3, 4), seed=1))
    for red in ("mean", "sum", "none"):
        assert tc.gradcheck(lambda a, b: F.mse_loss(a, b, reduction=red), [a, b])
        assert tc.gradcheck(lambda a, b: F.l1_loss(a, b, reduction=red), [a, b])


@pytest.mark.parametrize("name,kw", [("gelu", {}), ("gelu", {"approximate": "tanh"}),
                                     ("elu", {"alpha": 0.5}), ("silu", {}),
                                     ("leaky_relu", {"negative_slope": 0.2}), ("sigmoid", {}),
                                     ("tanh", {})])
def test_gradcheck_activations(name, kw):
    x = rand((4, 5), scale=3)
    x[np.abs(x) < 1e-3] = 0.5  # keep finite differences away from the kinks
    assert tc.gradcheck(lambda x: getattr(F, name)(x, **kw), [_t(x)])


# -------------------------------------------------------------------- Module machinery
class SmallCNN:
    """The same CNN built from either library's nn namespace."""

    @staticmethod
    def build(nn):
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.features = nn.Sequential(
                    nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                    nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, groups=2, bias=False),
                    nn.BatchNorm2d(6), nn.ReLU())
                self.heads = nn.ModuleList([nn.Linear(6, 5), nn.Linear(6, 5)])
                self.extra = nn.ModuleDict({"drop": nn.Dropout(0.2), "flat": nn.Flatten()})

            def forward(self, x):
                h = self.extra["flat"](self.features(x))
                h = self.extra["drop"](h)
                return self.heads[0](h) + self.heads[1](h)

        return Net()


def test_state_dict_round_trip_with_torch(torch):
    ours = SmallCNN.build(nn)
    theirs = SmallCNN.build(torch.nn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert repr(ours) == repr(theirs)
    # train a couple of steps in tinyconv so the buffers are non-trivial
    x = rand((3, 1, 6, 6), np.float32)
    for _ in range(2):
        ours(tc.tensor(x))
    copy_into_torch(torch, ours, theirs)  # tinyconv -> torch
    ours.eval()
    theirs.eval()
    np.testing.assert_allclose(ours(tc.tensor(x)).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
    # torch -> tinyconv into a fresh model
    with torch.no_grad():
        for p in theirs.parameters():
            p.mul_(1.5)
    fresh = SmallCNN.build(nn)
    result = fresh.load_state_dict(theirs.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[k], v.numpy(), err_msg=k)
    assert fresh.state_dict()["features.1.num_batches_tracked"].dtype == np.int64
    fresh.eval()
    np.testing.assert_allclose(fresh(tc.tensor(x)).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", FLOATS)
def test_training_steps_track_torch(dtype, torch):
    """Five plain-SGD steps of a small CNN: losses, parameters and buffers stay with PyTorch's."""

    def build(nn):
        return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, padding_mode="reflect"),
                             nn.BatchNorm2d(4), nn.LeakyReLU(0.1), nn.MaxPool2d(2),
                             nn.Conv2d(4, 6, 3, padding="same", groups=2), nn.GELU(),
                             nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 5))

    tc.manual_seed(0)
    ours, theirs = cast_module(build(nn), dtype), cast_module(build(torch.nn), dtype)
    copy_into_torch(torch, ours, theirs)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    tloss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    rng = np.random.default_rng(0)
    for step in range(5):
        x = rand((8, 2, 6, 6), dtype, seed=step)
        y = rng.integers(0, 5, 8)
        loss = loss_fn(ours(tc.tensor(x)), tc.tensor(y))
        tloss = tloss_fn(theirs(torch.tensor(x)), torch.tensor(y))
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-4 if dtype == np.float32
                                   else 1e-10)
        ours.zero_grad()
        theirs.zero_grad()
        loss.backward()
        tloss.backward()
        for p in ours.parameters():
            p.data -= 0.5 * p.grad.data
        with torch.no_grad():
            for p in theirs.parameters():
                p -= 0.5 * p.grad
    for k, v in theirs.state_dict().items():
        close = dict(rtol=1e-3, atol=1e-4) if dtype == np.float32 else tol(dtype)
        np.testing.assert_allclose(ours.state_dict()[k], v.numpy(), **close, err_msg=k)


def test_load_state_dict_errors_list_every_problem():
    model = SmallCNN.build(nn)
    sd = OrderedDict((k, np.array(v)) for k, v in model.state_dict().items())
    del sd["heads.1.bias"]
    sd["features.0.weight"] = np.zeros((4, 1, 5, 5), np.float32)
    sd["bogus.weight"] = np.zeros(3)
    before = model.state_dict()["features.0.bias"].copy()
    sd["features.0.bias"] = before + 1
    with pytest.raises(nn.StateDictError) as info:
        model.load_state_dict(sd)
    msg = str(info.value)
    assert 'Missing key(s) in state_dict: "heads.1.bias".' in msg
    assert 'Unexpected key(s) in state_dict: "bogus.weight".' in msg
    assert ("size mismatch for features.0.weight: copying a param with shape (4, 1, 5, 5) from "
            "checkpoint, the shape in current model is (4, 1, 3, 3)") in msg
    assert isinstance(info.value, ValueError) and isinstance(info.value, RuntimeError)
    # nothing was loaded from a failed call
    np.testing.assert_array_equal(model.state_dict()["features.0.bias"], before)
    # non-strict: shape mismatches still raise, key mismatches are reported
    del sd["features.0.weight"]
    res = model.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["features.0.weight", "heads.1.bias"]
    assert res.unexpected_keys == ["bogus.weight"]
    np.testing.assert_array_equal(model.state_dict()["features.0.bias"], before + 1)


def test_load_state_dict_casts_to_parameter_dtype_and_keeps_identity():
    lin = nn.Linear(3, 2)
    w = lin.weight
    lin.load_state_dict({"weight": np.ones((2, 3)), "bias": tc.tensor([1.0, 2.0])})
    assert lin.weight is w and w.dtype == np.float32
    np.testing.assert_array_equal(w.numpy(), np.ones((2, 3)))


def test_parameter_is_a_leaf_tensor_that_requires_grad():
    t = tc.randn(2, 3)
    p = nn.Parameter(t)
    assert isinstance(p, tc.Tensor) and p.requires_grad and p.is_leaf
    assert p.data is t.data  # shares memory, like torch.nn.Parameter
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    (p * 2).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), np.full((2, 3), 2, np.float32))
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q.data is not p.data and q.requires_grad
    r = pickle.loads(pickle.dumps(p))
    assert isinstance(r, nn.Parameter) and np.array_equal(r.numpy(), p.numpy())
    assert nn.Parameter().shape == (0,)


def test_module_registration_and_iteration():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 3)
            self.b = nn.Sequential(nn.ReLU(), self.a)  # shared child
            self.scale = nn.Parameter(tc.ones(1))
            self.register_buffer("count", tc.zeros(1))
            self.register_buffer("cache", tc.zeros(2), persistent=False)
            self.plain = 3

    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["scale", "a.weight", "a.bias"]
    assert len(list(net.parameters())) == 3
    assert [n for n, _ in net.named_buffers()] == ["count", "cache"]
    assert list(net.state_dict()) == ["scale", "count", "a.weight", "a.bias", "b.1.weight",
                                      "b.1.bias"]
    assert [n for n, _ in net.named_children()] == ["a", "b"]
    assert [n for n, _ in net.named_modules()] == ["", "a", "b", "b.0"]
    assert net.get_submodule("b.1") is net.a
    assert net.get_parameter("a.bias") is net.a.bias
    assert net.plain == 3 and "plain" not in net._parameters
    del net.scale
    assert "scale" not in dict(net.named_parameters())
    net.a = None
    assert [n for n, _ in net.named_children()] == ["b"] and net.a is None
    with pytest.raises(TypeError, match="cannot assign 'int' as child module 'a'"):
        net.a = 3


def test_assigning_before_init_raises():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tc.ones(1))
            super().__init__()

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()


def test_train_eval_zero_grad_apply_and_hooks():
    model = SmallCNN.build(nn)
    assert all(m.training for m in model.modules())
    assert model.eval() is model and not any(m.training for m in model.modules())
    model.train()
    assert model.extra["drop"].training
    y = model(tc.randn(2, 1, 6, 6))
    y.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    seen = []
    model.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen[0] == "Conv2d"
    calls = []
    h = model.heads[0].register_forward_hook(lambda m, args, out: calls.append(out.shape))
    model(tc.randn(2, 1, 6, 6))
    h.remove()
    model(tc.randn(2, 1, 6, 6))
    assert calls == [(2, 5)]


def test_to_double_float_keeps_parameter_identity_and_int_buffers():
    model = SmallCNN.build(nn)
    params = list(model.parameters())
    model.to(tc.float64)
    assert [p is q for p, q in zip(params, model.parameters())] == [True] * len(params)
    assert all(p.dtype == np.float64 for p in model.parameters())
    bn = model.features[1]
    assert bn.running_mean.dtype == np.float64 and bn.num_batches_tracked.dtype == np.int64
    y = model(tc.tensor(rand((2, 1, 6, 6))))
    assert y.dtype == np.float64
    model.float()
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert model.to("cpu") is model and model.double().features[0].weight.dtype == np.float64
    with pytest.raises(TypeError, match="only float32 and float64"):
        model.to(np.int32)
    with pytest.raises(ValueError, match="CPU only"):
        model.to("cuda")


def test_deepcopy_gives_independent_module():
    model = SmallCNN.build(nn)
    clone = copy.deepcopy(model)
    clone.features[0].weight.data[...] = 0
    assert not np.all(model.features[0].weight.numpy() == 0)
    assert isinstance(clone.features[0].weight, nn.Parameter)
    assert list(clone.state_dict()) == list(model.state_dict())


def test_containers_behave_like_lists_and_dicts(torch):
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and isinstance(seq[1], nn.ReLU)
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub.state_dict()) == ["2.weight", "2.bias"]
    with pytest.raises(IndexError, match="index 3 is out of range for a Sequential of length 3"):
        seq[3]
    seq.append(nn.Sigmoid())
    assert len(seq) == 4
    del seq[0]
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2"]
    named = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 3)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["conv.weight", "conv.bias"] and named.act is named[1]
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    ml.append(nn.ReLU())
    ml += [nn.Tanh()]
    assert len(ml) == 5 and isinstance(ml[-1], nn.Tanh)
    assert len(list(ml.parameters())) == 6
    tml = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)] + [torch.nn.ReLU(),
                                                                           torch.nn.Tanh()])
    assert repr(ml) == repr(tml)
    md = nn.ModuleDict({"a": nn.Linear(1, 1)})
    md["b"] = nn.ReLU()
    assert list(md.keys()) == ["a", "b"] and "a" in md and len(md) == 2
    assert list(md.state_dict()) == ["a.weight", "a.bias"]
    assert isinstance(md.pop("b"), nn.ReLU) and len(md) == 1


def test_inplace_flag_is_accepted_and_shown(torch):
    for name in ["ReLU", "ReLU6", "SiLU", "ELU", "LeakyReLU", "Hardtanh"]:
        assert repr(getattr(nn, name)(inplace=True)) == repr(getattr(torch.nn, name)(inplace=True))
    x = _t(rand((3, 4)))
    y = nn.ReLU(inplace=True)(x)
    np.testing.assert_array_equal(y.numpy(), np.maximum(x.numpy(), 0))


def test_identity_and_flatten_functions():
    x = tc.randn(2, 3, 4)
    assert nn.Identity()(x) is x
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Unflatten(2, (2, 2))(x).shape == (2, 3, 2, 2)


# ------------------------------------------------------------------------------ init
def test_default_init_bounds_and_seeding():
    tc.manual_seed(3)
    conv = nn.Conv2d(16, 32, 3)
    bound = 1 / math.sqrt(16 * 9)
    w = conv.weight.numpy()
    assert w.dtype == np.float32 and np.abs(w).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert np.abs(conv.bias.numpy()).max() <= bound
    tconv = nn.ConvTranspose2d(8, 4, 3, groups=2)
    assert np.abs(tconv.weight.numpy()).max() <= 1 / math.sqrt(2 * 9)
    tc.manual_seed(3)
    again = nn.Conv2d(16, 32, 3)
    np.testing.assert_array_equal(again.weight.numpy(), w)
    lin = nn.Linear(50, 40, dtype=tc.float64)
    assert lin.weight.dtype == np.float64 and np.abs(lin.weight.numpy()).max() <= 1 / math.sqrt(50)


def test_init_functions_statistics():
    w = tc.zeros(400, 300)
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert abs(w.numpy().std() - math.sqrt(2 / 400)) < 0.02 * math.sqrt(2 / 400)
    init.kaiming_uniform_(w, a=0.1)
    assert np.abs(w.numpy()).max() <= math.sqrt(3) * init.calculate_gain("leaky_relu", 0.1) / \
        math.sqrt(300) + 1e-7
    init.xavier_uniform_(w, gain=2.0)
    assert np.abs(w.numpy()).max() <= 2 * math.sqrt(6 / 700) + 1e-7
    init.xavier_normal_(w)
    assert abs(w.numpy().std() - math.sqrt(2 / 700)) < 0.02 * math.sqrt(2 / 700)
    init.uniform_(w, -2, -1)
    assert w.numpy().min() >= -2 and w.numpy().max() <= -1
    init.normal_(w, 3, 0.5)
    assert abs(w.numpy().mean() - 3) < 0.01
    init.trunc_normal_(w, std=2, a=-1, b=1)
    assert np.abs(w.numpy()).max() <= 1
    init.constant_(w, 0.25)
    assert np.all(w.numpy() == np.float32(0.25))
    init.ones_(w)
    init.zeros_(w)
    assert not w.numpy().any() and w.dtype == np.float32
    e = tc.zeros(3, 4)
    init.eye_(e)
    np.testing.assert_array_equal(e.numpy(), np.eye(3, 4))


@pytest.mark.parametrize("shape", [(5, 5), (3, 7), (8, 2, 3, 3)])
def test_orthogonal_(shape):
    w = tc.zeros(*shape, dtype=tc.float64)
    init.orthogonal_(w, gain=2.0)
    m = w.numpy().reshape(shape[0], -1)
    if m.shape[0] <= m.shape[1]:
        np.testing.assert_allclose(m @ m.T, 4 * np.eye(m.shape[0]), atol=1e-10)
    else:
        np.testing.assert_allclose(m.T @ m, 4 * np.eye(m.shape[1]), atol=1e-10)


def test_dirac_makes_conv_identity():
    conv = nn.Conv2d(3, 3, 3, padding=1, bias=False)
    init.dirac_(conv.weight)
    x = tc.randn(2, 3, 5, 5)
    np.testing.assert_allclose(conv(x).numpy(), x.numpy(), atol=1e-6)


def test_init_gain_and_fans_match_torch(torch):
    for nl, param in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                      ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None),
                      ("conv_transpose2d", None)]:
        assert init.calculate_gain(nl, param) == pytest.approx(
            torch.nn.init.calculate_gain(nl, param))
    for shape in [(3, 4), (5, 2, 3), (6, 4, 3, 3), (2, 3, 1, 2, 2)]:
        assert init._calculate_fan_in_and_fan_out(tc.zeros(*shape)) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(*shape))


# ------------------------------------------------------------------------------ errors
ERRORS = [
    (lambda: nn.Conv2d(3, 4, 3, groups=2), ValueError,
     r"Conv2d: in_channels \(3\) must be divisible by groups \(2\)"),
    (lambda: nn.Conv2d(4, 3, 3, groups=2), ValueError,
     r"Conv2d: out_channels \(3\) must be divisible by groups \(2\)"),
    (lambda: nn.Conv2d(-1, 3, 3), ValueError, r"Conv2d: in_channels must be positive, got -1"),
    (lambda: nn.Conv1d(2, 0, 3), ValueError, r"Conv1d: out_channels must be positive, got 0"),
    (lambda: nn.Conv2d(2, 2, 3, groups=0), ValueError, r"Conv2d: groups must be positive, got 0"),
    (lambda: nn.Conv2d(2, 2, (3, -1)), ValueError,
     r"Conv2d: kernel_size must be positive, got \(3, -1\)"),
    (lambda: nn.Conv2d(2, 2, 3, stride=0), ValueError,
     r"Conv2d: stride must be positive, got \(0, 0\)"),
    (lambda: nn.Conv3d(2, 2, 3, padding=-1), ValueError,
     r"Conv3d: padding must be non-negative, got \(-1, -1, -1\)"),
    (lambda: nn.Conv2d(2, 2, 3, padding_mode="mirror"), ValueError,
     r"Conv2d: padding_mode must be one of 'zeros', 'reflect', 'replicate' or 'circular', "
     r"but got padding_mode='mirror'"),
    (lambda: nn.Conv2d(2, 2, 3, padding="half"), ValueError,
     r"Conv2d: padding must be an int, a tuple, 'same', 'valid' or 'full', got 'half'"),
    (lambda: nn.Conv2d(2, 2, 3, stride=2, padding="same"), ValueError,
     r"Conv2d: padding='same' is not supported for strided convolutions \(stride \(2, 2\)\)"),
    (lambda: nn.Conv2d(2, 2, 2.5), TypeError,
     r"Conv2d: kernel_size must be an int or a tuple of 2 ints, got 2.5"),
    (lambda: nn.Conv2d(2.0, 2, 3), TypeError, r"Conv2d: in_channels must be an int, got 2.0"),
    (lambda: nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect"), ValueError,
     r"ConvTranspose2d: only 'zeros' padding mode is supported, got padding_mode='reflect'"),
    (lambda: nn.ConvTranspose2d(2, 2, 3, stride=2, output_padding=2), ValueError,
     r"ConvTranspose2d: output_padding \(2, 2\) must be smaller than either stride \(2, 2\) or "
     r"dilation \(1, 1\)"),
    (lambda: nn.ConvTranspose1d(3, 2, 3, groups=2), ValueError,
     r"ConvTranspose1d: in_channels \(3\) must be divisible by groups \(2\)"),
    (lambda: nn.Linear(0, 3), ValueError, r"Linear: in_features must be positive, got 0"),
    (lambda: nn.Linear(4, -2), ValueError, r"Linear: out_features must be positive, got -2"),
    (lambda: nn.Linear(2, 3, dtype=np.int32), TypeError,
     r"Linear: only float32 and float64 are supported, got int32"),
    (lambda: nn.BatchNorm2d(0), ValueError, r"BatchNorm2d: num_features must be positive, got 0"),
    (lambda: nn.BatchNorm1d(3, eps=-1.0), ValueError,
     r"BatchNorm1d: eps must be a non-negative float, got -1.0"),
    (lambda: nn.Dropout(1.5), ValueError,
     r"Dropout: dropout probability has to be between 0 and 1, but got 1.5"),
    (lambda: nn.Dropout2d(-0.1), ValueError,
     r"Dropout2d: dropout probability has to be between 0 and 1, but got -0.1"),
    (lambda: nn.MaxPool2d(0), ValueError, r"MaxPool2d: kernel_size must be positive, got \(0, 0\)"),
    (lambda: nn.MaxPool2d(3, padding=2), ValueError,
     r"MaxPool2d: padding \(2, 2\) should be at most half of the kernel size \(3, 3\)"),
    (lambda: nn.AvgPool1d(2, stride=-1), ValueError,
     r"AvgPool1d: stride must be positive, got \(-1,\)"),
    (lambda: nn.AvgPool2d(2, divisor_override=0), ValueError,
     r"AvgPool2d: divisor_override must be a non-zero int, got 0"),
    (lambda: nn.MaxUnpool2d(2, stride=0), ValueError,
     r"MaxUnpool2d: stride must be positive, got \(0, 0\)"),
    (lambda: nn.AdaptiveAvgPool2d((3, 0)), ValueError,
     r"AdaptiveAvgPool2d: output_size must be positive, got \(3, 0\)"),
    (lambda: nn.AdaptiveAvgPool2d((3, 3, 3)), ValueError,
     r"AdaptiveAvgPool2d: output_size must be an int or a tuple of 2, got \(3, 3, 3\)"),
    (lambda: nn.GELU("fast"), ValueError,
     r"GELU: approximate must be 'none' or 'tanh', got 'fast'"),
    (lambda: nn.Hardtanh(1.0, -1.0), ValueError,
     r"Hardtanh: min_val \(1.0\) cannot be greater than max_val \(-1.0\)"),
    (lambda: nn.CrossEntropyLoss(reduction="avg"), ValueError,
     r"CrossEntropyLoss: reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    (lambda: nn.CrossEntropyLoss(label_smoothing=1.5), ValueError,
     r"CrossEntropyLoss: label_smoothing must be between 0.0 and 1.0, got 1.5"),
    (lambda: nn.Unflatten(1, (2, -1, -1)), ValueError,
     r"Unflatten: unflattened_size may hold non-negative sizes and at most one -1, "
     r"got \(2, -1, -1\)"),
    (lambda: nn.Conv2d(2, 2, 3, device="cuda"), ValueError,
     r"Conv2d: tinyconv runs on the CPU only, got device 'cuda'"),
]


@pytest.mark.parametrize("make,exc,msg", ERRORS, ids=[e[2][:50] for e in ERRORS])
def test_constructor_errors(make, exc, msg):
    with pytest.raises(exc, match="^" + msg):
        make()


def _x(*shape, dtype=np.float32):
    return tc.tensor(rand(shape, dtype))


CALL_ERRORS = [
    (lambda: F.cross_entropy(_x(4, 10), tc.tensor([1, 2, 12, 3])), ValueError,
     r"cross_entropy: input has 10 classes but target contains class 12 "
     r"\(input \(4, 10\), target \(4,\)\)"),
    (lambda: F.cross_entropy(_x(4, 10), tc.tensor([1, -1, 2, 3])), ValueError,
     r"cross_entropy: input has 10 classes but target contains class -1"),
    (lambda: F.cross_entropy(_x(4, 10), tc.tensor([1, 2, 3])), ValueError,
     r"cross_entropy: expected a target of shape \(4,\) for input \(4, 10\), got target \(3,\)"),
    (lambda: F.cross_entropy(_x(2, 3, 4), tc.tensor(np.zeros((2, 3), np.int64))), ValueError,
     r"cross_entropy: expected a target of shape \(2, 4\) for input \(2, 3, 4\), got target "
     r"\(2, 3\)"),
    (lambda: F.cross_entropy(_x(4, 3), _x(4)), TypeError,
     r"cross_entropy: class-index target must be an integer tensor, got float32"),
    (lambda: F.cross_entropy(_x(4, 3), _x(4, 3, dtype=np.float64)), TypeError,
     r"cross_entropy: probability target is float64 but input is float32"),
    (lambda: F.cross_entropy(_x(4, 3), tc.tensor([0, 1, 2, 0]), weight=tc.ones(4)), ValueError,
     r"cross_entropy: weight must have one entry per class, shape \(3,\), got \(4,\) "
     r"\(input \(4, 3\)\)"),
    (lambda: F.cross_entropy(_x(4, 3), tc.tensor([0, 1, 2, 0]), reduction="avg"), ValueError,
     r"cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    (lambda: F.cross_entropy(_x(4, 3), tc.tensor([0, 1, 2, 0]), label_smoothing=-0.1),
     ValueError, r"cross_entropy: label_smoothing must be between 0.0 and 1.0, got -0.1"),
    (lambda: F.cross_entropy(_x(4, 3), [0, 1, 2, 0]), TypeError,
     r"cross_entropy: target must be a Tensor, got list"),
    (lambda: F.nll_loss(_x(2, 3), tc.tensor([3, 0])), ValueError,
     r"nll_loss: input has 3 classes but target contains class 3 \(input \(2, 3\), target "
     r"\(2,\)\)"),
    (lambda: F.mse_loss(_x(4, 3), _x(4, 2)), ValueError,
     r"mse_loss: input \(4, 3\) and target \(4, 2\) cannot be broadcast together"),
    (lambda: F.l1_loss(_x(4, 3), _x(4, 3, dtype=np.float64)), TypeError,
     r"l1_loss: input is float32 but target is float64"),
    (lambda: nn.BatchNorm2d(3)(_x(2, 3, 4)), ValueError,
     r"BatchNorm2d: expected 4D input \(got 3D input of shape \(2, 3, 4\)\)"),
    (lambda: nn.BatchNorm1d(3)(_x(2, 3, 4, 4)), ValueError,
     r"BatchNorm1d: expected 2D or 3D input \(got 4D input"),
    (lambda: nn.BatchNorm2d(3)(_x(2, 4, 2, 2)), ValueError,
     r"BatchNorm2d: input has 4 channels but the layer has num_features=3 "
     r"\(input \(2, 4, 2, 2\)\)"),
    (lambda: nn.BatchNorm1d(3)(_x(1, 3)), ValueError,
     r"batch_norm: expected more than 1 value per channel when training, got input size "
     r"\(1, 3\)"),
    (lambda: F.batch_norm(_x(2, 3), None, None, training=False), ValueError,
     r"batch_norm: running_mean and running_var must be given in evaluation mode"),
    (lambda: F.batch_norm(_x(2, 3), tc.zeros(4), tc.ones(4)), ValueError,
     r"batch_norm: running_mean must have shape \(3,\) for input \(2, 3\) with 3 channels, got "
     r"\(4,\)"),
    (lambda: F.batch_norm(_x(2, 3), tc.zeros(3), tc.ones(3), weight=tc.ones(3, dtype=tc.float64)),
     TypeError, r"batch_norm: input is float32 but weight is float64"),
    (lambda: F.softmax(_x(2, 3), dim=2), ValueError,
     r"softmax: dim 2 is out of range for a tensor with 2 dimensions"),
    (lambda: F.gelu(_x(2), approximate="erf"), ValueError,
     r"gelu: approximate must be 'none' or 'tanh', got 'erf'"),
    (lambda: F.relu(tc.tensor([1, 2])), TypeError,
     r"relu: input must be float32 or float64, got int64"),
    (lambda: F.dropout(_x(2), p=2), ValueError,
     r"dropout: dropout probability has to be between 0 and 1, but got 2"),
    (lambda: F.dropout2d(_x(2, 3)), ValueError,
     r"dropout2d: expected 3-D \(unbatched\) or 4-D \(batched\) input, got 2-D input of shape "
     r"\(2, 3\)"),
    (lambda: nn.Linear(3, 2)(_x(4, 5)), ValueError,
     r"linear: input has 5 features but weight expects 3"),
    (lambda: nn.Conv2d(3, 2, 3)(_x(1, 2, 5, 5)), ValueError,
     r"conv2d: input has 2 channels but weight expects 3"),
    (lambda: nn.Flatten(3)(_x(2, 3)), ValueError,
     r"Flatten: dimension 3 is out of range for input of shape \(2, 3\)"),
    (lambda: nn.Unflatten(1, (4, 2))(_x(2, 6)), ValueError,
     r"Unflatten: unflattened_size \(4, 2\) has 8 elements but dimension 1 of input \(2, 6\) "
     r"has 6"),
    (lambda: init._calculate_fan_in_and_fan_out(tc.zeros(3)), ValueError,
     r"Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"),
    (lambda: init.calculate_gain("swish"), ValueError,
     r"calculate_gain: unsupported nonlinearity 'swish'"),
    (lambda: init.calculate_gain("leaky_relu", "a"), ValueError,
     r"calculate_gain: negative_slope 'a' is not a valid number"),
    (lambda: init.kaiming_uniform_(tc.zeros(2, 2), mode="fan_avg"), ValueError,
     r"Mode 'fan_avg' not supported, please use one of 'fan_in', 'fan_out'"),
    (lambda: init.orthogonal_(tc.zeros(3)), ValueError,
     r"orthogonal_: only tensors with 2 or more dimensions are supported, got shape \(3,\)"),
    (lambda: nn.Sequential(nn.ReLU())[1], IndexError,
     r"index 1 is out of range for a Sequential of length 1"),
    (lambda: nn.Linear(2, 2).register_buffer("weight", tc.ones(1)), KeyError,
     r"\"attribute 'weight' already exists\""),
    (lambda: nn.Linear(2, 2).load_state_dict([1, 2]), TypeError,
     r"Expected state_dict to be dict-like, got list"),
]


@pytest.mark.parametrize("call,exc,msg", CALL_ERRORS, ids=[e[2][:50] for e in CALL_ERRORS])
def test_call_errors(call, exc, msg):
    with pytest.raises(exc, match="^" + msg):
        call()
