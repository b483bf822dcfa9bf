"""bench/: the rows of run.py, numpy_ref's activations, and plot.py's chart. Nothing about
speed is asserted (one test runs part 'scaling' on a tiny row to check what it reports).

The benchmark scripts are not a package; they are loaded from their files, as ``python
bench/run.py`` does (run.py puts bench/ on sys.path for its own imports: numpy_ref, plot,
train_step; sys.path is restored afterwards).
"""

import importlib.util
import json
import os
import sys

import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def bench():
    """bench/run.py as a module (its import does not import torch or tinyconv)."""
    saved = list(sys.path)
    try:
        spec = importlib.util.spec_from_file_location("tinyconv_bench_run",
                                                      os.path.join(BENCH, "run.py"))
        run = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(run)
    finally:
        sys.path[:] = saved
    return run


def test_activation_rows_are_listed_and_exist_in_every_peer(bench, capsys):
    rows = [c for c in bench.LAYER_CASES if c.is_activation]
    names = {c.op for c in rows}
    assert {"relu", "leaky_relu", "sigmoid", "tanh", "gelu", "silu", "elu"} <= names
    for c in rows:
        assert hasattr(F, c.fn_name), c.fn_name
        assert c.fn_name in bench.numpy_ref.ACTIVATIONS
        assert c.flops(c.x) is None and bench._out_shape(c, np.empty(c.x), None, None) == c.x
    bench.list_rows(["layers"])
    listed = capsys.readouterr().out
    for c in rows:
        assert c.name in listed
    assert "conv3d" in listed  # the convolution rows are still there


@pytest.mark.parametrize("op, kw", [
    ("relu", {}), ("leaky_relu", {"negative_slope": 0.2}), ("elu", {"alpha": 0.7}),
    ("gelu", {}), ("sigmoid", {}), ("tanh", {}), ("silu", {}), ("hardswish", {}),
    ("softplus", {"beta": 2.0, "threshold": 3.0})])
def test_numpy_ref_activation_matches_tinyconv(bench, op, kw):
    """The plain-numpy baseline's forward and input gradient, float32 in and out, against
    tinyconv in float64 (inputs spread to +-8 so every piece of each formula is reached)."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 3, 6, 5)) * 4).astype(np.float32)
    gy = rng.standard_normal(x.shape).astype(np.float32)
    layer = bench.numpy_ref.make_layer(op, None, None, kw)
    y, dx = layer.forward(x), layer.backward(gy)
    assert y.dtype == dx.dtype == np.float32
    xt = tc.tensor(x.astype(np.float64), requires_grad=True)
    yt = getattr(F, op)(xt, **kw)
    yt.backward(gy.astype(np.float64))
    np.testing.assert_allclose(y, yt.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-5, atol=1e-6)


def _synthetic_results():
    """What ``run.py --json`` writes, reduced to what plot.py reads: two thread counts, a
    convolution and two activation rows, a peer missing from one row."""
    results = []
    for threads in (1, 2):
        for layer, group, ms in [("VGG 3x3", "conv/pool", (10.0, 12.0, 40.0)),
                                 ("relu 64x64x32x32", "activation", (1.0, 0.8, 3.0)),
                                 ("gelu 64x64x32x32", "activation", (2.0, None, 9.0))]:
            for p, scale in (("fwd", 1), ("fwd+bwd", 3)):
                med = {"tinyconv": ms[0] * scale, "numpy": ms[2] * scale}
                if ms[1] is not None:
                    med["torch"] = ms[1] * scale
                results.append({"part": "layers", "layer": layer, "group": group, "pass": p,
                                "threads": threads, "median_ms": med})
    results.append({"part": "train", "row": "LeNet-5 N64", "threads": 2})  # ignored
    return {"environment": {"cpu": "test CPU", "git": "abc1234"}, "results": results}


def test_speedups_from_json(bench):
    table = bench.plot.speedups(_synthetic_results())
    assert list(table) == [1, 2]
    rows = table[2]
    assert [r[0] for r in rows] == ["VGG 3x3", "relu 64x64x32x32", "gelu 64x64x32x32"]
    assert rows[0][2][("torch", "fwd")] == pytest.approx(1.2)
    assert rows[1][2][("numpy", "fwd+bwd")] == pytest.approx(3.0)
    assert ("torch", "fwd") not in rows[2][2]


def test_scaling_part_reports_interleaved_ratios(bench, tmp_path, capsys):
    """Part 'scaling' runs once, in the pass of the largest thread count, and records both
    thread counts' medians and their ratio per pass; with only 1 thread it says so."""
    out = tmp_path / "s.json"
    before = tc.get_num_threads()
    try:
        assert bench.main(["--parts", "scaling", "--threads", "1,2", "--quick", "--repeat",
                           "1", "--filter", "LeNet conv1", "--peers", "tinyconv", "--retries",
                           "0", "--json", str(out)]) == 0
    finally:
        tc.set_num_threads(before)
    rows = [r for r in json.loads(out.read_text())["results"] if r["part"] == "scaling"]
    assert [r["pass"] for r in rows] == ["fwd", "fwd+bwd"]
    for r in rows:
        assert r["threads"] == 2 and set(r["median_ms"]) == {"1", "2"}
        assert r["speedup"] == pytest.approx(r["median_ms"]["1"] / r["median_ms"]["2"])
    assert "part 'scaling': tinyconv at 1 thread and at 2" in capsys.readouterr().out
    try:
        assert bench.main(["--parts", "scaling", "--threads", "1", "--quick", "--repeat", "1",
                           "--filter", "LeNet conv1", "--peers", "tinyconv"]) == 0
    finally:
        tc.set_num_threads(before)
    assert "needs a thread count above 1" in capsys.readouterr().out


def test_chart_renders_png(bench, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    src = tmp_path / "run.json"
    src.write_text(json.dumps(_synthetic_results()))
    assert bench.plot.main([str(src), "--peers", "torch,torch-CL,numpy"]) == 0
    png = tmp_path / "run.png"  # the default name: the JSON's, with .png
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert f"wrote {png}" in capsys.readouterr().out


def test_chart_without_matplotlib_prints_one_line(bench, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib... raises
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    out = tmp_path / "chart.png"
    assert bench.plot.save_chart(_synthetic_results(), str(out)) is False
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1 and "matplotlib is not installed" in printed
    assert not out.exists()
