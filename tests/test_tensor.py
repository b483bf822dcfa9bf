"""Tensor basics and the autograd engine."""

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import Tensor, gradcheck


def t64(*shape, seed=0, requires_grad=True):
    rng = np.random.default_rng(seed)
    return tc.tensor(rng.standard_normal(shape), requires_grad=requires_grad)


def test_dtypes_default_and_preserved():
    assert tc.tensor([1.0, 2.0]).dtype == np.float32
    assert tc.tensor(np.zeros(3)).dtype == np.float64
    assert tc.tensor([1, 2]).dtype == np.int64
    assert tc.zeros(2, 3).dtype == np.float32
    assert tc.randn(2, 3, dtype=np.float64).dtype == np.float64
    x = tc.tensor(np.ones(3, np.float32), requires_grad=True)
    assert (x * 0.5 + 1).dtype == np.float32
    assert (2 / (x + 1) - x ** 2).dtype == np.float32


def test_from_numpy_shares_memory_and_tensor_copies():
    a = np.zeros(3, np.float32)
    t = tc.from_numpy(a)
    a[0] = 5
    assert t.numpy()[0] == 5
    u = tc.tensor(a)
    a[1] = 7
    assert u.numpy()[1] == 0


def test_manual_seed_repeats():
    tc.manual_seed(3)
    a = tc.randn(4).numpy().copy()
    b = tc.rand(4).numpy().copy()
    tc.manual_seed(3)
    assert np.array_equal(a, tc.randn(4).numpy())
    assert np.array_equal(b, tc.rand(4).numpy())


@pytest.mark.parametrize(
    "fn, shapes",
    [
        (lambda a, b: a + b, [(3, 4), (4,)]),
        (lambda a, b: a - b, [(3, 1), (1, 4)]),
        (lambda a, b: a * b, [(2, 3, 4), (3, 1)]),
        (lambda a, b: a / (b * b + 1), [(3, 4), (3, 4)]),
        (lambda a, b: (a * a + 1) ** (b * 0.1), [(3, 4), (4,)]),
        (lambda a, b: a @ b, [(3, 4), (4, 5)]),
        (lambda a, b: a @ b, [(2, 3, 4), (4,)]),
        (lambda a, b: a @ b, [(4,), (2, 4, 3)]),
        (lambda a, b: tc.cat([a, b], dim=1), [(2, 3), (2, 5)]),
        (lambda a, b: tc.stack([a, b], dim=1), [(2, 3), (2, 3)]),
        (lambda a, b: tc.where(a > 0, a, b), [(3, 4), (4,)]),
    ],
)
def test_binary_gradients(fn, shapes):
    inputs = [t64(*s, seed=i) for i, s in enumerate(shapes)]
    assert gradcheck(fn, inputs)


@pytest.mark.parametrize(
    "fn",
    [
        lambda a: -a,
        lambda a: (a * a + 1).log(),
        lambda a: a.exp(),
        lambda a: (a * a + 1).sqrt(),
        lambda a: a.abs(),
        lambda a: a.sum(),
        lambda a: a.sum(dim=1, keepdim=True),
        lambda a: a.sum(dim=(0, 2)),
        lambda a: a.mean(dim=-1),
        lambda a: a.max(),
        lambda a: a.max(dim=1)[0],
        lambda a: a.min(dim=0, keepdim=True)[0],
        lambda a: a.var(dim=1),
        lambda a: a.reshape(6, 4),
        lambda a: a.view(-1),
        lambda a: a.flatten(1),
        lambda a: a.transpose(0, 2),
        lambda a: a.permute(2, 0, 1),
        lambda a: a.unsqueeze(1).squeeze(1),
        lambda a: a[:, 1:, ::2],
        lambda a: a[np.array([0, 1, 1])],  # repeated index: gradients accumulate
        lambda a: a[..., 0],
        lambda a: a.clamp(-0.5, 0.5),
        lambda a: a.sigmoid(),
        lambda a: a.tanh(),
        lambda a: tc.pad(a, (1, 2), mode="reflect"),
        lambda a: tc.pad(a, (1, 1, 2, 0), mode="replicate"),
        lambda a: tc.pad(a, (2, 1, 1, 1), mode="circular"),
        lambda a: tc.pad(a, (1, -1, 0, 2), value=3.0),
        lambda a: a.expand(3, 2, 3, 4),
    ],
)
def test_unary_gradients(fn):
    assert gradcheck(fn, [t64(2, 3, 4)])


def test_gradients_of_reused_tensors_accumulate():
    x = tc.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = x * x + x * 3 + x
    y.backward(np.ones(3))
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() + 4)
    # a second backward accumulates into .grad, as in PyTorch
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() + 6)


def test_deep_graph_of_100000_nodes():
    x = tc.tensor(np.array([1.0]), requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1e-6
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0])


def test_backward_through_non_scalar_needs_gradient():
    x = tc.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"only for scalar outputs.*\(2, 3\)"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\) but the tensor has shape"):
        (x * 2).backward(np.ones(3))


def test_backward_checks_gradient_shape_and_dtype():
    class Bad(tc.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return np.ones(7)

    class BadDtype(tc.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g.astype(np.float32)

    class Transposed(tc.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g.T  # same number of elements, wrong shape: must not be reshaped silently

    m = tc.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Transposed.backward returned a gradient of shape"):
        Transposed.apply(m).sum().backward()
    x = tc.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Bad.backward returned a gradient of shape \(7,\)"):
        Bad.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match=r"BadDtype.backward returned a float32 gradient"):
        BadDtype.apply(x).sum().backward()


def test_engine_fills_unused_outputs_and_converts_gradients():
    """The engine's fast paths (single output, ndarray of the right shape and dtype) must
    keep the general behaviour: a multi-output op gets zeros for an output nobody used, and
    a gradient returned as a list is converted to the input's dtype."""
    class Two(tc.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2, a * 3

        @staticmethod
        def backward(ctx, g2, g3):
            assert isinstance(g3, np.ndarray) and not g3.any()
            return g2 * 2 + g3 * 3

    class AsList(tc.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 1

        @staticmethod
        def backward(ctx, g):
            return [1.0] * g.shape[0]

    x = tc.tensor(np.ones(3, np.float32), requires_grad=True)
    y2, y3 = Two.apply(x)
    assert y2.grad_fn is y3.grad_fn and y2.requires_grad
    y2.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(3, 2, np.float32))
    x.grad = None
    AsList.apply(x).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(3, np.float32))
    with tc.no_grad():
        y2, y3 = Two.apply(x)
    assert y2.grad_fn is None and not y3.requires_grad


def test_no_grad_and_detach():
    x = tc.tensor(np.ones(3), requires_grad=True)
    with tc.no_grad():
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert not x.detach().requires_grad

    @tc.no_grad()
    def f(a):
        return a * 3

    assert not f(x).requires_grad
    assert tc.is_grad_enabled()
    assert (x * 2).requires_grad


def test_non_float_cannot_require_grad():
    with pytest.raises(TypeError, match="only floating-point"):
        tc.tensor([1, 2], requires_grad=True)


def test_gradcheck_detects_a_wrong_gradient():
    class Wrong(tc.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * a

        @staticmethod
        def backward(ctx, g):
            return g  # should be 2*a*g

    with pytest.raises(ValueError, match="gradcheck: gradient of input 0"):
        gradcheck(lambda a: Wrong.apply(a), [t64(3)])


def test_retain_grad_on_intermediate():
    x = tc.tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = (x * 3).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy())


def test_errors_name_the_op():
    a = tc.ones(2, 3)
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(2, 3\) do not match"):
        a @ a
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\)"):
        a.reshape(4, 2)
    with pytest.raises(ValueError, match=r"cat: shapes"):
        tc.cat([a, tc.ones(3, 3)], dim=1)
    with pytest.raises(ValueError, match="pad: reflect padding"):
        tc.pad(a, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="pad: unknown mode"):
        tc.pad(a, (1, 1), mode="mirror")


def test_pad_matches_numpy():
    x = np.arange(12.0).reshape(3, 4)
    t = tc.tensor(x)
    np.testing.assert_array_equal(tc.pad(t, (1, 2), mode="reflect").numpy(),
                                  np.pad(x, [(0, 0), (1, 2)], mode="reflect"))
    np.testing.assert_array_equal(tc.pad(t, (1, 2, 2, 1), mode="replicate").numpy(),
                                  np.pad(x, [(2, 1), (1, 2)], mode="edge"))
    np.testing.assert_array_equal(tc.pad(t, (1, 2, 2, 1), mode="circular").numpy(),
                                  np.pad(x, [(2, 1), (1, 2)], mode="wrap"))


def test_tensor_repr_and_item():
    t = tc.tensor([1.5])
    assert "tensor(" in repr(t)
    assert t.item() == 1.5
    assert isinstance(tc.tensor([1.0], requires_grad=True) * 2, Tensor)


def test_backward_frees_the_graph_unless_retained():
    """As PyTorch: saved arrays go after backward; a second backward raises, retain_graph
    keeps them (and gradients then accumulate)."""
    import weakref

    x = tc.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    h = x * 3.0
    ref = weakref.ref(h.data)
    y = (h * h).sum()
    del h
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 18 * np.arange(6.0).reshape(2, 3))
    import gc
    gc.collect()
    assert ref() is None, "the intermediate activation is still referenced by the graph"
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()

    z = tc.tensor(np.ones(3), requires_grad=True)
    w = (z * z).sum()
    w.backward(retain_graph=True)
    w.backward()
    np.testing.assert_allclose(z.grad.numpy(), 4 * np.ones(3))


def test_leaf_gradients_never_alias():
    """A leaf keeps a gradient array a backward allocated for it alone (no copy), but never
    one that is shared: an incoming gradient passed through (add), one array returned for two
    inputs, or the caller's own gradient."""
    a = tc.tensor(np.ones((2, 3)), requires_grad=True)
    b = tc.tensor(np.ones((2, 3)), requires_grad=True)
    up = np.full((2, 3), 2.0)
    (a + b).backward(up)
    assert a.grad.data is not b.grad.data and a.grad.data is not up
    a.grad.data[0, 0] = 5.0
    assert b.grad.data[0, 0] == 2.0 and up[0, 0] == 2.0
    c = tc.tensor(np.ones((2, 3)), requires_grad=True)
    c.backward(up)
    assert c.grad.data is not up
    d = tc.tensor(np.ones((2, 3)), requires_grad=True)
    y = d * 3.0
    y.backward(up, retain_graph=True)
    first = d.grad.data.copy()
    y.backward(up)
    np.testing.assert_array_equal(d.grad.data, 2 * first)


def test_leaf_keeps_a_reshape_view_only_when_nothing_else_holds_its_buffer():
    """A backward that returns a reshape of a buffer it just filled hands the leaf that buffer
    (no copy); one whose buffer something else still holds (here the Function's own
    attribute, as a cached workspace would) is copied, so the leaf's .grad never aliases it."""
    held = {}

    class Fresh(tc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            buf = np.empty(g.size, g.dtype)
            buf[:] = (g * 2).ravel()
            return buf.reshape(g.shape)

    class Kept(tc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            held["buf"] = np.empty(g.size, g.dtype)
            held["buf"][:] = (g * 2).ravel()
            return held["buf"].reshape(g.shape)

    up = np.ones((3, 4))
    a = tc.tensor(np.ones((3, 4)), requires_grad=True)
    Fresh.apply(a).backward(up)
    assert a.grad.data.base is not None          # the buffer itself, adopted
    np.testing.assert_array_equal(a.grad.numpy(), 2 * up)
    b = tc.tensor(np.ones((3, 4)), requires_grad=True)
    Kept.apply(b).backward(up)
    assert not np.shares_memory(b.grad.data, held["buf"])
    held["buf"][:] = 7.0
    np.testing.assert_array_equal(b.grad.numpy(), 2 * up)
