"""Normalisation ops, each with forward and backward fused into one Function.

Batch normalisation (``batch_norm``):

For input (N, C, *d), per channel c over the M = N * prod(d) values::

    training:  mu = mean(x),  var = mean((x - mu)^2)            (biased, used to normalise)
               running_mean <- (1 - momentum) * running_mean + momentum * mu
               running_var  <- (1 - momentum) * running_var  + momentum * var * M / (M - 1)
    eval:      mu, var = running_mean, running_var
    y = (x - mu) / sqrt(var + eps) * weight + bias

Backward in training mode (xhat the normalised input, g the incoming gradient)::

    dbias = sum(g),  dweight = sum(g * xhat)
    dx = weight / sqrt(var + eps) * (g - dbias / M - xhat * dweight / M)

Layer and group normalisation (``layer_norm``, ``group_norm``) normalise rows of a view of the
input, ``x`` (R, M), by their own statistics (biased variance), then apply a per-element
(layer norm) or per-channel (group norm) affine map::

    xhat = (x - mean(x)) / sqrt(var(x) + eps),   y = xhat * weight + bias
    dxhat = g * weight
    dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var(x) + eps)   (row means)

Local response normalisation (``local_response_norm``, PyTorch's definition), for input
(N, C, *d), window ``size`` and ``W(c) = [c - size // 2, c + (size - 1) // 2]`` (channels outside
[0, C) count as zeros, and the divisor is always ``size``)::

    d_c = k + alpha / size * sum_{j in W(c)} x_j^2,    y_c = x_c * d_c^(-beta)
    dx_j = g_j * d_j^(-beta) - 2 * alpha * beta / size * x_j * sum_{c : j in W(c)} g_c * y_c / d_c
"""

import math

import numpy as np

from .. import _kernels
from ..autograd import Function
from ..tensor import Tensor
from ._util import check_float

__all__ = ["batch_norm", "layer_norm", "group_norm", "local_response_norm"]


class BatchNorm(Function):
    # Compiled kernels (csrc/_norm.pyx): statistics, normalisation and the affine map in one
    # parallel call. Backward recomputes xhat from the saved input instead of keeping a
    # normalised copy (one activation-sized buffer less per layer, and no slower). Outputs are
    # allocated in the caller's shape and written through an (N, C, L) view, so the engine
    # can keep the input gradient as .grad without copying it.
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        n, c = x.shape[:2]
        x3 = np.ascontiguousarray(x).reshape(n, c, math.prod(x.shape[2:]))  # reduce over 0, 2
        y = np.empty(x.shape, x.dtype)
        if training:
            _, mean, var = _kernels.batch_norm_train(x3, weight, bias, eps,
                                                     out=y.reshape(x3.shape))
            m = x3.shape[0] * x3.shape[2]
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += momentum * mean
            if running_var is not None:
                running_var *= 1 - momentum
                running_var += (momentum * m / max(m - 1, 1)) * var
            mean = mean.astype(x.dtype)
        else:  # (a copy: a later training-mode call updates running_mean in place)
            mean, var = running_mean.copy(), running_var
        invstd = (1 / np.sqrt(var + eps)).astype(x.dtype, copy=False)
        scale = invstd if weight is None else invstd * weight
        if not training:
            _kernels.batch_norm_affine(x3, mean, scale, bias, out=y.reshape(x3.shape))
        ctx.save_for_backward(x3, mean, invstd, scale)
        ctx.training = training
        return y

    @staticmethod
    def backward(ctx, g):
        x3, mean, invstd, scale = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = np.empty(g.shape, g.dtype) if need_x else None
        _, gw, gb = _kernels.batch_norm_backward(
            x3, g.reshape(x3.shape), mean, invstd, scale, ctx.training, need_x, need_w, need_b,
            out=None if gx is None else gx.reshape(x3.shape))
        return gx, gw, gb, None, None, None, None, None


def _check_vec(op, t, name, c, x):
    if t is None:
        return None
    check_float(t, name, op)
    if t.shape != (c,):
        raise ValueError(f"{op}: {name} must have shape ({c},) for input {x.shape} with {c} "
                         f"channels, got {t.shape}")
    if t.dtype != x.dtype:
        raise TypeError(f"{op}: input is {x.dtype} but {name} is {t.dtype}")
    return t


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Normalise each channel of (N, C, *d) input; see the module docstring for the formulas.

    ``running_mean``/``running_var`` (C,) are updated in place when ``training`` (pass None to
    skip); they are required when not ``training``. ``weight``/``bias`` (C,) are optional.
    """
    op = "batch_norm"
    check_float(input, "input", op)
    if input.ndim < 2:
        raise ValueError(f"{op}: expected input with at least 2 dimensions (N, C, ...), got "
                         f"shape {input.shape}")
    c = input.shape[1]
    rm = _check_vec(op, running_mean, "running_mean", c, input)
    rv = _check_vec(op, running_var, "running_var", c, input)
    w = _check_vec(op, weight, "weight", c, input)
    b = _check_vec(op, bias, "bias", c, input)
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.floating)):
        raise TypeError(f"{op}: momentum must be a float, got {momentum!r}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating)) or eps < 0:
        raise ValueError(f"{op}: eps must be a non-negative float, got {eps!r}")
    if training:
        per_channel = input.data.size // c if c else 0
        if per_channel <= 1:
            raise ValueError(f"{op}: expected more than 1 value per channel when training, got "
                             f"input size {input.shape}")
    elif rm is None or rv is None:
        raise ValueError(f"{op}: running_mean and running_var must be given in evaluation mode "
                         f"(training=False)")
    if (rm is None) != (rv is None):
        raise ValueError(f"{op}: running_mean and running_var must both be given or both be None")
    for t, name in ((rm, "running_mean"), (rv, "running_var")):
        if isinstance(t, Tensor) and t.requires_grad and training:
            raise ValueError(f"{op}: {name} is updated in place and must not require grad")
    return BatchNorm.apply(input, w, b, None if rm is None else rm.data,
                           None if rv is None else rv.data, bool(training), float(momentum),
                           float(eps))


# --------------------------------------------------------------- layer and group norm
def _normalize_rows(x2, eps):
    """Normalise each row of ``x2`` (..., M); returns (xhat, invstd) with invstd (..., 1)."""
    mean = x2.mean(axis=-1, keepdims=True)
    xc = x2 - mean
    var = np.einsum("...m,...m->...", xc, xc)[..., None] / max(x2.shape[-1], 1)
    invstd = (1 / np.sqrt(var + eps)).astype(x2.dtype, copy=False)
    xc *= invstd
    return xc, invstd


def _normalize_rows_backward(gxhat, xhat, invstd):
    m = max(xhat.shape[-1], 1)
    proj = np.einsum("...m,...m->...", gxhat, xhat)[..., None] / m
    gx = gxhat - gxhat.mean(axis=-1, keepdims=True)
    gx -= xhat * proj
    gx *= invstd
    return gx


class LayerNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, normalized_shape, eps):
        m = int(np.prod(normalized_shape))
        xhat, invstd = _normalize_rows(x.reshape(-1, m), eps)
        ctx.save_for_backward(xhat, invstd, weight)
        ctx.shape, ctx.normalized_shape = x.shape, normalized_shape
        y = xhat * weight.reshape(m) if weight is not None else xhat.copy()
        if bias is not None:
            y += bias.reshape(m)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        xhat, invstd, weight = ctx.saved_tensors
        g2 = g.reshape(xhat.shape)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = gw = gb = None
        if need_x:
            gxhat = g2 * weight.reshape(-1) if weight is not None else g2
            gx = _normalize_rows_backward(gxhat, xhat, invstd).reshape(ctx.shape)
        if need_w:
            gw = np.einsum("rm,rm->m", g2, xhat).reshape(ctx.normalized_shape)
        if need_b:
            gb = g2.sum(axis=0).reshape(ctx.normalized_shape)
        return gx, gw, gb, None, None


class GroupNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, groups, eps):
        n, c = x.shape[:2]
        xhat, invstd = _normalize_rows(x.reshape(n, groups, -1), eps)
        xhat = xhat.reshape(n, c, -1)  # (N, C, L): the affine map is per channel
        ctx.save_for_backward(xhat, invstd, weight)
        ctx.shape, ctx.groups = x.shape, groups
        y = xhat * weight[:, None] if weight is not None else xhat.copy()
        if bias is not None:
            y += bias[:, None]
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        xhat, invstd, weight = ctx.saved_tensors
        n, c, _ = xhat.shape
        g3 = g.reshape(xhat.shape)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = gw = gb = None
        if need_x:
            gxhat = g3 * weight[:, None] if weight is not None else g3
            gx = _normalize_rows_backward(gxhat.reshape(n, ctx.groups, -1),
                                          xhat.reshape(n, ctx.groups, -1), invstd)
            gx = gx.reshape(ctx.shape)
        if need_w:
            gw = np.einsum("ncl,ncl->c", g3, xhat)
        if need_b:
            gb = g3.sum(axis=(0, 2))
        return gx, gw, gb, None, None


def _check_eps(op, eps):
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.integer, np.floating)) \
            or eps < 0:
        raise ValueError(f"{op}: eps must be a non-negative float, got {eps!r}")
    return float(eps)


def _check_affine(op, t, name, shape, x):
    """An optional float Tensor of exactly ``shape`` and ``x``'s dtype."""
    if t is None:
        return None
    check_float(t, name, op)
    if t.shape != shape:
        raise ValueError(f"{op}: {name} must have shape {shape} for input {x.shape}, got "
                         f"{t.shape}")
    if t.dtype != x.dtype:
        raise TypeError(f"{op}: input is {x.dtype} but {name} is {t.dtype}")
    return t


def _normalized_shape(op, normalized_shape):
    """An int or a sequence of ints -> a tuple of non-negative ints (PyTorch's rule)."""
    if isinstance(normalized_shape, (int, np.integer)) and not isinstance(normalized_shape, bool):
        normalized_shape = (normalized_shape,)
    try:
        shape = tuple(normalized_shape)
    except TypeError:
        shape = None
    if shape is None or not shape or any(
            isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in shape):
        raise TypeError(f"{op}: normalized_shape must be an int or a non-empty tuple of ints, "
                        f"got {normalized_shape!r}")
    if any(v < 1 for v in shape):
        raise ValueError(f"{op}: normalized_shape must hold positive sizes, got {shape}")
    return tuple(int(v) for v in shape)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last ``len(normalized_shape)`` dimensions of each sample.

    Parameters
    ----------
    input : Tensor
        (*, *normalized_shape).
    normalized_shape : int or tuple of int
        The trailing shape whose ``M = prod(normalized_shape)`` values share one mean and one
        (biased) variance.
    weight, bias : Tensor, optional
        Element-wise affine parameters of shape ``normalized_shape``.
    eps : float
        Added to the variance.

    Returns
    -------
    Tensor
        ``(x - mean) / sqrt(var + eps) * weight + bias``, same shape and dtype as ``input``.
    """
    op = "layer_norm"
    check_float(input, "input", op)
    shape = _normalized_shape(op, normalized_shape)
    k = len(shape)
    if input.ndim < k or input.shape[input.ndim - k:] != shape:
        raise ValueError(f"{op}: expected input with shape (*, {', '.join(map(str, shape))}) "
                         f"for normalized_shape {shape}, got input {input.shape}")
    w = _check_affine(op, weight, "weight", shape, input)
    b = _check_affine(op, bias, "bias", shape, input)
    return LayerNorm.apply(input, w, b, shape, _check_eps(op, eps))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each sample over groups of ``C / num_groups`` channels (and all positions).

    Parameters
    ----------
    input : Tensor
        (N, C, *d); C must be divisible by ``num_groups``.
    num_groups : int
        Each group of consecutive channels shares one mean and one (biased) variance per sample.
    weight, bias : Tensor, optional
        Per-channel affine parameters of shape (C,).
    eps : float
        Added to the variance.

    Returns
    -------
    Tensor
        Same shape and dtype as ``input``.
    """
    op = "group_norm"
    check_float(input, "input", op)
    if input.ndim < 2:
        raise ValueError(f"{op}: expected an input with at least 2 dimensions (N, C, ...), got "
                         f"shape {input.shape}")
    if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)):
        raise TypeError(f"{op}: num_groups must be an int, got {num_groups!r}")
    c = input.shape[1]
    if num_groups < 1 or c % num_groups:
        raise ValueError(f"{op}: expected the number of channels of input {input.shape} to be "
                         f"divisible by num_groups, got num_groups={num_groups}")
    w = _check_affine(op, weight, "weight", (c,), input)
    b = _check_affine(op, bias, "bias", (c,), input)
    return GroupNorm.apply(input, w, b, int(num_groups), _check_eps(op, eps))


# ------------------------------------------------------------------ local response norm
def _window_sum(a, before, after):
    """``out[:, c] = sum_{o=-before}^{after} a[:, c + o]`` over axis 1, zeros outside [0, C)."""
    c = a.shape[1]
    out = np.zeros_like(a)
    for o in range(max(-before, 1 - c), min(after, c - 1) + 1):
        lo, hi = max(0, -o), min(c, c - o)
        out[:, lo:hi] += a[:, lo + o:hi + o]
    return out


class LocalResponseNorm(Function):
    @staticmethod
    def forward(ctx, x, size, alpha, beta, k):
        x3 = x.reshape(x.shape[0], x.shape[1], -1)
        d = _window_sum(x3 * x3, size // 2, (size - 1) // 2)
        d *= alpha / size
        d += k
        scale = d ** -beta
        y = x3 * scale
        ctx.save_for_backward(x3, y, d, scale)
        ctx.size, ctx.coef = size, 2 * alpha * beta / size
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        x3, y, d, scale = ctx.saved_tensors
        size = ctx.size
        g3 = g.reshape(x3.shape)
        # The transposed window: x_j enters d_c for c in [j - (size - 1) // 2, j + size // 2].
        t = _window_sum(g3 * y / d, (size - 1) // 2, size // 2)
        t *= x3
        t *= -ctx.coef
        t += g3 * scale
        return t.reshape(g.shape), None, None, None, None


def _check_number(op, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name} must be a float, got {value!r}")
    return float(value)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Normalise each element by the energy of its neighbours across channels (AlexNet's LRN).

    Parameters
    ----------
    input : Tensor
        (N, C, *d) with at least 3 dimensions; channels are dimension 1.
    size : int
        Number of neighbouring channels in the window ``[c - size // 2, c + (size - 1) // 2]``.
    alpha, beta, k : float
        ``y_c = x_c / (k + alpha / size * sum_{j in window(c)} x_j^2) ** beta``; channels
        outside [0, C) count as zeros and the divisor is always ``size`` (PyTorch's definition).

    Returns
    -------
    Tensor
        Same shape and dtype as ``input``.
    """
    op = "local_response_norm"
    check_float(input, "input", op)
    if input.ndim < 3:
        raise ValueError(f"{op}: expected 3D or higher dimensionality input (got {input.ndim} "
                         f"dimensions, shape {input.shape})")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"{op}: size must be an int, got {size!r}")
    if size < 1:
        raise ValueError(f"{op}: size must be positive, got {size}")
    alpha, beta, k = (_check_number(op, n, v) for n, v in (("alpha", alpha), ("beta", beta),
                                                           ("k", k)))
    if input.data.size == 0:
        return input
    return LocalResponseNorm.apply(input, int(size), alpha, beta, k)
