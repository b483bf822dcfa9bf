"""tinyconv.save / tinyconv.load: exact round trips, no code execution, atomic writes."""

import os
import pickle
import subprocess
import sys
import textwrap
from collections import OrderedDict

import numpy as np
import pytest

import tinyconv as tc
import tinyconv.serialization as ser


def assert_same(a, b, path="obj"):
    """Equal in value, type, dtype, shape and bits, recursively."""
    assert type(a) is type(b), f"{path}: {type(a)} != {type(b)}"
    if isinstance(a, dict):
        assert list(a.keys()) == list(b.keys()), path
        for k in a:
            assert type(k) is type(next(kk for kk in b if kk == k)), f"{path} key {k!r}"
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b)):
            assert_same(u, v, f"{path}[{i}]")
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape, path
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), path
    elif isinstance(a, float):
        assert np.float64(a).tobytes() == np.float64(b).tobytes(), f"{path}: {a!r} != {b!r}"
    else:
        assert a == b, path


DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8,
          np.uint16, np.uint32, np.uint64, np.bool_, np.complex64, np.complex128]


def test_round_trip_is_bit_identical(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {np.dtype(dt).name: (rng.standard_normal((3, 4)) * 100).astype(dt) for dt in DTYPES}
    obj = {
        "arrays": arrays,
        "special": np.array([np.nan, -0.0, np.inf, -np.inf, 5e-324], np.float64),
        "empty": np.zeros((0, 3), np.float32),
        "scalar0d": np.array(7, np.int16),
        "strided": np.arange(20, dtype=np.float32).reshape(4, 5)[:, ::2],
        "fortran": np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
        "np_scalars": [np.float32(1.5), np.float64(-2.5), np.int64(-3), np.bool_(True),
                       np.uint8(255), np.complex128(1 - 2j)],
        "py": [0, -1, 2 ** 200, -(2 ** 70), 1.1, -0.0, float("nan"), float("inf"), 5e-324, True,
               False, None, "", "naïve – ✓"],
        "tuple": (1, (2, [3, {}]), ()),
        1: "int key",
        -7: {0: {1: [np.ones(2)]}},
        "odict": OrderedDict([("z", 1), ("a", 2)]),
    }
    tc.save(obj, tmp_path / "c.tc")
    back = tc.load(tmp_path / "c.tc")
    expect = dict(obj)
    expect["strided"] = np.ascontiguousarray(obj["strided"])
    expect["fortran"] = np.ascontiguousarray(obj["fortran"])
    assert_same(expect, back)
    assert isinstance(back["odict"], OrderedDict) and type(back["tuple"][1]) is tuple
    assert 1 in back and "1" not in back and isinstance(back[-7][0][1][0], np.ndarray)
    assert back["py"][2] == 2 ** 200 and back["py"][9] is True


def test_tensors_are_stored_as_arrays(tmp_path):
    t = tc.randn(2, 3, requires_grad=True)
    tc.save({"t": t, "i": tc.arange(4)}, str(tmp_path / "t"))
    back = tc.load(str(tmp_path / "t"))
    assert isinstance(back["t"], np.ndarray) and back["t"].dtype == np.float32
    np.testing.assert_array_equal(back["t"], t.numpy())
    assert back["i"].dtype == tc.arange(4).dtype


@pytest.mark.parametrize("bitgen", [np.random.PCG64, np.random.MT19937, np.random.Philox,
                                    np.random.SFC64, np.random.PCG64DXSM])
def test_generator_state_round_trips_exactly(tmp_path, bitgen):
    g = np.random.Generator(bitgen(1234))
    g.random(17)
    g.integers(0, 10, 3, dtype=np.uint32)  # leaves a buffered 32-bit half (has_uint32)
    state = g.bit_generator.state
    tc.save({"rng": state}, tmp_path / "g")
    back = tc.load(tmp_path / "g")["rng"]
    assert_same(state, back)
    h = np.random.Generator(bitgen())
    h.bit_generator.state = back
    np.testing.assert_array_equal(h.random(100), g.random(100))


def test_training_checkpoint(tmp_path):
    model = tc.nn.Sequential(tc.nn.Conv2d(1, 4, 3), tc.nn.BatchNorm2d(4), tc.nn.Flatten(),
                             tc.nn.Linear(4 * 6 * 6, 10))
    tc.manual_seed(3)
    tc.rand(5)
    ckpt = {"model": model.state_dict(), "epoch": 3, "best": 0.9125,
            "rng": tc.default_generator.get_state(),
            "optimizer": {"state": {0: {"momentum_buffer": np.ones((4, 1, 3, 3), np.float32)}},
                          "param_groups": [{"lr": 0.1, "momentum": 0.9, "params": [0, 1, 2]}]}}
    expected = tc.rand(4).numpy()  # the draws a resumed run must repeat
    tc.save(ckpt, tmp_path / "ckpt.npz")
    back = tc.load(tmp_path / "ckpt.npz")
    assert_same(ckpt["optimizer"], back["optimizer"])
    assert list(back["model"]) == list(model.state_dict())
    fresh = tc.nn.Sequential(tc.nn.Conv2d(1, 4, 3), tc.nn.BatchNorm2d(4), tc.nn.Flatten(),
                             tc.nn.Linear(4 * 6 * 6, 10))
    fresh.load_state_dict(back["model"])
    for (k, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert a.dtype == b.dtype and np.array_equal(a, b), k
    tc.default_generator.set_state(back["rng"])
    np.testing.assert_array_equal(tc.rand(4).numpy(), expected)
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # no temporary files left


def test_save_errors_touch_nothing(tmp_path):
    p = tmp_path / "c"
    tc.save({"v": 1}, p)
    before = p.read_bytes()
    cases = [
        ({"a": {1, 2}}, TypeError, r"cannot store a set at obj\['a'\]"),
        ({"a": [np.array([object()])]}, TypeError, r"array at obj\['a'\]\[0\] has dtype object"),
        ({(1, 2): 3}, TypeError, r"dict key \(1, 2\) \(tuple\) at obj; keys must be str or int"),
        ({1.5: 3}, TypeError, "dict key 1.5"),
        ({"s": np.array(["x"])}, TypeError, "dtype <U1"),
        ({"f": lambda: 0}, TypeError, "cannot store a function"),
    ]
    for obj, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            tc.save(obj, p)
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="contains itself"):
        tc.save({"l": loop}, p)
    with pytest.raises(TypeError, match="path must be a str or os.PathLike, got int"):
        tc.save({}, 3)
    with pytest.raises(FileNotFoundError, match="folder .* does not exist"):
        tc.save({}, tmp_path / "no" / "c")
    assert p.read_bytes() == before and os.listdir(tmp_path) == ["c"]


def test_load_rejects_files_that_are_not_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tc.load(tmp_path / "missing")
    (tmp_path / "text").write_text("hello")
    with pytest.raises(ValueError, match="is not a tinyconv checkpoint \\(not an .npz/zip"):
        tc.load(tmp_path / "text")
    np.save(tmp_path / "arr.npy", np.ones(3))
    with pytest.raises(ValueError, match="not a tinyconv checkpoint"):
        tc.load(tmp_path / "arr.npy")
    np.savez(tmp_path / "plain.npz", x=np.ones(3))
    with pytest.raises(ValueError, match="an .npz file but not a tinyconv checkpoint"):
        tc.load(tmp_path / "plain.npz")
    header = np.frombuffer(b'{"format": "something-else"}', np.uint8)
    np.savez(tmp_path / "other.npz", __tinyconv__=header)
    with pytest.raises(ValueError, match="not a tinyconv checkpoint \\(bad header\\)"):
        tc.load(tmp_path / "other.npz")


def test_truncated_or_corrupt_checkpoint_is_a_clear_error(tmp_path):
    p = tmp_path / "c"
    tc.save({"w": np.arange(10000, dtype=np.float32), "k": [1, 2]}, p)
    raw = p.read_bytes()
    for cut in (10, 100, 1000, len(raw) // 2, len(raw) - 30):
        (tmp_path / "t").write_bytes(raw[:cut])
        with pytest.raises(ValueError, match="load: .*t is (truncated or )?corrupt"):
            tc.load(tmp_path / "t")
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0xFF  # inside the array's bytes: the zip CRC catches it
    (tmp_path / "f").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="truncated or corrupt"):
        tc.load(tmp_path / "f")


def test_load_never_unpickles(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = np.empty(1, dtype=object)
    evil[0] = Evil()
    header = np.frombuffer(b'{"format": "tinyconv-checkpoint", "version": 1, '
                           b'"root": {"$t": "array", "k": "a0"}}', np.uint8)
    with open(tmp_path / "evil", "wb") as f:
        np.savez(f, __tinyconv__=header, a0=evil)
    assert b"pwned" in (tmp_path / "evil").read_bytes()  # the pickle is really in there
    with pytest.raises(ValueError, match="load: .*evil is corrupt.*allow_pickle"):
        tc.load(tmp_path / "evil")
    assert not marker.exists()
    (tmp_path / "pickled").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="not a tinyconv checkpoint"):
        tc.load(tmp_path / "pickled")


def test_exception_during_write_keeps_the_previous_file(tmp_path, monkeypatch):
    p = tmp_path / "c"
    tc.save({"version": 1, "w": np.zeros(1000)}, p)

    def failing_write(f, struct, arrays):
        f.write(b"PK\x03\x04 partial data")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(ser, "_write", failing_write)
    with pytest.raises(OSError, match="disk full"):
        tc.save({"version": 2, "w": np.ones(1000)}, p)
    assert tc.load(p)["version"] == 1
    assert os.listdir(tmp_path) == ["c"]  # the temporary file was removed

    monkeypatch.setattr(ser, "_write", lambda f, s, a: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        tc.save({"version": 3}, p)
    assert tc.load(p)["version"] == 1 and os.listdir(tmp_path) == ["c"]


def test_killed_mid_save_leaves_the_previous_file_readable(tmp_path):
    p = tmp_path / "ckpt"
    child = textwrap.dedent(f"""
        import sys, time
        import numpy as np
        import tinyconv as tc
        import tinyconv.serialization as ser
        path = {str(p)!r}
        tc.save({{"version": 1, "w": np.zeros(100000, np.float32)}}, path)
        real = np.lib.format.write_array
        def slow(*args, **kwargs):
            real(*args, **kwargs)
            print("writing", flush=True)
            time.sleep(60)  # killed here, halfway through the checkpoint
        np.lib.format.write_array = slow
        tc.save({{"version": 2, "w": np.ones(100000, np.float32)}}, path)
    """)
    # The child imports the tinyconv this test runs against (installed, or the source tree).
    where = os.path.dirname(os.path.dirname(os.path.abspath(tc.__file__)))
    env = dict(os.environ, PYTHONPATH=where + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, env=env,
                            cwd=str(tmp_path))
    try:
        line = proc.stdout.readline()
        assert line.strip() == b"writing", line
        temps = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
        assert len(temps) == 1 and temps[0].startswith(".ckpt.")
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    back = tc.load(p)
    assert back["version"] == 1 and not back["w"].any()


def test_file_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        tc.save([1], tmp_path / "c")
    finally:
        os.umask(old)
    assert (os.stat(tmp_path / "c").st_mode & 0o777) == 0o644


def test_overwrite_many_times(tmp_path):
    p = tmp_path / "c"
    w = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
    for i in range(5):
        tc.save({"i": i, "w": w + i}, p)
    back = tc.load(p)
    assert back["i"] == 4 and np.array_equal(back["w"], w + 4)
