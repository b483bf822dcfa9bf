"""Benchmark tinyconv against PyTorch (NCHW and channels-last) and the plain-numpy textbook code.

Usage::

    python bench/run.py [--parts layers|train|all] [--threads 1,2] [--repeat N] [--quick]
                        [--json FILE] [--plot FILE.png] [--filter SUBSTR]
                        [--peers tinyconv,torch,...] [--list]

See bench/README.md for what the columns mean. Everything runs in one process; the peers are
interleaved round-robin within each repetition, and before each timed sample the script waits
until no other thread of the process is still running (spinning OpenMP / OpenBLAS workers left
over from the previous peer would otherwise steal a core from the next one, see README).
"""

import argparse
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _p in (HERE, ROOT):
    if _p not in sys.path:
        sys.path.insert(0, _p)

torch = TF = tinyconv = F = None
WAIT_POLICY_AT_START = os.environ.get("OMP_WAIT_POLICY")  # before tinyconv sets its default
TORCH_ERROR = TINYCONV_ERROR = "not imported"


def _import_torch():
    global torch, TF, TORCH_ERROR
    try:
        import torch as _torch
        import torch.nn.functional as _TF
        torch, TF, TORCH_ERROR = _torch, _TF, None
    except ImportError as e:  # the torch columns then show '-'
        TORCH_ERROR = str(e)


def _import_tinyconv():
    global tinyconv, F, TINYCONV_ERROR
    try:
        import tinyconv as _tc
        try:
            import tinyconv.nn.functional as _F
        except ImportError:
            import tinyconv.functional as _F
        tinyconv, F, TINYCONV_ERROR = _tc, _F, None
    except ImportError as e:
        TINYCONV_ERROR = str(e)


def import_libraries(order):
    """Import PyTorch and tinyconv in the given order ("torch-first" or "tinyconv-first").

    torch-first (the default): tinyconv sets OMP_WAIT_POLICY=PASSIVE and GOMP_SPINCOUNT=3000 in
    os.environ at import, for its own OpenMP runtime; importing torch first leaves torch on its
    own defaults. But both link an OpenMP runtime called libgomp.so.1, and the dynamic loader
    gives tinyconv the one torch already loaded (torch/lib/libgomp.so.1), initialised before
    tinyconv's setting: in
    this order tinyconv's OpenMP workers spin like torch's. tinyconv-first: the one runtime
    starts with tinyconv's policy, for torch too. ``openmp_runtimes()`` reports what was loaded.
    """
    if order == "tinyconv-first":
        _import_tinyconv()
        _import_torch()
    else:
        _import_torch()
        _import_tinyconv()


def openmp_runtimes():
    """Paths of the OpenMP runtimes mapped into this process (Linux; [] elsewhere)."""
    found = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                base = os.path.basename(path)
                if (base.startswith(("libgomp", "libiomp", "libomp")) and ".so" in base
                        and path not in found):
                    found.append(path)
    except OSError:
        pass
    return found


import numpy_ref  # noqa: E402  (bench/numpy_ref.py)
import plot  # noqa: E402  (bench/plot.py: the chart of --plot; matplotlib only when drawing)
import train_step  # noqa: E402  (bench/train_step.py: models, steps, memory probe of part "train")

DTYPE = np.float32
CHECK_TOL = 1e-4  # max |peer - float64 oracle| / max |oracle|, per output and gradient


# --------------------------------------------------------------------------------------------
# Benchmark rows
# --------------------------------------------------------------------------------------------

@dataclass
class Case:
    """One benchmark row: an op, its input and weight shapes, PyTorch keyword arguments."""

    name: str
    op: str  # "conv", "conv_transpose", "max_pool", "avg_pool", or a key of ACTIVATIONS
    x: tuple
    w: tuple = None  # PyTorch layout: conv (Cout, Cin/g, *k), conv_transpose (Cin, Cout/g, *k)
    kw: dict = field(default_factory=dict)

    @property
    def nd(self):
        return len(self.x) - 2

    @property
    def has_weight(self):
        return self.op in ("conv", "conv_transpose")

    @property
    def is_activation(self):
        return self.op in numpy_ref.ACTIVATIONS

    @property
    def group(self):
        return "activation" if self.is_activation else "conv/pool"

    @property
    def fn_name(self):
        """The functional name in torch.nn.functional and tinyconv.nn.functional."""
        return numpy_ref.function_name(self.op, self.nd)

    def bias_size(self):
        if self.op == "conv":
            return self.w[0]
        return self.w[1] * self.kw.get("groups", 1)

    def flops(self, out_shape):
        """Forward FLOPs: 2 * N * Cout * Lout * Cin/groups * prod(k) (None for pooling and
        activations, which are bound by memory traffic, not arithmetic)."""
        if self.op == "conv":
            return 2 * math.prod(out_shape) * self.w[1] * math.prod(self.w[2:])
        if self.op == "conv_transpose":  # the input-gradient of the conv out_shape -> x
            return 2 * math.prod(self.x) * self.w[1] * math.prod(self.w[2:])
        return None


LAYER_CASES = [
    Case("LeNet conv1 1->6 5x5 p2 28x28 N64", "conv", (64, 1, 28, 28), (6, 1, 5, 5),
         dict(padding=2)),
    Case("LeNet conv2 6->16 5x5 14x14 N64", "conv", (64, 6, 14, 14), (16, 6, 5, 5)),
    Case("VGG 3x3 64->64 32x32 N32", "conv", (32, 64, 32, 32), (64, 64, 3, 3), dict(padding=1)),
    Case("ResNet 3x3 128->128 16x16 N32", "conv", (32, 128, 16, 16), (128, 128, 3, 3),
         dict(padding=1)),
    Case("stride2 3x3 64->128 32x32 N32", "conv", (32, 64, 32, 32), (128, 64, 3, 3),
         dict(stride=2, padding=1)),
    Case("1x1 256->64 8x8 N32", "conv", (32, 256, 8, 8), (64, 256, 1, 1)),
    Case("dilated2 3x3 64->64 32x32 p2 N32", "conv", (32, 64, 32, 32), (64, 64, 3, 3),
         dict(padding=2, dilation=2)),
    Case("depthwise 3x3 128 16x16 N32", "conv", (32, 128, 16, 16), (128, 1, 3, 3),
         dict(padding=1, groups=128)),
    Case("grouped4 3x3 128->128 16x16 N32", "conv", (32, 128, 16, 16), (128, 32, 3, 3),
         dict(padding=1, groups=4)),
    Case("convT 4x4 s2 p1 64->32 16x16 N32", "conv_transpose", (32, 64, 16, 16), (64, 32, 4, 4),
         dict(stride=2, padding=1)),
    Case("conv1d k3 64->64 L256 N32", "conv", (32, 64, 256), (64, 64, 3), dict(padding=1)),
    Case("conv3d k3 16->32 16^3 N8", "conv", (8, 16, 16, 16, 16), (32, 16, 3, 3, 3),
         dict(padding=1)),
    Case("maxpool 2x2 64x64x32x32", "max_pool", (64, 64, 32, 32), kw=dict(kernel_size=2)),
    Case("maxpool 3x3 s2 p1 64x64x32x32", "max_pool", (64, 64, 32, 32),
         kw=dict(kernel_size=3, stride=2, padding=1)),
    Case("avgpool 2x2 64x64x32x32", "avg_pool", (64, 64, 32, 32), kw=dict(kernel_size=2)),
]
# Activations, PyTorch's defaults, on the pooling rows' tensor (4.2 M elements, 16 MiB float32,
# as after a 64-channel 32x32 convolution at batch 64): op, keyword arguments. Their names start
# with "act " (--filter act selects them all).
ACTIVATION_SHAPE = (64, 64, 32, 32)
ACTIVATION_ROWS = [("relu", {}), ("leaky_relu", dict(negative_slope=0.01)), ("elu", {}),
                   ("gelu", {}), ("sigmoid", {}), ("tanh", {}), ("silu", {}), ("hardswish", {}),
                   ("softplus", {})]
LAYER_CASES += [
    Case(" ".join(["act", op, *map(str, kw.values()), "x".join(map(str, ACTIVATION_SHAPE))]),
         op, ACTIVATION_SHAPE, kw=kw)
    for op, kw in ACTIVATION_ROWS]


def make_data(case, seed=0):
    """Fixed random float32 input, weight (fan-in scaled), bias."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case.x, dtype=np.float32)
    w = b = None
    if case.has_weight:
        fan_in = case.w[1] * math.prod(case.w[2:])
        w = (rng.standard_normal(case.w, dtype=np.float32) / np.float32(math.sqrt(fan_in)))
        b = rng.standard_normal(case.bias_size(), dtype=np.float32) * np.float32(0.1)
    return x, w, b


def upstream_grad(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


# --------------------------------------------------------------------------------------------
# Peers: each turns a case into two callables (forward, forward+backward) and a result getter
# --------------------------------------------------------------------------------------------

class Prepared:
    """A peer's callables for one case.

    ``fwd()``: forward only, without recording for autograd. ``train()``: forward, then backward
    with the fixed upstream gradient (w.r.t. input, weight and bias), gradients reset first.
    ``results()``: output and gradients of one ``train()`` as float numpy arrays.
    """

    def __init__(self, fwd, train, results):
        self.fwd, self.train, self.results = fwd, train, results


class TinyconvPeer:
    name = "tinyconv"

    def available(self):
        return tinyconv is not None

    def prepare(self, case, x, w, b, gy):
        fn = getattr(F, case.fn_name)
        xt = tinyconv.tensor(x, requires_grad=True)
        params = [xt]
        args = ()
        if case.has_weight:
            wt, bt = tinyconv.tensor(w, requires_grad=True), tinyconv.tensor(b, requires_grad=True)
            params += [wt, bt]
            args = (wt, bt)
        kw = case.kw
        gy = np.ascontiguousarray(gy)
        state = {}

        def fwd():
            with tinyconv.no_grad():
                return fn(xt, *args, **kw)

        def train():
            for p in params:
                p.grad = None
            y = fn(xt, *args, **kw)
            y.backward(gy)
            state["y"] = y

        def results():
            train()
            out = {"out": state["y"].numpy(), "dx": xt.grad.numpy()}
            if case.has_weight:
                out.update(dW=params[1].grad.numpy(), db=params[2].grad.numpy())
            return out

        return Prepared(fwd, train, results)


class TorchPeer:
    def __init__(self, channels_last):
        self.channels_last = channels_last
        self.name = "torch-CL" if channels_last else "torch"

    def available(self):
        return torch is not None

    def prepare(self, case, x, w, b, gy):
        if self.channels_last:
            fmt = {2: torch.channels_last, 3: torch.channels_last_3d}.get(case.nd)
            if fmt is None:  # no channels-last memory format for 1-D (3-dim) tensors
                return None
            conv = lambda a: torch.from_numpy(a).contiguous(memory_format=fmt)  # noqa: E731
        else:
            conv = torch.from_numpy
        fn = getattr(TF, case.fn_name)
        xt = conv(x).requires_grad_()
        params = [xt]
        args = ()
        if case.has_weight:
            wt, bt = conv(w).requires_grad_(), torch.from_numpy(b).requires_grad_()
            params += [wt, bt]
            args = (wt, bt)
        kw = case.kw
        with torch.no_grad():
            y0 = fn(xt, *args, **kw)
        # Upstream gradient in the memory format of the peer's own output (preserve_format).
        gyt = torch.empty_like(y0).copy_(torch.from_numpy(gy))
        state = {}

        def fwd():
            with torch.no_grad():
                return fn(xt, *args, **kw)

        def train():
            for p in params:
                p.grad = None
            y = fn(xt, *args, **kw)
            y.backward(gyt)
            state["y"] = y

        def results():
            train()
            out = {"out": state["y"].detach().numpy(), "dx": xt.grad.numpy()}
            if case.has_weight:
                out.update(dW=params[1].grad.numpy(), db=params[2].grad.numpy())
            return out

        return Prepared(fwd, train, results)


class NumpyPeer:
    name = "numpy"

    def available(self):
        return True

    def prepare(self, case, x, w, b, gy):
        layer = numpy_ref.make_layer(case.op, w, b, case.kw)
        y0 = layer.forward(x)
        # Upstream gradient in the layout of the layer's own output (channels-last, see numpy_ref).
        gyn = np.empty_like(y0)
        gyn[...] = gy
        state = {}

        def fwd():
            return layer.forward(x)

        def train():
            state["y"] = layer.forward(x)
            state["dx"] = layer.backward(gyn)

        def results():
            train()
            out = {"out": state["y"], "dx": state["dx"]}
            if case.has_weight:
                out.update(dW=layer.dW, db=layer.db)
            return out

        return Prepared(fwd, train, results)


ALL_PEERS = {"tinyconv": TinyconvPeer(), "torch": TorchPeer(False), "torch-CL": TorchPeer(True),
             "numpy": NumpyPeer()}


def oracle(case, x, w, b, gy):
    """Float64 output and gradients: PyTorch NCHW if importable, else numpy_ref in float64."""
    if torch is not None:
        fn = getattr(TF, case.fn_name)
        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        args = ()
        if case.has_weight:
            wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
            bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
            args = (wt, bt)
        y = fn(xt, *args, **case.kw)
        y.backward(torch.tensor(gy, dtype=torch.float64))
        out = {"out": y.detach().numpy(), "dx": xt.grad.numpy()}
        if case.has_weight:
            out.update(dW=wt.grad.numpy(), db=bt.grad.numpy())
        return "torch float64", out
    f64 = lambda a: None if a is None else a.astype(np.float64)  # noqa: E731
    layer = numpy_ref.make_layer(case.op, f64(w), f64(b), case.kw)
    out = {"out": layer.forward(f64(x)), "dx": layer.backward(f64(gy))}
    if case.has_weight:
        out.update(dW=layer.dW, db=layer.db)
    return "numpy_ref float64", out


def check(got, ref):
    """Worst relative error over output and gradients, and a list of problems."""
    problems, worst = [], 0.0
    for key, r in ref.items():
        g = got.get(key)
        if g is None:
            problems.append(f"{key} missing")
            continue
        g = np.asarray(g)
        if g.shape != r.shape:
            problems.append(f"{key} shape {g.shape} != {r.shape}")
            continue
        if g.dtype != DTYPE:
            problems.append(f"{key} dtype {g.dtype} != float32")
        err = float(np.max(np.abs(g.astype(np.float64) - r)) / (np.max(np.abs(r)) + 1e-30))
        worst = max(worst, err)
        if not err <= CHECK_TOL:
            problems.append(f"{key} relative error {err:.1e}")
    return worst, problems


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------

_MAIN_TID = threading.get_native_id()
_HAVE_PROC = os.path.isdir("/proc/self/task")


def _busy_threads():
    """Threads of this process, other than the main one, currently running (state R)."""
    busy = 0
    for tid in os.listdir("/proc/self/task"):
        if int(tid) == _MAIN_TID:
            continue
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                s = f.read()
        except OSError:
            continue
        if s[s.rfind(")") + 2] == "R":
            busy += 1
    return busy


def wait_quiet(cap=0.5):
    """Wait until no worker thread still spins after the previous peer's call (at most ``cap`` s).

    OpenBLAS workers spin ~0.1 s after a matmul, libgomp workers a few ms; a thread spinning on
    one of the 2 cores made the next peer up to 1.5x slower. Returns the seconds waited.
    """
    if not _HAVE_PROC:
        time.sleep(0.15)
        return 0.15
    t0 = time.perf_counter()
    quiet = 0
    while time.perf_counter() - t0 < cap:
        if _busy_threads() == 0:
            quiet += 1
            if quiet >= 2:
                break
        else:
            quiet = 0
        time.sleep(0.0005)
    return time.perf_counter() - t0


def other_runtime_ns():
    """{task id: nanoseconds run so far} for every task on the machine outside this process.

    From ``/proc/<pid>/task/<tid>/schedstat`` (exact, unlike the 10 ms ticks of /proc/stat);
    reading all of them takes ~0.6 ms. None where unavailable.
    """
    if not _HAVE_PROC:
        return None
    me, out = os.getpid(), {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f:
                    out[int(tid)] = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return out or None


def other_ns_between(before, after):
    if before is None or after is None:
        return None
    return sum(v - before.get(t, 0) for t, v in after.items())


# A sample is "disturbed" when other processes ran for more than this fraction of the machine's
# capacity during it (the idle machine's background is ~0.3 %). On 2 cores, one other busy
# process made 0.15 ms multi-threaded PyTorch calls take ~20 ms: OpenMP barriers wait for the
# thread that lost its core.
DISTURBED_FRACTION = 0.02
NCPU = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class LoadMonitor:
    """Average number of cores used by other processes between ``start()`` and ``stop()``."""

    def start(self):
        self.t0, self.r0 = time.perf_counter(), other_runtime_ns()

    def stop(self):
        ns = other_ns_between(self.r0, other_runtime_ns())
        dt = time.perf_counter() - self.t0
        return None if ns is None or dt <= 0 else max(0.0, ns / 1e9 / dt)


class RetryBudget:
    """Seconds the whole run may spend waiting for other processes to go idle before retakes."""

    def __init__(self, seconds):
        self.left = seconds


RETRY_BUDGET = RetryBudget(120.0)


def wait_machine_idle(max_s, window=0.2):
    """Wait (at most ``max_s``, within the run's budget) until other processes use under 5 % of
    a core for ``window`` s. Returns False when the budget is spent."""
    if RETRY_BUDGET.left <= 0:
        return False
    mon = LoadMonitor()
    t0 = time.perf_counter()
    try:
        while time.perf_counter() - t0 < min(max_s, RETRY_BUDGET.left):
            mon.start()
            time.sleep(window)
            load = mon.stop()
            if load is None or load < 0.05:
                return True
        return False
    finally:
        RETRY_BUDGET.left -= time.perf_counter() - t0


def sample(fn, inner):
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


def warm(fn, seconds):
    """Call ``fn`` untimed for at least ``seconds`` (at least once).

    On these virtual machines a core left idle for 20-100 ms wakes up slowly: the first
    2-thread PyTorch calls after such a pause measured 10-15 ms instead of 0.3 ms. Timing starts
    once both cores are busy again, i.e. in the steady state of a training loop.
    """
    t0 = time.perf_counter()
    fn()
    while time.perf_counter() - t0 < seconds:
        fn()


def checked_sample(fn, inner, retries, idle_wait, warm_s):
    """One sample, taken again (up to ``retries`` times) while other processes disturbed it.

    Returns (seconds per call, disturbed, retakes); ``disturbed`` is True when the kept sample
    was still disturbed because the retries ran out.
    """
    retakes = 0
    while True:
        wait_quiet()
        warm(fn, warm_s)
        r0 = other_runtime_ns()
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        wall = time.perf_counter() - t0
        other = other_ns_between(r0, other_runtime_ns())
        disturbed = other is not None and other / 1e9 > DISTURBED_FRACTION * wall * NCPU
        if not disturbed or retakes >= retries or RETRY_BUDGET.left <= 0:
            return wall / inner, disturbed, retakes
        retakes += 1
        wait_machine_idle(idle_wait)


def time_interleaved(fns, repeat, min_sample_s, retries=0, idle_wait=0.0, warm_s=0.01):
    """Median seconds per call of each callable in ``fns`` (dict name -> fn).

    Per callable: ``inner`` calls per sample, chosen so that a sample lasts at least
    ``min_sample_s``, each sample preceded by untimed calls for ``warm_s`` (at least one) after
    the previous peer's threads went quiet. Each repetition runs one sample of every callable,
    round-robin, the starting peer rotating from one repetition to the next. A sample during
    which other processes ran is taken again (``retries`` times per callable at most).
    Returns (medians, samples, inner, stats) with stats[name] = {"retakes", "disturbed"}.
    """
    names = list(fns)
    inner = {}
    for name in names:
        wait_quiet()
        warm(fns[name], warm_s)
        t = sample(fns[name], 1)
        inner[name] = max(1, min(1000, math.ceil(min_sample_s / max(t, 1e-7))))
    samples = {name: [] for name in names}
    stats = {name: {"retakes": 0, "disturbed": 0} for name in names}
    for r in range(repeat):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            st = stats[name]
            t, disturbed, retakes = checked_sample(fns[name], inner[name],
                                                   max(0, retries - st["retakes"]), idle_wait,
                                                   warm_s)
            samples[name].append(t)
            st["retakes"] += retakes
            st["disturbed"] += disturbed
    return {n: statistics.median(s) for n, s in samples.items()}, samples, inner, stats


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

PASSES = ("fwd", "fwd+bwd")


def _ms(v):
    if v is None:
        return "-"
    s = v * 1e3
    return f"{s:.3f}" if s < 1 else f"{s:.2f}" if s < 100 else f"{s:.1f}"


def _ratio(num, den):
    if num is None or den is None or den <= 0:
        return "-"
    return f"{num / den:.2f}x"


class Table:
    COLS = [("layer", 34, "<"), ("pass", 7, "<"), ("tinyconv", 9, ">"), ("torch", 9, ">"),
            ("torch-CL", 9, ">"), ("numpy", 9, ">"), ("GFLOP/s", 8, ">"), ("vs torch", 8, ">"),
            ("vs CL", 7, ">"), ("vs numpy", 8, ">"), ("other", 5, ">")]

    def line(self, values):
        return "  ".join(f"{v:{a}{w}}" for v, (_, w, a) in zip(values, self.COLS))

    def header(self):
        h = self.line([c[0] for c in self.COLS])
        return h + "\n" + "-" * len(h)

    def row(self, name, pname, ms, flops, status, load, disturbed):
        def cell(peer):
            if status.get(peer) == "FAIL":
                return "FAIL"
            return _ms(ms.get(peer))

        tc = ms.get("tinyconv")
        gf = f"{flops / tc / 1e9:.1f}" if flops and tc else "-"
        return self.line([name[:34], pname, cell("tinyconv"), cell("torch"), cell("torch-CL"),
                          cell("numpy"), gf, _ratio(ms.get("torch"), tc),
                          _ratio(ms.get("torch-CL"), tc), _ratio(ms.get("numpy"), tc),
                          "?" if load is None else f"{load:.2f}" + ("!" if disturbed else " ")])


def _geomean(xs):
    xs = [x for x in xs if x]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


# --------------------------------------------------------------------------------------------
# Parts
# --------------------------------------------------------------------------------------------

def run_layers(args, peers, threads, out):
    """Part "layers": every row of LAYER_CASES, forward and forward+backward."""
    cases = [c for c in LAYER_CASES if selected(c.name, args.filter)]
    if not cases:
        print(f"no layer row matches --filter {args.filter!r}")
        return 0
    table = Table()
    print(f"\n== part 'layers', {threads} thread(s): median ms per call "
          f"(repeat {args.repeat}), speedup = peer ms / tinyconv ms ==")
    print(table.header(), flush=True)
    failures = noisy = 0
    monitor = LoadMonitor()
    # Geometric means per group of rows: convolutions and pooling, and activations.
    speedups = {}
    for case in cases:
        gc.collect()
        x, w, b = make_data(case)
        gy = upstream_grad(_out_shape(case, x, w, b))
        ref_name, ref = oracle(case, x, w, b, gy)
        flops = case.flops(ref["out"].shape)
        prepared, status, errors = {}, {}, {}
        for peer in peers:
            try:
                p = peer.prepare(case, x, w, b, gy)
                if p is None:
                    continue
                err, problems = check(p.results(), ref)
            except Exception as e:  # a crashing peer is reported, not fatal for the others
                err, problems = None, [f"{type(e).__name__}: {e}"]
            errors[peer.name] = err
            if problems:
                status[peer.name] = "FAIL"
                failures += 1
                print(f"   !! {peer.name} on {case.name!r} disagrees with {ref_name}: "
                      + "; ".join(problems), flush=True)
            else:
                status[peer.name] = "ok"
                prepared[peer.name] = p
        gc.disable()
        try:
            for pname in PASSES:
                fns = {n: (p.fwd if pname == "fwd" else p.train) for n, p in prepared.items()}
                monitor.start()
                med, samples, inner, stats = time_interleaved(
                    fns, args.repeat, args.min_sample, args.retries, args.idle_wait,
                    args.warm)
                load = monitor.stop()
                disturbed = sum(st["disturbed"] for st in stats.values())
                noisy += bool(disturbed)
                print(table.row(case.name, pname, med, flops * (1 if pname == "fwd" else 3)
                                if flops else None, status, load, disturbed), flush=True)
                tc = med.get("tinyconv")
                for other in ("torch", "torch-CL", "numpy"):
                    if tc and med.get(other):
                        speedups.setdefault((case.group, pname, other), []).append(
                            med[other] / tc)
                out.append({
                    "part": "layers", "layer": case.name, "pass": pname, "threads": threads,
                    "group": case.group, "op": case.op, "x": list(case.x),
                    "w": list(case.w) if case.w else None,
                    "kwargs": case.kw, "flops": flops * (1 if pname == "fwd" else 3)
                    if flops else None,
                    "median_ms": {n: v * 1e3 for n, v in med.items()},
                    "samples_ms": {n: [v * 1e3 for v in s] for n, s in samples.items()},
                    "inner": inner, "check": status, "check_rel_err": errors,
                    "oracle": ref_name, "other_load_cores": load, "sample_stats": stats,
                })
        finally:
            gc.enable()
        del prepared
    print("-" * len(table.header().split("\n")[0]))
    for group in dict.fromkeys(c.group for c in cases):
        for pname in PASSES:
            parts = [f"vs {o} {g:.2f}x" for o in ("torch", "torch-CL", "numpy")
                     if (g := _geomean(speedups.get((group, pname, o), [])))]
            if parts:
                print(f"geometric mean speedup of tinyconv, {group} rows, {pname}: "
                      + ", ".join(parts))
    if noisy:
        print(f"warning: in {noisy} row(s) ('!' in column 'other') some samples were taken while "
              "other processes ran,\n         even after retakes; those times are not "
              "trustworthy: run again on an idle machine")
    return failures


def _out_shape(case, x, w, b):
    """Output shape from the numpy reference's size formulas (no compute)."""
    if case.is_activation:
        return x.shape
    sp = x.shape[2:]
    kw = case.kw
    nd = case.nd
    t = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v,) * nd  # noqa: E731
    if case.op == "conv":
        k = case.w[2:]
        s, p, d = t(kw.get("stride", 1)), t(kw.get("padding", 0)), t(kw.get("dilation", 1))
        o = [numpy_ref.conv_output_size(*a) for a in zip(sp, k, s, p, d)]
        return (x.shape[0], case.w[0], *o)
    if case.op == "conv_transpose":
        k = case.w[2:]
        s, p, d = t(kw.get("stride", 1)), t(kw.get("padding", 0)), t(kw.get("dilation", 1))
        op = t(kw.get("output_padding", 0))
        o = [(i - 1) * s_ - 2 * p_ + d_ * (k_ - 1) + op_ + 1
             for i, k_, s_, p_, d_, op_ in zip(sp, k, s, p, d, op)]
        return (x.shape[0], case.bias_size(), *o)
    k = t(kw["kernel_size"])
    s = t(kw.get("stride") or kw["kernel_size"])
    p = t(kw.get("padding", 0))
    o = [numpy_ref.conv_output_size(i, k_, s_, p_) for i, k_, s_, p_ in zip(sp, k, s, p)]
    return (x.shape[0], x.shape[1], *o)


# --------------------------------------------------------------------------------------------
# Part "train": whole training steps
# --------------------------------------------------------------------------------------------

TRAIN_PEERS = ("tinyconv", "torch", "torch-CL")
LENET_SWEEP = (16, 32, 64, 128, 256)
# The targets for tinyconv's images/s over PyTorch's (NCHW), printed under the table.
TRAIN_TARGETS = {"lenet5": 1.3, "simple_convnet": 1.3, "small_vgg": 1.0, "resnet8": 1.0}


def train_rows():
    """(row name, model, batch, section): the four models at their batch, then LeNet-5's sweep."""
    rows = [(f"{label} N{batch}", name, batch, "models")
            for name, (label, _, batch) in train_step.MODELS.items()]
    label = train_step.MODELS["lenet5"][0]
    rows += [(f"{label} N{b}", "lenet5", b, "sweep") for b in LENET_SWEEP]
    return rows


class TrainTable(Table):
    COLS = [("model", 20, "<"), ("tinyconv", 9, ">"), ("torch", 9, ">"), ("torch-CL", 9, ">"),
            ("vs torch", 8, ">"), ("vs CL", 7, ">"), ("tc MiB", 7, ">"), ("torch MiB", 9, ">"),
            ("mem", 6, ">"), ("loss d", 7, ">"), ("other", 5, ">")]

    def train_row(self, name, ips, status, mem, loss_diff, load, disturbed):
        def cell(peer):
            if status.get(peer) == "FAIL":
                return "FAIL"
            v = ips.get(peer)
            return "-" if v is None else f"{v:.0f}"

        def mib(lib):
            m = mem.get(lib) or {}
            return "-" if m.get("peak_mib") is None else f"{m['peak_mib']:.1f}"

        tc = ips.get("tinyconv")
        m_tc, m_t = (mem.get("tinyconv") or {}).get("peak_mib"), (mem.get("torch") or {}).get(
            "peak_mib")
        return self.line([
            name[:20], cell("tinyconv"), cell("torch"), cell("torch-CL"),
            _ratio(tc, ips.get("torch")), _ratio(tc, ips.get("torch-CL")), mib("tinyconv"),
            mib("torch"), _ratio(m_tc, m_t), "-" if loss_diff is None else f"{loss_diff:.0e}",
            "?" if load is None else f"{load:.2f}" + ("!" if disturbed else " ")])


def run_train(args, peers, threads, out):
    """Part "train": whole training steps (forward, cross-entropy, backward, SGD momentum 0.9).

    Images per second of each peer, interleaved as in part "layers" (median of --repeat samples,
    each after a warm-up); every PyTorch model is first checked against tinyconv's (same weights,
    same losses); peak memory of tinyconv and torch from fresh subprocesses (train_step.py).
    """
    rows = [r for r in train_rows()
            if selected(r[0], args.filter)]
    if not rows:
        print(f"no train row matches --filter {args.filter!r}")
        return 0
    names = [p.name for p in peers if p.name in TRAIN_PEERS]
    if not names:
        print("part 'train': none of the peers tinyconv, torch, torch-CL selected")
        return 0
    min_sample = 0.1 if args.quick else 0.3
    warm_s = 0.03 if args.quick else 0.1
    table = TrainTable()
    print(f"\n== part 'train', {threads} thread(s): training steps (forward, cross-entropy, "
          f"backward, SGD lr {train_step.LR} momentum {train_step.MOMENTUM}), median images/s "
          f"(repeat {args.repeat}) ==\n"
          f"   vs: tinyconv images/s / peer images/s (above 1.00x tinyconv is faster); MiB: peak "
          f"RSS increase over {train_step.MEMORY_STEPS} steps in a fresh process;\n"
          f"   mem: tinyconv MiB / torch MiB; loss d: largest relative difference between "
          f"tinyconv's and torch's first two losses")
    print(table.header(), flush=True)
    failures = noisy = 0
    monitor = LoadMonitor()
    done = {}
    section = None
    for row_name, model, batch, sec in rows:
        if sec != section:
            if sec == "sweep":
                print(f"-- {train_step.MODELS['lenet5'][0]} images/s against batch size --",
                      flush=True)
            section = sec
        if (model, batch) in done:  # the sweep's N64 is the models row: print it again
            print(done[(model, batch)], flush=True)
            continue
        gc.collect()
        status, problems = {}, []
        try:
            trainers, report = train_step.build_trainers(model, batch, names)
        except Exception as e:  # a crashing library is reported, not fatal for the other rows
            print(f"   !! {row_name}: {type(e).__name__}: {e}", flush=True)
            failures += 1
            continue
        loss_diff = None
        for peer, r in report.items():
            if r["rel_diff"]:
                loss_diff = max([loss_diff or 0.0] + r["rel_diff"])
            if r["problems"]:
                status[peer] = "FAIL"
                failures += 1
                problems.append(f"{peer}: " + "; ".join(r["problems"]))
        for p in problems:
            print(f"   !! {row_name}: {p}", flush=True)
        fns = {n: t.step for n, t in trainers.items() if status.get(n) != "FAIL"}
        monitor.start()
        med, samples, inner, stats = time_interleaved(
            fns, args.repeat, min_sample, args.retries, args.idle_wait, warm_s)
        load = monitor.stop()
        final_loss = {n: t.loss_value() for n, t in trainers.items() if n in fns}
        del trainers, fns
        gc.collect()
        mem = {}
        if not args.no_memory:
            for lib in ("tinyconv", "torch"):
                if lib in names:
                    mem[lib] = train_step.measure_memory(lib, model, batch, threads)
                    if mem[lib].get("error"):
                        print(f"   !! memory probe {lib} {row_name}: {mem[lib]['error']}",
                              flush=True)
        disturbed = sum(st["disturbed"] for st in stats.values())
        noisy += bool(disturbed)
        ips = {n: batch / v for n, v in med.items()}
        line = table.train_row(row_name, ips, status, mem, loss_diff, load, disturbed)
        done[(model, batch)] = line
        print(line, flush=True)
        out.append({
            "part": "train", "row": row_name, "model": model, "batch": batch,
            "threads": threads, "input": list(train_step.MODELS[model][1]),
            "lr": train_step.LR, "momentum": train_step.MOMENTUM,
            "images_per_s": ips, "median_ms": {n: v * 1e3 for n, v in med.items()},
            "samples_ms": {n: [v * 1e3 for v in s] for n, s in samples.items()},
            "inner": inner, "ratio_vs_torch": ips["tinyconv"] / ips["torch"]
            if "tinyconv" in ips and "torch" in ips else None,
            "memory": mem, "match": report, "check": status, "final_loss": final_loss,
            "other_load_cores": load, "sample_stats": stats,
        })
    print("-" * len(table.header().split("\n")[0]))
    for r in out:
        if (r.get("part") == "train" and r["threads"] == threads and r["batch"] ==
                train_step.MODELS[r["model"]][2] and r["model"] in TRAIN_TARGETS
                and r["ratio_vs_torch"] is not None):
            target = TRAIN_TARGETS[r["model"]]
            m = r["memory"]
            mt, mp = (m.get("tinyconv") or {}).get("peak_mib"), (m.get("torch") or {}).get(
                "peak_mib")
            mem_txt = "" if mt is None or mp is None else (
                f"; memory {mt:.1f} vs {mp:.1f} MiB: " + ("met" if mt <= mp else "NOT met"))
            print(f"target {r['row']:20s} >= {target:.1f}x torch: {r['ratio_vs_torch']:.2f}x "
                  + ("met" if r["ratio_vs_torch"] >= target else "NOT met") + mem_txt)
    if noisy:
        print(f"warning: in {noisy} row(s) ('!' in column 'other') some samples were taken while "
              "other processes ran,\n         even after retakes; those times are not "
              "trustworthy: run again on an idle machine")
    return failures


# --------------------------------------------------------------------------------------------
# Part "scaling": tinyconv's speedup from 1 thread to N, interleaved
# --------------------------------------------------------------------------------------------

#: The rows of the issue's scaling target (2 threads at least 1.6x 1 thread), and its ratio.
SCALING_ROWS = ("VGG", "ResNet")
SCALING_TARGET = 1.6


def run_scaling(args, peers, threads, out):
    """Part "scaling": tinyconv alone on the VGG and ResNet rows (and any other row --filter
    selects), each pass timed at 1 thread and at ``threads`` in turn within one interleaved
    measurement, so that the ratio does not mix minutes of host drift between two passes of
    part 'layers'. Runs once, in the pass of the largest --threads count (above 1)."""
    if threads != max(args.threads) or threads < 2:
        if threads == max(args.threads):
            print("\n== part 'scaling' needs a thread count above 1 (--threads) ==")
        return 0
    if tinyconv is None:
        print("\n== part 'scaling' needs tinyconv ==")
        return 0
    cases = [c for c in LAYER_CASES if selected(c.name, args.filter)
             and (args.filter or c.name.startswith(SCALING_ROWS))]
    if not cases:
        print(f"no layer row matches --filter {args.filter!r}")
        return 0
    print(f"\n== part 'scaling': tinyconv at 1 thread and at {threads}, interleaved: median ms "
          f"per call (repeat {args.repeat}) ==")
    print(f"{'layer':36s} {'pass':8s} {'1 thread':>9s} {f'{threads} threads':>10s} "
          f"{'speedup':>8s}  target")
    failed = 0
    for case in cases:
        gc.collect()
        x, w, b = make_data(case)
        gy = upstream_grad(_out_shape(case, x, w, b))
        prep = TinyconvPeer().prepare(case, x, w, b, gy)
        for pname in PASSES:
            fn = prep.fwd if pname == "fwd" else prep.train

            def at(n, fn=fn):
                def call():
                    tinyconv.set_num_threads(n)
                    fn()
                return call

            gc.disable()
            try:
                med, samples, inner, stats = time_interleaved(
                    {"1": at(1), str(threads): at(threads)}, args.repeat, args.min_sample,
                    args.retries, args.idle_wait, args.warm)
            finally:
                gc.enable()
                tinyconv.set_num_threads(threads)
            ratio = med["1"] / med[str(threads)]
            verdict = ""
            if threads == 2 and case.name.startswith(SCALING_ROWS):
                ok = ratio >= SCALING_TARGET
                verdict = f">= {SCALING_TARGET}x: " + ("met" if ok else "NOT met")
            print(f"{case.name:36s} {pname:8s} {_ms(med['1']):>9s} {_ms(med[str(threads)]):>10s} "
                  f"{ratio:7.2f}x  {verdict}", flush=True)
            out.append({"part": "scaling", "layer": case.name, "pass": pname,
                        "threads": threads, "median_ms": {n: v * 1e3 for n, v in med.items()},
                        "samples_ms": {n: [v * 1e3 for v in s] for n, s in samples.items()},
                        "inner": inner, "speedup": ratio, "sample_stats": stats})
    return failed


PARTS = {"layers": run_layers, "train": run_train, "scaling": run_scaling}
PART_SETS = {"all": ["layers", "train", "scaling"]}


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

def set_threads(n):
    if tinyconv is not None:
        tinyconv.set_num_threads(n)  # also sets the OpenBLAS threads numpy (and numpy_ref) uses
    if torch is not None:
        torch.set_num_threads(n)


def environment():
    env = {"python": platform.python_version(), "numpy": np.__version__,
           "machine": platform.machine(), "cpus": os.cpu_count(),
           "OMP_WAIT_POLICY_at_start": WAIT_POLICY_AT_START,
           "OMP_WAIT_POLICY_now": os.environ.get("OMP_WAIT_POLICY"),
           "openmp_runtimes": openmp_runtimes(),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}
    try:
        with open("/proc/cpuinfo") as f:
            env["cpu"] = next((ln.split(":", 1)[1].strip() for ln in f
                               if ln.startswith("model name")), None)
    except OSError:
        pass
    env["torch"] = torch.__version__ if torch is not None else f"not available ({TORCH_ERROR})"
    if tinyconv is not None:
        env["tinyconv"] = getattr(tinyconv, "__version__", "?")
        try:
            from tinyconv import _parallel
            env["blas"] = _parallel.blas_info()
        except Exception:  # informational only
            pass
    else:
        env["tinyconv"] = f"not available ({TINYCONV_ERROR})"
    try:
        env["git"] = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                    capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return env


def selected(name, filt):
    """Whether a row is run under --filter (a case-insensitive substring of its name)."""
    return not filt or filt.lower() in name.lower()


def list_rows(parts, filt=None):
    """Print the rows of the given parts that --filter selects (--list)."""
    if "layers" in parts:
        for c in LAYER_CASES:
            if selected(c.name, filt):
                print(f"{c.name:34s} {c.op:15s} x{c.x} w{c.w} {c.kw}")
    if "train" in parts:
        for row, model, batch, _ in train_rows():
            if not selected(row, filt):
                continue
            print(f"train: {row:22s} tinyconv.models.get_model({model!r}), input "
                  f"({batch}, {', '.join(map(str, train_step.MODELS[model][1]))})")


def _import_order(argv):
    """--import-order must act before argparse needs tinyconv (for the default thread count)."""
    argv = sys.argv[1:] if argv is None else argv
    for i, a in enumerate(argv):
        if a.startswith("--import-order="):
            return a.split("=", 1)[1]
        if a == "--import-order" and i + 1 < len(argv):
            return argv[i + 1]
    return "torch-first"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="Benchmark tinyconv against PyTorch and plain numpy (see bench/README.md).")
    ap.add_argument("--parts", default="layers",
                    help=f"comma-separated parts to run, from {sorted(PARTS)}, or 'all' "
                         f"(default: layers)")
    ap.add_argument("--threads", default=None,
                    help="comma-separated thread counts, e.g. 1,2 (default: tinyconv's default)")
    ap.add_argument("--repeat", type=int, default=None,
                    help="timed repetitions per peer and pass; the median is shown "
                         "(default 7, --quick 3)")
    ap.add_argument("--quick", action="store_true",
                    help="fewer repetitions and shorter samples (about a minute)")
    ap.add_argument("--json", metavar="FILE", help="also write all samples and metadata as JSON")
    ap.add_argument("--plot", metavar="FILE",
                    help="also draw tinyconv's speedups of part 'layers' as a bar chart (e.g. "
                         "chart.png; needs matplotlib, else a one-line note)")
    ap.add_argument("--filter", metavar="SUBSTR", help="only rows whose name contains SUBSTR")
    ap.add_argument("--peers", default=",".join(ALL_PEERS),
                    help=f"comma-separated peers to run (default: {','.join(ALL_PEERS)})")
    ap.add_argument("--retries", type=int, default=5,
                    help="per peer and pass, how many samples disturbed by other processes may "
                         "be taken again (default 5; 0 disables)")
    ap.add_argument("--idle-wait", type=float, default=2.0, metavar="SECONDS",
                    help="before a retake, wait up to this long for the machine to idle "
                         "(default 2; the whole run waits at most --idle-budget)")
    ap.add_argument("--idle-budget", type=float, default=120.0, metavar="SECONDS",
                    help="total seconds a run may spend waiting for an idle machine (default 120)")
    ap.add_argument("--import-order", choices=("torch-first", "tinyconv-first"),
                    default="torch-first",
                    help="which library is imported (and initialises the shared OpenMP "
                         "runtime) first; see README (default: torch-first)")
    ap.add_argument("--no-memory", action="store_true",
                    help="part 'train': skip the peak-memory subprocesses")
    ap.add_argument("--list", action="store_true",
                    help="list the rows (those --filter selects) and exit")
    args = ap.parse_args(argv)
    if args.repeat is None:
        args.repeat = 3 if args.quick else 7
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    args.min_sample = 0.005 if args.quick else 0.02
    args.warm = 0.005 if args.quick else 0.01
    args.parts = [q for p in args.parts.split(",") if p.strip()
                  for q in PART_SETS.get(p.strip(), [p.strip()])]
    bad = [p for p in args.parts if p not in PARTS]
    if bad:
        ap.error(f"unknown part(s) {bad}; available: {sorted(PARTS)}")
    args.peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    bad = [p for p in args.peers if p not in ALL_PEERS]
    if bad:
        ap.error(f"unknown peer(s) {bad}; available: {list(ALL_PEERS)}")
    if args.threads is None:
        args.threads = [tinyconv.get_num_threads() if tinyconv is not None
                        else len(os.sched_getaffinity(0))]
    else:
        try:
            args.threads = [int(t) for t in args.threads.split(",") if t.strip()]
        except ValueError:
            ap.error(f"--threads expects comma-separated integers, got {args.threads!r}")
        if not args.threads or min(args.threads) < 1:
            ap.error("--threads needs positive integers")
    return args


def main(argv=None):
    import_libraries(_import_order(argv))
    args = parse_args(argv)
    if args.list:
        list_rows(args.parts, args.filter)
        return 0
    env = environment()
    env["import_order"] = args.import_order
    print("tinyconv benchmark | " + " | ".join(
        f"{k}: {env[k]}" for k in ("cpu", "cpus", "python", "numpy", "torch", "tinyconv", "blas",
                                   "git", "import_order") if env.get(k) is not None))
    rts = env["openmp_runtimes"]
    print(f"OpenMP runtime(s) loaded: {', '.join(rts) or 'none'}; OMP_WAIT_POLICY at start: "
          f"{WAIT_POLICY_AT_START or 'unset'}")
    if (torch is not None and tinyconv is not None and len(rts) == 1
            and args.import_order == "torch-first" and WAIT_POLICY_AT_START is None):
        print("note: tinyconv shares torch's OpenMP runtime, started before tinyconv could set "
              "its wait policy\n      (PASSIVE after 3000 spins), so tinyconv's OpenMP workers "
              "spin for libgomp's default time here (see bench/README.md; compare --import-order "
              "tinyconv-first)")
    peers = []
    for name in args.peers:
        peer = ALL_PEERS[name]
        if peer.available():
            peers.append(peer)
        else:
            print(f"peer {name} not available: "
                  f"{TORCH_ERROR if name.startswith('torch') else TINYCONV_ERROR} "
                  f"(its column shows '-')")
    if tinyconv is None:
        print("warning: without tinyconv, numpy's BLAS thread count is not set by --threads")
    results, failures = [], 0
    RETRY_BUDGET.left = args.idle_budget
    t0 = time.perf_counter()
    for n in args.threads:
        set_threads(n)
        for part in args.parts:
            failures += PARTS[part](args, peers, n, results)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s; "
          + (f"{failures} correctness check(s) FAILED" if failures else "all correctness checks passed"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": env, "args": {k: v for k, v in vars(args).items()},
                       "results": results}, f, indent=1)
        print(f"wrote {args.json}")
    if args.plot:
        plot.save_chart({"environment": env, "results": results}, args.plot)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
