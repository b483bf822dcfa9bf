"""Command line: ``python -m tinyconv {train,evaluate,predict,summary,plots} ...``.

``python -m tinyconv train`` with no arguments trains LeNet-5 on the 8x8 digits embedded in the
package (offline, about ten seconds); ``--dataset mnist --data-dir DIR`` and the other options
are described by ``python -m tinyconv train --help``. A run folder (``--out``) receives
``config.json``, ``metrics.csv``, ``metrics.json``, ``checkpoint.npz`` (everything needed to
resume, written atomically after every epoch), ``best.npz`` (the weights with the best test
accuracy) and, when matplotlib is installed, the pictures of :mod:`tinyconv.plots`.

Exit codes: 0 success, 2 a usage or data error (a one-line message on stderr), 130 interrupted
by Ctrl-C (after saving a checkpoint that ``--resume`` continues).
"""

import argparse
import csv
import json
import math
import os
import sys
import time
import warnings

import numpy as np

import tinyconv as tc

from . import plots
from .data import DataLoader, Subset, default_data_dir, default_transforms, get_dataset
from .data.registry import DATASETS, _canonical
from .optim import lr_scheduler as lrs
from .train import Trainer, confusion_matrix, evaluate

# Static facts about the datasets, so that `summary` and model building need no files.
DATASET_SHAPES = {"mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32),
                  "digits": (1, 8, 8)}
# Stored pixel range of each dataset (what the default transforms expect as input).
RAW_MAX = {"mnist": 255.0, "fashion-mnist": 255.0, "cifar10": 255.0, "digits": 16.0}

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "ftrl")
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "adagrad": 1e-2,
              "adadelta": 1.0, "ftrl": 0.1}
SCHEDULES = ("constant", "step", "multistep", "exponential", "polynomial", "cosine", "onecycle",
             "linear-warmup", "warmup-cosine", "plateau")

# Defaults of `train`, applied after parsing (argparse gets None) so that a resumed run can tell
# the options given on the command line from the ones left out.
TRAIN_DEFAULTS = {
    "model": "lenet5", "dataset": "digits", "data_dir": None, "download": False,
    "epochs": 10, "batch_size": None, "optimizer": "sgd", "lr": None, "momentum": None,
    "nesterov": False, "weight_decay": 0.0, "label_smoothing": 0.0, "schedule": "cosine",
    "step_size": None, "milestones": None, "gamma": None, "min_lr": 0.0, "power": 1.0,
    "warmup_epochs": 1, "patience": 2, "threads": None, "seed": 0, "limit_train": None,
    "limit_test": None, "augment": True, "eval_batch_size": 256,
}
# Options a resumed run may change; every other one must match the checkpoint.
RESUME_MAY_CHANGE = ("epochs", "data_dir", "download", "threads", "eval_batch_size")
# The 1,437 embedded digits: small batches give enough steps per epoch.
DEFAULT_BATCH_SIZE = {"digits": 16}

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """A user error: printed as one message, exit code 2."""


# ----------------------------------------------------------------------------- building blocks
def dataset_key(name):
    try:
        return _canonical(name, "--dataset")
    except ValueError as e:
        raise CLIError(str(e)) from None


def model_kwargs(dataset):
    c, h, w = DATASET_SHAPES[dataset]
    return {"num_classes": 10, "in_channels": c, "input_size": h if h == w else (h, w)}


def build_model(name, dataset):
    """The model ``name`` sized for ``dataset`` (classes, channels, image size)."""
    if name.lower() not in tc.models.list_models():
        raise CLIError(f"--model: unknown model {name!r}; available: "
                       f"{', '.join(tc.models.list_models('classification'))}")
    if name.lower() not in tc.models.list_models("classification"):
        raise CLIError(f"--model: {name} is a segmentation model (per-pixel output); train "
                       f"classifies whole images: choose one of "
                       f"{', '.join(tc.models.list_models('classification'))}")
    kwargs = model_kwargs(dataset)
    try:
        return tc.models.get_model(name, **kwargs)
    except ValueError as e:
        c, h, w = DATASET_SHAPES[dataset]
        raise CLIError(f"--model {name} cannot take {dataset}'s {c}x{h}x{w} images: {e}") \
            from None


def load_split(dataset, data_dir, train, download, limit=None):
    """One split of a dataset, with the command line's advice when the files are missing."""
    try:
        ds = get_dataset(dataset, data_dir, train=train, download=download)
    except FileNotFoundError as e:
        where = os.path.abspath(data_dir if data_dir is not None else default_data_dir())
        sub = DATASETS[dataset][1]
        msg = str(e).replace("pass download=True", "add --download to fetch them")
        raise CLIError(
            f"{msg}\n  --data-dir is a folder holding {sub}/ (or the files themselves); it was "
            f"{where}"
            + (" (the default: $TINYCONV_DATA_DIR, else ~/.cache/tinyconv/data)"
               if data_dir is None else "")
            + ". '--dataset digits' is embedded in tinyconv and needs no files.") from None
    except OSError as e:  # DownloadError and unreadable files
        raise CLIError(str(e)) from None
    if limit is not None:
        if limit < 1:
            raise CLIError(f"--limit-{'train' if train else 'test'} must be at least 1, got "
                           f"{limit}")
        full = ds
        ds = Subset(ds, np.arange(min(limit, len(ds))))
        ds.classes = getattr(full, "classes", None)
    return ds


def transforms_for(dataset, train, augment=True):
    return default_transforms(dataset, train=train and augment)


def make_optimizer(name, params, lr, momentum, weight_decay, nesterov=False):
    name = name.lower()
    if name not in OPTIMIZERS:
        raise CLIError(f"--optimizer: unknown optimizer {name!r}; choose one of "
                       f"{', '.join(OPTIMIZERS)}")
    optim = tc.optim
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                         nesterov=nesterov)
    if nesterov:
        raise CLIError(f"--nesterov applies to sgd only, not to {name}")
    if name in ("adam", "adamw"):
        if momentum not in (None, 0.0):
            raise CLIError(f"--momentum does not apply to {name} (its betas are (0.9, 0.999))")
        cls = optim.Adam if name == "adam" else optim.AdamW
        return cls(params, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=momentum or 0.0, weight_decay=weight_decay)
    if momentum not in (None, 0.0):
        raise CLIError(f"--momentum does not apply to {name}")
    if name == "adagrad":
        return optim.Adagrad(params, lr=lr, weight_decay=weight_decay)
    if name == "adadelta":
        return optim.Adadelta(params, lr=lr, weight_decay=weight_decay)
    # FTRL's L2 strength plays the part of weight decay.
    return optim.Ftrl(params, lr=lr, l2_regularization_strength=weight_decay)


def make_scheduler(cfg, optimizer, steps_per_epoch):
    """The schedule of ``cfg`` as (scheduler or None, interval, spec).

    ``spec`` is the schedule's name and resolved parameters (a plain dict): a resumed run
    compares it with the saved one to see whether the saved scheduler state still applies.
    """
    name, epochs = cfg["schedule"], cfg["epochs"]
    gamma = cfg["gamma"]
    nb = steps_per_epoch
    if name == "constant":
        return None, None, {"name": name}
    if name == "step":
        spec = {"name": name, "step_size": cfg["step_size"] or max(1, epochs // 3),
                "gamma": 0.1 if gamma is None else gamma}
        return lrs.StepLR(optimizer, spec["step_size"], spec["gamma"]), "epoch", spec
    if name == "multistep":
        ms = cfg["milestones"] or sorted({max(1, epochs // 2), max(1, (3 * epochs) // 4)})
        spec = {"name": name, "milestones": list(ms), "gamma": 0.1 if gamma is None else gamma}
        return lrs.MultiStepLR(optimizer, spec["milestones"], spec["gamma"]), "epoch", spec
    if name == "exponential":
        spec = {"name": name, "gamma": 0.9 if gamma is None else gamma}
        return lrs.ExponentialLR(optimizer, spec["gamma"]), "epoch", spec
    if name == "polynomial":
        spec = {"name": name, "total_iters": epochs, "power": cfg["power"]}
        return lrs.PolynomialLR(optimizer, epochs, cfg["power"]), "epoch", spec
    if name == "cosine":
        spec = {"name": name, "T_max": epochs, "eta_min": cfg["min_lr"]}
        return lrs.CosineAnnealingLR(optimizer, epochs, cfg["min_lr"]), "epoch", spec
    if name == "plateau":
        spec = {"name": name, "factor": 0.1 if gamma is None else gamma,
                "patience": cfg["patience"], "min_lr": cfg["min_lr"]}
        return (lrs.ReduceLROnPlateau(optimizer, factor=spec["factor"],
                                      patience=spec["patience"], min_lr=cfg["min_lr"]),
                "epoch", spec)
    if name == "onecycle":
        group = optimizer.param_groups[0]
        cycle = group.get("momentum", 0) > 0 or "betas" in group
        spec = {"name": name, "max_lr": cfg["lr"], "total_steps": epochs * nb,
                "cycle_momentum": bool(cycle)}
        return (lrs.OneCycleLR(optimizer, cfg["lr"], total_steps=epochs * nb,
                               cycle_momentum=cycle), "batch", spec)
    # linear-warmup / warmup-cosine: per batch, so that the warm-up is smooth.
    warm = cfg["warmup_epochs"] * nb
    rest = epochs * nb - warm
    if warm < 1 or rest < 1:
        raise CLIError(f"--schedule {name}: --warmup-epochs {cfg['warmup_epochs']} must be at "
                       f"least 1 and less than --epochs {epochs}")
    warmup = lrs.LinearLR(optimizer, start_factor=1.0 / warm, end_factor=1.0, total_iters=warm)
    if name == "linear-warmup":
        after = lrs.ConstantLR(optimizer, factor=1.0, total_iters=1)
    else:
        after = lrs.CosineAnnealingLR(optimizer, rest, cfg["min_lr"])
    spec = {"name": name, "warmup_steps": warm, "steps": epochs * nb, "eta_min": cfg["min_lr"]}
    return lrs.SequentialLR(optimizer, [warmup, after], milestones=[warm]), "batch", spec


def _replan(trainer, cfg, steps_per_epoch, state, interval):
    """Load ``state`` but keep the freshly built schedule, fast-forwarded to where the run is.

    Used when a resumed run changes the number of epochs of a schedule that depends on it
    (cosine, polynomial, one-cycle, ...): the remaining epochs follow the new plan.
    """
    steps = int(state["epoch"])
    part = state.get("partial")
    if interval == "batch":
        steps = steps * steps_per_epoch + (int(part["batches_done"]) if part else 0)
    opt = trainer.optimizer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(steps):
            trainer.scheduler.step()
    planned = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    trainer.load_state_dict(state, load_scheduler=False)
    for g, p in zip(opt.param_groups, planned):
        g.update(p)


# ----------------------------------------------------------------------------- run folder files
def _write_text_atomic(path, text):
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _json_safe(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if isinstance(v, np.generic):
        return _json_safe(v.item())
    return v


METRIC_FIELDS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds",
                 "images_per_second")


def write_metrics(folder, history):
    """``metrics.json`` (a list of records) and ``metrics.csv`` (one row per epoch)."""
    _write_text_atomic(os.path.join(folder, "metrics.json"),
                       json.dumps(_json_safe(history), indent=1) + "\n")
    tmp = os.path.join(folder, "metrics.csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=METRIC_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in history:
            w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    os.replace(tmp, os.path.join(folder, "metrics.csv"))


def read_checkpoint(path, what="--checkpoint"):
    try:
        ck = tc.load(path)
    except FileNotFoundError:
        raise CLIError(f"{what}: {path} does not exist") from None
    except ValueError as e:
        raise CLIError(f"{what}: {e}") from None
    if not isinstance(ck, dict) or "model" not in ck or not isinstance(ck.get("config"), dict):
        raise CLIError(f"{what}: {path} is a tinyconv file but not a training checkpoint (no "
                       f"model weights and config); it was not written by "
                       f"'python -m tinyconv train'")
    return ck


def checkpoint_path(args, what):
    """The checkpoint named by ``--checkpoint FILE`` or ``--out DIR`` (its checkpoint.npz)."""
    if getattr(args, "checkpoint", None):
        p = args.checkpoint
        return os.path.join(p, "checkpoint.npz") if os.path.isdir(p) else p
    if getattr(args, "out", None):
        return os.path.join(args.out, "checkpoint.npz")
    raise CLIError(f"{what}: give --checkpoint FILE or --out RUN_FOLDER")


def model_from_checkpoint(ck, path):
    cfg = ck["config"]
    model = build_model(cfg["model"], cfg["dataset"])
    try:
        model.load_state_dict(ck["model"])
    except ValueError as e:
        raise CLIError(f"{path}: the weights do not fit {cfg['model']}: {e}") from None
    model.eval()
    return model, cfg


# ----------------------------------------------------------------------------- train
def _resolve_config(args):
    given = {k: v for k, v in vars(args).items() if k in TRAIN_DEFAULTS and v is not None}
    cfg = dict(TRAIN_DEFAULTS)
    cfg.update(given)
    return cfg, given


def _finish_config(cfg):
    cfg["dataset"] = dataset_key(cfg["dataset"])
    cfg["model"] = cfg["model"].lower()
    cfg["optimizer"] = cfg["optimizer"].lower()
    if cfg["optimizer"] not in OPTIMIZERS:
        raise CLIError(f"--optimizer: unknown optimizer {cfg['optimizer']!r}; choose one of "
                       f"{', '.join(OPTIMIZERS)}")
    if cfg["schedule"] not in SCHEDULES:
        raise CLIError(f"--schedule: unknown schedule {cfg['schedule']!r}; choose one of "
                       f"{', '.join(SCHEDULES)}")
    if cfg["batch_size"] is None:
        cfg["batch_size"] = DEFAULT_BATCH_SIZE.get(cfg["dataset"], 64)
    if cfg["lr"] is None:
        cfg["lr"] = DEFAULT_LR[cfg["optimizer"]]
    if cfg["momentum"] is None:
        cfg["momentum"] = 0.9 if cfg["optimizer"] == "sgd" else 0.0
    for key in ("epochs", "batch_size", "eval_batch_size"):
        if cfg[key] < 1:
            raise CLIError(f"--{key.replace('_', '-')} must be at least 1, got {cfg[key]}")
    if cfg["lr"] <= 0 or not math.isfinite(cfg["lr"]):
        raise CLIError(f"--lr must be a positive number, got {cfg['lr']}")
    if cfg["data_dir"] is not None:
        cfg["data_dir"] = os.path.abspath(cfg["data_dir"])
    return cfg


def _default_out(cfg):
    base = os.path.join("runs", f"{cfg['model']}-{cfg['dataset']}")
    out, k = base, 1
    while os.path.exists(os.path.join(out, "checkpoint.npz")):
        k += 1
        out = f"{base}-{k}"
    return out


def _merge_resume(saved, given):
    cfg = dict(TRAIN_DEFAULTS)
    cfg.update(saved)
    conflicts = []
    for k, v in given.items():
        if k in RESUME_MAY_CHANGE:
            cfg[k] = v
            continue
        old = saved.get(k, TRAIN_DEFAULTS.get(k))
        if k == "dataset":
            v = dataset_key(v)
        if k in ("model", "optimizer"):
            v = v.lower()
        if v != old:
            conflicts.append(f"--{k.replace('_', '-')} {v} (the run has {old})")
    if conflicts:
        raise CLIError("--resume continues a run with its saved configuration, but "
                       + "; ".join(conflicts) + ". Drop these options, or start a new run in "
                       "another --out folder (or with --overwrite)")
    return cfg


def cmd_train(args):
    cfg, given = _resolve_config(args)
    out = args.out
    if out is None:
        out = _default_out(_finish_config(dict(cfg))) if not args.resume else None
        if out is None:
            raise CLIError("--resume needs --out RUN_FOLDER (the folder of the run to continue)")
    ck_path = os.path.join(out, "checkpoint.npz")
    saved = None
    if os.path.exists(ck_path):
        if args.resume:
            saved = read_checkpoint(ck_path, "--resume")
            if "optimizer" not in saved or "epoch" not in saved:
                raise CLIError(f"--resume: {ck_path} holds weights but no training state")
        elif not args.overwrite:
            raise CLIError(f"{out} already holds a run (checkpoint.npz); pass --resume to "
                           f"continue it, --overwrite to start again there, or choose another "
                           f"--out")
    elif args.resume:
        print(f"note: no checkpoint in {out}: starting a new run there")
    if saved is not None:
        cfg = _merge_resume(saved["config"], given)
    cfg = _finish_config(cfg)
    cfg["out"] = os.path.abspath(out)

    if cfg["threads"] is not None:
        if cfg["threads"] < 1:
            raise CLIError(f"--threads must be at least 1, got {cfg['threads']}")
        tc.set_num_threads(cfg["threads"])
    tc.manual_seed(cfg["seed"])
    train_ds = load_split(cfg["dataset"], cfg["data_dir"], True, cfg["download"],
                          cfg["limit_train"])
    test_ds = load_split(cfg["dataset"], cfg["data_dir"], False, cfg["download"],
                         cfg["limit_test"])
    model = build_model(cfg["model"], cfg["dataset"])
    optimizer = make_optimizer(cfg["optimizer"], model.parameters(), cfg["lr"], cfg["momentum"],
                               cfg["weight_decay"], cfg["nesterov"])
    train_loader = DataLoader(train_ds, cfg["batch_size"], shuffle=True,
                              generator=np.random.default_rng(cfg["seed"]),
                              transform=transforms_for(cfg["dataset"], True, cfg["augment"]))
    test_loader = DataLoader(test_ds, cfg["eval_batch_size"],
                             transform=transforms_for(cfg["dataset"], False))
    nb = len(train_loader)
    scheduler, interval, spec = make_scheduler(cfg, optimizer, nb)
    loss_fn = tc.nn.CrossEntropyLoss(label_smoothing=cfg["label_smoothing"])
    os.makedirs(out, exist_ok=True)  # only now: a run that cannot start leaves no folder

    plots_on = args.plots if args.plots is not None else plots.available()
    if args.plots and not plots.available():
        print("note: --plots needs matplotlib (pip install matplotlib); no pictures this time")
        plots_on = False
    best = {"test_acc": -1.0, "epoch": 0}
    if saved is not None and isinstance(saved.get("best"), dict):
        best = {"test_acc": float(saved["best"]["test_acc"]),
                "epoch": int(saved["best"]["epoch"])}
    info = {"classes": list(getattr(train_ds, "classes", None) or range(10)),
            "train_size": len(train_ds), "test_size": len(test_ds), "steps_per_epoch": nb,
            "parameters": int(sum(p.data.size for p in model.parameters())),
            "threads_used": tc.get_num_threads(), "tinyconv_version": tc.__version__}

    def checkpoint(trainer):
        state = trainer.state_dict()
        state.update(config=cfg, schedule=spec, best=dict(best), info=info)
        tc.save(state, ck_path)

    def on_epoch_end(trainer, record):
        write_metrics(out, trainer.history)
        if record["test_acc"] > best["test_acc"]:
            best.update(test_acc=float(record["test_acc"]), epoch=int(record["epoch"]))
            tc.save({"model": trainer.model.state_dict(), "config": cfg, "epoch": record["epoch"],
                     "test_acc": record["test_acc"], "info": info},
                    os.path.join(out, "best.npz"))
        checkpoint(trainer)
        if plots_on:
            plots.plot_curves(trainer.history, os.path.join(out, "curves.png"))

    trainer = Trainer(model, optimizer, train_loader, test_loader, loss_fn=loss_fn,
                      scheduler=scheduler, scheduler_interval=interval,
                      on_epoch_end=on_epoch_end, progress=not args.no_progress)
    if saved is not None:
        same_plan = saved.get("schedule") == spec
        if same_plan:
            trainer.load_state_dict(saved)
        else:
            _replan(trainer, cfg, nb, saved, interval)
            print(f"note: the {cfg['schedule']} schedule was planned as {saved.get('schedule')}; "
                  f"the remaining steps follow the new plan {spec}")
    _write_text_atomic(os.path.join(out, "config.json"),
                       json.dumps(_json_safe({**cfg, **info}), indent=1) + "\n")

    _print_header(cfg, info, trainer, saved, out)
    t0 = time.perf_counter()
    try:
        trainer.fit(cfg["epochs"])
    except KeyboardInterrupt:
        return _interrupted(trainer, checkpoint, ck_path, out)
    except FloatingPointError as e:
        raise CLIError(str(e)) from None
    elapsed = time.perf_counter() - t0
    if trainer.history:
        h = trainer.history[-1]
        print(f"done: test accuracy {h['test_acc']:.2%} after {h['epoch']} "
              f"epoch{'s' if h['epoch'] != 1 else ''} "
              f"(best {best['test_acc']:.2%} at epoch {best['epoch']}); "
              f"{elapsed / 60:.1f} min this session; files in {out}")
    if plots_on and trainer.history:
        paths = draw_pictures(out, trainer.history, model, test_ds, cfg, trainer.last_eval)
        print(f"pictures: {', '.join(os.path.basename(p) for p in paths)}")
    elif not plots_on and args.plots is None:
        print("note: matplotlib is not installed: no pictures (pip install matplotlib, then "
              f"python -m tinyconv plots --out {out})")
    return 0


def _print_header(cfg, info, trainer, saved, out):
    mom = f" momentum {cfg['momentum']}" if cfg["momentum"] else ""
    wd = f" weight decay {cfg['weight_decay']}" if cfg["weight_decay"] else ""
    print(f"tinyconv {tc.__version__}: {cfg['model']} ({info['parameters']:,} parameters) on "
          f"{cfg['dataset']}: {info['train_size']:,} train / {info['test_size']:,} test images"
          f"{'' if cfg['augment'] else ', no augmentation'}; batch {cfg['batch_size']}, "
          f"{cfg['optimizer']} lr {cfg['lr']}{mom}{wd}, {cfg['schedule']} schedule, "
          f"{cfg['epochs']} epoch{'s' if cfg['epochs'] != 1 else ''}, {tc.get_num_threads()} "
          f"thread{'s' if tc.get_num_threads() != 1 else ''}; run folder {out}")
    if saved is not None:
        part = saved.get("partial")
        where = (f"epoch {trainer.epoch + 1}, batch {int(part['batches_done']) + 1}" if part
                 else f"epoch {trainer.epoch + 1}")
        print(f"resuming from {os.path.join(out, 'checkpoint.npz')} at {where}")


def _interrupted(trainer, checkpoint, ck_path, out):
    resume = f"python -m tinyconv train --out {out} --resume"
    if trainer.interrupted == "batch":
        checkpoint(trainer)
        part = trainer._partial
        where = (f"epoch {trainer.epoch + 1} after batch {part['batches_done']}" if part
                 else f"the end of epoch {trainer.epoch}")
        print(f"\ninterrupted: saved the state at {where} in {ck_path}\n"
              f"resume with: {resume}", file=sys.stderr)
    elif os.path.exists(ck_path):
        print(f"\ninterrupted inside a batch: kept the checkpoint of epoch {trainer.epoch} in "
              f"{ck_path}\nresume with: {resume}", file=sys.stderr)
    else:
        print("\ninterrupted inside the first epoch's batch: no checkpoint was written",
              file=sys.stderr)
    return EXIT_INTERRUPTED


def draw_pictures(out, history, model, test_ds, cfg, ev=None):
    """All pictures of a run into ``out``; ``ev`` is an evaluation with predictions."""
    image = None
    cm = None
    if test_ds is not None and len(test_ds):
        tf = transforms_for(cfg["dataset"], False)
        from .data.dataset import gather
        image = tf(gather(test_ds, np.arange(1))[0])
        if ev is not None and "predictions" in ev:
            cm = confusion_matrix(ev["targets"], ev["predictions"], 10)
    classes = getattr(test_ds, "classes", None)
    return plots.plot_run(out, history, model, image, cm, classes)


# ----------------------------------------------------------------------------- evaluate
def _test_split_for(cfg, args):
    data_dir = args.data_dir if args.data_dir is not None else cfg.get("data_dir")
    limit = args.limit_test if args.limit_test is not None else cfg.get("limit_test")
    return load_split(cfg["dataset"], data_dir, False, args.download, limit)


def cmd_evaluate(args):
    path = checkpoint_path(args, "evaluate")
    ck = read_checkpoint(path)
    model, cfg = model_from_checkpoint(ck, path)
    if args.threads is not None:
        tc.set_num_threads(args.threads)
    test_ds = _test_split_for(cfg, args)
    loader = DataLoader(test_ds, args.batch_size, transform=transforms_for(cfg["dataset"], False))
    t0 = time.perf_counter()
    ev = evaluate(model, loader, return_predictions=True)
    secs = time.perf_counter() - t0
    cm = confusion_matrix(ev["targets"], ev["predictions"], 10)
    classes = getattr(test_ds, "classes", None) or [str(i) for i in range(10)]
    print(f"{cfg['model']} on {cfg['dataset']} ({ev['n']:,} test images), weights from {path}"
          + (f" (epoch {ck['epoch']})" if "epoch" in ck else ""))
    print(f"test loss {ev['loss']:.4f}  accuracy {ev['acc']:.2%}  ({secs:.1f} s, "
          f"{ev['n'] / secs:,.0f} img/s)")
    per_class = np.diag(cm) / np.maximum(cm.sum(axis=1), 1)
    print("per class: " + ", ".join(f"{c} {a:.1%}" for c, a in zip(classes, per_class)))
    return 0


# ----------------------------------------------------------------------------- predict
def _read_pnm(path):
    """PGM/PPM (P2, P3, P5, P6) as float (H, W) or (H, W, 3) in [0, 1]."""
    with open(path, "rb") as f:
        data = f.read()
    tokens, pos = [], 0
    while len(tokens) < 4:
        while pos < len(data) and data[pos:pos + 1].isspace():
            pos += 1
        if pos < len(data) and data[pos:pos + 1] == b"#":
            while pos < len(data) and data[pos:pos + 1] not in (b"\n", b"\r"):
                pos += 1
            continue
        start = pos
        while pos < len(data) and not data[pos:pos + 1].isspace() and data[pos:pos + 1] != b"#":
            pos += 1
        if start == pos:
            raise ValueError(f"{path}: the PGM/PPM header ends early (truncated file)")
        tokens.append(data[start:pos])
    magic = tokens[0]
    if magic not in (b"P2", b"P3", b"P5", b"P6"):
        raise ValueError(f"{path}: not a PGM/PPM file (starts with {data[:2]!r})")
    try:
        w, h, maxval = (int(t) for t in tokens[1:])
    except ValueError:
        raise ValueError(f"{path}: bad PGM/PPM header {b' '.join(tokens)!r}") from None
    if w < 1 or h < 1 or not 0 < maxval < 65536:
        raise ValueError(f"{path}: bad PGM/PPM size {w}x{h} or maximum {maxval}")
    c = 3 if magic in (b"P3", b"P6") else 1
    n = w * h * c
    if magic in (b"P5", b"P6"):
        dt = np.dtype(">u2") if maxval > 255 else np.dtype(np.uint8)
        raw = data[pos + 1:]
        if len(raw) < n * dt.itemsize:
            raise ValueError(f"{path}: {len(raw)} bytes of pixels, {n * dt.itemsize} needed "
                             f"for {w}x{h}: truncated file")
        a = np.frombuffer(raw, dtype=dt, count=n)
    else:
        try:
            a = np.array(data[pos:].split()[:n], dtype=np.int64)
        except ValueError:
            raise ValueError(f"{path}: bad pixel values in an ASCII PGM/PPM") from None
        if a.size < n:
            raise ValueError(f"{path}: {a.size} pixel values, {n} needed: truncated file")
    a = a.astype(np.float64) / maxval
    return a.reshape(h, w, 3) if c == 3 else a.reshape(h, w)


def _read_png(path):
    try:
        from PIL import Image
    except ImportError:
        Image = None
    if Image is not None:
        try:
            with Image.open(path) as im:
                im = im.convert("RGBA" if im.mode in ("RGBA", "LA", "P") else "RGB")
                a = np.asarray(im, dtype=np.float64) / 255.0
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: cannot read the image: {e}") from None
    else:
        try:
            import matplotlib.image as mpimg
        except ImportError:
            raise CLIError(f"{path}: reading PNG/JPEG files needs Pillow or matplotlib (pip "
                           f"install pillow); .npy arrays and .pgm/.ppm images work without "
                           f"them") from None
        try:
            a = np.asarray(mpimg.imread(path), dtype=np.float64)
        except (OSError, ValueError, SyntaxError) as e:
            raise ValueError(f"{path}: cannot read the image: {e}") from None
        if a.max(initial=0) > 1:
            a = a / 255.0
    if a.ndim == 3 and a.shape[2] == 4:  # composite on white, as a viewer shows it
        a = a[..., :3] * a[..., 3:] + (1 - a[..., 3:])
    return a


def _to_chw(a, path):
    a = np.asarray(a)
    if a.ndim == 2:
        return a[None]
    if a.ndim == 3:
        if a.shape[0] in (1, 3) and a.shape[2] not in (1, 3):
            return a
        if a.shape[2] in (1, 3):
            return a.transpose(2, 0, 1)
        if a.shape[0] in (1, 3):
            return a
    raise ValueError(f"{path}: expected an image (H, W), (C, H, W) or (H, W, C) with 1 or 3 "
                     f"channels, got shape {a.shape}")


def _box_matrix(n_in, n_out):
    """(n_out, n_in) weights averaging the input interval each output pixel covers."""
    edges = np.linspace(0, n_in, n_out + 1)
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        lo, hi = edges[i], edges[i + 1]
        for j in range(math.floor(lo), min(math.ceil(hi), n_in)):
            m[i, j] = min(hi, j + 1) - max(lo, j)
        m[i] /= m[i].sum()
    return m


def resize(chw, size):
    """Area-average (box filter) resize of (C, H, W) to (C, size[0], size[1])."""
    h, w = chw.shape[1:]
    if (h, w) == tuple(size):
        return chw
    rh, rw = _box_matrix(h, size[0]), _box_matrix(w, size[1])
    return np.einsum("ij,cjk,lk->cil", rh, chw, rw)


def load_image(path, dataset, raw=False, invert="auto"):
    """A file as one (C, H, W) float image in the dataset's stored pixel range, and notes."""
    notes = []
    c0, h0, w0 = DATASET_SHAPES[dataset]
    ext = os.path.splitext(path)[1].lower()
    if not os.path.exists(path):
        raise CLIError(f"{path} does not exist")
    if ext == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: cannot read the array: {e}") from None
        if a.ndim == 4 and a.shape[0] == 1:
            a = a[0]
        if a.dtype.kind not in "biuf":
            raise ValueError(f"{path}: the array has dtype {a.dtype}; expected numbers")
        if raw:
            chw = _to_chw(a.astype(np.float64), path)
            if chw.shape != (c0, h0, w0):
                raise ValueError(f"{path}: --raw arrays must be {dataset}'s {c0}x{h0}x{w0}, "
                                 f"got {chw.shape}")
            return chw, notes
        a = a.astype(np.float64) / (255.0 if a.dtype == np.uint8 else 1.0)
    elif ext in (".pgm", ".ppm", ".pnm"):
        a = _read_pnm(path)
    else:
        a = _read_png(path)
    chw = _to_chw(a, path).astype(np.float64)
    if chw.shape[0] != c0:
        chw = chw.mean(axis=0, keepdims=True) if c0 == 1 else np.repeat(chw, 3, axis=0)
    if chw.shape[1:] != (h0, w0):
        notes.append(f"resized {chw.shape[1]}x{chw.shape[2]} to {h0}x{w0}")
        chw = resize(chw, (h0, w0))
    if c0 == 1 and (invert == "yes" or (invert == "auto" and _light_background(chw))):
        chw = 1.0 - chw
        notes.append("inverted (dark strokes on a light background; the training images are "
                     "light on dark)")
    return np.clip(chw, 0, 1) * RAW_MAX[dataset], notes


def _light_background(chw):
    border = np.concatenate([chw[:, 0].ravel(), chw[:, -1].ravel(), chw[:, :, 0].ravel(),
                             chw[:, :, -1].ravel()])
    return float(border.mean()) > 0.5


def cmd_predict(args):
    path = checkpoint_path(args, "predict")
    ck = read_checkpoint(path)
    model, cfg = model_from_checkpoint(ck, path)
    classes = ck.get("info", {}).get("classes") or [str(i) for i in range(10)]
    tf = transforms_for(cfg["dataset"], False)
    if args.top < 1:
        raise CLIError(f"--top must be at least 1, got {args.top}")
    images, notes = [], []
    for f in args.files:
        img, note = load_image(f, cfg["dataset"], raw=args.raw, invert=args.invert)
        images.append(img)
        notes.append(note)
    batch = tf(np.stack(images).astype(np.float32))
    with tc.no_grad():
        logits = model(tc.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).data
    z = logits - logits.max(axis=1, keepdims=True)
    prob = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    for f, p, note in zip(args.files, prob, notes):
        order = np.argsort(-p, kind="stable")[:args.top]
        best = ", ".join(f"{classes[k]} ({p[k]:.3f})" for k in order)
        print(f"{f}: {classes[order[0]]} (probability {p[order[0]]:.3f})"
              + (f"; top {args.top}: {best}" if args.top > 1 else "")
              + (f"  [{'; '.join(note)}]" if note else ""))
    return 0


# ----------------------------------------------------------------------------- summary, plots
def cmd_summary(args):
    dataset = dataset_key(args.dataset)
    model = build_model(args.model, dataset)
    c, h, w = DATASET_SHAPES[dataset]
    print(f"{args.model.lower()} for {dataset} ({c}x{h}x{w} images, 10 classes)")
    tc.summary(model, (c, h, w), batch_size=args.batch_size)
    return 0


def cmd_plots(args):
    if not plots.available():
        raise CLIError("plots needs matplotlib: pip install matplotlib")
    out = args.out
    if not os.path.isdir(out):
        raise CLIError(f"--out: {out} is not a folder (give the run folder of a training run)")
    history = None
    mpath = os.path.join(out, "metrics.json")
    if os.path.exists(mpath):
        with open(mpath, encoding="utf-8") as f:
            history = [{k: (float("nan") if v is None else v) for k, v in r.items()}
                       for r in json.load(f)]
    ck_path = os.path.join(out, "checkpoint.npz")
    if not os.path.exists(ck_path):
        if not history:
            raise CLIError(f"{out} holds neither metrics.json nor checkpoint.npz: not a run "
                           f"folder")
        paths = plots.plot_run(out, history)
        print(f"no checkpoint in {out}: drew the curves only ({', '.join(paths)})")
        return 0
    ck = read_checkpoint(ck_path)
    model, cfg = model_from_checkpoint(ck, ck_path)
    history = history or ck.get("history")
    try:
        test_ds = _test_split_for(cfg, args)
    except CLIError as e:
        print(f"note: no test data ({str(e).splitlines()[0]}); no feature maps or confusion "
              f"matrix")
        test_ds = None
    ev = None
    if test_ds is not None:
        loader = DataLoader(test_ds, 256, transform=transforms_for(cfg["dataset"], False))
        ev = evaluate(model, loader, return_predictions=True)
    paths = draw_pictures(out, history, model, test_ds, cfg, ev)
    print("wrote " + ", ".join(paths))
    return 0


# ----------------------------------------------------------------------------- parser
def _parser():
    p = argparse.ArgumentParser(
        prog="python -m tinyconv",
        description="Train, evaluate and inspect small CNNs on the CPU with tinyconv.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    models = ", ".join(tc.models.list_models("classification"))

    t = sub.add_parser(
        "train", help="train a model on a dataset (default: lenet5 on the embedded digits)",
        description="Train a model. Everything goes to the run folder --out: config.json, "
                    "metrics.csv/.json, checkpoint.npz (after every epoch; --resume continues "
                    "from it bit for bit), best.npz and pictures. Ctrl-C stops after the "
                    "current batch and saves a resumable checkpoint (exit code 130).")
    t.add_argument("--model", help=f"one of {models} (default lenet5)")
    t.add_argument("--dataset", help="mnist, fashion-mnist, cifar10 or digits (default: digits, "
                   "the 8x8 handwritten digits inside the package, no files needed)")
    t.add_argument("--data-dir", help="folder holding the dataset's folder (mnist/, "
                   "fashion-mnist/, cifar10/) or its files; default $TINYCONV_DATA_DIR, "
                   "else ~/.cache/tinyconv/data")
    t.add_argument("--download", action="store_true", default=None,
                   help="download missing dataset files (md5-checked)")
    t.add_argument("--epochs", type=int, help="total epochs (default 10; with --resume the "
                   "new total)")
    t.add_argument("--batch-size", type=int, help="default 64 (16 for digits)")
    t.add_argument("--optimizer", help=f"{', '.join(OPTIMIZERS)} (default sgd)")
    t.add_argument("--lr", type=float, help="learning rate (peak rate for onecycle); default "
                   "0.05 for sgd, 1e-3 adam/adamw/rmsprop, 1e-2 adagrad, 1.0 adadelta, 0.1 ftrl")
    t.add_argument("--momentum", type=float, help="sgd (default 0.9) and rmsprop (default 0)")
    t.add_argument("--nesterov", action="store_true", default=None, help="Nesterov momentum "
                   "(sgd)")
    t.add_argument("--weight-decay", type=float, help="L2 penalty (decoupled for adamw, FTRL's "
                   "l2 strength for ftrl); default 0")
    t.add_argument("--label-smoothing", type=float, help="CrossEntropyLoss label smoothing "
                   "(default 0)")
    t.add_argument("--schedule", help=f"{', '.join(SCHEDULES)} (default cosine). onecycle, "
                   "linear-warmup and warmup-cosine step after every batch, the others after "
                   "every epoch; plateau watches the test loss")
    t.add_argument("--step-size", type=int, help="step: epochs between decays (default "
                   "epochs // 3)")
    t.add_argument("--milestones", type=int, nargs="+", help="multistep: epochs at which to "
                   "decay (default 50%% and 75%% of the epochs)")
    t.add_argument("--gamma", type=float, help="decay factor: step/multistep/plateau 0.1, "
                   "exponential 0.9")
    t.add_argument("--min-lr", type=float, help="cosine/warmup-cosine eta_min and plateau "
                   "min_lr (default 0)")
    t.add_argument("--power", type=float, help="polynomial: power (default 1)")
    t.add_argument("--warmup-epochs", type=int, help="linear-warmup/warmup-cosine: epochs of "
                   "linear warm-up (default 1)")
    t.add_argument("--patience", type=int, help="plateau: epochs without improvement before a "
                   "decay (default 2)")
    t.add_argument("--threads", type=int, help="threads for the kernels and BLAS (default: "
                   "$OMP_NUM_THREADS, else all cores)")
    t.add_argument("--seed", type=int, help="seed of weights, shuffling and augmentation "
                   "(default 0)")
    t.add_argument("--out", help="run folder (default runs/MODEL-DATASET, numbered if taken)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its "
                   "checkpoint.npz (may change --epochs, --threads, --data-dir)")
    t.add_argument("--overwrite", action="store_true", help="start a new run in an --out "
                   "folder that already holds one")
    t.add_argument("--limit-train", type=int, help="use only the first N training images")
    t.add_argument("--limit-test", type=int, help="use only the first N test images")
    t.add_argument("--no-augment", dest="augment", action="store_false", default=None,
                   help="no random crops and flips (cifar10; the others have none)")
    t.add_argument("--eval-batch-size", type=int, help="batch size of the evaluation "
                   "(default 256)")
    t.add_argument("--plots", dest="plots", action="store_true", default=None,
                   help="draw pictures into --out (default: on when matplotlib is installed)")
    t.add_argument("--no-plots", dest="plots", action="store_false")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="test accuracy of a trained model",
                       description="Evaluate a checkpoint on its dataset's test set.")
    e.add_argument("--checkpoint", help="checkpoint.npz or best.npz of a run (or its folder)")
    e.add_argument("--out", help="a run folder (uses its checkpoint.npz)")
    e.add_argument("--data-dir", help="where the dataset is (default: the run's)")
    e.add_argument("--download", action="store_true")
    e.add_argument("--limit-test", type=int, help="only the first N test images (default: the "
                   "run's own --limit-test, so that the numbers match its last epoch)")
    e.add_argument("--batch-size", type=int, default=256)
    e.add_argument("--threads", type=int)
    e.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", help="classify image files with a trained model",
                        description="Print the predicted class and its probability for each "
                        "file: .npy arrays ((H, W), (C, H, W) or (H, W, C); uint8 0..255 or "
                        "float 0..1), .pgm/.ppm images, and PNG/JPEG when Pillow or matplotlib "
                        "is installed. Images are converted to the dataset's channels and "
                        "size; for the grey datasets, images with a light background are "
                        "inverted (--invert).")
    pr.add_argument("files", nargs="+", metavar="FILE")
    pr.add_argument("--checkpoint", help="checkpoint.npz or best.npz of a run (or its folder)")
    pr.add_argument("--out", help="a run folder (uses its checkpoint.npz)")
    pr.add_argument("--top", type=int, default=1, help="also list the K most likely classes")
    pr.add_argument("--invert", choices=("auto", "yes", "no"), default="auto")
    pr.add_argument("--raw", action="store_true", help=".npy arrays are already in the "
                    "dataset's stored form (e.g. a row of tinyconv.data.Digits().data)")
    pr.set_defaults(func=cmd_predict)

    s = sub.add_parser("summary", help="layers, shapes, parameters of a model for a dataset")
    s.add_argument("--model", default="lenet5", help=f"one of {models}")
    s.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist, cifar10, digits")
    s.add_argument("--batch-size", type=int, default=1)
    s.set_defaults(func=cmd_summary)

    pl = sub.add_parser("plots", help="(re)draw the pictures of a run folder",
                        description="Draw curves.png, filters.png, feature_maps.png and "
                        "confusion_matrix.png into a run folder (needs matplotlib).")
    pl.add_argument("--out", required=True, help="the run folder")
    pl.add_argument("--data-dir", help="where the dataset is (default: the run's)")
    pl.add_argument("--download", action="store_true")
    pl.add_argument("--limit-test", type=int)
    pl.set_defaults(func=cmd_plots)
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except CLIError as e:
        print(f"error: {e}", file=sys.stderr)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
    except KeyboardInterrupt:  # outside training (loading data, drawing): nothing to save
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
