"""Command line: ``python -m tinyconv train ...`` trains LeNet-5 on MNIST.

This first version is written with the functional API alone (parameters as plain Tensors, SGD
with momentum by hand) so that it depends only on the engine; the nn/optim/data issues replace
it with modules, optimizers, loaders and checkpoints.
"""

import argparse
import math
import sys
import time

import numpy as np

import tinyconv as tc
import tinyconv.functional as F


def lenet5_params(rng):
    """LeNet-5 for 28x28 input: conv(6,5x5,pad 2)-pool-conv(16,5x5)-pool-fc120-fc84-fc10."""

    def uniform(shape, fan_in):
        bound = 1 / math.sqrt(fan_in)
        return tc.tensor(rng.uniform(-bound, bound, shape).astype(np.float32), requires_grad=True)

    shapes = [((6, 1, 5, 5), 25), ((6,), 25), ((16, 6, 5, 5), 150), ((16,), 150),
              ((120, 400), 400), ((120,), 400), ((84, 120), 120), ((84,), 120),
              ((10, 84), 84), ((10,), 84)]
    return [uniform(s, f) for s, f in shapes]


def lenet5(params, x):
    c1, b1, c2, b2, f1, g1, f2, g2, f3, g3 = params
    x = F.max_pool2d(F.relu(F.conv2d(x, c1, b1, padding=2)), 2)
    x = F.max_pool2d(F.relu(F.conv2d(x, c2, b2)), 2)
    x = x.flatten(1)
    x = F.relu(F.linear(x, f1, g1))
    x = F.relu(F.linear(x, f2, g2))
    return F.linear(x, f3, g3)


def cross_entropy(logits, target):
    """Mean negative log-likelihood of ``target`` under softmax(logits), log-sum-exp stable."""
    shift = logits.detach().max(dim=1, keepdim=True)[0]
    z = logits - shift
    lse = z.exp().sum(dim=1).log()
    picked = z[np.arange(len(target)), target]
    return (lse - picked).mean()


def load_mnist(data_dir):
    from .data import MNIST

    def prep(ds):
        x = (ds.data.astype(np.float32) / 255.0 - 0.1307) / 0.3081
        return x, ds.targets

    return prep(MNIST(data_dir, train=True)), prep(MNIST(data_dir, train=False))


def evaluate(params, x, y, batch_size=1000):
    correct, loss = 0, 0.0
    with tc.no_grad():
        for i in range(0, len(x), batch_size):
            logits = lenet5(params, tc.from_numpy(x[i:i + batch_size]))
            loss += cross_entropy(logits, y[i:i + batch_size]).item() * len(logits.data)
            correct += int((logits.data.argmax(1) == y[i:i + batch_size]).sum())
    return loss / len(x), correct / len(x)


def train(args):
    tc.set_num_threads(args.threads or tc.get_num_threads())
    (xtr, ytr), (xte, yte) = load_mnist(args.data_dir)
    if args.limit:
        xtr, ytr = xtr[:args.limit], ytr[:args.limit]
    rng = np.random.default_rng(args.seed)
    params = lenet5_params(rng)
    velocity = [np.zeros_like(p.data) for p in params]
    steps_per_epoch = len(xtr) // args.batch_size
    total = steps_per_epoch * args.epochs
    step = 0
    print(f"tinyconv {tc.__version__}: LeNet-5 on MNIST, {len(xtr)} train / {len(xte)} test "
          f"images, {tc.get_num_threads()} threads")
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        order = rng.permutation(len(xtr))
        run_loss = run_correct = seen = 0
        for b in range(steps_per_epoch):
            idx = order[b * args.batch_size:(b + 1) * args.batch_size]
            xb, yb = tc.from_numpy(xtr[idx]), ytr[idx]
            logits = lenet5(params, xb)
            loss = cross_entropy(logits, yb)
            for p in params:
                p.grad = None
            loss.backward()
            lr = 0.5 * args.lr * (1 + math.cos(math.pi * step / total))  # cosine schedule
            for p, v in zip(params, velocity):
                v *= args.momentum
                v += p.grad.data
                p.data -= lr * v
            step += 1
            run_loss += loss.item() * len(idx)
            run_correct += int((logits.data.argmax(1) == yb).sum())
            seen += len(idx)
        secs = time.perf_counter() - t0
        test_loss, test_acc = evaluate(params, xte, yte)
        print(f"epoch {epoch}: train loss {run_loss / seen:.4f} acc {run_correct / seen:.4f} | "
              f"test loss {test_loss:.4f} acc {test_acc:.4f} | {secs:.1f} s "
              f"({seen / secs:.0f} images/s)")
    return test_acc


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tinyconv")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train LeNet-5 on MNIST")
    t.add_argument("--model", default="lenet5", choices=["lenet5"])
    t.add_argument("--dataset", default="mnist", choices=["mnist"])
    t.add_argument("--data-dir", required=True, help="folder with the MNIST IDX files")
    t.add_argument("--epochs", type=int, default=2)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, default=0.05)
    t.add_argument("--momentum", type=float, default=0.9)
    t.add_argument("--threads", type=int, default=0)
    t.add_argument("--limit", type=int, default=0, help="use only the first N training images")
    t.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        train(args)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
