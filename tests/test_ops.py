"""Generic tests driven by the op database in op_cases.py.

For every case: forward and all gradients against PyTorch (when installed), finite differences
in float64 with a random upstream gradient, dtype preservation, 1 thread vs several, and
non-contiguous inputs.
"""

import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F
from op_cases import CASES, UNPOOL_CASES

IDS = [c.id for c in CASES]


def make_args(case, dtype, seed=0, lib="tc"):
    rng = np.random.default_rng(seed)
    arrays = [None if s is None else rng.standard_normal(s).astype(dtype) for s in case.shapes]
    return arrays


def wrap(arrays, lib):
    if lib == "tc":
        return [None if a is None else tc.tensor(a, requires_grad=True) for a in arrays]
    import torch

    return [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]


def call(case, fn_module, args):
    out = getattr(fn_module, case.op)(*args, **case.kwargs)
    return out[0] if case.tuple_out else out


def upstream(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


def run_tc(case, arrays):
    args = wrap(arrays, "tc")
    out = call(case, F, args)
    g = upstream(out.shape).astype(out.dtype)
    out.backward(g)
    return out.numpy().copy(), [None if a is None else a.grad.numpy().copy() for a in args], g


@pytest.fixture
def torch_f():
    torch = pytest.importorskip("torch", reason="PyTorch (the test oracle) is not installed")
    return torch, torch.nn.functional


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_and_gradients_match_torch(case, dtype, torch_f):
    torch, TF = torch_f
    arrays = make_args(case, dtype)
    out, grads, g = run_tc(case, arrays)
    targs = wrap(arrays, "torch")
    tout = call(case, TF, targs)
    tout.backward(torch.from_numpy(g))
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    assert out.shape == tuple(tout.shape)
    np.testing.assert_allclose(out, tout.detach().numpy(), **tol)
    for i, (ours, t) in enumerate(zip(grads, targs)):
        if t is not None:
            np.testing.assert_allclose(ours, t.grad.numpy(), **tol, err_msg=f"gradient {i}")


@pytest.mark.parametrize("case", [c for c in CASES if c.kwargs.get("return_indices")],
                         ids=lambda c: c.id)
def test_indices_match_torch(case, torch_f):
    torch, TF = torch_f
    (a,) = make_args(case, np.float64)
    _, idx = getattr(F, case.op)(tc.tensor(a), **case.kwargs)
    _, tidx = getattr(TF, case.op)(torch.tensor(a), **case.kwargs)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_finite_differences(case):
    arrays = make_args(case, np.float64, seed=2)
    args = wrap(arrays, "tc")
    inputs = [a for a in args if a is not None]
    positions = [i for i, a in enumerate(args) if a is not None]

    def fn(*ts):
        full = [None] * len(args)
        for p, t in zip(positions, ts):
            full[p] = t
        return call(case, F, full)

    assert tc.gradcheck(fn, inputs, seed=3)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_dtype_preserved(case):
    arrays = make_args(case, np.float32)
    out, grads, _ = run_tc(case, arrays)
    assert out.dtype == np.float32
    assert all(g is None or g.dtype == np.float32 for g in grads)
    out64, grads64, _ = run_tc(case, make_args(case, np.float64))
    assert out64.dtype == np.float64
    assert all(g is None or g.dtype == np.float64 for g in grads64)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_one_thread_equals_many(case):
    arrays = make_args(case, np.float32)
    before = tc.get_num_threads()
    try:
        tc.set_num_threads(1)
        out1, grads1, _ = run_tc(case, arrays)
        tc.set_num_threads(4)
        out4, grads4, _ = run_tc(case, arrays)
    finally:
        tc.set_num_threads(before)
    np.testing.assert_allclose(out1, out4, rtol=1e-5, atol=1e-6)
    for a, b in zip(grads1, grads4):
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_non_contiguous_input(case):
    arrays = make_args(case, np.float64)
    x = arrays[0]
    # the same values, stored every other element along the last axis (a strided view)
    big = np.zeros(x.shape[:-1] + (2 * x.shape[-1],))
    big[..., ::2] = x
    view = big[..., ::2]
    assert not view.flags.c_contiguous
    out, grads, g = run_tc(case, arrays)
    args = wrap(arrays, "tc")
    args[0] = tc.from_numpy(view).requires_grad_()
    out2 = call(case, F, args)
    out2.backward(g)
    np.testing.assert_allclose(out2.numpy(), out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(args[0].grad.numpy(), grads[0], rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------- max_unpool
def _unpool(F_, lib_tensor, op, pool_kw, x, out_size, unpool_input=None):
    nd = int(op[-2])
    pooled, idx = getattr(F_, f"max_pool{nd}d")(lib_tensor(x), return_indices=True, **pool_kw)
    src = pooled if unpool_input is None else unpool_input
    return getattr(F_, op)(src, idx, pool_kw["kernel_size"], pool_kw.get("stride"),
                           pool_kw.get("padding", 0), out_size)


@pytest.mark.parametrize("op, pool_kw, shape, out_size", UNPOOL_CASES)
def test_max_unpool_matches_torch(op, pool_kw, shape, out_size, torch_f):
    torch, TF = torch_f
    x = np.random.default_rng(0).standard_normal(shape)
    pooled_shape = _unpool(F, tc.tensor, op, pool_kw, x, out_size).shape
    y = np.random.default_rng(1).standard_normal(
        getattr(F, f"max_pool{op[-2]}d")(tc.tensor(x), **pool_kw).shape)
    ours_in = tc.tensor(y, requires_grad=True)
    theirs_in = torch.tensor(y, requires_grad=True)
    ours = _unpool(F, tc.tensor, op, pool_kw, x, out_size, ours_in)
    theirs = _unpool(TF, torch.tensor, op, pool_kw, x, out_size, theirs_in)
    assert ours.shape == tuple(theirs.shape) == pooled_shape
    np.testing.assert_array_equal(ours.numpy(), theirs.detach().numpy())
    g = np.random.default_rng(2).standard_normal(ours.shape)
    ours.backward(g)
    theirs.backward(torch.from_numpy(g))
    np.testing.assert_array_equal(ours_in.grad.numpy(), theirs_in.grad.numpy())


@pytest.mark.parametrize("op, pool_kw, shape, out_size", UNPOOL_CASES)
def test_max_unpool_finite_differences(op, pool_kw, shape, out_size):
    if pool_kw.get("stride", pool_kw["kernel_size"]) < pool_kw["kernel_size"]:
        # Overlapping windows can pick one input twice; the later write wins in the forward,
        # so the function is not differentiable there (PyTorch's backward gathers, as ours).
        pytest.skip("overlapping windows: duplicate indices are not differentiable")
    x = np.random.default_rng(0).standard_normal(shape)
    pooled = getattr(F, f"max_pool{op[-2]}d")(tc.tensor(x), **pool_kw)
    y = tc.tensor(np.random.default_rng(1).standard_normal(pooled.shape), requires_grad=True)
    assert tc.gradcheck(lambda t: _unpool(F, tc.tensor, op, pool_kw, x, out_size, t), [y])


def test_nan_propagates_through_conv_and_pool():
    x = np.random.default_rng(0).standard_normal((1, 2, 6, 6)).astype(np.float32)
    x[0, 0, 2, 3] = np.nan
    w = tc.tensor(np.ones((3, 2, 3, 3), np.float32))
    y = F.conv2d(tc.tensor(x), w).numpy()
    assert np.isnan(y[0, :, 0:3, 1:4]).all() and not np.isnan(y[0, :, 3:, :]).any()
    p = F.max_pool2d(tc.tensor(x), 2).numpy()
    assert np.isnan(p[0, 0, 1, 1]) and np.isfinite(p[0, 1]).all()
    a = F.avg_pool2d(tc.tensor(x), 2).numpy()
    assert np.isnan(a[0, 0, 1, 1]) and np.isfinite(a[0, 1]).all()
