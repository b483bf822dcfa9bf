"""tinyconv.train: the training loop, evaluation, interruption and exact resuming; tinyconv.plots.

Real data: the MNIST subset from the project's shared copy (``../shared/data`` relative to the
repository, or ``$TINYCONV_DATA_DIR``) when it is there, the 8x8 digits embedded in the package
otherwise. Everything is kept small (a few hundred images, 1-3 epochs).
"""

import os
import signal

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import nn
from tinyconv.data import DataLoader, Subset, default_transforms, get_dataset
from tinyconv.optim import lr_scheduler as lrs
from tinyconv.train import Trainer, confusion_matrix, evaluate, scheduler_interval

SHARED = os.environ.get("TINYCONV_DATA_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
HAVE_MNIST = os.path.isdir(os.path.join(SHARED, "mnist"))


@pytest.fixture(autouse=True)
def one_thread():
    # Results must not depend on it, but small layers run faster on one thread on a busy machine.
    before = tc.get_num_threads()
    tc.set_num_threads(1)
    yield
    tc.set_num_threads(before)


def digits_loaders(n_train=400, n_test=120, batch=16, seed=0):
    train = Subset(get_dataset("digits"), np.arange(n_train))
    test = Subset(get_dataset("digits", train=False), np.arange(n_test))
    return (DataLoader(train, batch, shuffle=True, generator=np.random.default_rng(seed),
                       transform=default_transforms("digits")),
            DataLoader(test, 64, transform=default_transforms("digits", train=False)))


class SmallNet(nn.Module):
    """Conv-BN-ReLU-pool, dropout, linear: buffers and random draws for the resume tests."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.drop = nn.Dropout(0.25)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = self.pool(nn.functional.relu(self.bn(self.conv(x))))
        return self.fc(self.drop(x.flatten(1)))


def build(schedule="cosine", epochs=3, **kw):
    """A fresh trainer, built the same way every time (as a resumed process would)."""
    tc.manual_seed(0)
    train, test = digits_loaders()
    model = SmallNet()
    opt = tc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    if schedule == "cosine":
        sched = lrs.CosineAnnealingLR(opt, epochs)
    elif schedule == "onecycle":
        sched = lrs.OneCycleLR(opt, 0.1, total_steps=epochs * len(train))
    else:
        sched = None
    kw.setdefault("progress", False)
    kw.setdefault("log", None)
    return Trainer(model, opt, train, test, scheduler=sched, **kw)


def assert_same_run(a, b):
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)
    assert len(a.history) == len(b.history)
    for ra, rb in zip(a.history, b.history):
        for k in ra:
            if k not in ("seconds", "images_per_second"):
                assert ra[k] == rb[k], (k, ra[k], rb[k])


# ------------------------------------------------------------------------------ learning
def test_loss_falls_on_real_data():
    tc.manual_seed(0)
    if HAVE_MNIST:
        name, data_dir, size, n_train, batch, epochs = "mnist", SHARED, 28, 2000, 32, 1
    else:  # 1,437 8x8 images: smaller batches for enough steps
        name, data_dir, size, n_train, batch, epochs = "digits", None, 8, 1437, 16, 4
    train_ds = get_dataset(name, data_dir)
    test_ds = get_dataset(name, data_dir, train=False)
    train = DataLoader(Subset(train_ds, np.arange(min(n_train, len(train_ds)))), batch,
                       shuffle=True, generator=np.random.default_rng(0),
                       transform=default_transforms(name))
    test = DataLoader(Subset(test_ds, np.arange(500 if name == "mnist" else len(test_ds))), 250,
                      transform=default_transforms(name, train=False))
    model = tc.models.lenet5(input_size=size)
    before = evaluate(model, test)
    opt = tc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    history = tc.fit(model, train, test, epochs=epochs, optimizer=opt, progress=False, log=None)
    after = history[-1]
    assert after["test_loss"] < 0.5 * before["loss"], (name, before, after)
    assert after["test_acc"] > 0.7, (name, after)
    assert history[0]["train_loss"] < 2.3


def test_history_records():
    lines = []
    trainer = build(log=lines.append)
    history = trainer.fit(2)
    assert history is trainer.history and trainer.epoch == 2 and len(lines) == 2
    assert "epoch 2/2" in lines[1] and "test loss" in lines[1]
    keys = {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds",
            "images_per_second"}
    for i, r in enumerate(history, start=1):
        assert set(r) == keys and r["epoch"] == i
        assert 0 <= r["train_acc"] <= 1 and 0 <= r["test_acc"] <= 1
        assert r["seconds"] > 0 and r["images_per_second"] > 0
    assert history[0]["lr"] == 0.05 and history[1]["lr"] < 0.05  # cosine, stepped per epoch
    # fit() continues up to a total number of epochs
    trainer.fit(3)
    assert [r["epoch"] for r in trainer.history] == [1, 2, 3]


def test_evaluate_no_grad_eval_mode_and_restores_mode():
    model = SmallNet()
    seen = []
    model.register_forward_hook(lambda m, a, o: seen.append((m.training, tc.is_grad_enabled(),
                                                             o.requires_grad)))
    _, test = digits_loaders()
    model.train()
    ev = evaluate(model, test, return_predictions=True)
    assert all(s == (False, False, False) for s in seen) and len(seen) == len(test)
    assert model.training
    assert ev["n"] == 120 and ev["predictions"].shape == (120,) and 0 <= ev["acc"] <= 1
    assert ev["acc"] == np.mean(ev["predictions"] == ev["targets"])
    model.eval()
    evaluate(model, test)
    assert not model.training


def test_scheduler_intervals_and_plateau_gets_test_loss():
    opt = tc.optim.SGD(SmallNet().parameters(), lr=0.1)
    assert scheduler_interval(lrs.OneCycleLR(opt, 0.1, total_steps=10)) == "batch"
    assert scheduler_interval(lrs.StepLR(opt, 1)) == "epoch"
    assert scheduler_interval(None) is None

    trainer = build(schedule="onecycle", epochs=2)
    trainer.fit(2)
    assert trainer.scheduler.last_epoch == 2 * len(trainer.train_loader)

    got = []

    class Spy(lrs.ReduceLROnPlateau):
        def step(self, metrics, epoch=None):
            got.append(metrics)
            return super().step(metrics)

    trainer = build(schedule=None)
    trainer.scheduler = Spy(trainer.optimizer, patience=0)
    trainer.scheduler_interval = "epoch"
    trainer.fit(2)
    assert got == [r["test_loss"] for r in trainer.history]


def test_confusion_matrix():
    cm = confusion_matrix([0, 1, 2, 2, 1], [0, 2, 2, 2, 1], 4)
    assert cm.shape == (4, 4) and cm.sum() == 5
    assert cm[0, 0] == 1 and cm[1, 2] == 1 and cm[2, 2] == 2 and cm[1, 1] == 1
    with pytest.raises(ValueError, match="class indices must lie in 0..2"):
        confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match="2 targets but 1 predictions"):
        confusion_matrix([0, 1], [0])


def test_trainer_argument_errors():
    trainer = build()
    with pytest.raises(ValueError, match="epochs must be a non-negative int"):
        trainer.fit(-1)
    with pytest.raises(ValueError, match="scheduler_interval must be"):
        build(scheduler_interval="step")
    with pytest.raises(TypeError, match="on_batch_end callback must be callable"):
        build(on_batch_end=[1])
    with pytest.raises(ValueError, match="not a trainer state"):
        trainer.load_state_dict({"model": {}})


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nonfinite_loss_is_reported():
    trainer = build(schedule=None)
    trainer.optimizer.param_groups[0]["lr"] = 1e30
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        trainer.fit(1)


# ------------------------------------------------------------------------------ resuming
@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_resume_mid_epoch_is_bit_identical(tmp_path, schedule):
    straight = build(schedule)
    straight.fit(3)

    def stop_in_epoch_2(trainer, loss):
        if trainer.epoch == 1 and trainer._partial["batches_done"] == 7:
            raise KeyboardInterrupt

    first = build(schedule, on_batch_end=stop_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        first.fit(3)
    assert first.interrupted == "batch" and first.epoch == 1
    path = tmp_path / "state.npz"
    tc.save(first.state_dict(), path)
    tc.manual_seed(123)  # whatever happens in between is overwritten by the state
    resumed = build(schedule)
    resumed.load_state_dict(tc.load(path))
    resumed.fit(3)
    assert_same_run(straight, resumed)


def test_resume_at_epoch_boundary_is_bit_identical(tmp_path):
    straight = build(None)
    straight.fit(3)
    saved = {}
    first = build(None, on_epoch_end=lambda t, r: saved.setdefault(r["epoch"], t.state_dict()))
    first.fit(2)
    tc.save(saved[2], tmp_path / "s.npz")
    resumed = build(None)
    resumed.load_state_dict(tc.load(tmp_path / "s.npz"))
    assert resumed.epoch == 2 and len(resumed.history) == 2
    resumed.fit(3)
    assert_same_run(straight, resumed)


def test_sigint_finishes_the_batch_then_raises(tmp_path):
    calls = []

    def ctrl_c(trainer, loss):
        calls.append(trainer._partial["batches_done"])
        if len(calls) == 5:
            os.kill(os.getpid(), signal.SIGINT)  # as a user's Ctrl-C

    before = signal.getsignal(signal.SIGINT)
    trainer = build(on_batch_end=ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(3)
    assert signal.getsignal(signal.SIGINT) is before  # handler restored
    assert trainer.interrupted == "batch" and trainer._partial["batches_done"] == 5
    tc.save(trainer.state_dict(), tmp_path / "c.npz")
    state = tc.load(tmp_path / "c.npz")
    assert state["epoch"] == 0 and state["partial"]["batches_done"] == 5
    resumed = build()
    resumed.load_state_dict(state)
    resumed.fit(3)
    straight = build()
    straight.fit(3)
    assert_same_run(straight, resumed)


def test_interrupt_inside_a_batch_is_marked():
    calls = []

    def loss_fn(out, y):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return nn.functional.cross_entropy(out, y)

    trainer = build(loss_fn=loss_fn)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(1)
    assert trainer.interrupted == "mid-batch"


# ------------------------------------------------------------------------------ pictures
def test_plots_write_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    from tinyconv import plots

    trainer = build()
    trainer.fit(2)
    x = next(iter(trainer.test_loader))[0].data[:1]
    cm = confusion_matrix(trainer.last_eval["targets"], trainer.last_eval["predictions"], 10)
    paths = plots.plot_run(tmp_path, trainer.history, trainer.model, x, cm,
                           [str(i) for i in range(10)])
    names = sorted(os.path.basename(p) for p in paths)
    assert names == ["confusion_matrix.png", "curves.png", "feature_maps.png", "filters.png"]
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(tmp_path)) == names  # no temporary files left
    # RGB filters and a model without conv layers
    plots.plot_filters(np.random.default_rng(0).normal(size=(16, 3, 3, 3)), tmp_path / "f.png")
    with pytest.raises(ValueError, match="has no conv layer"):
        plots.plot_feature_maps(nn.Linear(4, 2), np.zeros((1, 2, 2)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="must be \\(out, in, kH, kW\\)"):
        plots.plot_filters(np.zeros((3, 3)), tmp_path / "y.png")
