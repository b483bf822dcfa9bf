"""Tests of tinyconv.optim, tinyconv.optim.lr_scheduler and tinyconv.nn.utils (gradient clipping).

Optimizers are compared with PyTorch's single-tensor implementations (``foreach=False``): the same
starting parameters and the same gradient sequence go to both, and the trajectories must agree
step by step (float64 tightly, float32 to float32 rounding). The gradient at each step is
``noise + 0.5 * theta`` (a random quadratic), computed from tinyconv's parameters and fed to both.
Learning-rate schedules must reproduce PyTorch's sequences exactly. Ftrl, which PyTorch lacks, is
compared with a float64 transcription of TensorFlow's formulas written here. PyTorch is optional:
tests that need it skip without it.
"""

import io
import math
import pickle
import warnings

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import nn, optim
from tinyconv.optim import lr_scheduler

FLOATS = [np.float64, np.float32]
SHAPES = [(5, 4), (4,), (2, 3, 3)]
STEPS = 20


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch (the test oracle) is not installed")


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-13)


def make_params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def grad_sequence(dtype, steps=STEPS, seed=1):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(steps)]


def set_grads(params, noise, torch_params=None, missing=()):
    """grad = noise + 0.5 * theta (from tinyconv's parameters), to both; None where ``missing``."""
    for i, (p, n) in enumerate(zip(params, noise)):
        if i in missing:
            p.grad = None
            if torch_params is not None:
                torch_params[i].grad = None
            continue
        g = n + p.data.dtype.type(0.5) * p.data
        p.grad = tc.tensor(g)
        if torch_params is not None:
            torch_params[i].grad = torch_params[i].new_tensor(g)


OPTIMIZER_CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, maximize=True)),
    ("SGD", dict(lr=0.05, maximize=True, weight_decay=0.2)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True, weight_decay=0.05)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, maximize=True, betas=(0.5, 0.9))),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5)),
    ("Adagrad", dict(lr=0.1, eps=1e-3, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, alpha=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.5, eps=1e-4, weight_decay=0.1)),
    ("Adadelta", dict(maximize=True)),
]
CASE_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}"
            for name, kw in OPTIMIZER_CASES]


def torch_optimizer(torch, name, params, **kwargs):
    return getattr(torch.optim, name)(params, foreach=False, **kwargs)


def run_pair(torch, name, kwargs, dtype, groups=None, missing=lambda step: ()):
    """Run ours and PyTorch's side by side; check parameters after every step. Return both."""
    arrays = make_params(dtype)
    ours = [nn.Parameter(tc.tensor(a.copy())) for a in arrays]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    if groups is None:
        opt = getattr(optim, name)(ours, **kwargs)
        opt_t = torch_optimizer(torch, name, theirs, **kwargs)
    else:
        opt = getattr(optim, name)([dict(g, params=[ours[i] for i in g["params"]])
                                    for g in groups], **kwargs)
        opt_t = torch_optimizer(torch, name, [dict(g, params=[theirs[i] for i in g["params"]])
                                              for g in groups], **kwargs)
    arrays_before = [p.data for p in ours]
    for step, noise in enumerate(grad_sequence(dtype)):
        set_grads(ours, noise, theirs, missing(step))
        grads_before = [None if p.grad is None else p.grad.data.copy() for p in ours]
        opt.step()
        opt_t.step()
        for i, (p, q) in enumerate(zip(ours, theirs)):
            assert p.dtype == dtype
            np.testing.assert_allclose(p.data, q.detach().numpy(), **tol(dtype),
                                       err_msg=f"{name} {kwargs}: parameter {i}, step {step}")
            if grads_before[i] is not None:  # the gradient itself is never modified
                np.testing.assert_array_equal(p.grad.data, grads_before[i])
    for p, a in zip(ours, arrays_before):
        assert p.data is a  # updated in place: references held elsewhere see the change
        assert p.is_leaf and p.grad_fn is None
    return opt, opt_t, ours, theirs


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,kwargs", OPTIMIZER_CASES, ids=CASE_IDS)
def test_trajectory_matches_torch(torch, name, kwargs, dtype):
    opt, opt_t, ours, theirs = run_pair(torch, name, kwargs, dtype)
    # The state has PyTorch's keys and values, and the groups PyTorch's options.
    sd, sd_t = opt.state_dict(), opt_t.state_dict()
    assert sorted(sd["state"]) == sorted(sd_t["state"])
    for i, s in sd["state"].items():
        assert sorted(s) == sorted(sd_t["state"][i])
        for k, v in s.items():
            ref = sd_t["state"][i][k]
            if k == "step":
                assert isinstance(v, float) and v == float(ref)
            else:
                assert isinstance(v, np.ndarray) and v.dtype == dtype
                np.testing.assert_allclose(v, ref.numpy(), **tol(dtype))
    for g, g_t in zip(sd["param_groups"], sd_t["param_groups"]):
        assert g["params"] == g_t["params"]
        for k, v in g.items():
            assert k in g_t and g_t[k] == v, k


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01)),
    ("Adagrad", dict(lr=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
    ("Adadelta", dict(lr=1.0)),
])
def test_two_param_groups_and_missing_grads(torch, name, kwargs, dtype):
    groups = [{"params": [0, 2]}, {"params": [1], "lr": kwargs.get("lr", 1.0) * 3,
                                   "weight_decay": 0.2}]
    # Parameter 2 has no gradient on some steps: it is skipped, as PyTorch skips it.
    opt, opt_t, ours, theirs = run_pair(torch, name, kwargs, dtype, groups,
                                        missing=lambda step: (2,) if step % 3 == 1 else ())
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in opt_t.param_groups]


@pytest.mark.parametrize("name,kwargs", OPTIMIZER_CASES + [("Ftrl", dict(lr=0.1, beta=0.1))],
                         ids=CASE_IDS + ["Ftrl"])
def test_grouped_and_per_tensor_updates_agree_bitwise(name, kwargs):
    """A group's small tensors are updated together on flat buffers, a lone tensor on its own
    arrays (see Optimizer.step); both must give exactly the same numbers."""
    dtype = np.float32
    together = [nn.Parameter(tc.tensor(a)) for a in make_params(dtype)]
    alone = [nn.Parameter(tc.tensor(a)) for a in make_params(dtype)]
    opt = getattr(optim, name)(together, **kwargs)
    opt_alone = getattr(optim, name)([{"params": [p]} for p in alone], **kwargs)
    for noise in grad_sequence(dtype, steps=6):
        set_grads(together, noise)
        set_grads(alone, noise)
        opt.step()
        opt_alone.step()
    for p, q in zip(together, alone):
        np.testing.assert_array_equal(p.data, q.data)
    for i, (p, q) in enumerate(zip(together, alone)):
        assert opt.state[p].keys() == opt_alone.state[q].keys()
        for k, v in opt.state[p].items():
            np.testing.assert_array_equal(v, opt_alone.state[q][k])


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.01, momentum=0.9)),
                                         ("Adam", dict(lr=0.01, amsgrad=True))])
def test_large_and_small_tensors_in_one_group(torch, name, kwargs):
    """Tensors above the flat-buffer size limit are updated on their own, beside the others."""
    rng = np.random.default_rng(8)
    arrays = [rng.standard_normal(s) for s in [(3,), (300, 250), (4, 5), (70000,)]]
    ours = [nn.Parameter(tc.tensor(a)) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    opt = getattr(optim, name)(ours, **kwargs)
    opt_t = torch_optimizer(torch, name, theirs, **kwargs)
    for step in range(4):
        for p, q in zip(ours, theirs):
            g = rng.standard_normal(p.shape)
            p.grad, q.grad = tc.tensor(g), torch.from_numpy(g.copy())
        if step == 2:
            ours[0].grad = theirs[0].grad = None
        opt.step()
        opt_t.step()
        for p, q in zip(ours, theirs):
            np.testing.assert_allclose(p.data, q.detach().numpy(), **tol(np.float64))


def test_replaced_state_arrays_are_used(torch):
    """Writing new arrays into ``opt.state`` by hand takes effect, as in PyTorch."""
    arrays = make_params(np.float64)
    ours = [nn.Parameter(tc.tensor(a)) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    opt = optim.Adam(ours, lr=0.01)
    opt_t = torch_optimizer(torch, "Adam", theirs, lr=0.01)
    for step, noise in enumerate(grad_sequence(np.float64, steps=9)):
        if step == 3:
            opt.state[ours[1]]["exp_avg"] = np.full(ours[1].shape, 0.5)
            opt_t.state[theirs[1]]["exp_avg"] = torch.full(theirs[1].shape, 0.5,
                                                           dtype=torch.float64)
        if step == 5:
            opt.state[ours[2]] = {}  # starts afresh (its own step count restarts)
            opt_t.state[theirs[2]] = {}
        set_grads(ours, noise, theirs)
        opt.step()
        opt_t.step()
        for p, q in zip(ours, theirs):
            np.testing.assert_allclose(p.data, q.detach().numpy(), **tol(np.float64))


def test_parameter_without_grad_is_untouched():
    a = nn.Parameter(tc.tensor(np.ones(3)))
    b = nn.Parameter(tc.tensor(np.ones(3)))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = tc.tensor(np.ones(3))
    opt.step()
    np.testing.assert_array_equal(b.data, np.ones(3))
    assert b not in opt.state and a in opt.state
    assert list(opt.state_dict()["state"]) == [0]


# ------------------------------------------------------------------------------ state dicts
def flatten(tree, prefix=""):
    """Flatten nested dicts/lists/tuples into '/'-joined keys, as an npz checkpoint writer."""
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            out.update(flatten(v, f"{prefix}{k}/"))
        return out
    if isinstance(tree, (list, tuple)) and any(isinstance(x, (dict, list, tuple)) for x in tree):
        out = {}
        for i, v in enumerate(tree):
            out.update(flatten(v, f"{prefix}{i}/"))
        return out
    return {prefix[:-1]: tree}


def unflatten_like(flat, template, prefix=""):
    """Rebuild the structure of ``template`` from what ``np.load`` returned (numpy leaves)."""
    if isinstance(template, dict):
        return {k: unflatten_like(flat, v, f"{prefix}{k}/") for k, v in template.items()}
    if isinstance(template, (list, tuple)) and any(isinstance(x, (dict, list, tuple))
                                                   for x in template):
        return type(template)(unflatten_like(flat, v, f"{prefix}{i}/")
                              for i, v in enumerate(template))
    return flat[prefix[:-1]]


def npz_roundtrip(state):
    """Store in an npz without pickling, load back with allow_pickle=False."""
    flat = flatten(state)
    for key, value in flat.items():
        assert np.asarray(value).dtype != object, (key, value)
    buf = io.BytesIO()
    np.savez(buf, **flat)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as data:
        loaded = {k: data[k] for k in data.files}
    return unflatten_like(loaded, state)


@pytest.mark.parametrize("via_npz", [False, True])
@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01, betas=(0.8, 0.9))),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
    ("Adadelta", dict()),
    ("Ftrl", dict(lr=0.1, l1_regularization_strength=0.01, beta=0.1)),
])
def test_state_dict_round_trip_continues_identically(name, kwargs, via_npz):
    dtype = np.float32
    grads = grad_sequence(dtype)
    params = [nn.Parameter(tc.tensor(a)) for a in make_params(dtype)]
    opt = getattr(optim, name)([{"params": params[:2]}, {"params": params[2:], "lr": 0.05}],
                               **kwargs)
    for noise in grads[:10]:
        set_grads(params, noise)
        opt.step()
    state = opt.state_dict()
    saved = [p.data.copy() for p in params]
    for noise in grads[10:]:
        set_grads(params, noise)
        opt.step()
    expected = [p.data.copy() for p in params]
    # The state dict is a snapshot: the steps taken since did not change it.
    assert all(v["step"] == 10.0 for v in state["state"].values() if "step" in v)

    params2 = [nn.Parameter(tc.tensor(a)) for a in saved]
    opt2 = getattr(optim, name)([{"params": params2[:2]}, {"params": params2[2:]}], lr=0.7)
    opt2.load_state_dict(npz_roundtrip(state) if via_npz else state)
    assert opt2.param_groups[1]["lr"] == 0.05 and opt2.param_groups[0]["lr"] == opt.defaults["lr"]
    for noise in grads[10:]:
        set_grads(params2, noise)
        opt2.step()
    for p, e in zip(params2, expected):
        assert p.dtype == dtype
        np.testing.assert_array_equal(p.data, e)


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adagrad", dict(lr=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.3)),
])
def test_load_torch_state_dict(torch, name, kwargs):
    """A PyTorch optimizer's state_dict (tensors) loads into ours and continues like PyTorch."""
    dtype = np.float64
    grads = grad_sequence(dtype)
    theirs = [torch.tensor(a, requires_grad=True) for a in make_params(dtype)]
    opt_t = torch_optimizer(torch, name, theirs, **kwargs)
    for noise in grads[:10]:
        for q, n in zip(theirs, noise):
            q.grad = torch.from_numpy(n + 0.5 * q.detach().numpy())
        opt_t.step()
    ours = [nn.Parameter(tc.tensor(q.detach().numpy().copy())) for q in theirs]
    opt = getattr(optim, name)(ours, lr=123.0)
    opt.load_state_dict(opt_t.state_dict())
    assert opt.param_groups[0]["lr"] == kwargs["lr"]
    for noise in grads[10:]:
        set_grads(ours, noise, theirs)
        opt.step()
        opt_t.step()
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.data, q.detach().numpy(), **tol(dtype))


def test_state_dict_structure_and_errors():
    a, b, c = (nn.Parameter(tc.tensor(np.ones(s, dtype=np.float32))) for s in [(2,), (3,), (4,)])
    opt = optim.SGD([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1, momentum=0.9)
    for p in (a, b, c):
        p.grad = tc.tensor(np.ones(p.shape, dtype=np.float32))
    opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0, 1] and sd["param_groups"][1]["params"] == [2]
    assert set(sd["state"]) == {0, 1, 2}
    assert list(sd["state"][2]) == ["momentum_buffer"]
    assert sd["state"][2]["momentum_buffer"].dtype == np.float32

    one_group = optim.SGD([a, b, c], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="SGD: the loaded state dict has 2 parameter groups but "
                                         "the optimizer has 1"):
        one_group.load_state_dict(sd)
    other = optim.SGD([{"params": [a]}, {"params": [b, c]}], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="loaded parameter group 0 has 2 parameters but the "
                                         "optimizer's has 1"):
        other.load_state_dict(sd)
    swapped = optim.SGD([{"params": [b, a]}, {"params": [c]}], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"state 'momentum_buffer' of parameter 0 has shape "
                                         r"\(2,\) but the parameter has shape \(3,\)"):
        swapped.load_state_dict(sd)
    with pytest.raises(ValueError, match="expects a dict with 'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})


def test_named_parameters_and_pickle():
    model = nn.Linear(3, 2)
    opt = optim.Adam(model.named_parameters(), lr=0.01)
    assert opt.param_groups[0]["param_names"] == ["weight", "bias"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]
    lr_scheduler.StepLR(opt, 2)  # wraps opt.step; pickling must still work
    opt2 = pickle.loads(pickle.dumps(opt))
    assert opt2.param_groups[0]["lr"] == 0.01 and opt2.param_groups[0]["initial_lr"] == 0.01
    assert "Adam (" in repr(opt) and "Parameter Group 0" in repr(opt) and "lr: 0.01" in repr(opt)


def test_zero_grad():
    a = nn.Parameter(tc.tensor(np.ones(3)))
    b = nn.Parameter(tc.tensor(np.ones(2)))
    opt = optim.SGD([a, b], lr=0.1)
    (a * a).sum().backward()
    grad_array = a.grad.data
    opt.zero_grad(set_to_none=False)
    assert a.grad.data is grad_array and np.all(grad_array == 0)
    assert b.grad is None
    (a * a).sum().backward()
    opt.zero_grad()
    assert a.grad is None and b.grad is None
    a.grad = np.full(3, 2.0)  # a plain numpy array as gradient also works
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad, np.zeros(3))


def test_closure_and_real_model_step(torch):
    """step(closure) re-evaluates the loss; a Linear model trains like PyTorch's."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3))
    y = rng.standard_normal((8, 2))
    model = nn.Linear(3, 2).double()
    model_t = torch.nn.Linear(3, 2).double()
    model_t.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()})
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt_t = torch.optim.SGD(model_t.parameters(), lr=0.1, momentum=0.9)
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = ((model(tc.tensor(x)) - tc.tensor(y)) ** 2).mean()
        loss.backward()
        return loss

    def closure_t():
        opt_t.zero_grad()
        loss = ((model_t(torch.from_numpy(x)) - torch.from_numpy(y)) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(5):
        loss = opt.step(closure)
        loss_t = opt_t.step(closure_t)
        assert loss.item() == pytest.approx(loss_t.item(), rel=1e-12)
    assert len(calls) == 5
    for (k, v), (_, v_t) in zip(model.state_dict().items(), model_t.state_dict().items()):
        np.testing.assert_allclose(v, v_t.numpy(), rtol=1e-12, err_msg=k)


# ------------------------------------------------------------------------------------ Ftrl
def ftrl_reference(w, grads, lr, lr_power=-0.5, init_acc=0.1, l1=0.0, l2=0.0, l2_shrinkage=0.0,
                   beta=0.0):
    """TensorFlow's ApplyFtrlV2 / tf.keras.optimizers.Ftrl update, element by element, float64."""
    w = np.array(w, dtype=np.float64).ravel()
    n = np.full_like(w, init_acc)
    z = np.zeros_like(w)
    l2_adj = l2 + beta / (2.0 * lr)
    trajectory = []
    for g in grads:
        g = np.asarray(g, dtype=np.float64).ravel()
        for i in range(w.size):
            g_shrink = g[i] + 2.0 * l2_shrinkage * w[i]
            n_new = n[i] + g[i] * g[i]
            z[i] += g_shrink - (n_new ** -lr_power - n[i] ** -lr_power) / lr * w[i]
            quadratic = n_new ** -lr_power / lr + 2.0 * l2_adj
            w[i] = (math.copysign(l1, z[i]) - z[i]) / quadratic if abs(z[i]) > l1 else 0.0
            n[i] = n_new
        trajectory.append(w.copy())
    return trajectory


FTRL_CASES = [
    dict(lr=0.1),
    dict(lr=0.5, l1_regularization_strength=0.05),
    dict(lr=0.2, l2_regularization_strength=0.1, beta=0.5, initial_accumulator_value=0.5),
    dict(lr=0.1, learning_rate_power=-0.7, l2_shrinkage_regularization_strength=0.1,
         l1_regularization_strength=0.01),
    dict(lr=0.3, learning_rate_power=0.0, l2_regularization_strength=0.05),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kwargs", FTRL_CASES, ids=[str(k) for k in FTRL_CASES])
def test_ftrl_matches_tensorflow_formulas(kwargs, dtype):
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(STEPS)]
    names = dict(lr="lr", learning_rate_power="lr_power", initial_accumulator_value="init_acc",
                 l1_regularization_strength="l1", l2_regularization_strength="l2",
                 l2_shrinkage_regularization_strength="l2_shrinkage", beta="beta")
    ref = ftrl_reference(w0, grads, **{names[k]: v for k, v in kwargs.items()})
    p = nn.Parameter(tc.tensor(w0.astype(dtype)))
    array = p.data
    opt = optim.Ftrl([p], **kwargs)
    for step, g in enumerate(grads):
        p.grad = tc.tensor(g.astype(dtype))
        opt.step()
        assert p.data is array and p.dtype == dtype
        np.testing.assert_allclose(p.data.ravel(), ref[step], **tol(dtype),
                                   err_msg=f"step {step}")
        if kwargs.get("l1_regularization_strength", 0) == 0 or dtype == np.float32:
            continue
        np.testing.assert_array_equal(p.data.ravel() == 0, ref[step] == 0)


def test_ftrl_l1_gives_exact_zeros():
    rng = np.random.default_rng(4)
    p = nn.Parameter(tc.tensor(rng.standard_normal(1000).astype(np.float32)))
    opt = optim.Ftrl([p], lr=0.5, l1_regularization_strength=2.0)
    for _ in range(5):
        p.grad = tc.tensor((rng.standard_normal(1000) * 0.5 + 0.3).astype(np.float32))
        opt.step()
    zeros = np.count_nonzero(p.data == 0.0)
    assert 0 < zeros < 1000  # exact zeros where |z| <= l1, non-zeros elsewhere
    z = opt.state[p]["linear"]
    np.testing.assert_array_equal(p.data == 0.0, np.abs(z) <= 2.0)
    # Without L1 the same run has no exact zeros.
    q = nn.Parameter(tc.tensor(rng.standard_normal(1000).astype(np.float32)))
    opt = optim.Ftrl([q], lr=0.5)
    q.grad = tc.tensor((rng.standard_normal(1000) + 0.3).astype(np.float32))
    opt.step()
    assert np.count_nonzero(q.data == 0.0) == 0


# ---------------------------------------------------------------------------- schedulers
def sched_optimizer(module, params, kind="SGD"):
    if kind == "SGD":
        return module.SGD([{"params": params[:1]}, {"params": params[1:], "lr": 0.3}], lr=0.1,
                          momentum=0.9)
    return module.Adam([{"params": params[:1]}, {"params": params[1:], "lr": 0.3}], lr=0.1)


SCHEDULES = {
    "ConstantLR": ("SGD", lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=4)),
    "ConstantLR-fixed": ("SGD", lambda m, o: m.ConstantLR(o, factor=1.0, total_iters=1000)),
    "StepLR": ("SGD", lambda m, o: m.StepLR(o, step_size=7, gamma=0.5)),
    "MultiStepLR": ("SGD", lambda m, o: m.MultiStepLR(o, milestones=[3, 8, 8, 20], gamma=0.3)),
    "ExponentialLR": ("SGD", lambda m, o: m.ExponentialLR(o, gamma=0.9)),
    "PolynomialLR": ("SGD", lambda m, o: m.PolynomialLR(o, total_iters=20, power=2.0)),
    "CosineAnnealingLR": ("SGD", lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=0.001)),
    "CosineAnnealingLR-7": ("SGD", lambda m, o: m.CosineAnnealingLR(o, T_max=7)),
    "LinearLR-warmup": ("SGD", lambda m, o: m.LinearLR(o, start_factor=0.1, total_iters=10)),
    "LinearLR-decay": ("SGD", lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.1,
                                                      total_iters=5)),
    "LambdaLR": ("SGD", lambda m, o: m.LambdaLR(o, lambda e: 0.95 ** e)),
    "LambdaLR-list": ("SGD", lambda m, o: m.LambdaLR(
        o, [lambda e: 1.0 / (e + 1), lambda e: 0.5 if e % 2 else 1.0])),
    "MultiplicativeLR": ("SGD", lambda m, o: m.MultiplicativeLR(o, lambda e: 0.97)),
    "SequentialLR": ("SGD", lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.2, total_iters=5), m.CosineAnnealingLR(o, T_max=12)],
        milestones=[5])),
    "SequentialLR-3": ("SGD", lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.1, total_iters=3), m.ExponentialLR(o, gamma=0.9),
            m.StepLR(o, step_size=4)], milestones=[3, 12])),
    "ChainedScheduler": ("SGD", lambda m, o: m.ChainedScheduler(
        [m.ConstantLR(o, factor=0.5, total_iters=6), m.ExponentialLR(o, gamma=0.9)])),
    "OneCycleLR-cos": ("SGD", lambda m, o: m.OneCycleLR(o, max_lr=1.0, total_steps=31)),
    "OneCycleLR-linear": ("SGD", lambda m, o: m.OneCycleLR(
        o, max_lr=[0.5, 2.0], total_steps=40, anneal_strategy="linear", pct_start=0.25,
        div_factor=10.0, final_div_factor=100.0)),
    "OneCycleLR-three-phase": ("SGD", lambda m, o: m.OneCycleLR(
        o, max_lr=1.0, epochs=3, steps_per_epoch=11, three_phase=True,
        base_momentum=0.8, max_momentum=[0.9, 0.99])),
    "OneCycleLR-adam": ("Adam", lambda m, o: m.OneCycleLR(o, max_lr=0.01, total_steps=31)),
    "OneCycleLR-no-momentum": ("SGD", lambda m, o: m.OneCycleLR(
        o, max_lr=1.0, total_steps=31, cycle_momentum=False)),
}


def schedule_sequence(module, sched_module, kind, factory, params, steps=30):
    opt = sched_optimizer(module, params, kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's "step before optimizer.step" warning
        sched = factory(sched_module, opt)
        lrs, momenta = [sched.get_last_lr()], []
        for _ in range(steps):
            sched.step()
            lrs.append(sched.get_last_lr())
            momenta.append([g["betas"][0] if "betas" in g else g["momentum"]
                            for g in opt.param_groups])
    assert lrs[-1] == [g["lr"] for g in opt.param_groups]
    return lrs, momenta


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_matches_torch(torch, name):
    kind, factory = SCHEDULES[name]
    ours = schedule_sequence(optim, lr_scheduler, kind, factory,
                             [nn.Parameter(tc.zeros(1)) for _ in range(2)])
    theirs = schedule_sequence(torch.optim, torch.optim.lr_scheduler, kind, factory,
                               [torch.zeros(1, requires_grad=True) for _ in range(2)])
    assert ours[0] == theirs[0]  # exactly: the same float64 arithmetic in the same order
    assert ours[1] == theirs[1]
    assert len(set(map(tuple, ours[0]))) > 1 or name == "ConstantLR-fixed"


def test_onecycle_stepping_past_total_steps_fails():
    opt = optim.SGD([nn.Parameter(tc.zeros(1))], lr=0.1, momentum=0.9)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    opt.step()
    sched.step()
    sched.step()
    sched.step()
    with pytest.raises(ValueError, match="OneCycleLR: tried to step 4 times; the specified "
                                         "number of total steps is 3"):
        sched.step()


PLATEAU_CASES = [
    dict(),
    dict(mode="min", factor=0.5, patience=2, cooldown=1, min_lr=0.01),
    dict(mode="max", threshold_mode="abs", threshold=0.1, patience=0, factor=0.3),
    dict(mode="max", threshold=0.05, patience=1, min_lr=[0.02, 0.001], factor=0.2),
    dict(mode="min", threshold_mode="abs", threshold=0.0, patience=1, eps=0.05, factor=0.7),
]


@pytest.mark.parametrize("kwargs", PLATEAU_CASES, ids=[str(k) for k in PLATEAU_CASES])
def test_reduce_lr_on_plateau_matches_torch(torch, kwargs):
    metrics = [1.0, 0.9, 0.95, 0.9, 0.91, 0.89, 0.9, 0.9, 0.9, 0.5, 0.6, 0.7, 0.8, 0.9, 0.49,
               0.49, 0.49, 0.3, 0.3, 0.31, 0.4, 0.35, 0.2, 0.2, 0.2, 0.2, 0.25, 0.1, 0.1, 0.1]
    metrics = metrics + [1.0 - m for m in metrics]  # both directions for 'max' mode too

    def run(module, sched_module, params):
        opt = sched_optimizer(module, params)
        sched = sched_module.ReduceLROnPlateau(opt, **kwargs)
        out = []
        for m in metrics:
            sched.step(m)
            out.append((sched.get_last_lr(), sched.num_bad_epochs, sched.cooldown_counter,
                        sched.best))
        return out

    ours = run(optim, lr_scheduler, [nn.Parameter(tc.zeros(1)) for _ in range(2)])
    theirs = run(torch.optim, torch.optim.lr_scheduler,
                 [torch.zeros(1, requires_grad=True) for _ in range(2)])
    assert ours == theirs
    assert len({tuple(o[0]) for o in ours}) > 1  # the rate did change


@pytest.mark.parametrize("via_npz", [False, True])
@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "CosineAnnealingLR", "LambdaLR",
                                  "SequentialLR", "ChainedScheduler", "OneCycleLR-three-phase",
                                  "OneCycleLR-adam", "ReduceLROnPlateau"])
def test_scheduler_state_dict_round_trip(name, via_npz):
    """Save optimizer + scheduler mid-run; fresh ones loaded from it continue identically."""
    if name == "ReduceLROnPlateau":
        kind = "SGD"

        def factory(m, o):
            return m.ReduceLROnPlateau(o, patience=1, factor=0.5, cooldown=2)
    else:
        kind, factory = SCHEDULES[name]
    metrics = [1.0, 0.9, 0.95, 0.97, 0.99, 0.7, 0.8, 0.8, 0.8, 0.8] * 3

    def advance(opt, sched, steps):
        out = []
        for i in range(steps):
            opt.step()
            sched.step(metrics[i]) if name == "ReduceLROnPlateau" else sched.step()
            out.append((sched.get_last_lr(), [g.get("momentum") for g in opt.param_groups],
                        [g.get("betas") for g in opt.param_groups]))
        return out

    opt = sched_optimizer(optim, [nn.Parameter(tc.zeros(1)) for _ in range(2)], kind)
    sched = factory(lr_scheduler, opt)
    advance(opt, sched, 12)
    opt_state, sched_state = opt.state_dict(), sched.state_dict()
    expected = advance(opt, sched, 15)

    opt2 = sched_optimizer(optim, [nn.Parameter(tc.zeros(1)) for _ in range(2)], kind)
    sched2 = factory(lr_scheduler, opt2)
    if via_npz:
        opt_state, sched_state = npz_roundtrip(opt_state), npz_roundtrip(sched_state)
    sched2.load_state_dict(sched_state)
    opt2.load_state_dict(opt_state)
    assert advance(opt2, sched2, 15) == expected


def test_lambda_state_dict_stores_no_functions():
    class Factor:
        def __init__(self):
            self.base = 0.5

        def __call__(self, epoch):
            return self.base ** epoch

    opt = optim.SGD([{"params": [nn.Parameter(tc.zeros(1))]},
                     {"params": [nn.Parameter(tc.zeros(1))]}], lr=0.1)
    factor = Factor()
    sched = lr_scheduler.LambdaLR(opt, [lambda e: 1.0, factor])
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{}, {"base": 0.5}]
    factor.base = 0.9
    sched.load_state_dict(state)
    assert factor.base == 0.5


def test_scheduler_warns_when_stepped_before_optimizer():
    opt = optim.SGD([nn.Parameter(tc.zeros(1))], lr=0.1)
    sched = lr_scheduler.StepLR(opt, 3)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    opt2 = optim.SGD([nn.Parameter(tc.zeros(1))], lr=0.1)
    sched2 = lr_scheduler.StepLR(opt2, 3)
    opt2.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched2.step()


def test_scheduler_resume_with_last_epoch(torch):
    """last_epoch >= 0 needs initial_lr; the recursive form then continues from group['lr']."""
    opt = optim.SGD([nn.Parameter(tc.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match=r"'initial_lr' is not in param_groups\[0\] while "
                                         "resuming with last_epoch=4"):
        lr_scheduler.StepLR(opt, 3, last_epoch=4)
    opt_t = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    for o in (opt, opt_t):
        o.param_groups[0]["initial_lr"] = 0.2
    ours = lr_scheduler.CosineAnnealingLR(opt, T_max=10, last_epoch=4)
    theirs = torch.optim.lr_scheduler.CosineAnnealingLR(opt_t, T_max=10, last_epoch=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(8):
            assert ours.get_last_lr() == theirs.get_last_lr()
            ours.step()
            theirs.step()


# ------------------------------------------------------------------------------- clipping
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, "inf", 3.5, 0.0])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(torch, dtype, norm_type, max_norm):
    arrays = make_params(dtype, seed=5)
    ours = [nn.Parameter(tc.tensor(a)) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    for i, (p, q) in enumerate(zip(ours, theirs)):
        if i == 1:
            continue  # grad None: skipped
        g = np.random.default_rng(i).standard_normal(p.shape).astype(dtype) * 3
        p.grad = tc.tensor(g)
        q.grad = torch.from_numpy(g.copy())
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(total, tc.Tensor) and total.shape == () and total.dtype == dtype
    np.testing.assert_allclose(total.item(), total_t.item(), **tol(dtype))
    assert ours[1].grad is None
    for p, q in zip(ours, theirs):
        if p.grad is not None:
            assert p.grad.dtype == dtype
            np.testing.assert_allclose(p.grad.data, q.grad.numpy(), **tol(dtype))


def test_clip_grad_norm_single_tensor_and_errors(torch):
    p = nn.Parameter(tc.tensor(np.array([3.0, 4.0])))
    p.grad = tc.tensor(np.array([3.0, 4.0]))
    total = nn.utils.clip_grad_norm_(p, 1.0)
    assert total.item() == 5.0
    np.testing.assert_allclose(p.grad.data, np.array([3.0, 4.0]) / (5.0 + 1e-6))
    assert nn.utils.clip_grad_norm_([nn.Parameter(tc.zeros(2))], 1.0).item() == 0.0
    p.grad = tc.tensor(np.array([np.nan, 1.0]))
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm of order 2.0 of the "
                                           "gradients is nan"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(p.grad.data[1:], [1.0])  # left unchanged
    with pytest.warns(UserWarning, match="empty generator"):
        nn.utils.clip_grad_norm_((q for q in []), 1.0)


@pytest.mark.parametrize("dtype", FLOATS)
def test_clip_grad_value_matches_torch(torch, dtype):
    arrays = make_params(dtype, seed=6)
    ours = [nn.Parameter(tc.tensor(a)) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    for p, q in zip(ours[:2], theirs[:2]):
        g = np.random.default_rng(7).standard_normal(p.shape).astype(dtype) * 2
        p.grad = tc.tensor(g)
        q.grad = torch.from_numpy(g.copy())
    arrays_before = [p.grad.data for p in ours[:2]]
    nn.utils.clip_grad_value_(ours, 0.7)
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, q, a in zip(ours[:2], theirs[:2], arrays_before):
        assert p.grad.data is a and p.grad.dtype == dtype
        np.testing.assert_array_equal(p.grad.data, q.grad.numpy())
    assert ours[2].grad is None


# --------------------------------------------------------------------------------- errors
def P():
    return nn.Parameter(tc.zeros(2))


@pytest.mark.parametrize("build,exc,message", [
    (lambda: optim.SGD([P()], lr=-0.1), ValueError,
     "SGD: invalid learning rate -0.1; it must be >= 0"),
    (lambda: optim.SGD([P()], lr=0.1, momentum=-1), ValueError, "SGD: invalid momentum value -1"),
    (lambda: optim.SGD([P()], weight_decay=-1e-4), ValueError, "SGD: invalid weight_decay value"),
    (lambda: optim.SGD([P()], nesterov=True), ValueError,
     "SGD: Nesterov momentum requires a momentum and zero dampening, got momentum=0 and "
     "dampening=0"),
    (lambda: optim.SGD([P()], momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     "dampening=0.1"),
    (lambda: optim.SGD([P()], lr="0.1"), TypeError,
     "SGD: learning rate must be a real number, got str"),
    (lambda: optim.Adam([P()], betas=(1.0, 0.999)), ValueError,
     r"Adam: invalid beta parameter at index 0 1.0; it must be in \[0.0, 1.0\)"),
    (lambda: optim.AdamW([P()], betas=(0.9, -0.1)), ValueError,
     "AdamW: invalid beta parameter at index 1 -0.1"),
    (lambda: optim.Adam([P()], betas=0.9), TypeError, "Adam: betas must be a pair of floats"),
    (lambda: optim.Adam([P()], eps=-1e-8), ValueError, "Adam: invalid epsilon value -1e-08"),
    (lambda: optim.Adam([P()], lr=float("nan")), ValueError, "Adam: invalid learning rate nan"),
    (lambda: optim.Adagrad([P()], lr_decay=-1), ValueError, "Adagrad: invalid lr_decay value -1"),
    (lambda: optim.Adagrad([P()], initial_accumulator_value=-1), ValueError,
     "Adagrad: invalid initial_accumulator_value value -1"),
    (lambda: optim.RMSprop([P()], alpha=-0.5), ValueError, "RMSprop: invalid alpha value -0.5"),
    (lambda: optim.Adadelta([P()], rho=1.5), ValueError,
     r"Adadelta: invalid rho value 1.5; it must be in \[0.0, 1.0\]"),
    (lambda: optim.Ftrl([P()], lr=0.0), ValueError,
     "Ftrl: invalid learning rate 0.0; it must be > 0"),
    (lambda: optim.Ftrl([P()], learning_rate_power=0.5), ValueError,
     "Ftrl: invalid learning_rate_power 0.5; it must be <= 0"),
    (lambda: optim.Ftrl([P()], l1_regularization_strength=-1), ValueError,
     "Ftrl: invalid l1_regularization_strength -1"),
    (lambda: optim.SGD([], lr=0.1), ValueError, "SGD: got an empty parameter list"),
    (lambda: optim.SGD(P(), lr=0.1), TypeError, "SGD: params should be an iterable of Tensors"),
    (lambda: optim.SGD([P(), np.zeros(2)], lr=0.1), TypeError,
     "SGD: can only optimize Tensors, but parameter 1 of group 0 is a ndarray"),
    (lambda: optim.SGD([tc.zeros(2, dtype=np.int64)]), TypeError,
     "can only optimize floating-point Tensors, but parameter 0 of group 0 is int64"),
    (lambda: optim.SGD([nn.Parameter(tc.zeros(2)) * 2]), ValueError,
     "SGD: can't optimize a non-leaf Tensor"),
    (lambda: optim.SGD({P()}), TypeError, "SGD: parameters must be in an ordered collection"),
    (lambda: optim.SGD([{"params": {P()}}]), TypeError, "SGD: parameters must be in an ordered"),
    (lambda: optim.Adam([P(), ("b", P())]), ValueError, "Adam: 1 of the 2 parameters have names"),
    (lambda: optim.SGD([{"lr": 0.1}]), ValueError, "SGD: a parameter group needs a 'params' entry"),
])
def test_optimizer_errors(build, exc, message):
    with pytest.raises(exc, match=message):
        build()


def test_optimizer_group_errors():
    a = P()
    opt = optim.SGD([a], lr=0.1)
    with pytest.raises(ValueError, match="SGD: some parameters appear in more than one "
                                         "parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(TypeError, match="SGD: a parameter group must be a dict, got list"):
        opt.add_param_group([P()])
    with pytest.warns(UserWarning, match="duplicate parameters"):
        optim.SGD([a, a], lr=0.1)
    b = P()
    opt.add_param_group({"params": b, "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0
    b.grad = tc.zeros(3)
    with pytest.raises(ValueError, match=r"SGD: a parameter of shape \(2,\) has a gradient of "
                                         r"shape \(3,\)"):
        opt.step()
    with pytest.raises(NotImplementedError):
        optim.Optimizer([P()], {}).step()


def scheduler_opt():
    return optim.SGD([P()], lr=0.1, momentum=0.9)


@pytest.mark.parametrize("build,exc,message", [
    (lambda: lr_scheduler.StepLR("sgd", 3), TypeError, "StepLR: str is not an Optimizer"),
    (lambda: lr_scheduler.StepLR(scheduler_opt(), 0), ValueError,
     "StepLR: step_size must be >= 1, got 0"),
    (lambda: lr_scheduler.StepLR(scheduler_opt(), 2.5), TypeError,
     "StepLR: step_size must be an int, got float"),
    (lambda: lr_scheduler.ConstantLR(scheduler_opt(), factor=1.5), ValueError,
     "ConstantLR: the constant multiplicative factor must be between 0 and 1, got 1.5"),
    (lambda: lr_scheduler.LinearLR(scheduler_opt(), start_factor=0), ValueError,
     "LinearLR: the starting multiplicative factor must be greater than 0"),
    (lambda: lr_scheduler.LinearLR(scheduler_opt(), end_factor=2), ValueError,
     "LinearLR: the ending multiplicative factor must be between 0 and 1, got 2"),
    (lambda: lr_scheduler.CosineAnnealingLR(scheduler_opt(), T_max=0), ValueError,
     "CosineAnnealingLR: T_max must be >= 1, got 0"),
    (lambda: lr_scheduler.LambdaLR(scheduler_opt(), [abs, abs]), ValueError,
     "LambdaLR: expected 1 lr_lambdas \\(one per parameter group\\), got 2"),
    (lambda: lr_scheduler.LambdaLR(scheduler_opt(), 0.5), TypeError,
     "LambdaLR: lr_lambda should be a function, got float"),
    (lambda: lr_scheduler.ReduceLROnPlateau(scheduler_opt(), factor=1.0), ValueError,
     "ReduceLROnPlateau: factor should be < 1.0, got 1.0"),
    (lambda: lr_scheduler.ReduceLROnPlateau(scheduler_opt(), mode="up"), ValueError,
     "ReduceLROnPlateau: mode 'up' is unknown; use 'min' or 'max'"),
    (lambda: lr_scheduler.ReduceLROnPlateau(scheduler_opt(), threshold_mode="x"), ValueError,
     "ReduceLROnPlateau: threshold mode 'x' is unknown"),
    (lambda: lr_scheduler.ReduceLROnPlateau(scheduler_opt(), min_lr=[0.1, 0.2]), ValueError,
     "ReduceLROnPlateau: expected 1 min_lrs \\(one per parameter group\\), got 2"),
    (lambda: lr_scheduler.OneCycleLR(scheduler_opt(), 1.0), ValueError,
     "OneCycleLR: give either total_steps or both epochs and steps_per_epoch"),
    (lambda: lr_scheduler.OneCycleLR(scheduler_opt(), 1.0, total_steps=0), ValueError,
     "OneCycleLR: expected a positive integer total_steps, got 0"),
    (lambda: lr_scheduler.OneCycleLR(scheduler_opt(), 1.0, epochs=2, steps_per_epoch=-1),
     ValueError, "OneCycleLR: expected a positive integer steps_per_epoch, got -1"),
    (lambda: lr_scheduler.OneCycleLR(scheduler_opt(), 1.0, 10, pct_start=1.5), ValueError,
     "OneCycleLR: expected pct_start between 0 and 1, got 1.5"),
    (lambda: lr_scheduler.OneCycleLR(scheduler_opt(), 1.0, 10, anneal_strategy="exp"),
     ValueError, "OneCycleLR: anneal_strategy must be 'cos' or 'linear', got 'exp'"),
    (lambda: lr_scheduler.OneCycleLR(scheduler_opt(), [1.0, 2.0], 10), ValueError,
     "OneCycleLR: max_lr has 2 values but the optimizer has 1 parameter groups"),
    (lambda: lr_scheduler.OneCycleLR(optim.Adagrad([P()]), 1.0, 10), ValueError,
     "OneCycleLR: cycle_momentum needs an optimizer with momentum or betas, and Adagrad has "
     "neither"),
    (lambda: lr_scheduler.SequentialLR(scheduler_opt(), [], []), ValueError,
     "SequentialLR: expects at least one scheduler, got none"),
    (lambda: lr_scheduler.ChainedScheduler([]), ValueError,
     "ChainedScheduler: expects at least one scheduler to chain, got none"),
])
def test_scheduler_errors(build, exc, message):
    with pytest.raises(exc, match=message):
        build()


def test_composite_scheduler_errors():
    opt, other = scheduler_opt(), scheduler_opt()
    a = lr_scheduler.StepLR(opt, 2)
    b = lr_scheduler.ExponentialLR(other, 0.9)
    with pytest.raises(ValueError, match="SequentialLR: expects all schedulers to belong to the "
                                         "same optimizer, but the ExponentialLR at index 1"):
        lr_scheduler.SequentialLR(opt, [a, b], milestones=[3])
    with pytest.raises(ValueError, match="SequentialLR: expects one milestone fewer than "
                                         "schedulers, got 1 schedulers and 1 milestones"):
        lr_scheduler.SequentialLR(opt, [a], milestones=[3])
    plateau = lr_scheduler.ReduceLROnPlateau(opt)
    with pytest.raises(ValueError, match="ChainedScheduler does not support ReduceLROnPlateau"):
        lr_scheduler.ChainedScheduler([a, plateau])
    opt.add_param_group({"params": [P()]})
    plateau = lr_scheduler.ReduceLROnPlateau(optim.SGD([P()], lr=1.0), min_lr=[0.1], patience=0)
    plateau.optimizer.add_param_group({"params": [P()]})
    plateau.step(1.0)
    with pytest.raises(ValueError, match="ReduceLROnPlateau: the optimizer has 2 parameter "
                                         "groups but 1 min_lrs were given"):
        plateau.step(2.0)
