"""Adagrad: ``torch.optim.Adagrad``."""

import numpy as np

from .optimizer import Optimizer, _check_nonnegative, _signed_decayed_grad

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al., 2011), as PyTorch computes it.

    For every parameter :math:`\theta` with gradient :math:`g` (negated if ``maximize``), at
    step :math:`t = 1, 2, \dots`::

        g = g + weight_decay * theta
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g                                   (s starts at initial_accumulator_value)
        theta = theta - clr * g / (sqrt(s) + eps)

    Parameters
    ----------
    params : iterable
        Tensors or parameter-group dicts (see :class:`Optimizer`).
    lr : float
        Learning rate, >= 0. Default 1e-2.
    lr_decay : float
        Learning-rate decay, >= 0. Default 0.
    weight_decay : float
        L2 penalty, >= 0. Default 0.
    initial_accumulator_value : float
        Starting value of the sum of squares, >= 0. Default 0.
    eps : float
        Added to the denominator, >= 0. Default 1e-10.
    maximize : bool
        Maximize the objective instead (keyword-only).

    Notes
    -----
    State per parameter: ``'step'`` (a float) and ``'sum'``, created for every parameter at
    construction as in PyTorch. A group's own ``initial_accumulator_value`` is honoured (PyTorch
    uses the constructor's value for every group).
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, *, maximize=False):
        _check_nonnegative("Adagrad", "learning rate", lr)
        _check_nonnegative("Adagrad", "lr_decay value", lr_decay)
        _check_nonnegative("Adagrad", "weight_decay value", weight_decay)
        _check_nonnegative("Adagrad", "initial_accumulator_value value", initial_accumulator_value)
        _check_nonnegative("Adagrad", "epsilon value", eps)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p].update(self._init_state(group, p.data))

    def _hyper(self, group):
        return (float(group["lr"]), float(group["lr_decay"]), float(group["eps"]),
                float(group["weight_decay"]), group["maximize"])

    def _needs_param(self, hyper):
        return hyper[3] != 0

    def _init_state(self, group, w):
        return {"step": 0.0, "sum": np.full_like(w, group["initial_accumulator_value"])}

    def _kernel(self, hyper, w, g, s, step, out):
        lr, lr_decay, eps, weight_decay, maximize = hyper
        d = _signed_decayed_grad(g, w, weight_decay, maximize)
        clr = lr / (1.0 + (step - 1.0) * lr_decay)
        total = s["sum"]
        np.multiply(d, d, out=out)
        total += out
        np.sqrt(total, out=out)
        out += eps
        np.divide(d, out, out=out)
        out *= clr
        return None
