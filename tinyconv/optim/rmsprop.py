"""RMSprop: ``torch.optim.RMSprop``."""

import numpy as np

from .optimizer import Optimizer, _check_nonnegative, _lerp_, _signed_decayed_grad

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop (Hinton's lecture 6e), optionally centered and with momentum, as PyTorch has it.

    For every parameter :math:`\theta` with gradient :math:`g` (negated if ``maximize``)::

        g = g + weight_decay * theta
        v = alpha * v + (1 - alpha) * g * g
        a = sqrt(v) + eps                               (plain)
        m = alpha * m + (1 - alpha) * g;  a = sqrt(v - m * m) + eps        (centered)
        b = momentum * b + g / a;  theta = theta - lr * b                  (momentum > 0)
        theta = theta - lr * g / a                                         (momentum == 0)

    ``eps`` is added outside the square root, and the momentum buffer starts at zero.

    Parameters
    ----------
    params : iterable
        Tensors or parameter-group dicts (see :class:`Optimizer`).
    lr : float
        Learning rate, >= 0. Default 1e-2.
    alpha : float
        Smoothing constant, >= 0. Default 0.99.
    eps : float
        Added to the denominator, >= 0. Default 1e-8.
    weight_decay : float
        L2 penalty, >= 0. Default 0.
    momentum : float
        Momentum factor, >= 0. Default 0.
    centered : bool
        Normalize by an estimate of the gradient's variance instead of its second moment.
    maximize : bool
        Maximize the objective instead (keyword-only).

    Notes
    -----
    State per parameter: ``'step'`` (a float), ``'square_avg'``, ``'momentum_buffer'`` (momentum
    > 0) and ``'grad_avg'`` (centered).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, *, maximize=False):
        _check_nonnegative("RMSprop", "learning rate", lr)
        _check_nonnegative("RMSprop", "epsilon value", eps)
        _check_nonnegative("RMSprop", "momentum value", momentum)
        _check_nonnegative("RMSprop", "weight_decay value", weight_decay)
        _check_nonnegative("RMSprop", "alpha value", alpha)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _hyper(self, group):
        return (float(group["lr"]), float(group["alpha"]), float(group["eps"]),
                float(group["weight_decay"]), float(group["momentum"]), group["centered"],
                group["maximize"])

    def _needs_param(self, hyper):
        return hyper[3] != 0

    def _init_state(self, group, w):
        state = {"step": 0.0, "square_avg": np.zeros_like(w)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(w)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(w)
        return state

    def _kernel(self, hyper, w, g, s, step, out):
        lr, alpha, eps, weight_decay, momentum, centered, maximize = hyper
        d = _signed_decayed_grad(g, w, weight_decay, maximize)
        v = s["square_avg"]
        np.multiply(d, 1.0 - alpha, out=out)
        out *= d
        v *= alpha
        v += out
        if centered:
            m = s.get("grad_avg")
            if m is None:
                m = s["grad_avg"] = np.zeros_like(out)
            _lerp_(m, d, 1.0 - alpha, out)
            np.multiply(m, m, out=out)
            np.subtract(v, out, out=out)
            np.sqrt(out, out=out)
        else:
            np.sqrt(v, out=out)
        out += eps
        np.divide(d, out, out=out)
        if momentum > 0:
            buf = s.get("momentum_buffer")
            if buf is None:
                buf = s["momentum_buffer"] = np.zeros_like(out)
            buf *= momentum
            buf += out
            np.multiply(buf, lr, out=out)
        else:
            out *= lr
        return None
