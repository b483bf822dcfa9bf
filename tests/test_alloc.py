"""tinyconv's caching allocator for numpy arrays (csrc/_alloc.h)."""

import threading

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import _alloc, _kernels as K

get_handler_name = pytest.importorskip("numpy._core.multiarray").get_handler_name

pytestmark = pytest.mark.skipif(K._ALLOCATOR != "cache",
                                reason="TINYCONV_ALLOCATOR=numpy: the cache is not installed")

BIG = 1 << 20   # floats: 4 MiB, above the cache's 256 KiB minimum


def test_arrays_made_after_import_use_the_cache():
    assert get_handler_name() == "tinyconv_cache"
    assert get_handler_name(np.empty(10)) == "tinyconv_cache"


def test_a_freed_block_is_reused_for_the_same_size():
    a = np.ones(BIG, np.float32)
    address = a.ctypes.data
    assert address % 64 == 0
    del a
    hits = _alloc.stats()[0]
    b = np.empty(BIG, np.float32)
    assert b.ctypes.data == address and _alloc.stats()[0] == hits + 1


def test_zeros_from_a_reused_block_are_zeros():
    a = np.full(BIG, 7.0, np.float32)
    del a
    assert not np.zeros(BIG, np.float32).any()


def test_live_plus_cached_stays_under_the_peak():
    """A miss releases cached blocks until in use + cached fits under the high-water mark."""
    K.empty_cache()
    base_live = _alloc.stats()[5]
    blocks = [np.ones(BIG // 4 * (i + 1), np.float32) for i in range(4)]   # 1..4 MiB
    peak = _alloc.stats()[6]
    assert peak >= base_live + (10 << 20)
    del blocks
    assert _alloc.stats()[2] >= 10 << 20                 # all four kept
    c = np.ones(BIG // 2, np.float32)                     # 2 MiB: hit
    d = np.ones(3 * BIG, np.float32)                      # 12 MiB: a miss above the peak
    hits, misses, cached, _, _, live, peak2 = _alloc.stats()
    assert live + cached <= max(peak, live) and peak2 == max(peak, live)
    assert cached <= peak - (live - d.nbytes)
    del c, d
    assert K.empty_cache() >= 12 << 20 and _alloc.stats()[2] == 0
    assert _alloc.stats()[6] == _alloc.stats()[5]        # the mark restarts from what is live


def test_small_and_resized_arrays():
    a = np.arange(10.0)
    a.resize(BIG, refcheck=False)         # realloc from a small block to a big one
    np.testing.assert_array_equal(a[:10], np.arange(10.0))
    assert not a[10:].any()
    a.resize(5, refcheck=False)           # and back
    np.testing.assert_array_equal(a, np.arange(5.0))


def test_threads_allocate_and_free_concurrently():
    errors = []

    def work(seed):
        try:
            rng = np.random.default_rng(seed)
            for _ in range(200):
                n = int(rng.integers(1, 8)) * (BIG // 8)
                a = np.full(n, float(seed), np.float32)
                _alloc.install()     # threads start with numpy's default handler
                b = np.full(n, float(seed), np.float32)
                if not (a == seed).all() or not (b == seed).all():
                    errors.append(seed)
        except Exception as exc:   # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_show_config_names_the_allocator(capsys):
    tc.show_config()
    assert "allocator:" in capsys.readouterr().out
