"""Stochastic gradient descent, optionally with (Nesterov) momentum: ``torch.optim.SGD``."""

import numpy as np

from .optimizer import Optimizer, _check_nonnegative, _signed_decayed_grad

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent with PyTorch's momentum formulation.

    For every parameter :math:`\theta` with gradient :math:`g` (negated if ``maximize``)::

        g = g + weight_decay * theta                      if weight_decay != 0
        b = g                                             on the first step
        b = momentum * b + (1 - dampening) * g            afterwards       (if momentum != 0)
        g = g + momentum * b  if nesterov  else  b                         (if momentum != 0)
        theta = theta - lr * g

    The momentum buffer starts as the first gradient (not as zeros), as in PyTorch; this
    differs from Sutskever et al. (2013), whose velocity multiplies the learning rate in.

    Parameters
    ----------
    params : iterable
        Tensors or parameter-group dicts (see :class:`Optimizer`).
    lr : float
        Learning rate, >= 0. Default 1e-3.
    momentum : float
        Momentum factor, >= 0. Default 0.
    dampening : float
        Dampening of the momentum. Default 0.
    weight_decay : float
        L2 penalty added to the gradient, >= 0. Default 0.
    nesterov : bool
        Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0``.
    maximize : bool
        Maximize the objective instead of minimizing it (keyword-only).

    Notes
    -----
    State per parameter: ``'momentum_buffer'`` (only when momentum != 0).
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 *, maximize=False):
        _check_nonnegative("SGD", "learning rate", lr)
        _check_nonnegative("SGD", "momentum value", momentum)
        _check_nonnegative("SGD", "weight_decay value", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"SGD: Nesterov momentum requires a momentum and zero dampening, "
                             f"got momentum={momentum} and dampening={dampening}")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _hyper(self, group):
        return (float(group["lr"]), float(group["momentum"]), float(group["dampening"]),
                float(group["weight_decay"]), group["nesterov"], group["maximize"])

    def _needs_param(self, hyper):
        return hyper[3] != 0

    def _init_state(self, group, w):
        return {}  # the momentum buffer is created from the first gradient

    def _kernel(self, hyper, w, g, s, step, out):
        lr, momentum, dampening, weight_decay, nesterov, maximize = hyper
        d = _signed_decayed_grad(g, w, weight_decay, maximize)
        if momentum == 0:
            np.multiply(d, lr, out=out)
            return None
        buf = s.get("momentum_buffer")
        if buf is None:
            buf = s["momentum_buffer"] = np.array(d, dtype=out.dtype)
        else:
            buf *= momentum
            if dampening == 0:
                buf += d
            else:
                np.multiply(d, 1.0 - dampening, out=out)
                buf += out
        if nesterov:
            np.multiply(buf, momentum, out=out)
            out += d
            out *= lr
        else:
            np.multiply(buf, lr, out=out)
        return None
