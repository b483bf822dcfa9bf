"""Reverse-mode automatic differentiation: the Function protocol and the backward engine.

An op is a subclass of :class:`Function` with two static methods, exactly as in PyTorch::

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):            # numpy arrays in, numpy array(s) out
            y = np.exp(x)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, gy):          # one gradient per output, one per input back
            (y,) = ctx.saved_tensors
            return gy * y

``Exp.apply(t)`` unwraps Tensor arguments to their arrays, runs ``forward`` and, when a gradient
is needed, records a :class:`Node` that the engine later visits in reverse topological order.
Non-tensor arguments (ints, tuples, strings) pass through unchanged and get no gradient;
``backward`` returns ``None`` for them. Per-call state lives on ``ctx``, never on a module.
"""

import sys
import threading

import numpy as np

__all__ = ["Function", "Context", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled",
           "backward", "gradcheck"]


class _GradMode(threading.local):
    enabled = True


_mode = _GradMode()

#: tinyconv.tensor.Tensor, set when that module is imported (it imports this one): apply and
#: backward use it on every call, and a function-level import costs ~0.3 us each time.
_Tensor = None


def is_grad_enabled():
    """Return True if operations are currently recorded for differentiation."""
    return _mode.enabled


class set_grad_enabled:
    """Context manager (and decorator) that switches gradient recording on or off."""

    def __init__(self, mode):
        self.mode = bool(mode)
        self.prev = _mode.enabled
        _mode.enabled = self.mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _mode.enabled = self.prev
        return False

    def __call__(self, fn):
        import functools

        mode = self.mode
        _mode.enabled = self.prev  # constructing the decorator must not flip the mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


class no_grad(set_grad_enabled):
    """Disable gradient recording inside a ``with`` block or a decorated function."""

    def __init__(self):
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Enable gradient recording inside a ``with`` block or a decorated function."""

    def __init__(self):
        super().__init__(True)


class Context:
    """Per-call storage shared by an op's forward and backward."""

    __slots__ = ("saved_tensors", "needs_input_grad", "__dict__")

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self.saved_tensors = ()

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays


class Node:
    """One recorded call: the op, its context and the tensors it consumed."""

    __slots__ = ("fn", "ctx", "inputs", "out_meta", "__weakref__")

    def __init__(self, fn, ctx, inputs, out_meta):
        self.fn = fn
        self.ctx = ctx
        self.inputs = inputs  # tuple of Tensor-or-None, one per forward argument
        self.out_meta = out_meta  # tuple of (shape, dtype), one per output

    @property
    def name(self):
        return self.fn.__name__


class Function:
    """Base class of differentiable operations; see the module docstring."""

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args):
        # One pass over the arguments and a separate single-output branch: this runs for
        # every op (13 times in a LeNet-5 step), and the generator expressions it replaces
        # cost ~2 us per call.
        Tensor = _Tensor
        arrays, needs = [], []
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a.data)
                needs.append(a.requires_grad)
            else:
                arrays.append(a)
                needs.append(False)
        needs = tuple(needs)
        record = _mode.enabled and any(needs)
        ctx = Context(needs)
        out = cls.forward(ctx, *arrays)
        if not isinstance(out, tuple):
            if not record or out.dtype.kind != "f":
                return Tensor._wrap(out)
            node = Node(cls, ctx, _recorded_inputs(args, needs), ((out.shape, out.dtype),))
            return Tensor._wrap(out, node, 0)
        if not record:
            return tuple(Tensor._wrap(o) for o in out)
        node = Node(cls, ctx, _recorded_inputs(args, needs),
                    tuple((o.shape, o.dtype) for o in out))
        return tuple(Tensor._wrap(o, node, i) if o.dtype.kind == "f" else Tensor._wrap(o)
                     for i, o in enumerate(out))


def _recorded_inputs(args, needs):
    """The node's inputs: each argument that requires a gradient, None in place of the rest."""
    return tuple(a if n else None for a, n in zip(args, needs))


def _topological_order(roots):
    """Nodes reachable from ``roots``, each before every node it depends on (iterative DFS)."""
    order, visited = [], set()
    stack = [(n, False) for n in roots]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for t in node.inputs:
            if t is not None and t._node is not None and id(t._node) not in visited:
                stack.append((t._node, False))
    order.reverse()
    return order


def _check_grad(node, i, grad, t):
    if not isinstance(grad, np.ndarray):
        grad = np.asarray(grad, dtype=t.dtype)
    if grad.shape != t.shape:
        raise RuntimeError(
            f"{node.name}.backward returned a gradient of shape {grad.shape} for input {i}, "
            f"which has shape {t.shape}"
        )
    if grad.dtype != t.dtype:
        raise RuntimeError(
            f"{node.name}.backward returned a {grad.dtype} gradient for input {i}, "
            f"which is {t.dtype}"
        )
    return grad


def _fresh(g, i, grads_in, grads_out):
    """Whether g, the gradient a backward returned for input i, is an array nothing else
    refers to: it owns its memory, or is a reshape covering all of an array that only it
    refers to (ops return x-shaped views of the (N*C, H, W) or (N, C, L) buffers their kernels
    fill), is not the node's incoming gradient handed through, and is not returned for another
    input too. A leaf can then keep it as .grad instead of copying it (2 MiB copied per step
    for a 64x128x8x8 input, measured 0.2 ms; the pooling rows' 16 MiB inputs, ~1 ms)."""
    b = g.base
    if b is not None:
        # referrers of b: g's base pointer, the local b and getrefcount's argument
        if not (type(b) is np.ndarray and b.base is None and b.flags.owndata
                and b.flags.writeable and b.nbytes == g.nbytes and b.flags.c_contiguous
                and sys.getrefcount(b) == 3):
            return False
    flags = g.flags
    if not ((flags.owndata or b is not None) and flags.writeable and flags.c_contiguous):
        return False
    for o in grads_out:
        if g is o:
            return False
    for j, o in enumerate(grads_in):
        if g is o and j != i:
            return False
    return True


def backward(tensor, grad=None, retain_graph=False):
    """Accumulate d(tensor)/d(leaf) * grad into ``.grad`` of every leaf that requires it.

    As in PyTorch, each node's saved arrays (and its references to its inputs) are released
    once its backward has run, unless ``retain_graph``: a training loop that still holds last
    step's ``loss`` then no longer keeps last step's activations alive (measured: small VGG's
    peak step memory 278 -> ~153 MiB). A second backward through a released node raises.
    """
    from .tensor import Tensor

    if not tensor.requires_grad:
        raise RuntimeError("backward: the tensor does not require grad and has no grad_fn")
    if grad is None:
        if tensor.data.size != 1:
            raise RuntimeError(
                f"backward: grad can be implicitly created only for scalar outputs; this tensor "
                f"has shape {tensor.shape}, so pass a gradient of that shape"
            )
        grad = np.ones(tensor.shape, dtype=tensor.dtype)
    else:
        grad = grad.data if isinstance(grad, Tensor) else np.asarray(grad, dtype=tensor.dtype)
        if grad.shape != tensor.shape:
            raise RuntimeError(
                f"backward: gradient has shape {grad.shape} but the tensor has shape {tensor.shape}"
            )
        grad = grad.astype(tensor.dtype, copy=False)

    if tensor._node is None:
        tensor._accumulate(grad)
        return
    pending = {id(tensor._node): [None] * len(tensor._node.out_meta)}
    pending[id(tensor._node)][tensor._out_index] = grad
    for node in _topological_order([tensor._node]):
        grads_out = pending.pop(id(node), None)
        if grads_out is None:
            continue
        if len(grads_out) == 1:  # the usual single-output op: nothing to fill in
            if grads_out[0] is None:
                continue
        elif all(g is None for g in grads_out):
            continue
        else:
            grads_out = [
                g if g is not None else np.zeros(shape, dtype=dtype)
                for g, (shape, dtype) in zip(grads_out, node.out_meta)
            ]
        if node.ctx is None:
            raise RuntimeError(
                f"backward: trying to backward through the graph a second time ({node.name}'s "
                f"saved arrays were freed by the first backward); pass retain_graph=True to the "
                f"first backward call if you need to do this"
            )
        grads_in = node.fn.backward(node.ctx, *grads_out)
        inputs = node.inputs
        if not retain_graph:
            node.ctx, node.inputs = None, ()
        if not isinstance(grads_in, tuple):
            grads_in = (grads_in,)
        if len(grads_in) != len(inputs):
            raise RuntimeError(
                f"{node.name}.backward returned {len(grads_in)} gradients for "
                f"{len(inputs)} inputs"
            )
        for i, (t, g) in enumerate(zip(inputs, grads_in)):
            if t is None or g is None:
                continue
            data = t.data
            if not (type(g) is np.ndarray and g.shape == data.shape and g.dtype == data.dtype):
                g = _check_grad(node, i, g, t)  # converts, or raises with the details
            if t._node is None:
                t._accumulate(g, not retain_graph and _fresh(g, i, grads_in, grads_out))
                continue
            slot = pending.setdefault(id(t._node), [None] * len(t._node.out_meta))
            k = t._out_index
            # Never add into an array an op handed back: it may alias its incoming gradient.
            slot[k] = g if slot[k] is None else slot[k] + g
            if t._retain:
                t._accumulate(g)


def gradcheck(fn, inputs, grad_output=None, eps=1e-6, atol=1e-5, rtol=1e-4, seed=0):
    """Compare analytic gradients of ``fn(*inputs)`` with central finite differences.

    ``inputs`` are float64 Tensors; those with ``requires_grad`` are checked. The scalar that is
    differentiated is ``sum(fn(*inputs) * grad_output)`` with a random ``grad_output`` (drawn from
    ``seed`` when not given), so that every output element is weighted differently. Raises
    AssertionError-free ``ValueError`` with the worst mismatch when the check fails; returns True.
    """
    from .tensor import Tensor

    for t in inputs:
        if isinstance(t, Tensor) and t.requires_grad and t.dtype != np.float64:
            raise TypeError(f"gradcheck: inputs must be float64, got {t.dtype}")
    out = fn(*inputs)
    if grad_output is None:
        rng = np.random.default_rng(seed)
        grad_output = rng.standard_normal(out.shape)
    grad_output = np.asarray(grad_output, dtype=np.float64)
    for t in inputs:
        if isinstance(t, Tensor):
            t.grad = None
    out.backward(grad_output)
    for k, t in enumerate(inputs):
        if not (isinstance(t, Tensor) and t.requires_grad):
            continue
        analytic = np.zeros(t.shape) if t.grad is None else t.grad.data
        numeric = np.zeros(t.shape)
        flat = t.data.reshape(-1)  # a view: perturb in place
        num_flat = numeric.reshape(-1)
        with no_grad():
            for i in range(flat.size):
                orig = flat[i]
                flat[i] = orig + eps
                plus = float(np.sum(fn(*inputs).data * grad_output))
                flat[i] = orig - eps
                minus = float(np.sum(fn(*inputs).data * grad_output))
                flat[i] = orig
                num_flat[i] = (plus - minus) / (2 * eps)
        if not np.allclose(analytic, numeric, atol=atol, rtol=rtol):
            err = np.abs(analytic - numeric)
            j = np.unravel_index(np.argmax(err), err.shape)
            raise ValueError(
                f"gradcheck: gradient of input {k} (shape {t.shape}) differs at {j}: "
                f"analytic {analytic[j]:.6g} vs numeric {numeric[j]:.6g} (max error {err.max():.3g})"
            )
    return True
