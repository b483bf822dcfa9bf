"""The same training loop in PyTorch and tinyconv, side by side: time per epoch and test accuracy.

Usage::

    python bench/train_compare.py [--model lenet5|simple_convnet|small_vgg|resnet8]
                                  [--batches N] [--threads N] [--batch-size B] [--lr LR]
                                  [--data-dir DIR] [--block K] [--test-limit N] [--json FILE]

Both libraries train the same model definition (bench/train_step.py: the PyTorch twin of
``tinyconv.models.get_model``, checked there), from the same initial weights (tinyconv's,
copied into PyTorch), with the same optimizer (SGD, momentum 0.9), learning rate, batch size
and batch order, on MNIST (LeNet-5, SimpleConvNet) or CIFAR-10 (small VGG, ResNet-8) read from
``../shared/data`` (relative to the repository root) when it is there, otherwise on random data
of the same shape (then the accuracy only says that nothing crashed: ~10 %).

The two loops are interleaved in blocks of ``--block`` batches (default 25), the library that
goes first alternating, so that a change in the machine's load hits both; only the blocks are
timed (gathering the batch from the in-memory dataset and converting it included, as in an
epoch). ``--batches N`` trains N batches (default: one epoch, the last partial batch dropped);
"s/epoch" extrapolates to a full epoch. Then both models are evaluated on the test set (eval
mode, no gradients).
"""

import argparse
import gzip
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _p in (HERE, ROOT):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import run  # noqa: E402  (bench/run.py: import order, thread setting, quiet-wait, load monitor)
import train_step  # noqa: E402

DEFAULT_DATA = os.path.join(ROOT, "..", "shared", "data")
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
CIFAR_MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32).reshape(1, 3, 1, 1)
CIFAR_STD = np.array([0.2470, 0.2435, 0.2616], np.float32).reshape(1, 3, 1, 1)


# --------------------------------------------------------------------------------------------
# Data (read here, so that neither library's reader is being measured or trusted)
# --------------------------------------------------------------------------------------------

def _read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _find(folder, name):
    for cand in (name + ".gz", name):
        p = os.path.join(folder, cand)
        if os.path.exists(p):
            return p
    return None


def load_mnist(data_dir):
    folder = os.path.join(data_dir, "mnist")
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte"]
    paths = [_find(folder, n) for n in names]
    if not all(paths):
        return None
    xtr, ytr, xte, yte = (_read_idx(p) for p in paths)

    def norm(x):
        return ((x[:, None].astype(np.float32) / 255 - MNIST_MEAN) / MNIST_STD).astype(np.float32)

    return ("MNIST " + folder, norm(xtr), ytr.astype(np.int64), norm(xte),
            yte.astype(np.int64))


def load_cifar10(data_dir):
    folder = os.path.join(data_dir, "cifar10", "cifar-10-batches-bin")
    train = [os.path.join(folder, f"data_batch_{i}.bin") for i in range(1, 6)]
    test = [os.path.join(folder, "test_batch.bin")]
    if not all(os.path.exists(p) for p in train + test):
        return None

    def read(paths):
        raw = np.concatenate([np.fromfile(p, np.uint8).reshape(-1, 3073) for p in paths])
        x = raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255
        return ((x - CIFAR_MEAN) / CIFAR_STD).astype(np.float32), raw[:, 0].astype(np.int64)

    xtr, ytr = read(train)
    xte, yte = read(test)
    return "CIFAR-10 " + folder, xtr, ytr, xte, yte


def random_data(shape, n_train, n_test, seed=0):
    rng = np.random.default_rng(seed)
    return ("random data (no dataset found)",
            rng.standard_normal((n_train, *shape), dtype=np.float32),
            rng.integers(0, 10, n_train).astype(np.int64),
            rng.standard_normal((n_test, *shape), dtype=np.float32),
            rng.integers(0, 10, n_test).astype(np.int64))


def load_data(model, data_dir, batch, batches):
    shape = train_step.MODELS[model][1]
    data = (load_mnist if shape[0] == 1 else load_cifar10)(data_dir)
    if data is None:
        n = batch * (batches or 100)
        data = random_data(shape, n, 2000)
    return data


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------

def accuracy(trainer, x, y, batch=500):
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((trainer.predict(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return correct / len(x)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="lenet5", choices=list(train_step.MODELS))
    ap.add_argument("--batches", type=int, default=0,
                    help="training batches (default 0: one epoch, last partial batch dropped)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads of both libraries (default: tinyconv's default)")
    ap.add_argument("--batch-size", type=int, default=None,
                    help="default: the model's batch in run.py's train part (64, SimpleConvNet "
                         "100)")
    ap.add_argument("--lr", type=float, default=train_step.LR)
    ap.add_argument("--momentum", type=float, default=train_step.MOMENTUM)
    ap.add_argument("--data-dir", default=DEFAULT_DATA,
                    help="folder with mnist/ and cifar10/ (default: ../shared/data from the "
                         "repository root)")
    ap.add_argument("--block", type=int, default=25,
                    help="batches per library before switching to the other (default 25)")
    ap.add_argument("--test-limit", type=int, default=0,
                    help="evaluate on the first N test images only (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--import-order", choices=("torch-first", "tinyconv-first"),
                    default="torch-first", help="as in run.py (see README)")
    ap.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = ap.parse_args(argv)

    run.import_libraries(args.import_order)
    if run.tinyconv is None or run.torch is None:
        print(f"need both libraries: tinyconv {run.TINYCONV_ERROR or 'ok'}, torch "
              f"{run.TORCH_ERROR or 'ok'}")
        return 2
    tinyconv = run.tinyconv
    threads = args.threads or tinyconv.get_num_threads()
    run.set_threads(threads)
    train_step.LR, train_step.MOMENTUM = args.lr, args.momentum
    name = args.model
    label, _, default_batch = train_step.MODELS[name]
    batch = args.batch_size or default_batch

    t0 = time.perf_counter()
    source, xtr, ytr, xte, yte = load_data(name, args.data_dir, batch, args.batches)
    if args.test_limit:
        xte, yte = xte[:args.test_limit], yte[:args.test_limit]
    per_epoch = len(xtr) // batch
    n_batches = args.batches or per_epoch
    order = np.concatenate([np.random.default_rng(args.seed + e).permutation(len(xtr))
                            for e in range(-(-n_batches // per_epoch))])
    print(f"{label}, batch {batch}, SGD lr {args.lr} momentum {args.momentum}, {threads} "
          f"thread(s), {n_batches} batches ({n_batches / per_epoch:.2f} epoch of {per_epoch}); "
          f"data: {source} ({len(xtr)} train, {len(xte)} test; loaded in "
          f"{time.perf_counter() - t0:.1f} s)")

    tc_model = train_step.tinyconv_model(name, args.seed)
    t_model = train_step.torch_model(name)
    train_step.copy_weights(train_step.numpy_state(tc_model), t_model)
    trainers = {"tinyconv": train_step.tinyconv_trainer(tc_model, []),
                "torch": train_step.torch_trainer(t_model, [])}
    acc0 = {k: accuracy(tr, xte[:1000], yte[:1000]) for k, tr in trainers.items()}
    losses = {k: [] for k in trainers}
    seconds = {k: 0.0 for k in trainers}
    monitor = run.LoadMonitor()
    monitor.start()
    for b0 in range(0, n_batches, args.block):
        b1 = min(n_batches, b0 + args.block)
        first = (b0 // args.block) % 2
        for lib in (["tinyconv", "torch"][first:] + ["tinyconv", "torch"][:first]):
            tr = trainers[lib]
            run.wait_quiet()
            t = time.perf_counter()
            for b in range(b0, b1):
                idx = order[b * batch:(b + 1) * batch]
                tr.step_on(xtr[idx], ytr[idx])
                losses[lib].append(tr.loss_value())
            seconds[lib] += time.perf_counter() - t
        done = b1
        if done == n_batches or (done // args.block) % 10 == 0:
            print(f"  {done:5d}/{n_batches} batches: " + ", ".join(
                f"{k} {seconds[k]:.1f} s, loss {np.mean(losses[k][-args.block:]):.4f}"
                for k in trainers), flush=True)
    load = monitor.stop()
    acc = {k: accuracy(tr, xte, yte) for k, tr in trainers.items()}

    tail = min(50, n_batches)
    rows = [
        ("train time (s)", lambda k: f"{seconds[k]:.2f}"),
        ("images/s", lambda k: f"{n_batches * batch / seconds[k]:.0f}"),
        ("ms per batch", lambda k: f"{seconds[k] / n_batches * 1e3:.2f}"),
        ("s per epoch", lambda k: f"{seconds[k] / n_batches * per_epoch:.1f}"
         + ("" if n_batches == per_epoch else " (extrap.)")),
        ("first loss", lambda k: f"{losses[k][0]:.6f}"),
        (f"mean loss, last {tail}", lambda k: f"{np.mean(losses[k][-tail:]):.4f}"),
        ("test accuracy before", lambda k: f"{acc0[k] * 100:.2f} %"),
        ("test accuracy after", lambda k: f"{acc[k] * 100:.2f} %"),
    ]
    print(f"\n{'':24s} {'tinyconv':>16s} {'torch':>16s}")
    for title, f in rows:
        print(f"{title:24s} {f('tinyconv'):>16s} {f('torch'):>16s}")
    ratio = seconds["torch"] / seconds["tinyconv"]
    # Disturbed when the other processes and our threads together wanted more than the cores.
    busy = load is not None and load + threads > run.NCPU + 0.1
    note = "" if load is None else (f" (other processes used {load:.2f} cores on average"
                                    + (": timings disturbed" if busy else "") + ")")
    print(f"\ntinyconv images/s / torch images/s: {ratio:.2f}x{note}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": name, "batch": batch, "threads": threads, "lr": args.lr,
                       "momentum": args.momentum, "batches": n_batches,
                       "batches_per_epoch": per_epoch, "data": source, "seconds": seconds,
                       "ratio_images_per_s": ratio, "test_accuracy": acc,
                       "test_accuracy_before": acc0, "losses": losses,
                       "other_load_cores": load, "disturbed": busy,
                       "environment": run.environment()}, f)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
