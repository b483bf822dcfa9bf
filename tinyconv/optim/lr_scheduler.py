"""Learning-rate schedules: ``torch.optim.lr_scheduler`` with the same names and sequences.

A scheduler changes ``group['lr']`` in its optimizer's parameter groups. Creating one records
``group['initial_lr']`` (the base learning rate) and performs the initial step, which sets the
rate for epoch 0; call :meth:`LRScheduler.step` after each ``optimizer.step()`` (per epoch or per
batch, as the schedule is meant). Schedules are computed in PyTorch's recursive ("chainable")
form, so several schedulers can act on one optimizer, and the numbers agree with PyTorch's to the
last bit in float64 arithmetic.

``state_dict()`` returns the scheduler's attributes except the optimizer as plain values (Python
scalars, strings, lists and dicts of them) that a checkpoint writer can store in an ``.npz`` file
without pickling: attributes that are None are left out (they are fixed by the constructor), a
``MultiStepLR``'s milestone counter is stored as a sorted list, and ``LambdaLR`` /
``MultiplicativeLR`` store no functions (only the ``__dict__`` of callable objects, as PyTorch;
``{}`` where PyTorch stores None). ``load_state_dict`` accepts numpy scalars and arrays in place of
Python values, as ``np.load`` gives them back.
"""

import functools
import math
import numbers
import types
import warnings
import weakref
from bisect import bisect_right
from collections import Counter

import numpy as np

from .optimizer import Optimizer

__all__ = ["LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR",
           "LinearLR", "ExponentialLR", "SequentialLR", "PolynomialLR", "CosineAnnealingLR",
           "ChainedScheduler", "ReduceLROnPlateau", "OneCycleLR"]

_EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` is deprecated (as in PyTorch): call "
    "`scheduler.step()` without it. With an epoch the closed form is used where there is one."
)


class LRScheduler:
    """Base class of the learning-rate schedulers; subclasses implement :meth:`get_lr`.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose ``group['lr']`` values are scheduled.
    last_epoch : int
        Index of the last epoch seen. Default -1 starts a new schedule; another value resumes one
        and requires ``group['initial_lr']`` to be present (from a loaded optimizer state).

    Attributes
    ----------
    base_lrs : list of float
        The groups' ``initial_lr``.
    last_epoch : int
        Number of ``step()`` calls since the schedule started (0 right after construction).
    """

    _get_lr_called_within_step = False
    _is_initial = False

    def __init__(self, optimizer, last_epoch=-1):
        _check_optimizer(self, optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise ValueError(
                        f"{type(self).__name__}: 'initial_lr' is not in param_groups[{i}] while "
                        f"resuming with last_epoch={last_epoch}; load the optimizer's state "
                        "first, or use last_epoch=-1 for a fresh schedule")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        _track_optimizer_steps(optimizer)
        self._initial_step()

    def _initial_step(self):
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_last_lr(self):
        """The learning rates (one per parameter group) set by the last step."""
        return self._last_lr

    def get_lr(self):
        """Compute the next learning rate of each group (called by :meth:`step`)."""
        raise NotImplementedError

    def _warn_if_outside_step(self):
        if not self._get_lr_called_within_step:
            warnings.warn("To get the last learning rate computed by the scheduler, please use "
                          "`get_last_lr()`.", UserWarning, stacklevel=3)

    def step(self, epoch=None):
        """Advance the schedule by one epoch (or batch) and set the groups' learning rates.

        Call it after ``optimizer.step()``. ``epoch`` is deprecated, as in PyTorch.
        """
        if self._step_count == 1:
            if not hasattr(self.optimizer.step, "_wrapped_by_lr_sched"):
                warnings.warn("Seems like `optimizer.step()` has been overridden after learning "
                              "rate scheduler initialization. Please, make sure to call "
                              "`optimizer.step()` before `lr_scheduler.step()`.", UserWarning,
                              stacklevel=2)
            elif not getattr(self.optimizer, "_opt_called", False):
                warnings.warn("Detected call of `lr_scheduler.step()` before `optimizer.step()`. "
                              "Call them in the opposite order: `optimizer.step()` before "
                              "`lr_scheduler.step()`; otherwise the first value of the learning "
                              "rate schedule is skipped.", UserWarning, stacklevel=2)
        self._step_count += 1
        if epoch is not None:
            warnings.warn(_EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch=None):
        self._get_lr_called_within_step = True
        try:
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                if hasattr(self, "_get_closed_form_lr"):
                    values = self._get_closed_form_lr()
                else:
                    values = self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _group_lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        """The scheduler's attributes except the optimizer, as plain values (see module doc)."""
        return {k: _copy_plain(v) for k, v in self.__dict__.items()
                if k != "optimizer" and v is not None}

    def load_state_dict(self, state_dict):
        """Restore attributes saved by :meth:`state_dict`."""
        self.__dict__.update({k: _plain_tree(v) for k, v in state_dict.items()})


class _LambdaScheduler(LRScheduler):
    """What LambdaLR and MultiplicativeLR share: one lr_lambda per parameter group; state_dict
    keeps a callable object's attributes and nothing of a plain function (as PyTorch)."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        self.optimizer = optimizer
        self.lr_lambdas = _lambdas(self, optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def state_dict(self):
        return _lambda_state_dict(self)

    def load_state_dict(self, state_dict):
        _lambda_load_state_dict(self, state_dict)


class LambdaLR(_LambdaScheduler):
    """``lr = base_lr * lr_lambda(epoch)``.

    Parameters
    ----------
    optimizer : Optimizer
    lr_lambda : callable or list of callables
        A function of the epoch index giving a multiplicative factor, or one per group.
    last_epoch : int
        Default -1.
    """

    def get_lr(self):
        self._warn_if_outside_step()
        return [base_lr * lmbda(self.last_epoch)
                for lmbda, base_lr in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(_LambdaScheduler):
    """``lr = lr * lr_lambda(epoch)`` at every step after the first.

    Parameters
    ----------
    optimizer : Optimizer
    lr_lambda : callable or list of callables
        A function of the epoch index giving a multiplicative factor, or one per group.
    last_epoch : int
        Default -1.
    """

    def get_lr(self):
        self._warn_if_outside_step()
        if self._is_initial:
            return self._group_lrs()
        return [group["lr"] * lmbda(self.last_epoch)
                for lmbda, group in zip(self.lr_lambdas, self.optimizer.param_groups)]


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    ``lr = base_lr * gamma ** (epoch // step_size)``.

    Parameters
    ----------
    optimizer : Optimizer
    step_size : int
        Period of the decay, >= 1.
    gamma : float
        Multiplicative factor. Default 0.1.
    last_epoch : int
        Default -1.
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        _check_int(self, "step_size", step_size, 1)
        _check_real(self, "gamma", gamma)
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        self._warn_if_outside_step()
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._group_lrs()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size)
                for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` at each milestone epoch.

    Parameters
    ----------
    optimizer : Optimizer
    milestones : iterable of int
        Epoch indices; a repeated milestone multiplies by ``gamma`` once per repetition.
    gamma : float
        Multiplicative factor. Default 0.1.
    last_epoch : int
        Default -1.
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        milestones = list(milestones)
        for m in milestones:
            _check_int(self, "each milestone", m, 0)
        _check_real(self, "gamma", gamma)
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        self._warn_if_outside_step()
        if self.last_epoch not in self.milestones:
            return self._group_lrs()
        return [group["lr"] * self.gamma ** self.milestones[self.last_epoch]
                for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        milestones = sorted(self.milestones.elements())
        return [base_lr * self.gamma ** bisect_right(milestones, self.last_epoch)
                for base_lr in self.base_lrs]

    def state_dict(self):
        state = super().state_dict()
        state["milestones"] = sorted(self.milestones.elements())
        return state

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self.milestones = Counter(int(m) for m in _as_list(self.milestones))


class ConstantLR(LRScheduler):
    """Multiply the learning rate by ``factor`` until epoch ``total_iters``, then restore it.

    With ``total_iters`` larger than the training length (or ``factor=1``) this is the constant
    (fixed) learning-rate schedule.

    Parameters
    ----------
    optimizer : Optimizer
    factor : float
        In [0, 1]. Default 1/3.
    total_iters : int
        Number of epochs with the reduced rate. Default 5.
    last_epoch : int
        Default -1.
    """

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        _check_real(self, "factor", factor)
        if factor > 1.0 or factor < 0:
            raise ValueError(f"ConstantLR: the constant multiplicative factor must be between 0 "
                             f"and 1, got {factor}")
        _check_int(self, "total_iters", total_iters, 0)
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        self._warn_if_outside_step()
        if self.last_epoch == 0:
            return [group["lr"] * self.factor for group in self.optimizer.param_groups]
        if self.last_epoch != self.total_iters:
            return self._group_lrs()
        return [group["lr"] * (1.0 / self.factor) for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * (self.factor + (self.last_epoch >= self.total_iters)
                           * (1 - self.factor)) for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    """Scale the learning rate linearly from ``start_factor`` to ``end_factor`` (warm-up).

    ``lr = base_lr * (start + (end - start) * min(epoch, total_iters) / total_iters)``.

    Parameters
    ----------
    optimizer : Optimizer
    start_factor : float
        In (0, 1]. Default 1/3.
    end_factor : float
        In [0, 1]. Default 1.
    total_iters : int
        Number of epochs of the ramp, >= 1. Default 5.
    last_epoch : int
        Default -1.
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5,
                 last_epoch=-1):
        _check_real(self, "start_factor", start_factor)
        _check_real(self, "end_factor", end_factor)
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError(f"LinearLR: the starting multiplicative factor must be greater than "
                             f"0 and at most 1, got {start_factor}")
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError(f"LinearLR: the ending multiplicative factor must be between 0 and "
                             f"1, got {end_factor}")
        _check_int(self, "total_iters", total_iters, 1)
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        self._warn_if_outside_step()
        if self.last_epoch == 0:
            return [group["lr"] * self.start_factor for group in self.optimizer.param_groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._group_lrs()
        change = self.end_factor - self.start_factor
        factor = 1.0 + change / (self.total_iters * self.start_factor
                                 + (self.last_epoch - 1) * change)
        return [group["lr"] * factor for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * (self.start_factor + (self.end_factor - self.start_factor)
                           * min(self.total_iters, self.last_epoch) / self.total_iters)
                for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every epoch: ``lr = base_lr * gamma ** epoch``.

    Parameters
    ----------
    optimizer : Optimizer
    gamma : float
        Multiplicative factor.
    last_epoch : int
        Default -1.
    """

    def __init__(self, optimizer, gamma, last_epoch=-1):
        _check_real(self, "gamma", gamma)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        self._warn_if_outside_step()
        if self._is_initial:
            return self._group_lrs()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma ** self.last_epoch for base_lr in self.base_lrs]


class PolynomialLR(LRScheduler):
    """``lr = base_lr * (1 - min(epoch, total_iters) / total_iters) ** power``.

    Parameters
    ----------
    optimizer : Optimizer
    total_iters : int
        Number of epochs of the decay, >= 1. Default 5.
    power : float
        Power of the polynomial. Default 1.
    last_epoch : int
        Default -1.
    """

    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        _check_int(self, "total_iters", total_iters, 1)
        _check_real(self, "power", power)
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        self._warn_if_outside_step()
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._group_lrs()
        decay = ((1.0 - self.last_epoch / self.total_iters)
                 / (1.0 - (self.last_epoch - 1) / self.total_iters)) ** self.power
        return [group["lr"] * decay for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters)
                ** self.power for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing (SGDR without restarts), in PyTorch's recursive form.

    Within the first period the rate follows
    ``eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``; it is computed
    recursively from the current ``group['lr']``, so past ``T_max`` it rises again like a cosine
    (period ``2 * T_max``), exactly as PyTorch's sequence, and it composes with other schedulers.

    Parameters
    ----------
    optimizer : Optimizer
    T_max : int
        Half period, in epochs, >= 1.
    eta_min : float
        Minimum learning rate. Default 0.
    last_epoch : int
        Default -1.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        _check_int(self, "T_max", T_max, 1)
        _check_real(self, "eta_min", eta_min)
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        self._warn_if_outside_step()
        if self._is_initial:
            return self._group_lrs()
        if self._step_count == 1 and self.last_epoch > 0:
            return [self.eta_min + (base_lr - self.eta_min)
                    * (1 + math.cos(self.last_epoch * math.pi / self.T_max)) / 2
                    for base_lr in self.base_lrs]
        if (self.last_epoch - 1 - self.T_max) % (2 * self.T_max) == 0:
            return [group["lr"] + (base_lr - self.eta_min)
                    * (1 - math.cos(math.pi / self.T_max)) / 2
                    for base_lr, group in zip(self.base_lrs, self.optimizer.param_groups)]
        return [(1 + math.cos(math.pi * self.last_epoch / self.T_max))
                / (1 + math.cos(math.pi * (self.last_epoch - 1) / self.T_max))
                * (group["lr"] - self.eta_min) + self.eta_min
                for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [self.eta_min + (base_lr - self.eta_min)
                * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base_lr in self.base_lrs]


class SequentialLR(LRScheduler):
    """Run schedulers one after another, switching at the milestone epochs.

    Parameters
    ----------
    optimizer : Optimizer
    schedulers : list of LRScheduler
        Built on ``optimizer``; not ReduceLROnPlateau.
    milestones : list of int
        ``len(schedulers) - 1`` epochs at which the next scheduler takes over (starting from its
        epoch 0).
    last_epoch : int
        Default -1.
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        _check_sub_schedulers(self, optimizer, schedulers)
        milestones = list(milestones)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: expects one milestone fewer than schedulers, got "
                             f"{len(schedulers)} schedulers and {len(milestones)} milestones")
        self._schedulers = list(schedulers)
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self._undo_initial_steps(self)
        idx = bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = self._schedulers[idx].get_last_lr()

    def _undo_initial_steps(self, sched):
        # The sub-schedulers' constructors each took an initial step: take it back.
        if hasattr(sched, "_schedulers"):
            for s in sched._schedulers:
                self._undo_initial_steps(s)
        elif hasattr(sched, "last_epoch"):
            sched.last_epoch -= 1

    def step(self):
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self):
        return _composite_state_dict(self)

    def load_state_dict(self, state_dict):
        _composite_load_state_dict(self, state_dict)


class ChainedScheduler(LRScheduler):
    """Step several schedulers together, so that their factors multiply.

    Parameters
    ----------
    schedulers : sequence of LRScheduler
        Built on the same optimizer; not ReduceLROnPlateau.
    optimizer : Optimizer, optional
        Default: the first scheduler's.
    """

    def __init__(self, schedulers, optimizer=None):
        if len(schedulers) < 1:
            raise ValueError("ChainedScheduler: expects at least one scheduler to chain, got none")
        optimizer = optimizer or schedulers[0].optimizer
        _check_sub_schedulers(self, optimizer, schedulers)
        self._schedulers = list(schedulers)
        self.optimizer = optimizer
        self._last_lr = [group["lr"] for group in self._schedulers[-1].optimizer.param_groups]

    def step(self):
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = [group["lr"] for group in self._schedulers[-1].optimizer.param_groups]

    def state_dict(self):
        return _composite_state_dict(self)

    def load_state_dict(self, state_dict):
        _composite_load_state_dict(self, state_dict)


class ReduceLROnPlateau(LRScheduler):
    """Reduce the learning rate when a metric has stopped improving.

    ``step(metric)`` counts the epochs without improvement; after more than ``patience`` of them
    every group's rate becomes ``max(lr * factor, min_lr)`` (changes smaller than ``eps`` are
    skipped), followed by ``cooldown`` epochs in which bad epochs are not counted.

    Parameters
    ----------
    optimizer : Optimizer
    mode : {'min', 'max'}
        Whether the metric should decrease (a loss) or increase (an accuracy). Default 'min'.
    factor : float
        Reduction factor, < 1. Default 0.1.
    patience : int
        Epochs without improvement tolerated before reducing. Default 10.
    threshold : float
        Least change that counts as an improvement. Default 1e-4.
    threshold_mode : {'rel', 'abs'}
        'rel': better than ``best * (1 - threshold)`` (mode 'min') or ``best * (1 + threshold)``
        (mode 'max'); 'abs': better than ``best - threshold`` or ``best + threshold``.
    cooldown : int
        Epochs to wait after a reduction. Default 0.
    min_lr : float or list of float
        Lower bound of the learning rate, for all groups or per group. Default 0.
    eps : float
        Minimal change of the rate. Default 1e-8.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        _check_real(self, "factor", factor)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor should be < 1.0, got {factor}")
        self.factor = factor
        _check_optimizer(self, optimizer)
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(optimizer.param_groups):
                raise ValueError(f"ReduceLROnPlateau: expected {len(optimizer.param_groups)} "
                                 f"min_lrs (one per parameter group), got {len(min_lr)}")
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        _check_int(self, "patience", patience, 0)
        _check_int(self, "cooldown", cooldown, 0)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = self._group_lrs()
        self._init_is_better(mode, threshold, threshold_mode)
        self._reset()

    def _reset(self):
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def step(self, metrics, epoch=None):
        """Record ``metrics`` (a number: the epoch's validation loss or accuracy)."""
        current = float(metrics.item() if hasattr(metrics, "item") else metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn(_EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self.last_epoch = epoch
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._group_lrs()

    def _reduce_lr(self):
        if len(self.optimizer.param_groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise ValueError(
                    f"ReduceLROnPlateau: the optimizer has {len(self.optimizer.param_groups)} "
                    f"parameter groups but {len(self.min_lrs)} min_lrs were given (was a group "
                    "added?); set the scheduler's min_lrs to one value per group")
            self.min_lrs = [self.default_min_lr] * len(self.optimizer.param_groups)
        for i, group in enumerate(self.optimizer.param_groups):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, self.min_lrs[i])
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0

    def _is_better(self, a, best):
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min" and self.threshold_mode == "abs":
            return a < best - self.threshold
        if self.mode == "max" and self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def _init_is_better(self, mode, threshold, threshold_mode):
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode {mode!r} is unknown; use 'min' or 'max'")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold mode {threshold_mode!r} is unknown; "
                             "use 'rel' or 'abs'")
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith and Topin, 2018): warm up to ``max_lr``, then anneal far below.

    Step it after every batch. The rate rises from ``max_lr / div_factor`` to ``max_lr`` over the
    first ``pct_start`` of ``total_steps``, then falls to ``initial_lr / final_div_factor``; with
    ``three_phase`` it first comes back down to the initial rate symmetrically, then falls. With
    ``cycle_momentum`` the momentum (SGD/RMSprop's ``momentum``, Adam's ``beta1``) moves inversely
    between ``max_momentum`` and ``base_momentum``.

    Parameters
    ----------
    optimizer : Optimizer
    max_lr : float or list of float
        Peak learning rate, for all groups or per group.
    total_steps : int, optional
        Number of steps of the cycle; or give ``epochs`` and ``steps_per_epoch``.
    epochs, steps_per_epoch : int, optional
        ``total_steps = epochs * steps_per_epoch`` when ``total_steps`` is None.
    pct_start : float
        Fraction of the cycle spent increasing the rate, in [0, 1]. Default 0.3.
    anneal_strategy : {'cos', 'linear'}
        Default 'cos'.
    cycle_momentum : bool
        Default True.
    base_momentum, max_momentum : float or list of float
        Default 0.85 and 0.95.
    div_factor : float
        ``initial_lr = max_lr / div_factor``. Default 25.
    final_div_factor : float
        ``min_lr = initial_lr / final_div_factor``. Default 1e4.
    three_phase : bool
        Default False.
    last_epoch : int
        Default -1.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False,
                 last_epoch=-1):
        _check_optimizer(self, optimizer)
        self.optimizer = optimizer
        if total_steps is not None:
            if not _is_int(total_steps) or total_steps <= 0:
                raise ValueError(f"OneCycleLR: expected a positive integer total_steps, got "
                                 f"{total_steps!r}")
            self.total_steps = int(total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            if not _is_int(epochs) or epochs <= 0:
                raise ValueError(f"OneCycleLR: expected a positive integer epochs, got {epochs!r}")
            if not _is_int(steps_per_epoch) or steps_per_epoch <= 0:
                raise ValueError(f"OneCycleLR: expected a positive integer steps_per_epoch, got "
                                 f"{steps_per_epoch!r}")
            self.total_steps = int(epochs) * int(steps_per_epoch)
        else:
            raise ValueError("OneCycleLR: give either total_steps or both epochs and "
                             "steps_per_epoch")
        _check_real(self, "pct_start", pct_start)
        if not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR: expected pct_start between 0 and 1, got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got "
                             f"{anneal_strategy!r}")
        if three_phase:
            self._schedule_phases = [
                _phase(float(pct_start * self.total_steps) - 1, "initial_lr", "max_lr",
                       "max_momentum", "base_momentum"),
                _phase(float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr",
                       "base_momentum", "max_momentum"),
                _phase(self.total_steps - 1, "initial_lr", "min_lr", "max_momentum",
                       "max_momentum"),
            ]
        else:
            self._schedule_phases = [
                _phase(float(pct_start * self.total_steps) - 1, "initial_lr", "max_lr",
                       "max_momentum", "base_momentum"),
                _phase(self.total_steps - 1, "max_lr", "min_lr", "base_momentum",
                       "max_momentum"),
            ]
        self._anneal_func_type = anneal_strategy
        max_lrs = _per_group(self, "max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for m, group in zip(max_lrs, optimizer.param_groups):
                group["initial_lr"] = m / div_factor
                group["max_lr"] = m
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"OneCycleLR: cycle_momentum needs an optimizer with momentum or "
                                 f"betas, and {type(optimizer).__name__} has neither; pass "
                                 "cycle_momentum=False")
            self.use_beta1 = "betas" in optimizer.defaults
            max_momentums = _per_group(self, "max_momentum", optimizer, max_momentum)
            base_momentums = _per_group(self, "base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for m_mom, b_mom, group in zip(max_momentums, base_momentums,
                                               optimizer.param_groups):
                    if self.use_beta1:
                        group["betas"] = (m_mom, *group["betas"][1:])
                    else:
                        group["momentum"] = m_mom
                    group["max_momentum"] = m_mom
                    group["base_momentum"] = b_mom
        super().__init__(optimizer, last_epoch)

    def _anneal_func(self, start, end, pct):
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self):
        self._warn_if_outside_step()
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step_num} times; the specified number "
                             f"of total steps is {self.total_steps}")
        lrs = []
        last = len(self._schedule_phases) - 1
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == last:
                    pct = (step_num - start_step) / (end_step - start_step)
                    lr = self._anneal_func(group[phase["start_lr"]], group[phase["end_lr"]], pct)
                    if self.cycle_momentum:
                        momentum = self._anneal_func(group[phase["start_momentum"]],
                                                     group[phase["end_momentum"]], pct)
                    break
                start_step = phase["end_step"]
            lrs.append(lr)
            if self.cycle_momentum:
                if self.use_beta1:
                    group["betas"] = (momentum, *group["betas"][1:])
                else:
                    group["momentum"] = momentum
        return lrs


# ---------------------------------------------------------------------------- helpers
def _check_optimizer(sched, optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(sched).__name__}: {type(optimizer).__name__} is not an Optimizer")


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _check_int(sched, name, value, minimum):
    if not _is_int(value):
        raise TypeError(f"{type(sched).__name__}: {name} must be an int, got "
                        f"{type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{type(sched).__name__}: {name} must be >= {minimum}, got {value}")


def _check_real(sched, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{type(sched).__name__}: {name} must be a real number, got "
                        f"{type(value).__name__}")


def _per_group(sched, name, optimizer, value):
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{type(sched).__name__}: {name} has {len(value)} values but the "
                             f"optimizer has {n} parameter groups")
        return list(value)
    return [value] * n


def _phase(end_step, start_lr, end_lr, start_momentum, end_momentum):
    return {"end_step": end_step, "start_lr": start_lr, "end_lr": end_lr,
            "start_momentum": start_momentum, "end_momentum": end_momentum}


def _lambdas(sched, optimizer, lr_lambda):
    n = len(optimizer.param_groups)
    if isinstance(lr_lambda, (list, tuple)):
        if len(lr_lambda) != n:
            raise ValueError(f"{type(sched).__name__}: expected {n} lr_lambdas (one per "
                             f"parameter group), got {len(lr_lambda)}")
        lambdas = list(lr_lambda)
    else:
        lambdas = [lr_lambda] * n
    for fn in lambdas:
        if not callable(fn):
            raise TypeError(f"{type(sched).__name__}: lr_lambda should be a function, got "
                            f"{type(fn).__name__}")
    return lambdas


def _lambda_state_dict(sched):
    state = {k: _copy_plain(v) for k, v in sched.__dict__.items()
             if k not in ("optimizer", "lr_lambdas") and v is not None}
    # Plain functions and lambdas cannot be stored; callable objects keep their attributes.
    state["lr_lambdas"] = [{} if isinstance(fn, types.FunctionType) else dict(fn.__dict__)
                           for fn in sched.lr_lambdas]
    return state


def _lambda_load_state_dict(sched, state_dict):
    state_dict = dict(state_dict)
    lambdas = state_dict.pop("lr_lambdas", [])
    LRScheduler.load_state_dict(sched, state_dict)
    for fn, attrs in zip(sched.lr_lambdas, lambdas):
        if attrs:
            fn.__dict__.update(_plain_tree(attrs))


def _check_sub_schedulers(sched, optimizer, schedulers):
    name = type(sched).__name__
    if len(schedulers) < 1:
        raise ValueError(f"{name}: expects at least one scheduler, got none")
    for i, s in enumerate(schedulers):
        if not hasattr(s, "optimizer"):
            raise TypeError(f"{name}: the scheduler at index {i} should have an `optimizer` "
                            "attribute")
        if isinstance(s, ReduceLROnPlateau):
            raise ValueError(f"{name} does not support ReduceLROnPlateau (its step needs a "
                             f"metric), but got one at index {i}")
        if s.optimizer is not optimizer:
            raise ValueError(f"{name}: expects all schedulers to belong to the same optimizer, "
                             f"but the {type(s).__name__} at index {i} has another one")


def _composite_state_dict(sched):
    state = {k: _copy_plain(v) for k, v in sched.__dict__.items()
             if k not in ("optimizer", "_schedulers") and v is not None}
    state["_schedulers"] = [s.state_dict() for s in sched._schedulers]
    return state


def _composite_load_state_dict(sched, state_dict):
    state_dict = dict(state_dict)
    subs = state_dict.pop("_schedulers", [])
    LRScheduler.load_state_dict(sched, state_dict)
    for s, sub_state in zip(sched._schedulers, subs):
        s.load_state_dict(sub_state)


def _copy_plain(v):
    if isinstance(v, Counter):
        return sorted(v.elements())
    if isinstance(v, dict):
        return {k: _copy_plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return type(v)(_copy_plain(x) for x in v)
    return v


def _as_list(v):
    return v.tolist() if isinstance(v, np.ndarray) else list(v)


def _plain_tree(v):
    """numpy scalars and arrays (as ``np.load`` returns them) back to Python values."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.item() if v.ndim == 0 else v.tolist()
    if isinstance(v, dict):
        return {k: _plain_tree(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return type(v)(_plain_tree(x) for x in v)
    return v


def _track_optimizer_steps(optimizer):
    """Wrap ``optimizer.step`` so that ``step()`` can warn when called before it (as PyTorch)."""
    step = optimizer.step
    if hasattr(step, "_wrapped_by_lr_sched") or not hasattr(step, "__func__"):
        return
    func = step.__func__
    opt_ref = weakref.ref(optimizer)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        opt = opt_ref()
        opt._opt_called = True
        return func.__get__(opt, type(opt))(*args, **kwargs)

    wrapper._wrapped_by_lr_sched = True
    optimizer.step = wrapper
