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

    def step(self, closure=None):
        """Perform one optimization step; see :meth:`Optimizer.step`."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            beta1, beta2 = (float(b) for b in group["betas"])
            eps = float(group["eps"])
            weight_decay = float(group["weight_decay"])
            decoupled = group["decoupled_weight_decay"]
            amsgrad = group["amsgrad"]
            for p, w, g in self._params_with_grad(group):
                state = self.state[p]
                if not state:
                    state["step"] = 0.0
                    state["exp_avg"] = np.zeros_like(w)
                    state["exp_avg_sq"] = np.zeros_like(w)
                    if amsgrad:
                        state["max_exp_avg_sq"] = np.zeros_like(w)
                step = state["step"] = state["step"] + 1.0
                if decoupled:
                    if weight_decay != 0:
                        w *= 1.0 - lr * weight_decay
                    d = _signed_decayed_grad(g, w, 0.0, group["maximize"])
                else:
                    d = _signed_decayed_grad(g, w, weight_decay, group["maximize"])
                m, v = state["exp_avg"], state["exp_avg_sq"]
                tmp = np.empty_like(w)
                _lerp_(m, d, 1.0 - beta1, tmp)
                np.multiply(d, 1.0 - beta2, out=tmp)
                tmp *= d
                v *= beta2
                v += tmp
                step_size = lr / (1.0 - beta1 ** step)
                bias_correction2_sqrt = (1.0 - beta2 ** step) ** 0.5
                if amsgrad:
                    v_max = state.get("max_exp_avg_sq")
                    if v_max is None:  # amsgrad switched on after the first step
                        v_max = state["max_exp_avg_sq"] = np.zeros_like(w)
                    np.maximum(v_max, v, out=v_max)
                    v = v_max
                np.sqrt(v, out=tmp)
                tmp /= bias_correction2_sqrt
                tmp += eps
                np.divide(m, tmp, out=tmp)
                tmp *= step_size
                w -= tmp
        return loss


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
