"""Activation functions and (log-)softmax, each a Function with its backward.

Gradients at the kinks follow PyTorch: relu'(0) = 0, leaky_relu'(0) = negative_slope,
hardtanh'(min_val) = hardtanh'(max_val) = 0, elu'(0) = alpha (x <= 0 branch).
``inplace=True`` is accepted for source compatibility; the result is always a new tensor
(the autograd graph needs the input), which gives the same values.
"""

import math
import warnings

import numpy as np
from numpy.polynomial import chebyshev as _cheb

from ..autograd import Function
from . import basic
from ._util import check_float

__all__ = ["relu", "relu6", "leaky_relu", "hardtanh", "elu", "gelu", "silu", "sigmoid", "tanh",
           "softmax", "log_softmax", "erf"]


def _number(value, name, op):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name} must be a number, got {type(value).__name__}")
    return float(value)


# ------------------------------------------------------------------ erf (numpy has none)
# Two Chebyshev fits made at import from math.erf/math.erfc (exact to double rounding), so no
# coefficient tables: erf(a) = a * P(a^2) on [0, 2) and erf(a) = 1 - exp(-a^2) * Q(1/a) on
# [2, 6); erf(a) = 1 to double precision beyond 6. Max abs error ~3e-15 against math.erf.
def _fit(fn, deg):
    return _cheb.chebinterpolate(np.frompyfunc(fn, 1, 1), deg).astype(np.float64)


_ERF_P = _fit(lambda s: (math.erf(math.sqrt(2 + 2 * s)) / math.sqrt(2 + 2 * s))
              if s > -1 else 2 / math.sqrt(math.pi), 18)
_ERF_Q = _fit(lambda s: math.erfc(1 / (1 / 3 + s / 6)) * math.exp((1 / (1 / 3 + s / 6)) ** 2), 14)


def erf(x):
    """The error function of a numpy array, computed in float64, returned in ``x``'s dtype."""
    a = np.abs(x, dtype=np.float64)
    out = np.ones_like(a)
    small = a < 2
    mid = ~small & (a < 6)
    a_s = a[small]
    out[small] = a_s * _cheb.chebval(a_s * a_s * 0.5 - 1, _ERF_P)
    a_m = a[mid]
    out[mid] = 1 - np.exp(-a_m * a_m) * _cheb.chebval(6 / a_m - 2, _ERF_Q)
    np.copysign(out, x, out=out)
    out[np.isnan(a)] = np.nan
    return out.astype(x.dtype, copy=False)


# ------------------------------------------------------------------------ Functions
class LeakyRelu(Function):
    @staticmethod
    def forward(ctx, x, slope):
        pos = x > 0
        ctx.save_for_backward(pos)
        ctx.slope = slope
        return np.where(pos, x, x * slope).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (pos,) = ctx.saved_tensors
        return np.where(pos, g, g * ctx.slope).astype(g.dtype, copy=False), None


class Hardtanh(Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward((x > lo) & (x < hi))
        return np.clip(x, lo, hi).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (inside,) = ctx.saved_tensors
        return g * inside, None, None


class Elu(Function):
    @staticmethod
    def forward(ctx, x, alpha):
        pos = x > 0
        neg = alpha * np.expm1(np.minimum(x, 0))  # min: no overflow warnings for large x
        ctx.save_for_backward(pos, neg)
        ctx.alpha = alpha
        return np.where(pos, x, neg).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        pos, neg = ctx.saved_tensors
        # d/dx alpha*(e^x - 1) = alpha*e^x = neg + alpha
        return np.where(pos, g, g * (neg + ctx.alpha)).astype(g.dtype, copy=False), None


_SQRT_2PI = math.sqrt(2 * math.pi)
_GELU_K = math.sqrt(2 / math.pi)


class Gelu(Function):
    @staticmethod
    def forward(ctx, x, approximate):
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        if approximate == "tanh":
            t = np.tanh(_GELU_K * (x + 0.044715 * x * x * x))
            return (0.5 * x * (1 + t)).astype(x.dtype, copy=False)
        cdf = 0.5 * (1 + erf(x * np.asarray(1 / math.sqrt(2), x.dtype)))
        return x * cdf

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        if ctx.approximate == "tanh":
            inner = _GELU_K * (x + 0.044715 * x * x * x)
            t = np.tanh(inner)
            d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _GELU_K * (1 + 3 * 0.044715 * x * x)
        else:
            cdf = 0.5 * (1 + erf(x * np.asarray(1 / math.sqrt(2), x.dtype)))
            d = cdf + x * np.exp(-0.5 * x * x) / np.asarray(_SQRT_2PI, x.dtype)
        return (g * d).astype(g.dtype, copy=False), None


class Silu(Function):
    @staticmethod
    def forward(ctx, x):
        # sigmoid without overflow: exp of a non-positive number only
        e = np.exp(-np.abs(x))
        s = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, g):
        x, s = ctx.saved_tensors
        return g * (s * (1 + x * (1 - s)))


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        z = x - np.max(x, axis=dim, keepdims=True)
        e = np.exp(z)
        y = e / np.sum(e, axis=dim, keepdims=True)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        gy = g * y
        return gy - y * np.sum(gy, axis=ctx.dim, keepdims=True), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        y = log_softmax_array(x, dim)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g - np.exp(y) * np.sum(g, axis=ctx.dim, keepdims=True), None


def log_softmax_array(x, dim):
    """``x - logsumexp(x)`` along ``dim``, stable for any finite logits (also used by losses)."""
    z = x - np.max(x, axis=dim, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=dim, keepdims=True))


# --------------------------------------------------------------------- public API
def relu(input, inplace=False):
    """``max(x, 0)``; the gradient at 0 is 0."""
    check_float(input, "input", "relu")
    return basic.Relu.apply(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """``x`` for ``x > 0``, ``negative_slope * x`` otherwise."""
    check_float(input, "input", "leaky_relu")
    return LeakyRelu.apply(input, _number(negative_slope, "negative_slope", "leaky_relu"))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """Clamp to ``[min_val, max_val]``; gradient 1 strictly inside, 0 elsewhere."""
    check_float(input, "input", "hardtanh")
    lo = _number(min_val, "min_val", "hardtanh")
    hi = _number(max_val, "max_val", "hardtanh")
    if lo > hi:
        raise ValueError(f"hardtanh: min_val ({lo}) cannot be greater than max_val ({hi})")
    return Hardtanh.apply(input, lo, hi)


def relu6(input, inplace=False):
    """``min(max(x, 0), 6)``."""
    check_float(input, "input", "relu6")
    return Hardtanh.apply(input, 0.0, 6.0)


def elu(input, alpha=1.0, inplace=False):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise."""
    check_float(input, "input", "elu")
    return Elu.apply(input, _number(alpha, "alpha", "elu"))


def gelu(input, approximate="none"):
    """``x * Phi(x)`` with Phi the standard normal CDF (``approximate='none'``), or the tanh
    approximation ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`` (``'tanh'``)."""
    check_float(input, "input", "gelu")
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(input, approximate)


def silu(input, inplace=False):
    """``x * sigmoid(x)`` (also called swish)."""
    check_float(input, "input", "silu")
    return Silu.apply(input)


def sigmoid(input):
    """``1 / (1 + exp(-x))``, computed without overflow."""
    check_float(input, "input", "sigmoid")
    return basic.Sigmoid.apply(input)


def tanh(input):
    check_float(input, "input", "tanh")
    return basic.Tanh.apply(input)


def _softmax_dim(op, ndim, dim, stacklevel):
    if dim is None:
        warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the call "
                      f"to include dim=X as an argument.", stacklevel=stacklevel)
        return 0 if ndim in (0, 1, 3) else 1
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    nd = max(ndim, 1)
    if not -nd <= dim < nd:
        raise ValueError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dimensions")
    return int(dim) % nd


def _softmax_input(op, input, dtype):
    check_float(input, "input", op)
    if dtype is not None:
        input = basic.cast(input, np.dtype(dtype))
    return input


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """``exp(x) / sum(exp(x))`` along ``dim``, stable for large logits.

    ``dim=None`` picks 0 for 0-, 1- and 3-D input and 1 otherwise, with PyTorch's warning.
    """
    x = _softmax_input("softmax", input, dtype)
    d = _softmax_dim("softmax", x.ndim, dim, _stacklevel)
    if x.ndim == 0:
        return basic.reshape(Softmax.apply(basic.reshape(x, (1,)), 0), ())
    return Softmax.apply(x, d)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """``x - log(sum(exp(x)))`` along ``dim``; finite for logits of any finite size."""
    x = _softmax_input("log_softmax", input, dtype)
    d = _softmax_dim("log_softmax", x.ndim, dim, _stacklevel)
    if x.ndim == 0:
        return basic.reshape(LogSoftmax.apply(basic.reshape(x, (1,)), 0), ())
    return LogSoftmax.apply(x, d)
