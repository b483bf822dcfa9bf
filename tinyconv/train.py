"""The training loop: :class:`Trainer`, and the one-call helpers :func:`fit` and :func:`evaluate`.

One epoch is: ``model.train()``; for each batch of the training loader the forward pass, the
loss, ``optimizer.zero_grad()``, ``loss.backward()``, ``optimizer.step()`` (and the scheduler's
step for per-batch schedules); then an evaluation pass over the test loader under
:class:`tinyconv.no_grad` and ``model.eval()``; then the per-epoch scheduler step. Each epoch
appends one record to :attr:`Trainer.history`::

    {'epoch': 3, 'train_loss': 0.041, 'train_acc': 0.987, 'test_loss': 0.035, 'test_acc': 0.989,
     'lr': 0.0905, 'seconds': 41.2, 'images_per_second': 1456.3}

Accuracies are fractions (0..1). ``train_loss`` and ``train_acc`` are averaged over the epoch's
batches as they were trained (the weights change during the epoch), ``lr`` is the first
parameter group's learning rate at the start of the epoch, ``seconds`` the epoch's wall time
(training and evaluation) and ``images_per_second`` the training throughput.

Schedules: :class:`~tinyconv.optim.lr_scheduler.OneCycleLR` is stepped after every batch,
every other scheduler once per epoch, after the evaluation;
:class:`~tinyconv.optim.lr_scheduler.ReduceLROnPlateau` is given the epoch's test loss (the
training loss when there is no test loader). Pass ``scheduler_interval`` to override.

Interrupting and resuming: :meth:`Trainer.state_dict` captures everything the next batch depends
on -- weights and buffers, optimizer and scheduler state, tinyconv's default random generator,
the training loader's position and generator (see :mod:`tinyconv.data.dataloader`), the history
and the running sums of a partly trained epoch -- so that :meth:`Trainer.load_state_dict` on a
freshly built trainer continues bit for bit as if training had never stopped, at an epoch
boundary or in the middle of an epoch. While :meth:`Trainer.fit` runs in the main thread, the
first Ctrl-C (SIGINT) does not interrupt the batch in progress: the batch is finished, then
``fit`` raises :class:`KeyboardInterrupt` with the trainer at that batch boundary
(``trainer.interrupted == 'batch'``), ready to be checkpointed. A :class:`KeyboardInterrupt`
raised by an ``on_batch_end`` callback behaves the same way. A second Ctrl-C, or one raised
inside a batch by other code, interrupts at once: the weights may then be half-updated
(``trainer.interrupted == 'mid-batch'``) and should not be saved as a resumable state.
"""

import math
import signal
import threading
import time

import numpy as np

from .autograd import no_grad
from .nn.loss import CrossEntropyLoss
from .optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau
from .tensor import Tensor, default_generator

__all__ = ["Trainer", "fit", "evaluate", "confusion_matrix", "scheduler_interval"]

_STATE_FORMAT = "tinyconv-trainer"
_STATE_VERSION = 1


def scheduler_interval(scheduler):
    """'batch' for schedulers meant to be stepped after every batch (OneCycleLR), else 'epoch'.

    None for no scheduler. Composite schedulers (SequentialLR, ChainedScheduler) holding a
    OneCycleLR are stepped per batch too.
    """
    return _default_interval(scheduler)


def _default_interval(scheduler):
    if scheduler is None:
        return None
    inner = getattr(scheduler, "_schedulers", None) or [scheduler]
    return "batch" if any(isinstance(s, OneCycleLR) for s in inner) else "epoch"


def _callbacks(value, name):
    if value is None:
        return []
    if callable(value):
        return [value]
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"Trainer: {name} must be a callable or a list of callables, got "
                        f"{type(value).__name__}") from None
    for f in items:
        if not callable(f):
            raise TypeError(f"Trainer: every {name} callback must be callable, got "
                            f"{type(f).__name__}")
    return items


def _as_array(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _count_correct(logits, target):
    """Correct predictions and number of targets; None, n for non-classification targets."""
    out, y = _as_array(logits), _as_array(target)
    if y.dtype.kind not in "iu" or out.ndim != y.ndim + 1:
        return 0, 0  # targets are not class indices (e.g. probabilities): no accuracy
    return int((out.argmax(axis=1) == y).sum()), int(y.size)


def _batch_size(target):
    y = _as_array(target)
    return int(y.shape[0]) if y.ndim else 1


def _split(batch, where):
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise ValueError(f"{where}: each batch must be an (inputs, targets) pair, got "
                         f"{type(batch).__name__}"
                         + (f" of length {len(batch)}" if isinstance(batch, (tuple, list))
                            else ""))
    return batch[0], batch[1]


def evaluate(model, loader, loss_fn=None, return_predictions=False, stop=None):
    """Average loss and accuracy of ``model`` over ``loader``, without gradients.

    Runs under :class:`tinyconv.no_grad` with ``model.eval()`` and gives the model its previous
    training mode back afterwards.

    Parameters
    ----------
    model : tinyconv.nn.Module
        Maps a batch of inputs to logits (N, C) (or (N, C, *d) for per-pixel targets).
    loader : iterable
        Yields ``(inputs, targets)`` batches, e.g. a :class:`tinyconv.data.DataLoader`.
    loss_fn : callable, optional
        ``loss_fn(logits, targets)`` returning the batch's mean loss; default
        :class:`tinyconv.nn.CrossEntropyLoss`.
    return_predictions : bool
        Also return the predicted classes and the targets as int64 arrays.
    stop : callable, optional
        Checked after every batch; when it returns True a :class:`KeyboardInterrupt` is raised
        (used by :class:`Trainer` to honour Ctrl-C).

    Returns
    -------
    dict
        ``'loss'`` (mean per sample), ``'acc'`` (fraction correct, nan without class-index
        targets), ``'n'`` (samples), and with ``return_predictions`` ``'predictions'`` and
        ``'targets'``.
    """
    loss_fn = CrossEntropyLoss() if loss_fn is None else loss_fn
    was_training = getattr(model, "training", False)
    model.eval()
    loss_sum, correct, counted, n = 0.0, 0, 0, 0
    preds, targets = [], []
    try:
        with no_grad():
            for batch in loader:
                x, y = _split(batch, "evaluate")
                out = model(x)
                b = _batch_size(y)
                loss_sum += float(loss_fn(out, y).item()) * b
                c, k = _count_correct(out, y)
                correct, counted, n = correct + c, counted + k, n + b
                if return_predictions:
                    preds.append(_as_array(out).argmax(axis=1).astype(np.int64))
                    targets.append(np.asarray(_as_array(y), dtype=np.int64))
                if stop is not None and stop():
                    raise KeyboardInterrupt
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError("evaluate: the loader yielded no batches")
    result = {"loss": loss_sum / n, "acc": correct / counted if counted else float("nan"),
              "n": n}
    if return_predictions:
        result["predictions"] = np.concatenate(preds)
        result["targets"] = np.concatenate(targets)
    return result


def confusion_matrix(targets, predictions, num_classes=None):
    """Counts ``cm[i, j]`` of samples of true class ``i`` predicted as class ``j``.

    Parameters
    ----------
    targets, predictions : array_like of int
        True and predicted class indices, same shape.
    num_classes : int, optional
        Size of the matrix; default one more than the largest index seen.

    Returns
    -------
    numpy.ndarray
        (num_classes, num_classes) int64.
    """
    t = np.asarray(targets, dtype=np.int64).reshape(-1)
    p = np.asarray(predictions, dtype=np.int64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"confusion_matrix: {t.size} targets but {p.size} predictions")
    if num_classes is None:
        num_classes = int(max(t.max(initial=-1), p.max(initial=-1))) + 1
    if t.size and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= num_classes):
        raise ValueError(f"confusion_matrix: class indices must lie in 0..{num_classes - 1}, "
                         f"got {min(t.min(), p.min())}..{max(t.max(), p.max())}")
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes)


class _Progress:
    """A tqdm bar over one epoch's batches (a no-op when disabled or tqdm is missing)."""

    def __init__(self, enabled, total, initial, desc):
        self.bar = None
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:  # tqdm is a dependency; a broken install still trains
            return
        # disable=None: no bar when stderr is not a terminal (logs of background runs)
        self.bar = tqdm(total=total, initial=initial, desc=desc, unit="batch", leave=False,
                        dynamic_ncols=True, disable=None)

    def update(self, loss, acc, ips):
        if self.bar is not None:
            self.bar.set_postfix_str(f"loss {loss:.4f} acc {acc:.2%} {ips:,.0f} img/s",
                                     refresh=False)
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()


class _SigintGuard:
    """While active (main thread only), the first SIGINT sets a flag instead of raising."""

    def __init__(self, enabled, log):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False
        self.log = log
        self._previous = None

    def _handler(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)  # a second Ctrl-C interrupts at once
        self.log("\nCtrl-C: stopping after this batch (press Ctrl-C again to stop at once)")

    def __enter__(self):
        if self.enabled:
            self._previous = signal.getsignal(signal.SIGINT)
            if self._previous is None:  # installed from C code: cannot be restored
                self.enabled = False
            else:
                signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self.enabled:
            signal.signal(signal.SIGINT, self._previous)
        return False


class Trainer:
    """Train a classifier epoch by epoch, keeping a metrics history; checkpointable at any batch.

    Parameters
    ----------
    model : tinyconv.nn.Module
        Maps inputs (N, ...) to logits (N, C).
    optimizer : tinyconv.optim.Optimizer
        Over the model's parameters.
    train_loader : tinyconv.data.DataLoader
        Yields ``(inputs, targets)``. For exact resuming it must be a tinyconv DataLoader (or
        anything with ``state_dict``/``load_state_dict`` and a fixed order of batches).
    test_loader : iterable, optional
        Evaluated after every epoch; without it the test metrics are nan.
    loss_fn : callable, optional
        ``loss_fn(logits, targets)``; default :class:`tinyconv.nn.CrossEntropyLoss`.
    scheduler : LRScheduler, optional
        See the module docstring for when it is stepped.
    scheduler_interval : {None, 'batch', 'epoch'}
        Override the stepping interval (None: OneCycleLR per batch, others per epoch).
    on_batch_end : callable or list of callables, optional
        ``f(trainer, loss)`` after every training batch (``loss`` a Python float). Raising
        :class:`KeyboardInterrupt` here stops training at this batch boundary.
    on_epoch_end : callable or list of callables, optional
        ``f(trainer, record)`` after every epoch, once the record is in the history and the
        epoch's scheduler step is done (a checkpoint written here resumes at the next epoch).
    progress : bool
        Show a tqdm progress bar per epoch (loss, accuracy, images/second, time left).
    log : callable or None
        Called with one line per epoch (default ``print``); None for silence.
    handle_sigint : bool
        Turn the first Ctrl-C into a stop at the next batch boundary (main thread only).

    Attributes
    ----------
    history : list of dict
        One record per completed epoch (see the module docstring).
    epoch : int
        Number of completed epochs.
    interrupted : {None, 'batch', 'mid-batch'}
        How the last :meth:`fit` was interrupted, if it was.
    last_eval : dict or None
        The last evaluation's result with ``'predictions'`` and ``'targets'``.
    """

    def __init__(self, model, optimizer, train_loader, test_loader=None, loss_fn=None,
                 scheduler=None, scheduler_interval=None, on_batch_end=None, on_epoch_end=None,
                 progress=True, log=print, handle_sigint=True):
        if scheduler_interval not in (None, "batch", "epoch"):
            raise ValueError(f"Trainer: scheduler_interval must be None, 'batch' or 'epoch', got "
                             f"{scheduler_interval!r}")
        if log is not None and not callable(log):
            raise TypeError(f"Trainer: log must be callable or None, got {type(log).__name__}")
        if loss_fn is not None and not callable(loss_fn):
            raise TypeError(f"Trainer: loss_fn must be callable, got {type(loss_fn).__name__}")
        self.model = model
        self.optimizer = optimizer
        self.train_loader = train_loader
        self.test_loader = test_loader
        self.loss_fn = CrossEntropyLoss() if loss_fn is None else loss_fn
        self.scheduler = scheduler
        self.scheduler_interval = (scheduler_interval if scheduler is not None and
                                   scheduler_interval is not None
                                   else _default_interval(scheduler))
        self.on_batch_end = _callbacks(on_batch_end, "on_batch_end")
        self.on_epoch_end = _callbacks(on_epoch_end, "on_epoch_end")
        self.progress = bool(progress)
        self.log = log
        self.handle_sigint = bool(handle_sigint)
        self.history = []
        self.epoch = 0
        self.interrupted = None
        self.last_eval = None
        self._partial = None  # running sums of a partly trained epoch
        self._sigint = None

    # ------------------------------------------------------------------ running
    def fit(self, epochs):
        """Train until ``epochs`` epochs are complete in total (a resumed trainer continues).

        Returns
        -------
        list of dict
            :attr:`history`.

        Raises
        ------
        KeyboardInterrupt
            After Ctrl-C or an ``on_batch_end`` callback's KeyboardInterrupt, with
            :attr:`interrupted` set (see the module docstring).
        """
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"Trainer.fit: epochs must be a non-negative int, got {epochs!r}")
        self.interrupted = None
        with _SigintGuard(self.handle_sigint, self._log) as guard:
            self._sigint = guard
            try:
                while self.epoch < epochs:
                    self._run_epoch(epochs)
            finally:
                self._sigint = None
        return self.history

    def evaluate(self, loader=None, return_predictions=True):
        """:func:`evaluate` on ``loader`` (default the test loader) with the trainer's loss."""
        loader = self.test_loader if loader is None else loader
        if loader is None:
            raise ValueError("Trainer.evaluate: no loader given and the trainer has no "
                             "test_loader")
        stop = (lambda: self._sigint.requested) if self._sigint is not None else None
        return evaluate(self.model, loader, self.loss_fn, return_predictions, stop=stop)

    def _log(self, line):
        if self.log is not None:
            self.log(line)

    def _stop_requested(self):
        return self._sigint is not None and self._sigint.requested

    def _run_epoch(self, epochs):
        part = self._partial
        if part is None:
            part = self._partial = {"batches_done": 0, "loss_sum": 0.0, "correct": 0,
                                    "counted": 0, "seen": 0, "train_seconds": 0.0,
                                    "lr": self._lr()}
        loader = self.train_loader
        nb = len(loader)
        self.model.train()
        bar = _Progress(self.progress, nb, part["batches_done"],
                        f"epoch {self.epoch + 1}/{epochs}")
        t0 = time.perf_counter()
        spent0 = part["train_seconds"]
        in_batch = False
        try:
            if part["batches_done"] < nb:  # else: trained, interrupted before the evaluation
                for batch in loader:
                    in_batch = True
                    loss = self._train_step(batch, part)
                    in_batch = False
                    part["train_seconds"] = spent0 + time.perf_counter() - t0
                    bar.update(part["loss_sum"] / part["seen"],
                               part["correct"] / max(part["counted"], 1),
                               part["seen"] / max(part["train_seconds"], 1e-9))
                    for f in self.on_batch_end:
                        f(self, loss)
                    if self._stop_requested():
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            self.interrupted = "mid-batch" if in_batch else "batch"
            raise
        finally:
            bar.close()
        if part["seen"] == 0:
            raise ValueError("Trainer.fit: the training loader yielded no batches")
        try:
            t1 = time.perf_counter()
            ev = self.evaluate() if self.test_loader is not None else None
            eval_seconds = time.perf_counter() - t1
        except KeyboardInterrupt:
            self.interrupted = "batch"  # training part of the epoch is complete and consistent
            raise
        self.last_eval = ev
        train_loss = part["loss_sum"] / part["seen"]
        record = {
            "epoch": self.epoch + 1,
            "train_loss": train_loss,
            "train_acc": part["correct"] / part["counted"] if part["counted"] else float("nan"),
            "test_loss": ev["loss"] if ev else float("nan"),
            "test_acc": ev["acc"] if ev else float("nan"),
            "lr": part["lr"],
            "seconds": part["train_seconds"] + eval_seconds,
            "images_per_second": part["seen"] / max(part["train_seconds"], 1e-9),
        }
        self.history.append(record)
        self.epoch += 1
        self._partial = None
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            if isinstance(self.scheduler, ReduceLROnPlateau):
                self.scheduler.step(record["test_loss"] if ev else train_loss)
            else:
                self.scheduler.step()
        self._log(format_record(record, epochs))
        for f in self.on_epoch_end:
            f(self, record)

    def _train_step(self, batch, part):
        x, y = _split(batch, "Trainer.fit")
        out = self.model(x)
        loss = self.loss_fn(out, y)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        if self.scheduler is not None and self.scheduler_interval == "batch":
            self.scheduler.step()
        value = float(loss.item())
        if not math.isfinite(value):
            raise FloatingPointError(
                f"Trainer.fit: the loss became {value} at epoch {self.epoch + 1}, batch "
                f"{part['batches_done'] + 1}; lower the learning rate")
        b = _batch_size(y)
        c, k = _count_correct(out, y)
        part["loss_sum"] += value * b
        part["correct"] += c
        part["counted"] += k
        part["seen"] += b
        part["batches_done"] += 1
        return value

    def _lr(self):
        groups = getattr(self.optimizer, "param_groups", None)
        return float(groups[0]["lr"]) if groups else float("nan")

    # ------------------------------------------------------------------ state
    def state_dict(self):
        """Everything needed to continue training exactly: plain values and numpy arrays.

        Keys: ``'model'``, ``'optimizer'``, ``'scheduler'`` (or None), ``'epoch'`` (completed
        epochs), ``'partial'`` (running sums of a partly trained epoch, or None), ``'history'``,
        ``'rng'`` (tinyconv's default generator), ``'train_loader'`` (its ``state_dict``, or
        None). Arrays are copies, so the state is a snapshot. Store it with
        :func:`tinyconv.save`.
        """
        loader_state = None
        if hasattr(self.train_loader, "state_dict"):
            loader_state = self.train_loader.state_dict()
        return {
            "format": _STATE_FORMAT,
            "version": _STATE_VERSION,
            "model": {k: np.array(v, copy=True) for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "epoch": self.epoch,
            "partial": dict(self._partial) if self._partial is not None else None,
            "history": [dict(r) for r in self.history],
            "rng": default_generator.get_state(),
            "train_loader": loader_state,
        }

    def load_state_dict(self, state, load_scheduler=True):
        """Restore :meth:`state_dict` (e.g. from :func:`tinyconv.load`) into this trainer.

        Build the trainer exactly as for the saved run (same model, optimizer, scheduler and
        loaders), then load: the next :meth:`fit` continues where the saved one was.

        Parameters
        ----------
        state : dict
        load_scheduler : bool
            Restore the scheduler's state too (False keeps the scheduler as built, for a caller
            that re-plans the schedule).
        """
        if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
            raise ValueError("Trainer.load_state_dict: not a trainer state (expected the dict of "
                             "Trainer.state_dict(), with format 'tinyconv-trainer')")
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"Trainer.load_state_dict: state version {state.get('version')}; "
                             f"this tinyconv reads version {_STATE_VERSION}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if load_scheduler and self.scheduler is not None:
            if state.get("scheduler") is None:
                raise ValueError("Trainer.load_state_dict: the trainer has a scheduler but the "
                                 "saved state has none")
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch = int(state["epoch"])
        part = state.get("partial")
        self._partial = None if part is None else {
            "batches_done": int(part["batches_done"]), "loss_sum": float(part["loss_sum"]),
            "correct": int(part["correct"]), "counted": int(part["counted"]),
            "seen": int(part["seen"]), "train_seconds": float(part["train_seconds"]),
            "lr": float(part["lr"])}
        self.history = [{k: (v.item() if isinstance(v, np.generic) else v)
                         for k, v in r.items()} for r in state["history"]]
        default_generator.set_state(_plain_state(state["rng"]))
        if state.get("train_loader") is not None and hasattr(self.train_loader,
                                                             "load_state_dict"):
            self.train_loader.load_state_dict(_plain_state(state["train_loader"]))
        self.interrupted = None


def _plain_state(v):
    """numpy scalars (as :func:`tinyconv.load` returns them) back to Python ints and floats."""
    if isinstance(v, dict):
        return {k: _plain_state(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return type(v)(_plain_state(x) for x in v)
    if isinstance(v, np.generic):
        return v.item()
    return v


def format_record(record, epochs=None):
    """One line for an epoch's record: losses, accuracies, learning rate, time, throughput."""
    of = f"/{epochs}" if epochs else ""
    return (f"epoch {record['epoch']}{of}: train loss {record['train_loss']:.4f} "
            f"acc {record['train_acc']:.2%} | test loss {record['test_loss']:.4f} "
            f"acc {record['test_acc']:.2%} | lr {record['lr']:.4g} | "
            f"{record['seconds']:.1f} s ({record['images_per_second']:,.0f} img/s)")


def fit(model, train_loader, test_loader=None, epochs=1, optimizer=None, loss_fn=None,
        scheduler=None, progress=True, log=print, **kwargs):
    """Train ``model`` for ``epochs`` epochs and return the metrics history.

    A shortcut for ``Trainer(model, optimizer, train_loader, test_loader, loss_fn, scheduler,
    ...).fit(epochs)``; see :class:`Trainer` for the arguments and the module docstring for the
    records. Without an optimizer, SGD with lr 0.01 and momentum 0.9 is used.

    Examples
    --------
    >>> import tinyconv as tc
    >>> from tinyconv.data import DataLoader, get_dataset, default_transforms
    >>> train = DataLoader(get_dataset("digits"), 64, shuffle=True,
    ...                    transform=default_transforms("digits"))
    >>> test = DataLoader(get_dataset("digits", train=False), 256,
    ...                   transform=default_transforms("digits", train=False))
    >>> model = tc.models.lenet5(input_size=8)
    >>> history = tc.fit(model, train, test, epochs=3, progress=False, log=None)
    >>> history[-1]["test_acc"] > 0.5
    True
    """
    if optimizer is None:
        from .optim import SGD
        optimizer = SGD(model.parameters(), lr=0.01, momentum=0.9)
    trainer = Trainer(model, optimizer, train_loader, test_loader, loss_fn=loss_fn,
                      scheduler=scheduler, progress=progress, log=log, **kwargs)
    return trainer.fit(epochs)
