"""Whole training steps of tinyconv and PyTorch on the same models: the "train" part of run.py.

A training step is: ``optimizer.zero_grad()`` (gradients set to None, both libraries' default),
forward, ``CrossEntropyLoss`` (mean), ``backward()``, ``SGD(lr=0.01, momentum=0.9).step()``.

This module holds

* the PyTorch definitions of the benchmarked models, written here layer for layer as in
  ``tinyconv.models`` (same module names, so the state_dict keys are the same, and the same
  layer order); ``match_check`` proves it for each row: it copies tinyconv's initial weights into
  the PyTorch model with ``load_state_dict(strict=True)``, compares the module trees (names and
  class names), and compares the losses of the first two training steps on the same batches
  (the second loss depends on both libraries' backward and SGD step);
* step builders (``tinyconv_trainer``, ``torch_trainer``) that run.py times;
* the memory probe: one library, one model, one batch size per fresh subprocess (see
  ``memory_probe``);
* a profiler of tinyconv's step, per op and pass.

Run alone::

    python bench/train_step.py --check                   # definitions match, all models
    python bench/train_step.py --profile lenet5 [--batch 64] [--threads 2] [--steps 20] [--torch]
    python bench/train_step.py --memory tinyconv lenet5 64 2     # one probe (JSON on stdout)

It imports neither library at module level: run.py decides the import order (see README).
"""

import argparse
import gc
import json
import math
import os
import subprocess
import sys
import time
from collections import OrderedDict, defaultdict

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

LR, MOMENTUM = 0.01, 0.9
NUM_CLASSES = 10
N_BATCHES = 4  # distinct random batches a step cycles through (same ones for every library)
LOSS_TOL = (1e-4, 1e-3)  # |tinyconv - torch| / max(1, |torch|): first step, second step

# name -> (label, input shape (C, H, W), default batch)
MODELS = OrderedDict([
    ("lenet5", ("LeNet-5", (1, 28, 28), 64)),
    ("simple_convnet", ("SimpleConvNet", (1, 28, 28), 100)),
    ("small_vgg", ("small VGG-BN", (3, 32, 32), 64)),
    ("resnet8", ("ResNet-8", (3, 32, 32), 64)),
])


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------

def tinyconv_model(name, seed=0):
    import tinyconv
    tinyconv.manual_seed(seed)
    c, h, _ = MODELS[name][1]
    return tinyconv.models.get_model(name, num_classes=NUM_CLASSES, in_channels=c, input_size=h)


def torch_model(name):
    """The PyTorch twin of ``tinyconv.models.get_model(name)`` for MODELS[name]'s input shape.

    Written out here (not generated from the tinyconv model) so that a difference in
    tinyconv's definitions shows up in ``match_check``.
    """
    from torch import nn

    c, h, w = MODELS[name][1]
    if name == "lenet5":
        # tinyconv/models/lenet.py: LeNet5 (ReLU, max-pool), C1 padded by 2.
        class LeNet5(nn.Module):
            def __init__(self):
                super().__init__()
                self.features = nn.Sequential(OrderedDict([
                    ("c1", nn.Conv2d(c, 6, 5, padding=2)), ("act1", nn.ReLU()),
                    ("s2", nn.MaxPool2d(2)),
                    ("c3", nn.Conv2d(6, 16, 5)), ("act3", nn.ReLU()), ("s4", nn.MaxPool2d(2)),
                ]))
                self.flatten = nn.Flatten()
                hh, ww = (h // 2 - 4) // 2, (w // 2 - 4) // 2
                self.classifier = nn.Sequential(OrderedDict([
                    ("c5", nn.Linear(16 * hh * ww, 120)), ("act5", nn.ReLU()),
                    ("f6", nn.Linear(120, 84)), ("act6", nn.ReLU()),
                    ("output", nn.Linear(84, NUM_CLASSES)),
                ]))

            def forward(self, x):
                return self.classifier(self.flatten(self.features(x)))

        return LeNet5()
    if name == "simple_convnet":
        # tinyconv/models/lenet.py: SimpleConvNet (Saito), book defaults.
        class SimpleConvNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(c, 30, 5, 1, 0)
                self.relu1 = nn.ReLU()
                self.pool1 = nn.MaxPool2d(2, 2)
                self.flatten = nn.Flatten()
                self.affine1 = nn.Linear(30 * ((h - 4) // 2) * ((w - 4) // 2), 100)
                self.relu2 = nn.ReLU()
                self.affine2 = nn.Linear(100, NUM_CLASSES)

            def forward(self, x):
                x = self.pool1(self.relu1(self.conv1(x)))
                return self.affine2(self.relu2(self.affine1(self.flatten(x))))

        return SimpleConvNet()
    if name == "small_vgg":
        # tinyconv/models/vgg.py: VGG("small", batch_norm=True, layout="cifar",
        # hidden_features=0, dropout=0): classifier is a single Linear.
        class VGG(nn.Module):
            def __init__(self):
                super().__init__()
                layers, cin, hw = [], c, h
                for v in (32, 32, "M", 64, 64, "M", 128, 128, "M"):
                    if v == "M":
                        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                        hw //= 2
                    else:
                        layers += [nn.Conv2d(cin, v, kernel_size=3, padding=1),
                                   nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                        cin = v
                self.features = nn.Sequential(*layers)
                self.avgpool = nn.Identity()
                self.classifier = nn.Sequential(nn.Linear(cin * hw * hw, NUM_CLASSES))

            def forward(self, x):
                x = self.avgpool(self.features(x))
                return self.classifier(x.flatten(1))

        return VGG()
    if name == "resnet8":
        # tinyconv/models/resnet.py: CIFAR ResNet, BasicBlock x [1, 1, 1], width 16,
        # option-B shortcuts (1x1 conv + BN) where the shape changes.
        def conv3x3(i, o, s=1):
            return nn.Conv2d(i, o, kernel_size=3, stride=s, padding=1, bias=False)

        class BasicBlock(nn.Module):
            def __init__(self, inplanes, planes, stride=1, downsample=None):
                super().__init__()
                self.conv1 = conv3x3(inplanes, planes, stride)
                self.bn1 = nn.BatchNorm2d(planes)
                self.relu = nn.ReLU(inplace=True)
                self.conv2 = conv3x3(planes, planes)
                self.bn2 = nn.BatchNorm2d(planes)
                self.downsample = downsample

            def forward(self, x):
                out = self.relu(self.bn1(self.conv1(x)))
                out = self.bn2(self.conv2(out))
                identity = x if self.downsample is None else self.downsample(x)
                return self.relu(out + identity)

        class ResNet(nn.Module):
            def __init__(self):
                super().__init__()
                width = 16
                self.conv1 = conv3x3(c, width)
                self.bn1 = nn.BatchNorm2d(width)
                self.relu = nn.ReLU(inplace=True)
                self.maxpool = nn.Identity()
                inplanes = width
                for i in range(3):
                    planes, stride = width * 2 ** i, 1 if i == 0 else 2
                    down = None
                    if stride != 1 or inplanes != planes:
                        down = nn.Sequential(
                            nn.Conv2d(inplanes, planes, kernel_size=1, stride=stride, bias=False),
                            nn.BatchNorm2d(planes))
                    setattr(self, f"layer{i + 1}",
                            nn.Sequential(BasicBlock(inplanes, planes, stride, down)))
                    inplanes = planes
                self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
                self.fc = nn.Linear(inplanes, NUM_CLASSES)

            def forward(self, x):
                x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
                x = self.layer3(self.layer2(self.layer1(x)))
                return self.fc(self.avgpool(x).flatten(1))

        return ResNet()
    raise ValueError(f"torch_model: no PyTorch definition for {name!r}; known: {list(MODELS)}")


def numpy_state(tc_model):
    """A copy of a tinyconv model's state_dict as numpy arrays."""
    return OrderedDict((k, np.array(v.numpy() if hasattr(v, "numpy") else v, copy=True))
                       for k, v in tc_model.state_dict().items())


def copy_weights(state, t_model):
    """Load a tinyconv state_dict (``numpy_state``: parameters and BatchNorm buffers) into the
    PyTorch model. ``strict=True``: PyTorch raises if a key is missing or extra, or a shape
    differs."""
    import torch
    t_model.load_state_dict(OrderedDict((k, torch.from_numpy(np.array(v, copy=True)))
                                        for k, v in state.items()), strict=True)


def module_tree(model):
    """[(qualified name, class name)] of every submodule, for comparing definitions."""
    return [(n, type(m).__name__) for n, m in model.named_modules() if n]


# --------------------------------------------------------------------------------------------
# Data and steps
# --------------------------------------------------------------------------------------------

def make_batches(name, batch, n=N_BATCHES, seed=0):
    """``n`` fixed random batches (float32 N(0, 1) images, uniform labels) of MODELS[name]."""
    rng = np.random.default_rng(seed)
    shape = (batch, *MODELS[name][1])
    return [(rng.standard_normal(shape, dtype=np.float32),
             rng.integers(0, NUM_CLASSES, batch).astype(np.int64)) for _ in range(n)]


class Trainer:
    """A model, its optimizer and loss, and ``step()``: one training step on the next batch.

    ``step()`` returns the loss tensor (not converted, so timing does not include a sync or a
    copy); ``loss_value()`` converts the last one. ``step_on(x, y)`` takes numpy arrays
    instead (train_compare.py); ``predict(x)`` gives eval-mode logits as numpy.
    """

    def __init__(self, lib, model, step, batches, convert, predict):
        self.lib, self.model, self._step, self.batches = lib, model, step, batches
        self.convert, self._predict = convert, predict
        self.i = 0
        self.last = None

    def step(self):
        b = self.batches[self.i % len(self.batches)]
        self.i += 1
        self.last = self._step(*b)
        return self.last

    def step_on(self, x, y):
        self.last = self._step(*self.convert(x, y))
        return self.last

    def predict(self, x):
        return self._predict(x)

    def loss_value(self):
        return float(self.last.item())


def tinyconv_trainer(model, batches):
    import tinyconv
    model.train()
    opt = tinyconv.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    lossf = tinyconv.nn.CrossEntropyLoss()

    def convert(x, y):
        return tinyconv.tensor(x), tinyconv.tensor(y)

    def step(x, y):
        opt.zero_grad()
        loss = lossf(model(x), y)
        loss.backward()
        opt.step()
        return loss

    def predict(x):
        model.eval()
        try:
            with tinyconv.no_grad():
                return model(tinyconv.tensor(x)).numpy()
        finally:
            model.train()

    return Trainer("tinyconv", model, step, [convert(x, y) for x, y in batches], convert,
                   predict)


def torch_trainer(model, batches, channels_last=False):
    import torch
    model.train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if channels_last:
        model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    lossf = torch.nn.CrossEntropyLoss()

    def convert(x, y):
        return torch.from_numpy(x).contiguous(memory_format=fmt), torch.from_numpy(y)

    def step(x, y):
        opt.zero_grad()  # set_to_none=True by default, like tinyconv
        loss = lossf(model(x), y)
        loss.backward()
        opt.step()
        return loss

    def predict(x):
        model.eval()
        try:
            with torch.no_grad():
                return model(torch.from_numpy(x).contiguous(memory_format=fmt)).numpy()
        finally:
            model.train()

    return Trainer("torch-CL" if channels_last else "torch", model, step,
                   [convert(x, y) for x, y in batches], convert, predict)


def build_trainers(name, batch, peers, seed=0):
    """{peer name: Trainer} for the peers among tinyconv/torch/torch-CL, plus a match report.

    Every PyTorch model starts from tinyconv's initial weights. The report has, per PyTorch
    peer, the losses of the first two steps of both libraries on the same batches, their
    relative differences and the problems found (an empty list when the definitions match).
    Each trainer has taken those two steps when this returns.
    """
    batches = make_batches(name, batch, seed=seed)
    trainers, report = {}, {}
    tc_model = None
    if "tinyconv" in peers or any(p.startswith("torch") for p in peers):
        tc_model = tinyconv_model(name, seed)
    tc_losses = init_state = None
    if tc_model is not None:
        init_state = numpy_state(tc_model)
        tc = tinyconv_trainer(tc_model, batches)
        tc_losses = [float(tc.step().item()) for _ in range(2)]
        if "tinyconv" in peers:
            trainers["tinyconv"] = tc
    for peer in ("torch", "torch-CL"):
        if peer not in peers:
            continue
        problems = []
        t_model = torch_model(name)
        t_tree, c_tree = module_tree(t_model), module_tree(tc_model) if tc_model else None
        if c_tree is not None and t_tree != c_tree:
            diff = [(a, b) for a, b in zip(c_tree, t_tree) if a != b][:3]
            problems.append(f"module trees differ (tinyconv, torch): {diff or 'lengths'}")
        if init_state is not None:
            copy_weights(init_state, t_model)  # the same initial weights
        tr = torch_trainer(t_model, batches, channels_last=(peer == "torch-CL"))
        t_losses = [float(tr.step().item()) for _ in range(2)]
        rel = None
        if tc_losses is not None:
            rel = [abs(a - b) / max(1.0, abs(b)) for a, b in zip(tc_losses, t_losses)]
            for k, (r, tol) in enumerate(zip(rel, LOSS_TOL)):
                if not r <= tol:
                    problems.append(f"step {k + 1} loss: tinyconv {tc_losses[k]:.6f}, "
                                    f"{peer} {t_losses[k]:.6f} (rel. diff {r:.1e} > {tol:g})")
        report[peer] = {"loss_tinyconv": tc_losses, "loss_torch": t_losses, "rel_diff": rel,
                        "problems": problems}
        trainers[peer] = tr
    return trainers, report


# --------------------------------------------------------------------------------------------
# Peak memory: one library per fresh subprocess
# --------------------------------------------------------------------------------------------

MEMORY_STEPS = 3


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak():
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs). False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_probe(lib, name, batch, threads, steps=MEMORY_STEPS):
    """Run in a fresh process: peak resident-memory increase of ``steps`` training steps.

    Imports only ``lib`` (tinyconv or torch), builds the model, optimizer and data, collects
    garbage, reads VmRSS, resets the peak (VmHWM) to it, runs the steps and reads VmHWM again.
    ``peak_mib`` is VmHWM - VmRSS before the first step: activations, gradients, momentum
    buffers, workspaces and allocator slack of the first ``steps`` steps, not the model or the
    data. ``steady_peak_mib`` resets the peak after the first step instead (still measured from
    the same baseline), leaving out one-time costs of a first step.
    """
    import resource
    if lib == "torch":
        import torch
        torch.set_num_threads(threads)
        tr = torch_trainer(torch_model(name), make_batches(name, batch))
    elif lib == "tinyconv":
        import tinyconv
        tinyconv.set_num_threads(threads)
        tr = tinyconv_trainer(tinyconv_model(name), make_batches(name, batch))
    else:
        raise ValueError(f"memory_probe: unknown library {lib!r}")
    gc.collect()
    rss0 = _status_kib("VmRSS")
    exact = _reset_peak()
    maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tr.step()
    loss = tr.loss_value()
    peak_first = _status_kib("VmHWM")
    steady = None
    if exact:
        _reset_peak()
        for _ in range(steps - 1):
            tr.step()
        loss = tr.loss_value()
        steady = _status_kib("VmHWM")
        peak = max(peak_first, steady)
    else:  # ru_maxrss: the peak of the whole process, imports included (an upper bound)
        for _ in range(steps - 1):
            tr.step()
        loss = tr.loss_value()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"lib": lib, "model": name, "batch": batch, "threads": threads, "steps": steps,
            "method": "VmHWM reset via clear_refs" if exact else "ru_maxrss (not reset)",
            "rss_before_mib": rss0 / 1024, "peak_mib": (peak - rss0) / 1024,
            "steady_peak_mib": None if steady is None else (steady - rss0) / 1024,
            "maxrss_before_mib": maxrss0 / 1024, "loss": loss}


def measure_memory(lib, name, batch, threads, timeout=600):
    """``memory_probe`` in a fresh ``python bench/train_step.py --memory ...`` subprocess."""
    cmd = [sys.executable, os.path.abspath(__file__), "--memory", lib, name, str(batch),
           str(threads)]
    env = dict(os.environ)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                           check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"unreadable output {r.stdout[-200:]!r}"}


# --------------------------------------------------------------------------------------------
# Profile of tinyconv's step
# --------------------------------------------------------------------------------------------

def _function_classes():
    import tinyconv.autograd as ag
    import tinyconv.ops  # noqa: F401  (registers the op modules' Function subclasses)
    for mod in list(sys.modules):
        if mod.startswith("tinyconv.ops."):
            __import__(mod)
    seen, stack = [], [ag.Function]
    while stack:
        c = stack.pop()
        for s in c.__subclasses__():
            if s not in seen:
                seen.append(s)
                stack.append(s)
    return seen


def _shape_of(a):
    return tuple(a.shape) if hasattr(a, "shape") else None


def _fmt_shape(shape):
    return "x".join(map(str, shape)) if shape else "-"


def _op_flops(op, args, out):
    """Forward FLOPs of a convolution or linear op from its arrays (None for other ops)."""
    if len(args) < 2 or not hasattr(args[1], "ndim") or not hasattr(out, "shape"):
        return None
    w = args[1]
    if op.startswith("Conv") and w.ndim >= 3 and "Transpose" not in op:
        return 2 * math.prod(out.shape) * math.prod(w.shape[1:])
    if op == "Linear" and w.ndim == 2:
        return 2 * math.prod(out.shape) * w.shape[1]
    return None


def profile_tinyconv(name, batch, threads, steps=20, warmup=3, top=20):
    """Time each op's forward and backward inside tinyconv training steps; print a table.

    Wraps ``forward`` and ``backward`` of every ``tinyconv.autograd.Function`` subclass with a
    timer, keyed by op class, input shape, weight shape and output shape; times the optimizer
    step separately; reports what is left (module calls, autograd engine, Python) as "other".
    GFLOP/s for convolutions and linear layers: forward 2*out*(Cin/g*prod(k)), backward that
    times the number of gradients computed among input and weight (bias not counted).
    """
    import tinyconv
    tinyconv.set_num_threads(threads)
    acc = defaultdict(float)
    flops = {}
    originals = []

    def wrap(cls, kind):
        fn = cls.__dict__[kind].__func__
        op = cls.__name__

        def timed(ctx, *args):
            t0 = time.perf_counter()
            out = fn(ctx, *args)
            dt = time.perf_counter() - t0
            if kind == "forward":
                o = out[0] if isinstance(out, tuple) else out
                arrays = [a for a in args if hasattr(a, "shape")]
                ctx._bench_key = key = (op, tuple(_shape_of(a) for a in arrays[:2]), _shape_of(o))
                f = _op_flops(op, args, o)
                if f is not None:
                    ctx._bench_flops = f
                    flops[(key, "forward")] = f
            else:
                key = getattr(ctx, "_bench_key", (op, (), _shape_of(args[0])))
                f = getattr(ctx, "_bench_flops", None)
                if f is not None:
                    needs = getattr(ctx, "needs_input_grad", (True, True))
                    flops[(key, "backward")] = f * (int(bool(needs[0])) + int(bool(needs[1])))
            acc[(key, kind)] += dt
            return out

        originals.append((cls, kind, cls.__dict__[kind]))
        setattr(cls, kind, staticmethod(timed))

    for cls in _function_classes():
        for kind in ("forward", "backward"):
            if isinstance(cls.__dict__.get(kind), staticmethod):
                wrap(cls, kind)
    try:
        tr = tinyconv_trainer(tinyconv_model(name), make_batches(name, batch))
        # Time the optimizer separately: wrap the trainer's SGD, found in the step's closure.
        for cell in tr._step.__closure__ or ():
            obj = cell.cell_contents
            if isinstance(obj, tinyconv.optim.Optimizer):
                def timed_step(*a, _orig=obj.step, **k):
                    t0 = time.perf_counter()
                    r = _orig(*a, **k)
                    acc[(("SGD.step", (), None), "optim")] += time.perf_counter() - t0
                    return r

                obj.step = timed_step
        for _ in range(warmup):
            tr.step()
        acc.clear()
        gc.collect()
        t0 = time.perf_counter()
        for _ in range(steps):
            tr.step()
        total = time.perf_counter() - t0
    finally:
        for cls, kind, orig in originals:
            setattr(cls, kind, orig)
    per_step = total / steps
    rows = sorted(acc.items(), key=lambda kv: -kv[1])
    timed_sum = sum(acc.values())
    print(f"tinyconv training step profile: {MODELS[name][0]} batch {batch}, {threads} thread(s),"
          f" {steps} steps: {per_step * 1e3:.2f} ms per step ({batch / per_step:.0f} images/s)")
    print(f"{'op':14s} {'pass':8s} {'input / weight -> output':44s} {'ms/step':>8s} "
          f"{'share':>6s} {'GFLOP/s':>8s}")
    for (key, kind), t in rows[:top]:
        op, ins, out = key
        shapes = " ".join(_fmt_shape(x) for x in ins) + " -> " + _fmt_shape(out)
        f = flops.get((key, kind))
        gf = f"{f * steps / t / 1e9:8.1f}" if f and t > 0 else f"{'':8s}"
        print(f"{op:14s} {kind:8s} {shapes[:44]:44s} {t / steps * 1e3:8.3f} "
              f"{t / total * 100:5.1f}% {gf}")
    rest = rows[top:]
    if rest:
        t = sum(v for _, v in rest)
        print(f"{'(' + str(len(rest)) + ' more)':14s} {'':8s} {'':44s} {t / steps * 1e3:8.3f} "
              f"{t / total * 100:5.1f}%")
    other = total - timed_sum
    print(f"{'other':14s} {'':8s} {'(modules, autograd engine, Python)':44s} "
          f"{other / steps * 1e3:8.3f} {other / total * 100:5.1f}%")
    by_op = defaultdict(float)
    for ((op, _, _), kind), t in acc.items():
        by_op[f"{op} {kind}"] += t
    print("per op: " + ", ".join(f"{k} {v / steps * 1e3:.1f} ms"
                                 for k, v in sorted(by_op.items(), key=lambda kv: -kv[1])
                                 if v / total > 0.005) + f", other {other / steps * 1e3:.1f} ms")
    return {"model": name, "batch": batch, "threads": threads, "ms_per_step": per_step * 1e3,
            "items": [{"op": op, "inputs": ins, "output": out, "pass": kind,
                       "ms_per_step": t / steps * 1e3} for ((op, ins, out), kind), t in rows],
            "other_ms_per_step": other / steps * 1e3}


def profile_torch(name, batch, threads, steps=10, warmup=3, top=20):
    """PyTorch's own profiler over the same training steps: top ops by self CPU time."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    torch.set_num_threads(threads)
    tr = torch_trainer(torch_model(name), make_batches(name, batch))
    for _ in range(warmup):
        tr.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        tr.step()
    per_step = (time.perf_counter() - t0) / steps
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            tr.step()
    print(f"\ntorch training step profile: {MODELS[name][0]} batch {batch}, {threads} thread(s): "
          f"{per_step * 1e3:.2f} ms per step ({batch / per_step:.0f} images/s) without the "
          f"profiler; self CPU time per step, by op and input shapes:")
    events = sorted(prof.key_averages(group_by_input_shape=True),
                    key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in events)
    for e in events[:top]:
        shapes = " ".join(_fmt_shape(x) for x in (e.input_shapes or [])[:2] if x)
        print(f"{e.key[:34]:34s} {shapes[:40]:40s} {e.self_cpu_time_total / steps / 1e3:8.3f} ms "
              f"{e.self_cpu_time_total / total * 100:5.1f}%")


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--memory", nargs=4, metavar=("LIB", "MODEL", "BATCH", "THREADS"),
                    help="one memory probe in this process; prints JSON")
    ap.add_argument("--check", action="store_true",
                    help="check that the PyTorch definitions match tinyconv's, for every model")
    ap.add_argument("--profile", metavar="MODEL", choices=list(MODELS),
                    help="per-op timing of tinyconv's training step")
    ap.add_argument("--torch", action="store_true",
                    help="with --profile: also PyTorch's profiler on the same steps")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args(argv)
    if args.memory:
        lib, name, batch, threads = args.memory
        print(json.dumps(memory_probe(lib, name, int(batch), int(threads))))
        return 0
    if args.profile:
        import tinyconv
        batch = args.batch or MODELS[args.profile][2]
        threads = args.threads or tinyconv.get_num_threads()
        profile_tinyconv(args.profile, batch, threads, args.steps)
        if args.torch:
            profile_torch(args.profile, batch, threads, min(args.steps, 10))
        return 0
    if args.check:
        import torch  # noqa: F401  (torch first, as in run.py's default)
        bad = 0
        for name, (label, _, batch) in MODELS.items():
            _, report = build_trainers(name, batch, ["tinyconv", "torch", "torch-CL"])
            for peer, r in report.items():
                ok = not r["problems"]
                bad += not ok
                print(f"{label:14s} {peer:8s} losses tinyconv {r['loss_tinyconv']} "
                      f"torch {r['loss_torch']} rel {[f'{v:.1e}' for v in r['rel_diff']]} "
                      + ("ok" if ok else "MISMATCH: " + "; ".join(r["problems"])))
        return 1 if bad else 0
    ap.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
