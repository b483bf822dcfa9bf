"""Loss functions: cross_entropy (fused log-softmax + NLL), nll_loss, mse_loss, l1_loss.

Definitions (PyTorch's), for input ``x`` of shape (N, C, *d) or (C,), class dimension 1, and
``w`` the class weights (all ones when ``weight`` is None):

class-index target ``y`` (N, *d), with ``m_n = [y_n != ignore_index]``, ``eps`` the label
smoothing::

    loss_n = m_n * ((1 - eps) * w[y_n] * -logp[n, y_n] + eps / C * sum_c w_c * -logp[n, c])
    mean   = sum_n loss_n / sum_n m_n * w[y_n]          (nan when every target is ignored)

probability target ``t`` (same shape as ``x``), ``t' = (1 - eps) * t + eps / C``::

    loss_n = -sum_c w_c * t'[n, c] * logp[n, c]
    mean   = sum_n loss_n / (N * prod(d))               (weights do not enter the divisor)

``logp = log_softmax(x, 1)`` is computed as ``x - max - log(sum(exp(x - max)))``, so logits of
any finite size (1e4 and beyond) give finite losses and gradients.
"""

import warnings

import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from ._util import check_float
from .activation import log_softmax_array
from .basic import _unbroadcast

__all__ = ["cross_entropy", "nll_loss", "mse_loss", "l1_loss"]

_REDUCTIONS = ("none", "mean", "sum")


def _legacy_reduction(size_average, reduce):
    """PyTorch's mapping of the deprecated ``size_average``/``reduce`` flags to ``reduction``."""
    warnings.warn("size_average and reduce args will be deprecated, please use "
                  "reduction='mean'/'sum'/'none' instead.", stacklevel=4)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        return "mean"
    return "sum" if reduce else "none"


def _reduction(op, reduction, size_average, reduce):
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def _reduce(loss, reduction, denom=None):
    if reduction == "none":
        return loss
    total = np.sum(loss, dtype=loss.dtype)
    if reduction == "sum":
        return np.asarray(total)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(total / np.asarray(denom if denom is not None else loss.size,
                                             loss.dtype))


def _upstream(g, reduction, shape, denom):
    """The incoming gradient as a per-element scale of shape ``shape``."""
    if reduction == "none":
        return g
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            g = g / np.asarray(denom, g.dtype)
    return np.broadcast_to(g, shape)


def _expand(a, ndim):
    """(C,) -> (1, C, 1, ..., 1) to broadcast against (N, C, *d)."""
    return a.reshape((1, -1) + (1,) * (ndim - 2))


# ---------------------------------------------------------------------- Functions
class CrossEntropy(Function):
    """Class-index targets: log-softmax, NLL and label smoothing fused in one op."""

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction, eps):
        c = x.shape[1]
        logp = log_softmax_array(x, 1)
        mask = target != ignore_index
        t = np.where(mask, target, 0)[:, None]
        wv = (weight[t[:, 0]] * mask) if weight is not None else mask.astype(x.dtype)
        loss = -np.take_along_axis(logp, t, axis=1)[:, 0] * wv
        wc = _expand(weight, x.ndim) if weight is not None else None
        if eps > 0:
            smooth = -np.sum(logp * wc if wc is not None else logp, axis=1) * mask
            loss = (1 - eps) * loss + (eps / c) * smooth
        denom = np.sum(wv, dtype=x.dtype)
        ctx.save_for_backward(logp, t, wv, mask, wc)
        ctx.reduction, ctx.eps, ctx.denom = reduction, eps, denom
        return _reduce(loss.astype(x.dtype, copy=False), reduction, denom)

    @staticmethod
    def backward(ctx, g):
        logp, t, wv, mask, wc = ctx.saved_tensors
        eps, c = ctx.eps, logp.shape[1]
        s = _upstream(g, ctx.reduction, wv.shape, ctx.denom)
        # d(-logp_k)/dx_j = p_j - [j == k]; sum the target term and the smoothing term.
        sw = np.sum(wc) if wc is not None else c
        coef = s * ((1 - eps) * wv + (eps / c) * sw * mask)
        grad = np.exp(logp) * coef[:, None]
        if eps > 0:
            grad -= (s * mask * (eps / c))[:, None] * (wc if wc is not None else 1)
        at_t = np.take_along_axis(grad, t, axis=1) - (s * (1 - eps) * wv)[:, None]
        np.put_along_axis(grad, t, at_t, axis=1)
        return grad.astype(logp.dtype, copy=False), None, None, None, None, None


class CrossEntropyProbs(Function):
    """Probability (soft) targets; differentiable in the target too."""

    @staticmethod
    def forward(ctx, x, target, weight, reduction, eps):
        c = x.shape[1]
        logp = log_softmax_array(x, 1)
        tt = target * (1 - eps) + eps / c if eps > 0 else target
        wc = _expand(weight, x.ndim) if weight is not None else None
        wt = tt * wc if wc is not None else tt
        loss = -np.sum(logp * wt, axis=1)
        denom = x.size // c if c else 0
        ctx.save_for_backward(logp, wt, wc)
        ctx.reduction, ctx.eps, ctx.denom = reduction, eps, denom
        return _reduce(loss.astype(x.dtype, copy=False), reduction, denom)

    @staticmethod
    def backward(ctx, g):
        logp, wt, wc = ctx.saved_tensors
        s = _upstream(g, ctx.reduction, logp.shape[:1] + logp.shape[2:], ctx.denom)[:, None]
        gx = gt = None
        if ctx.needs_input_grad[0]:
            gx = s * (np.exp(logp) * np.sum(wt, axis=1, keepdims=True) - wt)
        if ctx.needs_input_grad[1]:
            gt = -s * (1 - ctx.eps) * (logp * wc if wc is not None else logp)
            gt = gt.astype(logp.dtype, copy=False)
        return gx, gt, None, None, None


class NLLLoss(Function):
    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction):
        mask = target != ignore_index
        t = np.where(mask, target, 0)[:, None]
        wv = (weight[t[:, 0]] * mask) if weight is not None else mask.astype(x.dtype)
        loss = -np.take_along_axis(x, t, axis=1)[:, 0] * wv
        denom = np.sum(wv, dtype=x.dtype)
        ctx.save_for_backward(t, wv)
        ctx.reduction, ctx.denom, ctx.shape = reduction, denom, x.shape
        return _reduce(loss.astype(x.dtype, copy=False), reduction, denom)

    @staticmethod
    def backward(ctx, g):
        t, wv = ctx.saved_tensors
        s = _upstream(g, ctx.reduction, wv.shape, ctx.denom)
        grad = np.zeros(ctx.shape, dtype=g.dtype)
        np.put_along_axis(grad, t, (-s * wv)[:, None].astype(g.dtype, copy=False), axis=1)
        return grad, None, None, None, None


class PointwiseLoss(Function):
    """mse (``(x - t)^2``) and l1 (``|x - t|``) with broadcasting between input and target."""

    @staticmethod
    def forward(ctx, x, target, kind, reduction):
        d = x - target
        loss = d * d if kind == "mse" else np.abs(d)
        ctx.save_for_backward(d)
        ctx.kind, ctx.reduction = kind, reduction
        ctx.shapes = (x.shape, target.shape)
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        s = _upstream(g, ctx.reduction, d.shape, d.size)
        grad = s * (2 * d if ctx.kind == "mse" else np.sign(d))
        grad = grad.astype(d.dtype, copy=False)
        gx = _unbroadcast(grad, ctx.shapes[0]) if ctx.needs_input_grad[0] else None
        gt = _unbroadcast(-grad, ctx.shapes[1]) if ctx.needs_input_grad[1] else None
        return gx, gt, None, None


# -------------------------------------------------------------------- validation
def _as_tensor(t, what, op):
    if isinstance(t, Tensor):
        return t
    if isinstance(t, np.ndarray):
        return Tensor._wrap(t)
    raise TypeError(f"{op}: {what} must be a Tensor, got {type(t).__name__}")


def _check_weight(op, weight, c, x):
    if weight is None:
        return None
    weight = _as_tensor(weight, "weight", op)
    check_float(weight, "weight", op)
    if weight.shape != (c,):
        raise ValueError(f"{op}: weight must have one entry per class, shape ({c},), got "
                         f"{weight.shape} (input {x.shape})")
    if weight.dtype != x.dtype:
        raise TypeError(f"{op}: input is {x.dtype} but weight is {weight.dtype}")
    return weight.data  # a constant: PyTorch does not differentiate losses by their weights


def _class_input(op, input, target):
    """Validate and return batched (N, C, *d) input and (N, *d) or (N, C, *d) target."""
    check_float(input, "input", op)
    target = _as_tensor(target, "target", op)
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension, got a 0-D input")
    if input.ndim == 1:
        return input.unsqueeze(0), target.unsqueeze(0) if target.ndim < 2 else target, False
    return input, target, True


def _check_indices(op, x, t, ignore_index, orig_in, orig_t):
    shapes = f"(input {orig_in.shape}, target {orig_t.shape})"
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: class-index target must be an integer tensor, got {t.dtype}; "
                        f"for class probabilities pass a target of the input's shape {shapes}")
    want = x.shape[:1] + x.shape[2:]
    if t.shape != want:
        expect = want if orig_in.ndim > 1 else ()
        raise ValueError(f"{op}: expected a target of shape {expect} for input "
                         f"{orig_in.shape}, got target {orig_t.shape}")
    c = x.shape[1]
    data = t.data
    bad = (data != ignore_index) & ((data < 0) | (data >= c))
    if bad.any():
        cls = int(data[bad].flat[0])
        raise ValueError(f"{op}: input has {c} classes but target contains class {cls} "
                         f"{shapes}")
    return data.astype(np.int64, copy=False)


def _ignore_index(op, ignore_index):
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"{op}: ignore_index must be an int, got {ignore_index!r}")
    return int(ignore_index)


# ---------------------------------------------------------------------- public API
def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """Cross entropy between logits ``input`` and ``target`` (see the module docstring).

    Parameters
    ----------
    input : Tensor
        Unnormalised logits, (N, C), (N, C, d1, ...) or unbatched (C,).
    target : Tensor
        Class indices (integers in [0, C) or ``ignore_index``), shape (N,), (N, d1, ...) or ();
        or class probabilities with the shape and dtype of ``input``.
    weight : Tensor, optional
        (C,) rescaling weight per class.
    ignore_index : int
        Class-index targets equal to it contribute nothing (to the mean's divisor neither).
    reduction : {'mean', 'sum', 'none'}
    label_smoothing : float in [0, 1]
        Mixes the target with the uniform distribution over the C classes.
    """
    op = "cross_entropy"
    reduction = _reduction(op, reduction, size_average, reduce)
    ignore_index = _ignore_index(op, ignore_index)
    ls = float(label_smoothing)
    if not 0.0 <= ls <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be between 0.0 and 1.0, got {ls}")
    x, t, batched = _class_input(op, input, target)
    w = _check_weight(op, weight, x.shape[1], input)
    if t.dtype.kind == "f" and t.shape == x.shape:
        if t.dtype != x.dtype:
            raise TypeError(f"{op}: probability target is {t.dtype} but input is {x.dtype} "
                            f"(input {input.shape}, target {target.shape})")
        out = CrossEntropyProbs.apply(x, t, w, reduction, ls)
    else:
        idx = _check_indices(op, x, t, ignore_index, input, target)
        out = CrossEntropy.apply(x, idx, w, ignore_index, reduction, ls)
    return out.squeeze(0) if reduction == "none" and not batched else out


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log-likelihood of log-probabilities ``input`` (N, C, *d) at class ``target``.

    ``loss_n = -w[y_n] * input[n, y_n]``; ``'mean'`` divides by the sum of the weights of the
    non-ignored targets.
    """
    op = "nll_loss"
    reduction = _reduction(op, reduction, size_average, reduce)
    ignore_index = _ignore_index(op, ignore_index)
    x, t, batched = _class_input(op, input, target)
    w = _check_weight(op, weight, x.shape[1], input)
    idx = _check_indices(op, x, t, ignore_index, input, target)
    out = NLLLoss.apply(x, idx, w, ignore_index, reduction)
    return out.squeeze(0) if reduction == "none" and not batched else out


def _pointwise(op, kind, input, target, reduction, size_average, reduce):
    reduction = _reduction(op, reduction, size_average, reduce)
    check_float(input, "input", op)
    target = _as_tensor(target, "target", op)
    check_float(target, "target", op)
    if target.dtype != input.dtype:
        raise TypeError(f"{op}: input is {input.dtype} but target is {target.dtype}")
    if target.shape != input.shape:
        try:
            np.broadcast_shapes(input.shape, target.shape)
        except ValueError:
            raise ValueError(f"{op}: input {input.shape} and target {target.shape} cannot be "
                             f"broadcast together") from None
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input "
                      f"size ({input.shape}). This will likely lead to incorrect results due to "
                      f"broadcasting. Please ensure they have the same size.", stacklevel=3)
    return PointwiseLoss.apply(input, target, kind, reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean squared error ``(input - target)^2``, reduced by ``reduction``."""
    return _pointwise("mse_loss", "mse", input, target, reduction, size_average, reduce)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean absolute error ``|input - target|``; the gradient at 0 is 0 (sign)."""
    return _pointwise("l1_loss", "l1", input, target, reduction, size_average, reduce)
