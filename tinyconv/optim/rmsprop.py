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

    def step(self, closure=None):
        """Perform one optimization step; see :meth:`Optimizer.step`."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            alpha = float(group["alpha"])
            eps = float(group["eps"])
            weight_decay = float(group["weight_decay"])
            momentum = float(group["momentum"])
            centered = group["centered"]
            for p, w, g in self._params_with_grad(group):
                state = self.state[p]
                if not state:
                    state["step"] = 0.0
                    state["square_avg"] = np.zeros_like(w)
                    if momentum > 0:
                        state["momentum_buffer"] = np.zeros_like(w)
                    if centered:
                        state["grad_avg"] = np.zeros_like(w)
                state["step"] += 1.0
                d = _signed_decayed_grad(g, w, weight_decay, group["maximize"])
                v = state["square_avg"]
                tmp = np.multiply(d, 1.0 - alpha)
                tmp *= d
                v *= alpha
                v += tmp
                if centered:
                    m = state.get("grad_avg")
                    if m is None:
                        m = state["grad_avg"] = np.zeros_like(w)
                    _lerp_(m, d, 1.0 - alpha, tmp)
                    np.multiply(m, m, out=tmp)
                    np.subtract(v, tmp, out=tmp)
                    np.sqrt(tmp, out=tmp)
                else:
                    np.sqrt(v, out=tmp)
                tmp += eps
                np.divide(d, tmp, out=tmp)
                if momentum > 0:
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = np.zeros_like(w)
                    buf *= momentum
                    buf += tmp
                    np.multiply(buf, lr, out=tmp)
                else:
                    tmp *= lr
                w -= tmp
        return loss
