"""Elementwise arithmetic, reductions and shape operations, each with its backward.

Binary ops broadcast like numpy; the backward sums the gradient over broadcast axes. A Python
scalar operand takes the tensor's dtype, so ``x * 0.5`` stays float32.
"""

import builtins

import numpy as np

from ..autograd import Function
from ..tensor import Tensor

__all__ = ["add", "sub", "mul", "div", "pow", "neg", "matmul", "exp", "log", "sqrt", "abs",
           "clamp", "relu", "sigmoid", "tanh", "sum", "mean", "max", "min", "var", "argmax",
           "reshape", "flatten", "transpose", "permute", "unsqueeze", "squeeze", "expand",
           "getitem", "cat", "stack", "cast", "clone", "where"]


def _unbroadcast(g, shape):
    """Sum ``g`` down to ``shape`` (the inverse of numpy broadcasting)."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g


def _pair(a, b):
    """Turn scalars and arrays into operands matching the tensor operand's dtype."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError("expected at least one Tensor operand")
    like = a if isinstance(a, Tensor) else b
    if not isinstance(a, Tensor):
        a = _const(a, like)
    if not isinstance(b, Tensor):
        b = _const(b, like)
    return a, b


def _const(x, like):
    arr = np.asarray(x)
    if arr.dtype.kind in "biuf" and (arr.ndim == 0 or arr.dtype.kind != "f"):
        return arr.astype(like.dtype) if like.dtype.kind == "f" else arr
    return arr


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (np.shape(a), np.shape(b))
        return np.add(a, b)

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        return (_unbroadcast(g, sa) if ctx.needs_input_grad[0] else None,
                _unbroadcast(g, sb) if ctx.needs_input_grad[1] else None)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (np.shape(a), np.shape(b))
        return np.subtract(a, b)

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        return (_unbroadcast(g, sa) if ctx.needs_input_grad[0] else None,
                _unbroadcast(-g, sb) if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.multiply(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return (_unbroadcast(g * b, np.shape(a)) if ctx.needs_input_grad[0] else None,
                _unbroadcast(g * a, np.shape(b)) if ctx.needs_input_grad[1] else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.divide(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = _unbroadcast(g / b, np.shape(a)) if ctx.needs_input_grad[0] else None
        gb = _unbroadcast(-g * a / (b * b), np.shape(b)) if ctx.needs_input_grad[1] else None
        return ga, gb


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        y = np.power(a, b)
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = _unbroadcast(g * b * np.power(a, b - 1), np.shape(a))
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                la = np.where(a > 0, np.log(np.where(a > 0, a, 1)), 0).astype(y.dtype)
            gb = _unbroadcast(g * y * la, np.shape(b))
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return np.negative(a)

    @staticmethod
    def backward(ctx, g):
        return -g


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes "
                             f"{a.shape} and {b.shape}")
        ka, kb = a.shape[-1], (b.shape[0] if b.ndim == 1 else b.shape[-2])
        if ka != kb:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not match "
                             f"({ka} != {kb})")
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = _unbroadcast(np.matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            gb = _unbroadcast(np.matmul(np.swapaxes(a2, -1, -2), g2), b2.shape).reshape(b.shape)
        return ga, gb


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        y = np.exp(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved_tensors[0]


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, g):
        return g / ctx.saved_tensors[0]


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        y = np.sqrt(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        return g / (2 * ctx.saved_tensors[0])


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, g):
        return g * np.sign(ctx.saved_tensors[0])


class Clamp(Function):
    @staticmethod
    def forward(ctx, a, lo, hi):
        mask = np.ones(a.shape, dtype=bool)
        if lo is not None:
            mask &= a >= lo
        if hi is not None:
            mask &= a <= hi
        ctx.save_for_backward(mask)
        return np.clip(a, lo, hi).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved_tensors[0], None, None


def _axes(dim, ndim, op):
    if dim is None:
        return tuple(range(ndim))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    out = []
    span = builtins.max(ndim, 1)
    for d in dims:
        if not -span <= d < span:
            raise ValueError(f"{op}: dim {d} is out of range for a tensor with {ndim} dimensions")
        out.append(d % span if ndim else 0)
    return tuple(sorted(set(out))) if ndim else ()


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        return np.asarray(np.sum(a, axis=axes, keepdims=keepdim), dtype=a.dtype)

    @staticmethod
    def backward(ctx, g):
        if not ctx.keepdim:
            g = np.expand_dims(g, ctx.axes)
        return np.broadcast_to(g, ctx.shape), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        ctx.count = int(np.prod([a.shape[i] for i in axes])) if axes else 1
        return np.asarray(np.mean(a, axis=axes, keepdims=keepdim), dtype=a.dtype)

    @staticmethod
    def backward(ctx, g):
        if not ctx.keepdim:
            g = np.expand_dims(g, ctx.axes)
        return np.broadcast_to(g / np.asarray(ctx.count, g.dtype), ctx.shape), None, None


class Var(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim, correction):
        n = int(np.prod([a.shape[i] for i in axes])) if axes else 1
        mu = np.mean(a, axis=axes, keepdims=True)
        d = a - mu
        ctx.save_for_backward(d)
        ctx.axes, ctx.keepdim, ctx.denom = axes, keepdim, builtins.max(n - correction, 0)
        return np.asarray(np.sum(d * d, axis=axes, keepdims=keepdim) / ctx.denom, dtype=a.dtype)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        if not ctx.keepdim:
            g = np.expand_dims(g, ctx.axes)
        return (g * d * np.asarray(2 / ctx.denom, d.dtype)).astype(d.dtype), None, None, None


class MaxReduce(Function):
    """max/min over axes; the gradient is shared equally between tied extremes."""

    @staticmethod
    def forward(ctx, a, axes, keepdim, sign):
        y = np.max(a, axis=axes, keepdims=True) if sign > 0 else np.min(a, axis=axes, keepdims=True)
        mask = a == y
        ctx.save_for_backward(mask)
        ctx.axes, ctx.keepdim = axes, keepdim
        return y if keepdim else np.squeeze(y, axis=axes)

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        if not ctx.keepdim:
            g = np.expand_dims(g, ctx.axes)
        count = mask.sum(axis=ctx.axes, keepdims=True)
        return (g * mask / count).astype(g.dtype), None, None, None


def add(a, b):
    return Add.apply(*_pair(a, b))


def sub(a, b):
    return Sub.apply(*_pair(a, b))


def mul(a, b):
    return Mul.apply(*_pair(a, b))


def div(a, b):
    return Div.apply(*_pair(a, b))


def pow(a, b):
    return Pow.apply(*_pair(a, b))


def neg(a):
    return Neg.apply(a)


def matmul(a, b):
    return MatMul.apply(*_pair(a, b))


def exp(a):
    return Exp.apply(a)


def log(a):
    return Log.apply(a)


def sqrt(a):
    return Sqrt.apply(a)


def abs(a):
    return Abs.apply(a)


def clamp(a, min=None, max=None):
    return Clamp.apply(a, min, max)


# relu, sigmoid and tanh run in the compiled activation kernels of ops.activation (which
# imports this module, hence the imports at call time).
def relu(a):
    from .activation import relu

    return relu(a)


def sigmoid(a):
    from .activation import sigmoid

    return sigmoid(a)


def tanh(a):
    from .activation import tanh

    return tanh(a)


def sum(a, dim=None, keepdim=False):
    return Sum.apply(a, _axes(dim, a.ndim, "sum"), keepdim)


def mean(a, dim=None, keepdim=False):
    return Mean.apply(a, _axes(dim, a.ndim, "mean"), keepdim)


def var(a, dim=None, keepdim=False, unbiased=True):
    return Var.apply(a, _axes(dim, a.ndim, "var"), keepdim, 1 if unbiased else 0)


def max(a, dim=None, keepdim=False):
    """Maximum over all elements, or ``(values, indices)`` over ``dim`` as in PyTorch."""
    if dim is None:
        return MaxReduce.apply(a, _axes(None, a.ndim, "max"), False, 1)
    values = MaxReduce.apply(a, _axes(dim, a.ndim, "max"), keepdim, 1)
    return values, argmax(a, dim, keepdim)


def min(a, dim=None, keepdim=False):
    """Minimum over all elements, or ``(values, indices)`` over ``dim`` as in PyTorch."""
    if dim is None:
        return MaxReduce.apply(a, _axes(None, a.ndim, "min"), False, -1)
    values = MaxReduce.apply(a, _axes(dim, a.ndim, "min"), keepdim, -1)
    idx = np.argmin(a.data, axis=dim, keepdims=keepdim)
    return values, Tensor._wrap(idx.astype(np.int64))


def argmax(a, dim=None, keepdim=False):
    data = a.data if isinstance(a, Tensor) else np.asarray(a)
    if dim is None:
        return Tensor._wrap(np.asarray(np.argmax(data), dtype=np.int64))
    return Tensor._wrap(np.argmax(data, axis=dim, keepdims=keepdim).astype(np.int64))


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {a.shape} "
                             f"({a.size} elements) into {tuple(shape)}") from None

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


class Permute(Function):
    @staticmethod
    def forward(ctx, a, dims):
        ctx.inverse = tuple(np.argsort(dims))
        return np.transpose(a, dims)

    @staticmethod
    def backward(ctx, g):
        return np.transpose(g, ctx.inverse), None


class Expand(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return np.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, g):
        return _unbroadcast(g, ctx.shape), None


class GetItem(Function):
    @staticmethod
    def forward(ctx, a, index):
        ctx.shape, ctx.dtype, ctx.index = a.shape, a.dtype, index
        return np.asarray(a[index])

    @staticmethod
    def backward(ctx, g):
        out = np.zeros(ctx.shape, dtype=ctx.dtype)
        np.add.at(out, ctx.index, g)  # add.at: repeated advanced indices accumulate
        return out, None


class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.dim = dim
        ctx.splits = np.cumsum([a.shape[dim] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, g):
        return (None, *np.split(g, ctx.splits, axis=ctx.dim))


class Cast(Function):
    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.dtype), None


class Clone(Function):
    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, g):
        return g


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond = cond
        ctx.shapes = (np.shape(a), np.shape(b))
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        z = np.zeros((), g.dtype)
        return (None, _unbroadcast(np.where(ctx.cond, g, z), ctx.shapes[0]),
                _unbroadcast(np.where(ctx.cond, z, g), ctx.shapes[1]))


def _sizes(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def reshape(a, *shape):
    return Reshape.apply(a, _sizes(shape))


def flatten(a, start_dim=0, end_dim=-1):
    nd = a.ndim
    if nd == 0:
        return reshape(a, (1,))
    s, e = start_dim % nd, end_dim % nd
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                         f"for a tensor of shape {a.shape}")
    return reshape(a, a.shape[:s] + (-1,) + a.shape[e + 1:])


def permute(a, *dims):
    dims = _sizes(dims)
    if sorted(d % a.ndim for d in dims) != list(range(a.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {a.ndim} dimensions "
                         f"of a tensor of shape {a.shape}")
    return Permute.apply(a, tuple(d % a.ndim for d in dims))


def transpose(a, dim0, dim1):
    dims = list(range(a.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return Permute.apply(a, tuple(dims))


def unsqueeze(a, dim):
    dim = dim % (a.ndim + 1)
    return reshape(a, a.shape[:dim] + (1,) + a.shape[dim:])


def squeeze(a, dim=None):
    if dim is None:
        return reshape(a, tuple(s for s in a.shape if s != 1))
    dim = dim % a.ndim
    if a.shape[dim] != 1:
        return a
    return reshape(a, a.shape[:dim] + a.shape[dim + 1:])


def expand(a, *shape):
    shape = _sizes(shape)
    full = tuple(a.shape[i - len(shape) + a.ndim] if s == -1 else s for i, s in enumerate(shape))
    return Expand.apply(a, full)


def getitem(a, index):
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return GetItem.apply(a, index)


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    ref = tensors[0].shape
    for t in tensors[1:]:
        if t.ndim != len(ref) or any(
            s != r for i, (s, r) in enumerate(zip(t.shape, ref)) if i != dim % len(ref)
        ):
            raise ValueError(f"cat: shapes {[tuple(x.shape) for x in tensors]} differ outside "
                             f"dimension {dim}")
    return Cat.apply(dim % len(ref), *tensors)


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    if any(t.shape != tensors[0].shape for t in tensors):
        raise ValueError(f"stack: all tensors need the same shape, got "
                         f"{[tuple(t.shape) for t in tensors]}")
    dim = dim % (tensors[0].ndim + 1)
    return cat([unsqueeze(t, dim) for t in tensors], dim)


def cast(a, dtype):
    if a.dtype == dtype:
        return a
    if np.dtype(dtype).kind != "f":
        return Tensor._wrap(a.data.astype(dtype))
    return Cast.apply(a, dtype)


def clone(a):
    return Clone.apply(a)


def where(cond, a, b):
    cond = cond.data if isinstance(cond, Tensor) else np.asarray(cond)
    a, b = _pair(a, b)
    return Where.apply(cond.astype(bool), a, b)
