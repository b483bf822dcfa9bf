"""Adam and AdamW: ``torch.optim.Adam`` and ``torch.optim.AdamW``."""

import numpy as np

from .optimizer import (Optimizer, _check_interval, _check_nonnegative, _lerp_,
                        _signed_decayed_grad)

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam (Kingma and Ba, 2015), with optional AMSGrad, as PyTorch computes it.

    For every parameter :math:`\theta` with gradient :math:`g` (negated if ``maximize``), at
    step :math:`t = 1, 2, \dots`::

        g = g + weight_decay * theta                    (Adam: L2 penalty in the gradient)
        theta = theta * (1 - lr * weight_decay)         (AdamW: decoupled decay, instead)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                           (amsgrad; then v_max replaces v below)
        theta = theta - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    ``eps`` is added after the bias correction of the square root, as in PyTorch.

    Parameters
    ----------
    params : iterable
        Tensors or parameter-group dicts (see :class:`Optimizer`).
    lr : float
        Learning rate, >= 0. Default 1e-3.
    betas : tuple of two floats
        Decay rates of the first and second moment averages, each in [0, 1).
        Default (0.9, 0.999).
    eps : float
        Added to the denominator, >= 0. Default 1e-8.
    weight_decay : float
        L2 penalty, >= 0. Default 0.
    amsgrad : bool
        Use the maximum of past second moments (Reddi et al., 2018). Default False.
    maximize : bool
        Maximize the objective instead (keyword-only).
    decoupled_weight_decay : bool
        Apply weight decay to the parameter directly, as :class:`AdamW` (keyword-only).

    Notes
    -----
    State per parameter: ``'step'`` (a float, as PyTorch's), ``'exp_avg'``, ``'exp_avg_sq'``
    and, with amsgrad, ``'max_exp_avg_sq'``.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False):
        name = type(self).__name__
        _check_nonnegative(name, "learning rate", lr)
        _check_nonnegative(name, "epsilon value", eps)
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise TypeError(f"{name}: betas must be a pair of floats, got {betas!r}") from None
        _check_interval(name, "beta parameter at index 0", beta1, 0.0, 1.0)
        _check_interval(name, "beta parameter at index 1", beta2, 0.0, 1.0)
        _check_nonnegative(name, "weight_decay value", weight_decay)
        defaults = dict(lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _hyper(self, group):
        beta1, beta2 = group["betas"]
        return (float(group["lr"]), float(beta1), float(beta2), float(group["eps"]),
                float(group["weight_decay"]), group["amsgrad"], group["maximize"],
                group["decoupled_weight_decay"])

    def _needs_param(self, hyper):
        return hyper[4] != 0 and not hyper[7]

    def _init_state(self, group, w):
        state = {"step": 0.0, "exp_avg": np.zeros_like(w), "exp_avg_sq": np.zeros_like(w)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(w)
        return state

    def _kernel(self, hyper, w, g, s, step, out):
        lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled = hyper
        how = None
        if decoupled:
            if weight_decay != 0:
                how = 1.0 - lr * weight_decay  # the parameter is scaled before the update
            d = _signed_decayed_grad(g, w, 0.0, maximize)
        else:
            d = _signed_decayed_grad(g, w, weight_decay, maximize)
        m, v = s["exp_avg"], s["exp_avg_sq"]
        _lerp_(m, d, 1.0 - beta1, out)
        np.multiply(d, 1.0 - beta2, out=out)
        out *= d
        v *= beta2
        v += out
        step_size = lr / (1.0 - beta1 ** step)
        bias_correction2_sqrt = (1.0 - beta2 ** step) ** 0.5
        if amsgrad:
            v_max = s.get("max_exp_avg_sq")
            if v_max is None:  # amsgrad switched on after the first step
                v_max = s["max_exp_avg_sq"] = np.zeros_like(out)
            np.maximum(v_max, v, out=v_max)
            v = v_max
        # step_size * m / (sqrt(v) / bc2 + eps) with the step size folded into the denominator
        # (PyTorch's capturable form): one pass fewer than scaling the quotient.
        np.sqrt(v, out=out)
        out /= bias_correction2_sqrt * step_size
        out += eps / step_size
        np.divide(m, out, out=out)
        return how


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov and Hutter, 2019), as PyTorch computes it.

    Same as :class:`Adam` except that weight decay multiplies the parameter by
    ``1 - lr * weight_decay`` before the update instead of entering the gradient; the default
    ``weight_decay`` is 1e-2.

    Parameters
    ----------
    params, lr, betas, eps, amsgrad, maximize
        As :class:`Adam`.
    weight_decay : float
        Decoupled weight decay coefficient, >= 0. Default 1e-2.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for group in self.param_groups:  # as PyTorch: loaded AdamW state stays decoupled
            group["decoupled_weight_decay"] = True
