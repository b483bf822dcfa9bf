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
           "softmax", "log_softmax"]


def _number(value, name, op):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name} must be a number, got {type(value).__name__}")
    return float(value)


# ------------------------------------------------- normal CDF (numpy has no erf/erfc)
# erfc(z) = t * exp(-z^2 + P(t)) with t = 1 / (1 + z/2), z >= 0: one smooth function P on
# t in (0, 1], fitted here at import (Chebyshev interpolation of math.erfc, no coefficient
# tables), evaluated by Horner in the input's own dtype with no branches or masks. Relative
# error of erfc: ~1e-13 in float64 (degree 22), ~1e-5 in the far float32 tail and ~3e-7 near 0
# (degree 11). Phi(x) = erfc(-x/sqrt 2)/2 keeps full relative accuracy for very negative x.
def _log_erfcx_over_t(s):
    t = (s + 1) / 2  # s in [-1, 1] -> t in [0, 1]
    if t <= 0:
        return math.log(1 / (2 * math.sqrt(math.pi)))
    z = 2 * (1 - t) / t
    if z < 25:
        erfcx = math.erfc(z) * math.exp(z * z)
    else:  # math.erfc underflows: asymptotic series, exact to double here
        erfcx, term = 1.0, 1.0
        for k in range(1, 12):
            term *= -(2 * k - 1) / (2 * z * z)
            erfcx += term
        erfcx /= z * math.sqrt(math.pi)
    return math.log(erfcx) - math.log(t)


def _erfc_coefficients(deg):
    fit = _cheb.chebinterpolate(
        lambda s: np.frompyfunc(_log_erfcx_over_t, 1, 1)(s).astype(np.float64), deg)
    # Power basis in y = 2t - 1 in [-1, 1]; Python floats keep float32 arithmetic in float32.
    return _cheb.cheb2poly(fit).tolist()


_ERFC_COEF = {np.dtype(np.float32): _erfc_coefficients(11),
              np.dtype(np.float64): _erfc_coefficients(22)}


def _erfc_nonneg(z):
    """erfc of a float array with z >= 0 (or nan), in z's dtype."""
    coef = _ERFC_COEF[z.dtype]
    with np.errstate(over="ignore", invalid="ignore"):
        t = 1 / (1 + z * 0.5)
        y = 2 * t - 1
        p = np.full_like(t, coef[-1])
        for a in coef[-2::-1]:
            p *= y
            p += a
        p -= z * z
        np.exp(p, out=p)
        p *= t
    return p


def normal_cdf(x):
    """Phi(x) = (1 + erf(x / sqrt 2)) / 2 of a float32/float64 array, in its dtype."""
    half = _erfc_nonneg(np.abs(x) * (1 / math.sqrt(2)))
    half *= 0.5
    return np.where(x < 0, half, 1 - half)


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
        ctx.approximate = approximate
        if approximate == "tanh":
            ctx.save_for_backward(x, None)
            t = np.tanh(_GELU_K * (x + 0.044715 * x * x * x))
            return (0.5 * x * (1 + t)).astype(x.dtype, copy=False)
        cdf = normal_cdf(x)
        ctx.save_for_backward(x, cdf)
        return x * cdf

    @staticmethod
    def backward(ctx, g):
        x, cdf = ctx.saved_tensors
        if ctx.approximate == "tanh":
            inner = _GELU_K * (x + 0.044715 * x * x * x)
            t = np.tanh(inner)
            d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _GELU_K * (1 + 3 * 0.044715 * x * x)
        else:
            d = x * np.exp(-0.5 * x * x)
            d *= 1 / _SQRT_2PI
            d += cdf
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
