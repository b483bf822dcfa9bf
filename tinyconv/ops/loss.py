"""Loss functions: cross_entropy (fused log-softmax + NLL), nll_loss, the element-wise losses
(mse, l1, smooth_l1, huber, binary_cross_entropy[_with_logits], kl_div) and one_hot.

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

Element-wise losses of ``d = x - t`` (``'mean'`` divides by the number of elements)::

    smooth_l1:  0.5 * d^2 / beta if |d| < beta else |d| - 0.5 * beta     (l1 when beta == 0)
    huber:      0.5 * d^2 if |d| < delta else delta * (|d| - 0.5 * delta)
    binary_cross_entropy:  -w * (t * max(log x, -100) + (1 - t) * max(log(1 - x), -100))
    binary_cross_entropy_with_logits:  w * ((1 - t) * x + (1 + (p - 1) * t) * softplus(-x))
    kl_div:     t * (log t - x)   (0 where t == 0);   exp(t) * (t - x) with log_target

with ``p`` the pos_weight and ``softplus(z) = log(1 + exp(z))`` evaluated without overflow, so
logits of +-1e4 give exact losses and gradients. Class and element weights are constants: no
gradient flows into them.
"""

import warnings

import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from ._util import check_float
from .activation import log_softmax_array
from .basic import _unbroadcast

__all__ = ["cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "one_hot"]

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


class CrossEntropyMean(Function):
    """The common training case of :class:`CrossEntropy`: (N, C) logits, class-index targets
    none of which is ignored, no class weight, no label smoothing, reduction 'mean'.

    The same arithmetic as the general op in the same order, so the loss and the gradient are
    bit-identical to it, but the target column is read and written by fancy indexing instead of
    ``take_along_axis`` / ``put_along_axis`` and without the mask and weight arrays: LeNet-5's
    64x10 loss, forward + backward through ``cross_entropy``, measured 98 -> 53 us.
    """

    @staticmethod
    def forward(ctx, x, target):
        n = x.shape[0]
        logp = log_softmax_array(x, 1)
        rows = np.arange(n)
        denom = x.dtype.type(n)
        loss = np.sum(-logp[rows, target], dtype=x.dtype)
        ctx.save_for_backward(logp, rows, target)
        ctx.denom = denom
        with np.errstate(invalid="ignore", divide="ignore"):  # N = 0 gives nan, as PyTorch
            return np.asarray(loss / denom)

    @staticmethod
    def backward(ctx, g):
        logp, rows, target = ctx.saved_tensors
        with np.errstate(invalid="ignore", divide="ignore"):
            s = g / ctx.denom
        # d(-logp[n, t_n])/dx[n, j] = p[n, j] - [j == t_n], each term scaled by s
        grad = np.exp(logp) * s
        grad[rows, target] -= s
        return grad.astype(logp.dtype, copy=False), None


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
    """mse, l1, smooth_l1 (``param`` = beta) and huber (``param`` = delta) of ``d = x - t``, with
    broadcasting between input and target and an optional constant element weight."""

    @staticmethod
    def forward(ctx, x, target, kind, reduction, param, weight):
        d = x - target
        if kind == "mse":
            loss = d * d
        elif kind == "l1":
            loss = np.abs(d)
        else:
            ad = np.abs(d)
            small = ad < param
            if kind == "smooth_l1":
                loss = np.where(small, (0.5 / param) * d * d, ad - 0.5 * param)
            else:
                loss = np.where(small, 0.5 * d * d, param * (ad - 0.5 * param))
            loss = loss.astype(x.dtype, copy=False)
        if weight is not None:
            loss = loss * weight
        ctx.save_for_backward(d, weight)
        ctx.kind, ctx.reduction, ctx.param = kind, reduction, param
        ctx.shapes = (x.shape, target.shape)
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx, g):
        d, weight = ctx.saved_tensors
        s = _upstream(g, ctx.reduction, d.shape, d.size)
        kind, p = ctx.kind, ctx.param
        if kind == "mse":
            dl = 2 * d
        elif kind == "l1":
            dl = np.sign(d)
        elif kind == "smooth_l1":
            dl = np.clip(d / p, -1, 1)
        else:
            dl = np.clip(d, -p, p)
        grad = s * dl if weight is None else s * dl * weight
        grad = grad.astype(d.dtype, copy=False)
        gx = _unbroadcast(grad, ctx.shapes[0]) if ctx.needs_input_grad[0] else None
        gt = _unbroadcast(-grad, ctx.shapes[1]) if ctx.needs_input_grad[1] else None
        return gx, gt, None, None, None, None


class BinaryCrossEntropy(Function):
    """Probabilities ``x`` in [0, 1]; differentiable in the target too."""

    @staticmethod
    def forward(ctx, x, t, weight, reduction):
        with np.errstate(divide="ignore"):
            logx = np.maximum(np.log(x), -100)
            log1mx = np.maximum(np.log1p(-x), -100)
        loss = (t - 1) * log1mx - t * logx
        if weight is not None:
            loss *= weight
        ctx.save_for_backward(x, t, weight, logx, log1mx)
        ctx.reduction = reduction
        return _reduce(loss.astype(x.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, g):
        x, t, weight, logx, log1mx = ctx.saved_tensors
        s = _upstream(g, ctx.reduction, x.shape, x.size)
        if weight is not None:
            s = s * weight
        gx = gt = None
        if ctx.needs_input_grad[0]:
            # PyTorch's clamp keeps the gradient finite at x = 0 and x = 1.
            gx = (s * (x - t) / np.maximum((1 - x) * x, x.dtype.type(1e-12))).astype(x.dtype)
        if ctx.needs_input_grad[1]:
            gt = (s * (log1mx - logx)).astype(x.dtype, copy=False)
        return gx, gt, None, None


def _softplus(z):
    """log(1 + exp(z)) without overflow."""
    return np.logaddexp(0, z).astype(z.dtype, copy=False)


class BinaryCrossEntropyWithLogits(Function):
    """Fused sigmoid + binary cross entropy, stable for logits of any size."""

    @staticmethod
    def forward(ctx, x, t, weight, pos_weight, reduction):
        sp = _softplus(-x)  # -log(sigmoid(x))
        lw = 1 + (pos_weight - 1) * t if pos_weight is not None else None
        loss = (1 - t) * x + (lw * sp if lw is not None else sp)
        if weight is not None:
            loss = loss * weight
        ctx.save_for_backward(x, t, weight, pos_weight, sp)
        ctx.reduction, ctx.shape = reduction, np.broadcast_shapes(x.shape, loss.shape)
        return _reduce(loss.astype(x.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, g):
        x, t, weight, pw, sp = ctx.saved_tensors
        s = _upstream(g, ctx.reduction, ctx.shape, int(np.prod(ctx.shape)))
        if weight is not None:
            s = s * weight
        gx = gt = None
        if ctx.needs_input_grad[0]:
            sig = np.exp(-sp)  # sigmoid(x) = exp(-softplus(-x)), no overflow
            if pw is None:
                gx = s * (sig - t)
            else:
                gx = s * ((1 + (pw - 1) * t) * sig - pw * t)
            gx = _unbroadcast(gx.astype(x.dtype, copy=False), x.shape)
        if ctx.needs_input_grad[1]:
            gt = s * (-x + (pw - 1) * sp if pw is not None else -x)
            gt = _unbroadcast(gt.astype(x.dtype, copy=False), t.shape)
        return gx, gt, None, None, None


class KLDiv(Function):
    """Pointwise KL divergence ``t * (log t - x)`` (or ``exp(t) * (t - x)`` with log_target)."""

    @staticmethod
    def forward(ctx, x, t, reduction, log_target):
        if log_target:
            et = np.exp(t)
            loss = et * (t - x)
        else:
            et = None
            with np.errstate(divide="ignore", invalid="ignore"):
                # xlogy(t, t): 0 where t == 0, nan where t < 0, as in PyTorch.
                tlogt = np.where(t == 0, 0, t * np.log(np.where(t == 0, 1, t)))
            loss = tlogt - t * x
        loss = loss.astype(x.dtype, copy=False)
        ctx.save_for_backward(x, t, et)
        ctx.reduction, ctx.log_target, ctx.loss_shape = reduction, log_target, loss.shape
        if reduction == "batchmean":
            denom = x.shape[0] if x.ndim else 1
            return _reduce(loss, "mean", denom)
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx, g):
        x, t, et = ctx.saved_tensors
        shape = ctx.loss_shape
        if ctx.reduction == "batchmean":
            s = _upstream(g, "mean", shape, x.shape[0] if x.ndim else 1)
        else:
            s = _upstream(g, ctx.reduction, shape, int(np.prod(shape)))
        gx = gt = None
        if ctx.needs_input_grad[0]:
            gx = -s * (et if et is not None else t)
            gx = _unbroadcast(np.broadcast_to(gx, shape).astype(x.dtype), x.shape)
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                if et is not None:
                    gt = s * et * (t - x + 1)
                else:
                    gt = s * (np.log(t) + 1 - x)
            gt = _unbroadcast(np.broadcast_to(gt, shape).astype(x.dtype), t.shape)
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
    """The target as int64 after checking its dtype, shape and classes, and whether none of
    its entries equals ``ignore_index``."""
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
    # min and max first: two reductions instead of five array passes in the usual case
    if data.size and (data.min() < 0 or data.max() >= c):
        bad = (data != ignore_index) & ((data < 0) | (data >= c))
        if bad.any():
            cls = int(data[bad].flat[0])
            raise ValueError(f"{op}: input has {c} classes but target contains class {cls} "
                             f"{shapes}")
        return data.astype(np.int64, copy=False), False  # ignore_index is outside [0, C)
    ignored = 0 <= ignore_index < c and bool((data == ignore_index).any())
    return data.astype(np.int64, copy=False), not ignored


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
        idx, none_ignored = _check_indices(op, x, t, ignore_index, input, target)
        if none_ignored and w is None and ls == 0.0 and reduction == "mean" and x.ndim == 2:
            out = CrossEntropyMean.apply(x, idx)
        else:
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
    idx, _ = _check_indices(op, x, t, ignore_index, input, target)
    out = NLLLoss.apply(x, idx, w, ignore_index, reduction)
    return out.squeeze(0) if reduction == "none" and not batched else out


def _pointwise(op, kind, input, target, reduction, size_average, reduce, param=None,
               weight=None):
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
    if param == 0.0 and kind == "smooth_l1":
        kind = "l1"  # PyTorch's rule: beta == 0 is exactly l1_loss
    w = None
    if weight is not None:
        weight = _as_tensor(weight, "weight", op)
        check_float(weight, "weight", op)
        if weight.shape != input.shape:
            raise ValueError(f"{op}: weight must have the input's shape {input.shape}, got "
                             f"{weight.shape}")
        if weight.dtype != input.dtype:
            raise TypeError(f"{op}: input is {input.dtype} but weight is {weight.dtype}")
        w = weight.data
    return PointwiseLoss.apply(input, target, kind, reduction, param, w)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean squared error ``(input - target)^2``, reduced by ``reduction``."""
    return _pointwise("mse_loss", "mse", input, target, reduction, size_average, reduce)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean absolute error ``|input - target|``; the gradient at 0 is 0 (sign)."""
    return _pointwise("l1_loss", "l1", input, target, reduction, size_average, reduce)


def _nonnegative_param(op, name, value, strict=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name} must be a float, got {value!r}")
    if value < 0 or (strict and value == 0):
        what = "positive" if strict else "non-negative"
        raise ValueError(f"{op}: {name} must be {what}, got {value}")
    return float(value)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """Smooth L1 loss: ``0.5 * d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 * beta``.

    ``d = input - target`` (broadcast, with PyTorch's warning when the shapes differ); ``beta``
    >= 0, and ``beta == 0`` is :func:`l1_loss`. The gradient is ``clip(d / beta, -1, 1)``.
    """
    beta = _nonnegative_param("smooth_l1_loss", "beta", beta)
    return _pointwise("smooth_l1_loss", "smooth_l1", input, target, reduction, size_average,
                      reduce, beta)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """Huber loss: ``0.5 * d^2`` where ``|d| < delta``, else ``delta * (|d| - 0.5 * delta)``.

    Equals ``delta * smooth_l1_loss(beta=delta)``; ``delta`` > 0. ``weight`` (the input's shape)
    multiplies each element's loss before the reduction (``'mean'`` still divides by the number
    of elements).
    """
    delta = _nonnegative_param("huber_loss", "delta", delta, strict=True)
    return _pointwise("huber_loss", "huber", input, target, reduction, None, None, delta, weight)


def _broadcast_weight(op, name, weight, x):
    """An optional constant weight that broadcasts to ``x``'s shape (returned as an array)."""
    if weight is None:
        return None
    weight = _as_tensor(weight, name, op)
    check_float(weight, name, op)
    if weight.dtype != x.dtype:
        raise TypeError(f"{op}: input is {x.dtype} but {name} is {weight.dtype}")
    try:
        shape = np.broadcast_shapes(weight.shape, x.shape)
    except ValueError:
        shape = None
    if shape != x.shape:
        raise ValueError(f"{op}: {name} {weight.shape} cannot be broadcast to the input's shape "
                         f"{x.shape}")
    return weight.data


def _binary_args(op, input, target, reduction, size_average, reduce):
    reduction = _reduction(op, reduction, size_average, reduce)
    check_float(input, "input", op)
    target = _as_tensor(target, "target", op)
    check_float(target, "target", op)
    if target.dtype != input.dtype:
        raise TypeError(f"{op}: input is {input.dtype} but target is {target.dtype}")
    if target.shape != input.shape:
        raise ValueError(f"{op}: target size {target.shape} must be the same as input size "
                         f"{input.shape}")
    return target, reduction


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """Binary cross entropy of probabilities ``input`` against ``target`` (same shape).

    ``loss = -weight * (t * log(x) + (1 - t) * log(1 - x))`` with both logs clamped at -100,
    as in PyTorch, so x = 0 or 1 gives finite losses; the input gradient divides by
    ``max(x * (1 - x), 1e-12)``. ``weight`` broadcasts to the input. Prefer
    :func:`binary_cross_entropy_with_logits` on logits: it is exact where this saturates.
    """
    op = "binary_cross_entropy"
    target, reduction = _binary_args(op, input, target, reduction, size_average, reduce)
    x = input.data
    outside = ~((x >= 0) & (x <= 1))
    if outside.any():
        raise ValueError(f"{op}: all elements of input should be between 0 and 1, got "
                         f"{x[outside].flat[0]} (input {input.shape})")
    w = _broadcast_weight(op, "weight", weight, input)
    return BinaryCrossEntropy.apply(input, target, w, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """Sigmoid + binary cross entropy in one numerically stable op.

    ``loss = weight * ((1 - t) * x + (1 + (pos_weight - 1) * t) * softplus(-x))``, i.e.
    ``-weight * (pos_weight * t * log(sigmoid(x)) + (1 - t) * log(1 - sigmoid(x)))`` without
    overflow for logits of any size. ``weight`` and ``pos_weight`` (typically (C,), one per
    class in the last dimension) broadcast to the input.
    """
    op = "binary_cross_entropy_with_logits"
    target, reduction = _binary_args(op, input, target, reduction, size_average, reduce)
    w = _broadcast_weight(op, "weight", weight, input)
    pw = _broadcast_weight(op, "pos_weight", pos_weight, input)
    return BinaryCrossEntropyWithLogits.apply(input, target, w, pw, reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Kullback-Leibler divergence with ``input`` given as log-probabilities.

    Element-wise ``target * (log(target) - input)`` (0 where target == 0), or
    ``exp(target) * (target - input)`` when ``log_target``. ``reduction='batchmean'`` divides the
    sum by the batch size (``input.shape[0]``) and is the mathematical KL divergence; ``'mean'``
    divides by the number of elements and warns, as in PyTorch.
    """
    op = "kl_div"
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    elif reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns with "
                      "the KL div math definition.'mean' will be changed to behave the same as "
                      "'batchmean' in the next major release.", stacklevel=2)
    if reduction not in _REDUCTIONS + ("batchmean",):
        raise ValueError(f"{op}: reduction must be 'mean', 'batchmean', 'sum' or 'none', got "
                         f"{reduction!r}")
    check_float(input, "input", op)
    target = _as_tensor(target, "target", op)
    check_float(target, "target", op)
    if target.dtype != input.dtype:
        raise TypeError(f"{op}: input is {input.dtype} but target is {target.dtype}")
    try:
        np.broadcast_shapes(input.shape, target.shape)
    except ValueError:
        raise ValueError(f"{op}: input {input.shape} and target {target.shape} cannot be "
                         f"broadcast together") from None
    return KLDiv.apply(input, target, reduction, bool(log_target))


def one_hot(tensor, num_classes=-1):
    """Encode int64 class indices as one-hot vectors: shape ``tensor.shape + (num_classes,)``.

    ``num_classes=-1`` uses ``max(tensor) + 1``. The result is int64 and carries no gradient.
    """
    op = "one_hot"
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{op}: tensor must be a Tensor, got {type(tensor).__name__}")
    if tensor.dtype != np.int64:
        raise TypeError(f"{op}: one_hot is only applicable to index tensors of type int64, got "
                        f"{tensor.dtype}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"{op}: num_classes must be an int, got {num_classes!r}")
    data = tensor.data
    if num_classes == -1:
        if data.size == 0:
            raise ValueError(f"{op}: can not infer the total number of classes from an empty "
                             f"tensor {tensor.shape}; pass num_classes")
        num_classes = int(data.max()) + 1
    elif num_classes < 0:
        raise ValueError(f"{op}: num_classes must be -1 or non-negative, got {num_classes}")
    if data.size and data.min() < 0:
        raise ValueError(f"{op}: class values must be non-negative, got {int(data.min())}")
    if data.size and data.max() >= num_classes:
        raise ValueError(f"{op}: class values must be smaller than num_classes={num_classes}, "
                         f"got {int(data.max())}")
    out = np.zeros(data.shape + (int(num_classes),), dtype=np.int64)
    np.put_along_axis(out, data[..., None], 1, axis=-1)
    return Tensor._wrap(out)
