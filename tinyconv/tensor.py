"""The Tensor: a numpy array with a gradient and a record of how it was made.

Methods are one-liners into :mod:`tinyconv.ops`; the maths lives there, next to its backward.
"""

import numpy as np

from . import autograd

__all__ = ["Tensor", "tensor", "from_numpy", "zeros", "ones", "zeros_like", "ones_like", "full",
           "randn", "rand", "randint", "arange", "manual_seed", "default_generator", "float32",
           "float64", "int64"]

float32 = np.float32
float64 = np.float64
int64 = np.int64
_FLOAT_KINDS = ("f",)


def _as_array(data, dtype=None):
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.array(data, dtype=dtype)
    arr = np.array(data)
    if arr.dtype.kind == "f" and not isinstance(data, np.ndarray) and not isinstance(
        data, np.generic
    ):
        arr = arr.astype(np.float32)  # Python floats become float32, as in PyTorch
    elif arr.dtype.kind in "iu" and arr.dtype != np.uint8 and not isinstance(data, np.ndarray):
        arr = arr.astype(np.int64)
    return arr


class Tensor:
    """A numpy array that can record operations for automatic differentiation.

    Parameters
    ----------
    data : array_like
        Copied into a new array; Python floats become float32, numpy arrays keep their dtype.
    requires_grad : bool
        Whether gradients with respect to this tensor are accumulated into ``.grad``.
    """

    __slots__ = ("data", "requires_grad", "grad", "_node", "_out_index", "_retain", "__weakref__")
    __array_priority__ = 1000  # make ndarray + Tensor call Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None):
        self.data = _as_array(data, dtype)
        self._node = None
        self._out_index = 0
        self._retain = False
        self.grad = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array, node=None, index=0):
        t = cls.__new__(cls)
        t.data = array
        t.grad = None
        t._node = node
        t._out_index = index
        t._retain = False
        t.requires_grad = node is not None
        return t

    # ----------------------------------------------------------------- basics
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def grad_fn(self):
        return self._node

    @property
    def is_leaf(self):
        return self._node is None

    @property
    def T(self):
        return self.permute(*reversed(range(self.ndim)))

    def dim(self):
        return self.data.ndim

    def size(self, dim=None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self):
        return self.data.size

    def __len__(self):
        return len(self.data)

    def item(self):
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def numpy(self):
        """The underlying array (shared, not copied)."""
        return self.data

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.data.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(
                f"requires_grad: only floating-point tensors can require gradients, got {self.dtype}"
            )
        if not requires_grad and self._node is not None:
            raise RuntimeError("requires_grad_: cannot turn off gradients of a non-leaf tensor; "
                               "use .detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        self._retain = True
        return self

    def detach(self):
        """A tensor sharing this one's data, cut from the graph."""
        return Tensor._wrap(self.data)

    def clone(self):
        from .ops import basic

        return basic.clone(self)

    def copy_(self, other):
        """Copy values in place (no gradient is recorded)."""
        src = other.data if isinstance(other, Tensor) else np.asarray(other)
        np.copyto(self.data, src, casting="same_kind")
        return self

    def zero_(self):
        self.data[...] = 0
        return self

    def fill_(self, value):
        self.data[...] = value
        return self

    def _accumulate(self, g, fresh=False):
        """Add g into .grad. ``fresh``: the engine vouches that no one else holds g (an
        array an op's backward just allocated), so the first gradient is kept, not copied."""
        if self.grad is None:
            # Own the array: ops may hand back views of their incoming gradient.
            self.grad = Tensor._wrap(g if fresh and g.dtype == self.dtype
                                     else np.array(g, dtype=self.dtype, copy=True))
        else:
            self.grad.data = self.grad.data + g

    def backward(self, gradient=None, retain_graph=None):
        """Accumulate gradients of this tensor into every leaf that requires them.

        The graph's saved arrays are freed as it is walked unless ``retain_graph=True``
        (PyTorch's default)."""
        autograd.backward(self, gradient, bool(retain_graph))

    def to(self, dtype):
        from .ops import basic

        return basic.cast(self, np.dtype(dtype))

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def long(self):
        return Tensor._wrap(self.data.astype(np.int64))

    def type(self, dtype):
        return self.to(dtype)

    def contiguous(self):
        return self

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = "" if self.dtype == np.float32 else f", dtype={self.dtype}"
        if self._node is not None:
            extra += f", grad_fn=<{self._node.name}Backward>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __hash__(self):
        return id(self)

    def __bool__(self):
        return bool(self.data)

    def __float__(self):
        return float(self.data)

    def __int__(self):
        return int(self.data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # ----------------------------------------------------------- arithmetic
    def __add__(self, o):
        return _b().add(self, o)

    def __radd__(self, o):
        return _b().add(o, self)

    def __sub__(self, o):
        return _b().sub(self, o)

    def __rsub__(self, o):
        return _b().sub(o, self)

    def __mul__(self, o):
        return _b().mul(self, o)

    def __rmul__(self, o):
        return _b().mul(o, self)

    def __truediv__(self, o):
        return _b().div(self, o)

    def __rtruediv__(self, o):
        return _b().div(o, self)

    def __pow__(self, o):
        return _b().pow(self, o)

    def __rpow__(self, o):
        return _b().pow(o, self)

    def __neg__(self):
        return _b().neg(self)

    def __matmul__(self, o):
        return _b().matmul(self, o)

    def __rmatmul__(self, o):
        return _b().matmul(o, self)

    def __getitem__(self, index):
        return _b().getitem(self, index)

    def __setitem__(self, index, value):
        if self.requires_grad and autograd.is_grad_enabled():
            raise RuntimeError("__setitem__: in-place assignment to a tensor that requires grad; "
                               "wrap it in tinyconv.no_grad() or use torch-style out-of-place ops")
        self.data[index] = value.data if isinstance(value, Tensor) else value

    # comparisons give boolean tensors without gradients
    def __eq__(self, o):
        return Tensor._wrap(self.data == _raw(o))

    def __ne__(self, o):
        return Tensor._wrap(self.data != _raw(o))

    def __lt__(self, o):
        return Tensor._wrap(self.data < _raw(o))

    def __le__(self, o):
        return Tensor._wrap(self.data <= _raw(o))

    def __gt__(self, o):
        return Tensor._wrap(self.data > _raw(o))

    def __ge__(self, o):
        return Tensor._wrap(self.data >= _raw(o))

    def add(self, o):
        return _b().add(self, o)

    def sub(self, o):
        return _b().sub(self, o)

    def mul(self, o):
        return _b().mul(self, o)

    def div(self, o):
        return _b().div(self, o)

    def matmul(self, o):
        return _b().matmul(self, o)

    def exp(self):
        return _b().exp(self)

    def log(self):
        return _b().log(self)

    def sqrt(self):
        return _b().sqrt(self)

    def abs(self):
        return _b().abs(self)

    def clamp(self, min=None, max=None):
        return _b().clamp(self, min, max)

    def relu(self):
        return _b().relu(self)

    def sigmoid(self):
        return _b().sigmoid(self)

    def tanh(self):
        return _b().tanh(self)

    # ------------------------------------------------------------ reductions
    def sum(self, dim=None, keepdim=False):
        return _b().sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim=False):
        return _b().mean(self, dim, keepdim)

    def max(self, dim=None, keepdim=False):
        return _b().max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return _b().min(self, dim, keepdim)

    def var(self, dim=None, keepdim=False, unbiased=True):
        return _b().var(self, dim, keepdim, unbiased)

    def argmax(self, dim=None, keepdim=False):
        return _b().argmax(self, dim, keepdim)

    # ----------------------------------------------------------------- shape
    def reshape(self, *shape):
        return _b().reshape(self, *shape)

    def view(self, *shape):
        return _b().reshape(self, *shape)

    def flatten(self, start_dim=0, end_dim=-1):
        return _b().flatten(self, start_dim, end_dim)

    def transpose(self, dim0, dim1):
        return _b().transpose(self, dim0, dim1)

    def permute(self, *dims):
        return _b().permute(self, *dims)

    def unsqueeze(self, dim):
        return _b().unsqueeze(self, dim)

    def squeeze(self, dim=None):
        return _b().squeeze(self, dim)

    def expand(self, *shape):
        return _b().expand(self, *shape)


def _raw(o):
    return o.data if isinstance(o, Tensor) else o


def _b():
    from .ops import basic

    return basic


# ------------------------------------------------------------------ factories
class _Generator:
    """The random source behind randn/rand/dropout/init; reseeded by ``manual_seed``."""

    def __init__(self, seed=None):
        self.rng = np.random.default_rng(seed)

    def manual_seed(self, seed):
        self.rng = np.random.default_rng(seed)
        return self

    def get_state(self):
        return self.rng.bit_generator.state

    def set_state(self, state):
        self.rng.bit_generator.state = state


default_generator = _Generator()


def manual_seed(seed):
    """Seed tinyconv's random generator (randn, rand, dropout, weight initialisation)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed: expected an int, got {type(seed).__name__}")
    return default_generator.manual_seed(int(seed))


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"size must be non-negative integers, got {tuple(size)}")
    return tuple(int(s) for s in size)


def _dt(dtype):
    return np.dtype(np.float32 if dtype is None else dtype)


def tensor(data, requires_grad=False, dtype=None):
    """Build a Tensor from data (copied). Python floats become float32, ints int64."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def from_numpy(array):
    """Wrap a numpy array without copying; the dtype is kept."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor._wrap(array)


def zeros(*size, dtype=None, requires_grad=False):
    return Tensor(np.zeros(_shape(size), dtype=_dt(dtype)), requires_grad=requires_grad)


def ones(*size, dtype=None, requires_grad=False):
    return Tensor(np.ones(_shape(size), dtype=_dt(dtype)), requires_grad=requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False):
    return Tensor(np.full(_shape((size,)), fill_value, dtype=_dt(dtype)),
                  requires_grad=requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return Tensor(np.zeros(t.shape, dtype=dtype or t.dtype), requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return Tensor(np.ones(t.shape, dtype=dtype or t.dtype), requires_grad=requires_grad)


def randn(*size, dtype=None, requires_grad=False, generator=None):
    g = (generator or default_generator).rng
    return Tensor(g.standard_normal(_shape(size)).astype(_dt(dtype)), requires_grad=requires_grad)


def rand(*size, dtype=None, requires_grad=False, generator=None):
    g = (generator or default_generator).rng
    return Tensor(g.random(_shape(size)).astype(_dt(dtype)), requires_grad=requires_grad)


def randint(low, high, size, generator=None):
    g = (generator or default_generator).rng
    return Tensor._wrap(g.integers(low, high, size=_shape((size,))).astype(np.int64))


def arange(*args, dtype=None):
    arr = np.arange(*args)
    return Tensor._wrap(arr.astype(dtype) if dtype is not None else arr)


autograd._Tensor = Tensor  # the class Function.apply wraps its outputs in
