"""Activation functions and (log-)softmax, each with its backward.

Every elementwise activation runs in compiled code (``csrc/_act.pyx``, vectorised and parallel,
through :func:`tinyconv._kernels.activation`), forward and backward. One Function,
:class:`Activation`, carries the kernel's name and parameters; each activation's formula and
derivative sit side by side in ``csrc/_act_template.h``. The backward reads the forward's input,
or its output where that is cheaper and exact (sigmoid, tanh); on float32 the piecewise-linear
ones (relu, relu6/hardtanh, leaky_relu, threshold) save one bit per element instead, which side
of the kink it is on, and their backward reads that (1.25x faster forward+backward). PReLU (a
learnable weight) and training-mode RReLU (random slopes) have Functions of their own; softmax
and log-softmax are row reductions in numpy.

Derivatives at the kinks are PyTorch's (2.13): relu'(0) = 0, leaky_relu'(0) = negative_slope,
prelu'(0) = weight, rrelu'(0) = the slope (eval: (lower + upper) / 2), hardtanh' = relu6' = 0 at
both bounds, elu'(0) = alpha (the exponential side), hardsigmoid' = 0 at -3 and 3, hardswish'(-3)
= 0 and hardswish'(3) = 1, threshold' = 0 at x == threshold, softplus' = 1 above its threshold.
A NaN input gives a NaN output.

``inplace=True`` is accepted for source compatibility; the result is always a new tensor (the
autograd graph needs the input), with the same values.
"""

import warnings

import numpy as np

from .. import _kernels
from ..autograd import Function, is_grad_enabled
from ..tensor import default_generator
from . import basic
from ._util import check_float

__all__ = ["relu", "relu6", "leaky_relu", "prelu", "rrelu", "hardtanh", "elu", "selu", "celu",
           "gelu", "silu", "mish", "sigmoid", "tanh", "softplus", "softsign", "hardsigmoid",
           "hardswish", "threshold", "softmax", "log_softmax", "normal_cdf"]

# SELU's constants (Klambauer et al. 2017), as in PyTorch.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _number(value, name, op):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name} must be a number, got {type(value).__name__}")
    return float(value)


def normal_cdf(x):
    """Phi(x) = (1 + erf(x / sqrt 2)) / 2 of a float32/float64 array, in its dtype.

    Computed as erfc(-x / sqrt 2) / 2, so it keeps its relative accuracy in the lower tail.
    """
    return _kernels.activation("normal_cdf", x)


# ------------------------------------------------------------------------ Functions
class Activation(Function):
    """An elementwise activation of the compiled kernels: ``kind`` names it (a key of
    ``tinyconv._act.KINDS``), ``params`` are its (up to three) float parameters."""

    @staticmethod
    def forward(ctx, x, kind, params):
        ctx.kind, ctx.params = kind, params
        ctx.masked = (kind in _kernels.ACTIVATION_MASKED and x.dtype == np.float32
                      and ctx.needs_input_grad[0] and is_grad_enabled())
        if ctx.masked:  # one bit per element for the backward (see csrc/_act.h)
            y, mask = _kernels.activation_masked(kind, x, *params)
            ctx.save_for_backward(mask)
            return y
        y = _kernels.activation(kind, x, *params)
        ctx.save_for_backward(y if kind in _kernels.ACTIVATION_FROM_OUTPUT else x)
        return y

    @staticmethod
    def backward(ctx, g):
        (saved,) = ctx.saved_tensors
        if ctx.masked:
            gx = _kernels.activation_backward_masked(ctx.kind, g, saved, *ctx.params)
        else:
            gx = _kernels.activation_backward(ctx.kind, g, saved, *ctx.params)
        return gx, None, None


class Prelu(Function):
    @staticmethod
    def forward(ctx, x, weight):
        ctx.save_for_backward(x, weight)
        return _kernels.prelu(x, weight.reshape(-1))

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        gx, gw = _kernels.prelu_backward(g, x, weight.reshape(-1), ctx.needs_input_grad[0])
        return gx, (gw.reshape(weight.shape) if ctx.needs_input_grad[1] else None)


class RreluTrain(Function):
    @staticmethod
    def forward(ctx, x, u, lower, upper):
        y, slopes = _kernels.rrelu_train(x, u, lower, upper)
        ctx.save_for_backward(slopes)
        return y

    @staticmethod
    def backward(ctx, g):
        (slopes,) = ctx.saved_tensors
        return _kernels.activation_backward("mul", g, slopes), None, None, None


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


def _apply(op, input, kind, *params):
    check_float(input, "input", op)
    return Activation.apply(input, kind, params)


# --------------------------------------------------------------------- public API
def relu(input, inplace=False):
    """``max(x, 0)``, elementwise; relu'(0) = 0.

    Shape: any; the output has the input's shape and dtype (as every activation here).
    """
    return _apply("relu", input, "relu")


def relu6(input, inplace=False):
    """``min(max(x, 0), 6)`` (``hardtanh(x, 0, 6)``); the gradient is 0 at 0 and at 6."""
    return _apply("relu6", input, "hardtanh", 0.0, 6.0)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """``x`` for ``x > 0``, ``negative_slope * x`` otherwise; the gradient at 0 is the slope."""
    slope = _number(negative_slope, "negative_slope", "leaky_relu")
    return _apply("leaky_relu", input, "leaky_relu", slope)


def _prelu_check(input, weight):
    op = "prelu"
    check_float(input, "input", op)
    check_float(weight, "weight", op)
    if weight.dtype != input.dtype:
        raise TypeError(f"{op}: input is {input.dtype} but weight is {weight.dtype}")
    if weight.ndim > 1:
        raise ValueError(f"{op}: weight must be a scalar or 1-D tensor, got shape "
                         f"{weight.shape}")
    channels = input.shape[1] if input.ndim >= 2 else 1
    if weight.data.size != 1 and weight.data.size != channels:
        raise ValueError(f"{op}: weight has {weight.data.size} parameters but the input has "
                         f"{channels} channels (dim 1 of input {input.shape}; 1 below 2-D), "
                         f"and there must be 1 parameter or one per channel")


def prelu(input, weight):
    """``x`` for ``x > 0``, ``weight[c] * x`` otherwise, c the channel (dim 1).

    Parameters
    ----------
    input : Tensor (N, C, *) (or any shape with a single weight; below 2-D C is 1)
    weight : Tensor (1,) or (C,) (or 0-D), input's dtype; differentiable

    Returns
    -------
    Tensor, input's shape. The gradient at 0 is the weight; the weight's gradient is the sum of
    ``x * grad`` over the elements with ``x <= 0`` of its channel.
    """
    _prelu_check(input, weight)
    return Prelu.apply(input, weight)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Randomized leaky ReLU: ``x`` for ``x > 0``, ``a * x`` otherwise.

    In training, ``a`` is drawn per element from U(lower, upper) with tinyconv's generator
    (:func:`tinyconv.manual_seed`; the draws differ from PyTorch's) and the gradient is that
    same ``a`` (also at 0); in evaluation ``a = (lower + upper) / 2`` (leaky_relu).
    """
    op = "rrelu"
    check_float(input, "input", op)
    lo = _number(lower, "lower", op)
    hi = _number(upper, "upper", op)
    if not lo <= hi:
        raise ValueError(f"{op}: lower bound ({lo}) must be less than or equal to the upper "
                         f"bound ({hi})")
    if not training:
        return Activation.apply(input, "leaky_relu", ((lo + hi) / 2,))
    u = default_generator.rng.random(input.shape, dtype=input.dtype)
    return RreluTrain.apply(input, u, lo, hi)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """Clamp to ``[min_val, max_val]``; gradient 1 strictly inside, 0 at the bounds and beyond."""
    lo = _number(min_val, "min_val", "hardtanh")
    hi = _number(max_val, "max_val", "hardtanh")
    if lo > hi:
        raise ValueError(f"hardtanh: min_val ({lo}) cannot be greater than max_val ({hi})")
    return _apply("hardtanh", input, "hardtanh", lo, hi)


def _elu(op, input, alpha, scale, input_scale):
    # The kernel computes x <= 0 ? expm1(x * input_scale) * alpha * scale : x * scale, with
    # the products of the coefficients rounded to the input's dtype as PyTorch does.
    check_float(input, "input", op)
    ft = input.dtype.type
    return Activation.apply(input, "elu", (float(ft(alpha) * ft(scale)), float(ft(scale)),
                                           float(ft(input_scale))))


def elu(input, alpha=1.0, inplace=False):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise; elu'(0) = alpha."""
    return _elu("elu", input, _number(alpha, "alpha", "elu"), 1.0, 1.0)


def selu(input, inplace=False):
    """``scale * elu(x, alpha)`` with SELU's alpha = 1.6732632... and scale = 1.0507009..."""
    return _elu("selu", input, SELU_ALPHA, SELU_SCALE, 1.0)


def celu(input, alpha=1.0, inplace=False):
    """``x`` for ``x > 0``, ``alpha * (exp(x / alpha) - 1)`` otherwise; alpha must not be 0."""
    a = _number(alpha, "alpha", "celu")
    if a == 0:
        raise ValueError("celu: alpha cannot be 0 (celu divides by it)")
    return _elu("celu", input, a, 1.0, 1.0 / a)


def gelu(input, approximate="none"):
    """``x * Phi(x)`` with Phi the standard normal CDF (``approximate='none'``), or the tanh
    approximation ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`` (``'tanh'``)."""
    check_float(input, "input", "gelu")
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Activation.apply(input, "gelu" if approximate == "none" else "gelu_tanh", ())


def silu(input, inplace=False):
    """``x * sigmoid(x)`` (also called swish)."""
    return _apply("silu", input, "silu")


def mish(input, inplace=False):
    """``x * tanh(softplus(x))``."""
    return _apply("mish", input, "mish")


def sigmoid(input):
    """``1 / (1 + exp(-x))``, without overflow; the backward uses the output."""
    return _apply("sigmoid", input, "sigmoid")


def tanh(input):
    """Hyperbolic tangent; the backward uses the output (``1 - y^2``)."""
    return _apply("tanh", input, "tanh")


def softplus(input, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta x)) / beta``, and ``x`` where ``beta x > threshold``.

    Computed as ``(max(z, 0) + log1p(exp(-|z|))) / beta``, ``z = beta x``: equal to PyTorch's
    ``log1p(exp(z)) / beta``, but finite when a large threshold lets ``exp(z)`` overflow (where
    PyTorch returns inf). beta must not be 0.
    """
    b = _number(beta, "beta", "softplus")
    th = _number(threshold, "threshold", "softplus")
    if b == 0:
        raise ValueError("softplus: beta cannot be 0 (softplus divides by it)")
    return _apply("softplus", input, "softplus", b, th)


def softsign(input):
    """``x / (1 + |x|)``."""
    return _apply("softsign", input, "softsign")


def hardsigmoid(input, inplace=False):
    """``min(max(x + 3, 0), 6) / 6``; the gradient is 1/6 strictly inside (-3, 3), else 0."""
    return _apply("hardsigmoid", input, "hardsigmoid")


def hardswish(input, inplace=False):
    """``x * min(max(x + 3, 0), 6) / 6``; gradient 0 for x <= -3, ``x/3 + 1/2`` inside, 1 for
    x >= 3."""
    return _apply("hardswish", input, "hardswish")


def threshold(input, threshold, value, inplace=False):
    """``x`` where ``x > threshold``, ``value`` elsewhere; the gradient is 0 at the threshold."""
    th = _number(threshold, "threshold", "threshold")
    v = _number(value, "value", "threshold")
    return _apply("threshold", input, "threshold", th, v)


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
