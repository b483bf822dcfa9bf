"""Adadelta: ``torch.optim.Adadelta``."""

import numpy as np

from .optimizer import Optimizer, _check_interval, _check_nonnegative, _signed_decayed_grad

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    r"""Adadelta (Zeiler, 2012), as PyTorch computes it (with a learning rate).

    For every parameter :math:`\theta` with gradient :math:`g` (negated if ``maximize``)::

        g = g + weight_decay * theta
        v = rho * v + (1 - rho) * g * g
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta * delta
        theta = theta - lr * delta

    Parameters
    ----------
    params : iterable
        Tensors or parameter-group dicts (see :class:`Optimizer`).
    lr : float
        Coefficient that scales delta, >= 0. Default 1.0.
    rho : float
        Decay rate of the running averages, in [0, 1]. Default 0.9.
    eps : float
        Added inside the square roots, >= 0. Default 1e-6.
    weight_decay : float
        L2 penalty, >= 0. Default 0.
    maximize : bool
        Maximize the objective instead (keyword-only).

    Notes
    -----
    State per parameter: ``'step'`` (a float), ``'square_avg'`` (v) and ``'acc_delta'`` (u).
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, *, maximize=False):
        _check_nonnegative("Adadelta", "learning rate", lr)
        _check_interval("Adadelta", "rho value", rho, 0.0, 1.0, high_closed=True)
        _check_nonnegative("Adadelta", "epsilon value", eps)
        _check_nonnegative("Adadelta", "weight_decay value", weight_decay)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _hyper(self, group):
        return (float(group["lr"]), float(group["rho"]), float(group["eps"]),
                float(group["weight_decay"]), group["maximize"])

    def _needs_param(self, hyper):
        return hyper[3] != 0

    def _init_state(self, group, w):
        return {"step": 0.0, "square_avg": np.zeros_like(w), "acc_delta": np.zeros_like(w)}

    def _kernel(self, hyper, w, g, s, step, out):
        lr, rho, eps, weight_decay, maximize = hyper
        d = _signed_decayed_grad(g, w, weight_decay, maximize)
        v, u = s["square_avg"], s["acc_delta"]
        std = np.multiply(d, 1.0 - rho)
        std *= d
        v *= rho
        v += std
        np.add(v, eps, out=std)
        np.sqrt(std, out=std)
        delta = out
        np.add(u, eps, out=delta)
        np.sqrt(delta, out=delta)
        delta /= std
        delta *= d
        np.multiply(delta, 1.0 - rho, out=std)
        std *= delta
        u *= rho
        u += std
        delta *= lr
        return None
