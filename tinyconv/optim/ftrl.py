"""FTRL-Proximal: TensorFlow's ``tf.keras.optimizers.Ftrl`` (not part of PyTorch)."""

import numpy as np

from .optimizer import _ASSIGN, Optimizer, _check_nonnegative, _check_number

__all__ = ["Ftrl"]


class Ftrl(Optimizer):
    r"""Follow-the-regularized-leader, proximal (McMahan et al., 2013), as TensorFlow computes it.

    "Ad Click Prediction: a View from the Trenches" (KDD 2013), algorithm 1, generalised as in
    TensorFlow's ``ApplyFtrlV2`` kernel (used by ``tf.keras.optimizers.Ftrl``). For every
    parameter :math:`w` with gradient :math:`g`, with ``p = -learning_rate_power`` (0.5 by
    default, giving the paper's per-coordinate rate ``lr / sqrt(n)``)::

        l2 = l2_regularization_strength + beta / (2 * lr)
        g_s = g + 2 * l2_shrinkage_regularization_strength * w
        n_new = n + g * g                               (n starts at initial_accumulator_value)
        z = z + g_s - (n_new**p - n**p) / lr * w        (z starts at 0)
        w = (clip(z, -l1, l1) - z) / (n_new**p / lr + 2 * l2)
        n = n_new

    that is, ``w = 0`` exactly where ``|z| <= l1`` and ``w = -(z - sign(z) * l1) / (...)``
    elsewhere: L1 regularisation produces exact zeros. The new weight depends on the old one only
    through ``z``, so a parameter's initial value matters only for its first step.

    Parameters
    ----------
    params : iterable
        Tensors or parameter-group dicts (see :class:`Optimizer`).
    lr : float
        Learning rate (TensorFlow's ``learning_rate``), > 0. Default 1e-3, as TensorFlow.
    learning_rate_power : float
        Power of the accumulator in the per-coordinate rate, <= 0. Default -0.5.
    initial_accumulator_value : float
        Starting value of ``n``, >= 0. Default 0.1. With 0, a coordinate whose gradient has
        always been zero gets 0 / 0 unless ``l2_regularization_strength`` or ``beta`` is > 0
        (TensorFlow's behaviour as well).
    l1_regularization_strength : float
        L1 penalty, >= 0. Default 0.
    l2_regularization_strength : float
        L2 penalty (stabilisation), >= 0. Default 0.
    l2_shrinkage_regularization_strength : float
        L2 penalty on the weights added to the gradient (magnitude shrinkage), >= 0. Default 0.
    beta : float
        The paper's beta, added as ``beta / (2 * lr)`` to the L2 strength, >= 0. Default 0.

    Notes
    -----
    State per parameter: ``'accumulator'`` (n) and ``'linear'`` (z), named as TensorFlow's slots.
    """

    def __init__(self, params, lr=1e-3, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0, l2_regularization_strength=0,
                 l2_shrinkage_regularization_strength=0, beta=0):
        _check_number("Ftrl", "lr", lr)
        if not lr > 0:
            raise ValueError(f"Ftrl: invalid learning rate {lr}; it must be > 0")
        _check_number("Ftrl", "learning_rate_power", learning_rate_power)
        if not learning_rate_power <= 0:
            raise ValueError(f"Ftrl: invalid learning_rate_power {learning_rate_power}; it must "
                             "be <= 0")
        _check_nonnegative("Ftrl", "initial_accumulator_value", initial_accumulator_value)
        _check_nonnegative("Ftrl", "l1_regularization_strength", l1_regularization_strength)
        _check_nonnegative("Ftrl", "l2_regularization_strength", l2_regularization_strength)
        _check_nonnegative("Ftrl", "l2_shrinkage_regularization_strength",
                           l2_shrinkage_regularization_strength)
        _check_nonnegative("Ftrl", "beta", beta)
        defaults = dict(lr=lr, learning_rate_power=learning_rate_power,
                        initial_accumulator_value=initial_accumulator_value,
                        l1_regularization_strength=l1_regularization_strength,
                        l2_regularization_strength=l2_regularization_strength,
                        l2_shrinkage_regularization_strength=l2_shrinkage_regularization_strength,
                        beta=beta)
        super().__init__(params, defaults)

    def _hyper(self, group):
        lr = float(group["lr"])
        if not lr > 0:
            raise ValueError(f"Ftrl: the learning rate must be > 0, got {lr}")
        l2 = float(group["l2_regularization_strength"]) + float(group["beta"]) / (2.0 * lr)
        return (lr, -float(group["learning_rate_power"]),
                float(group["l1_regularization_strength"]), l2,
                float(group["l2_shrinkage_regularization_strength"]))

    def _needs_param(self, hyper):
        return True

    def _init_state(self, group, w):
        return {"accumulator": np.full_like(w, group["initial_accumulator_value"]),
                "linear": np.zeros_like(w)}

    def _kernel(self, hyper, w, g, s, step, out):
        lr, power, l1, l2, shrinkage = hyper
        n, z = s["accumulator"], s["linear"]
        old = _power(n, power)
        np.multiply(g, g, out=out)
        n += out
        new = _power(n, power, out=out)
        z += g
        if shrinkage != 0:
            z += np.multiply(w, 2.0 * shrinkage)
        np.subtract(new, old, out=old)  # sigma * lr
        old /= lr
        old *= w
        z -= old
        new /= lr  # the quadratic term
        new += 2.0 * l2
        np.clip(z, -l1, l1, out=old)
        old -= z
        np.divide(old, new, out=out)
        return _ASSIGN


def _power(x, p, out=None):
    """``x ** p``; the default p = 0.5 takes the faster square root."""
    if p == 0.5:
        return np.sqrt(x, out=out)
    return np.power(x, p, out=out)
