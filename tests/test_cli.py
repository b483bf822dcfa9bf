"""The command line, ``python -m tinyconv {train,evaluate,predict,summary,plots}``.

Each subcommand runs once as a real subprocess (``python -m tinyconv`` with PYTHONPATH pointing
at the tinyconv that the tests import, the source tree or the installed package); the resume and
interrupt tests call ``main()`` in-process, which is faster and lets them simulate Ctrl-C.
Runs are tiny: the embedded 8x8 digits, a few hundred images, 1-3 epochs.
"""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import tinyconv as tc
from tinyconv.__main__ import main

SHARED = os.environ.get("TINYCONV_DATA_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
HAVE_CIFAR = os.path.isdir(os.path.join(SHARED, "cifar10"))
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(tc.__file__)))
TINY = ["--limit-train", "160", "--limit-test", "48", "--threads", "1", "--no-progress"]


def run(*args, cwd):
    env = dict(os.environ, PYTHONPATH=PACKAGE_PARENT, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "tinyconv", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(autouse=True)
def restore_threads():
    before = tc.get_num_threads()
    yield
    tc.set_num_threads(before)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One real `train` subprocess with defaults (lenet5 on digits), shared by the tests."""
    folder = tmp_path_factory.mktemp("cli")
    r = run("train", "--epochs", "2", "--out", "run", "--no-plots", *TINY, cwd=folder)
    assert r.returncode == 0, r.stderr
    return folder, r


def test_train_writes_the_run_folder(trained_run):
    folder, r = trained_run
    out = folder / "run"
    assert "lenet5" in r.stdout and "digits" in r.stdout and "epoch 2/2" in r.stdout
    assert {"config.json", "metrics.csv", "metrics.json", "checkpoint.npz", "best.npz"} <= set(
        os.listdir(out))
    history = json.loads((out / "metrics.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert set(history[0]) == {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr",
                               "seconds", "images_per_second"}
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,train_loss,train_acc,test_loss,test_acc,lr") and len(rows) == 3
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"] == "lenet5" and cfg["dataset"] == "digits" and cfg["epochs"] == 2
    assert cfg["batch_size"] == 16 and cfg["schedule"] == "cosine" and cfg["limit_train"] == 160
    ck = tc.load(out / "checkpoint.npz")
    assert ck["epoch"] == 2 and ck["partial"] is None and len(ck["history"]) == 2
    assert {"model", "optimizer", "scheduler", "rng", "train_loader", "config"} <= set(ck)


def test_evaluate_subcommand(trained_run):
    folder, _ = trained_run
    r = run("evaluate", "--out", "run", "--threads", "1", cwd=folder)
    assert r.returncode == 0, r.stderr
    assert "accuracy" in r.stdout and "48 test images" in r.stdout
    history = json.loads((folder / "run" / "metrics.json").read_text())
    assert f"{history[-1]['test_acc']:.2%}" in r.stdout  # same number as the run's last epoch


def test_predict_subcommand(trained_run, tmp_path):
    folder, _ = trained_run
    digits = tc.data.Digits(train=False)
    np.save(tmp_path / "a.npy", digits.data[0])
    img = np.kron(digits.data[1, 0] / 16.0, np.ones((4, 4)))  # 32x32, dark on light as a PGM
    (tmp_path / "b.pgm").write_bytes(b"P5\n# a digit\n32 32\n255\n"
                                     + (255 * (1 - img)).astype(np.uint8).tobytes())
    r = run("predict", "--checkpoint", folder / "run" / "best.npz", tmp_path / "a.npy",
            "--raw", "--top", "3", cwd=folder)
    assert r.returncode == 0, r.stderr
    assert "a.npy: " in r.stdout and "probability" in r.stdout and "top 3" in r.stdout
    r = run("predict", "--out", "run", tmp_path / "b.pgm", cwd=folder)
    assert r.returncode == 0, r.stderr
    assert "b.pgm: " in r.stdout and "resized 32x32 to 8x8" in r.stdout and "inverted" in r.stdout
    r = run("predict", "--out", "run", tmp_path / "missing.png", cwd=folder)
    assert r.returncode == 2 and "missing.png does not exist" in r.stderr


def test_summary_subcommand(tmp_path):
    r = run("summary", "--model", "lenet5", "--dataset", "mnist", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "61,706" in r.stdout and "1x28x28" in r.stdout


def test_plots_subcommand(trained_run):
    pytest.importorskip("matplotlib")
    folder, _ = trained_run
    r = run("plots", "--out", "run", cwd=folder)
    assert r.returncode == 0, r.stderr
    for name in ("curves.png", "filters.png", "feature_maps.png", "confusion_matrix.png"):
        assert (folder / "run" / name).read_bytes()[:4] == b"\x89PNG"


def test_train_with_plots_in_process(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    rc = main(["train", "--epochs", "1", "--out", str(tmp_path / "p"), "--plots", *TINY])
    assert rc == 0
    assert "pictures: curves.png, filters.png, feature_maps.png, confusion_matrix.png" in \
        capsys.readouterr().out


# ------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("args, message", [
    (["--model", "lenet6"], "unknown model 'lenet6'; available: alexnet"),
    (["--dataset", "mnist2"], "unknown dataset 'mnist2'; choose one of mnist, fashion-mnist"),
    (["--dataset", "mnist", "--data-dir", "no/such/dir"], "add --download"),
])
def test_clear_errors_in_a_subprocess(tmp_path, args, message):
    r = run("train", *args, "--out", "x", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and message in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("args, message", [
    (["--model", "unet"], "unet is a segmentation model"),
    (["--optimizer", "lbfgs"], "unknown optimizer 'lbfgs'; choose one of sgd, adam, adamw"),
    (["--schedule", "cyclic"], "unknown schedule 'cyclic'; choose one of constant, step"),
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--optimizer", "adam", "--momentum", "0.9"], "--momentum does not apply to adam"),
    (["--schedule", "warmup-cosine", "--warmup-epochs", "3", "--epochs", "3"],
     "--warmup-epochs 3 must be at least 1 and less than --epochs 3"),
])
def test_clear_errors(tmp_path, capsys, args, message):
    assert main(["train", *args, "--out", str(tmp_path / "x"), *TINY]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_corrupt_data_file(tmp_path, capsys):
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    assert main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "data"),
                 "--out", str(tmp_path / "x")]) == 2
    assert "truncated or corrupt" in capsys.readouterr().err


def test_evaluate_errors(tmp_path, capsys):
    assert main(["evaluate"]) == 2
    assert "give --checkpoint FILE or --out RUN_FOLDER" in capsys.readouterr().err
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    assert main(["evaluate", "--checkpoint", str(tmp_path / "x.npz")]) == 2
    assert "not a tinyconv checkpoint" in capsys.readouterr().err
    tc.save({"a": 1}, tmp_path / "y.npz")
    assert main(["evaluate", "--checkpoint", str(tmp_path / "y.npz")]) == 2
    assert "not a training checkpoint" in capsys.readouterr().err


def test_existing_run_needs_resume_or_overwrite(tmp_path, capsys):
    out = str(tmp_path / "r")
    assert main(["train", "--epochs", "1", "--out", out, "--no-plots", *TINY]) == 0
    assert main(["train", "--epochs", "1", "--out", out, "--no-plots", *TINY]) == 2
    assert "pass --resume to continue it, --overwrite" in capsys.readouterr().err
    assert main(["train", "--epochs", "2", "--out", out, "--resume", "--lr", "0.2",
                 "--no-plots", *TINY]) == 2
    assert "--lr 0.2 (the run has 0.05)" in capsys.readouterr().err
    assert main(["train", "--epochs", "1", "--out", out, "--overwrite", "--no-plots",
                 *TINY]) == 0


# ------------------------------------------------------------------------------ resuming
def _final(out):
    ck = tc.load(os.path.join(out, "checkpoint.npz"))
    strip = [{k: v for k, v in r.items() if k not in ("seconds", "images_per_second")}
             for r in ck["history"]]
    return ck["model"], strip, ck


def _assert_same(a, b):
    (wa, ha, _), (wb, hb, _) = _final(a), _final(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)
    assert ha == hb


@pytest.mark.parametrize("schedule", [["--schedule", "constant"],
                                      ["--schedule", "step", "--step-size", "1"]])
def test_resume_with_more_epochs_is_bit_identical(tmp_path, schedule):
    common = ["--no-plots", *TINY, *schedule]
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert main(["train", "--epochs", "3", "--out", a, *common]) == 0
    assert main(["train", "--epochs", "2", "--out", b, *common]) == 0
    assert main(["train", "--epochs", "3", "--out", b, "--resume", "--no-plots",
                 "--no-progress"]) == 0
    _assert_same(a, b)


def test_ctrl_c_saves_mid_epoch_and_resume_is_bit_identical(tmp_path, monkeypatch, capsys):
    """SIGINT during epoch 2: exit code 130, a checkpoint at that batch, exact continuation."""
    from tinyconv.train import Trainer

    common = ["--epochs", "3", "--no-plots", "--schedule", "onecycle", *TINY]
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert main(["train", "--out", a, *common]) == 0

    step = Trainer._train_step
    calls = []

    def step_then_ctrl_c(self, batch, part):
        loss = step(self, batch, part)
        calls.append(1)
        if len(calls) == 14:  # 10 batches per epoch: batch 4 of epoch 2
            os.kill(os.getpid(), signal.SIGINT)
        return loss

    monkeypatch.setattr(Trainer, "_train_step", step_then_ctrl_c)
    assert main(["train", "--out", b, *common]) == 130
    err = capsys.readouterr().err
    assert "epoch 2 after batch 4" in err and f"python -m tinyconv train --out {b} --resume" in err
    ck = tc.load(os.path.join(b, "checkpoint.npz"))
    assert ck["epoch"] == 1 and ck["partial"]["batches_done"] == 4
    monkeypatch.setattr(Trainer, "_train_step", step)
    assert main(["train", "--out", b, "--resume", "--no-plots", "--no-progress"]) == 0
    _assert_same(a, b)


def test_interrupt_inside_a_batch_keeps_last_epoch_checkpoint(tmp_path, monkeypatch, capsys):
    from tinyconv.nn import CrossEntropyLoss

    forward = CrossEntropyLoss.forward
    calls = []

    def boom(self, *args):
        calls.append(1)
        if len(calls) == 15:  # epoch 2 (10 training batches and 1 test batch per epoch)
            raise KeyboardInterrupt
        return forward(self, *args)

    monkeypatch.setattr(CrossEntropyLoss, "forward", boom)
    out = str(tmp_path / "r")
    assert main(["train", "--epochs", "3", "--out", out, "--no-plots", *TINY]) == 130
    assert "kept the checkpoint of epoch 1" in capsys.readouterr().err
    ck = tc.load(os.path.join(out, "checkpoint.npz"))
    assert ck["epoch"] == 1 and ck["partial"] is None
    monkeypatch.setattr(CrossEntropyLoss, "forward", forward)
    assert main(["train", "--epochs", "2", "--out", out, "--resume", "--no-plots",
                 "--no-progress"]) == 0
    assert tc.load(os.path.join(out, "checkpoint.npz"))["epoch"] == 2


def test_resume_replans_an_epoch_dependent_schedule(tmp_path, capsys):
    out = str(tmp_path / "r")
    assert main(["train", "--epochs", "1", "--out", out, "--no-plots", *TINY]) == 0
    assert main(["train", "--epochs", "2", "--out", out, "--resume", "--no-plots",
                 "--no-progress"]) == 0
    assert "the remaining steps follow the new plan" in capsys.readouterr().out
    _, history, ck = _final(out)
    assert [h["lr"] for h in history] == [0.05, 0.025]  # cosine over 2 epochs from epoch 2 on
    assert ck["schedule"]["T_max"] == 2


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "rmsprop", "adagrad", "adadelta", "ftrl"])
def test_every_optimizer_trains(tmp_path, optimizer):
    assert main(["train", "--epochs", "1", "--optimizer", optimizer, "--out",
                 str(tmp_path / optimizer), "--no-plots", "--schedule", "plateau", *TINY]) == 0


@pytest.mark.parametrize("schedule", ["multistep", "exponential", "polynomial", "linear-warmup",
                                      "warmup-cosine"])
def test_every_schedule_trains(tmp_path, schedule):
    assert main(["train", "--epochs", "2", "--schedule", schedule, "--out",
                 str(tmp_path / schedule), "--no-plots", *TINY]) == 0


@pytest.mark.skipif(not HAVE_CIFAR, reason=f"CIFAR-10 files not in {SHARED} (set "
                    "TINYCONV_DATA_DIR to a folder holding cifar10/)")
def test_cifar10_resnet20_with_augmentation(tmp_path):
    out = str(tmp_path / "c")
    assert main(["train", "--model", "resnet20", "--dataset", "cifar10", "--data-dir", SHARED,
                 "--epochs", "1", "--batch-size", "32", "--limit-train", "64", "--limit-test",
                 "32", "--threads", "1", "--no-plots", "--no-progress", "--out", out]) == 0
    with open(os.path.join(out, "config.json")) as f:
        cfg = json.load(f)
    assert cfg["augment"] is True and cfg["dataset"] == "cifar10" and cfg["model"] == "resnet20"
