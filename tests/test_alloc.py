"""tinyconv's caching allocator for numpy arrays (csrc/_alloc.h)."""

import os
import sys
import threading
import warnings

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
    hits, misses, cached, _, _, live, peak2 = _alloc.stats()[:7]
    assert live + cached <= max(peak, live) and peak2 == max(peak, live)
    assert cached <= peak - (live - d.nbytes)
    del c, d
    assert K.empty_cache() >= 12 << 20 and _alloc.stats()[2] == 0
    assert _alloc.stats()[6] == _alloc.stats()[5]        # the mark restarts from what is live


def _step(sizes):
    """One "training step": allocate `sizes` (MiB; negative = free the oldest live array)."""
    live = []
    for s in sizes:
        if s < 0:
            live.pop(0)
        else:
            live.append(np.ones(s * (BIG // 4), np.float32))
    return live


# forward: 3 + 3 + 2 MiB live; backward: frees the 3s, then 5 and 1 MiB: the 5 fits no freed
# block, and one block per size would need 14 MiB, more than the 8 MiB peak
STEP = [3, 3, 2, -1, -1, 5, 1]


def test_a_repeated_pattern_hits_without_fresh_memory():
    """Blocks of other sizes serve a request (split in place, or their pages moved): after
    a first step, a repeated pattern needs no fresh memory and stays under its peak."""
    if not sys.platform.startswith("linux"):
        pytest.skip("only exact sizes are reused off Linux")
    K.empty_cache()
    _step(STEP)
    s0 = _alloc.stats()
    for _ in range(20):
        _step(STEP)
        hits, misses, cached, _, _, live, peak = _alloc.stats()[:7]
        assert live + cached <= peak
    s1 = _alloc.stats()
    assert s1[1] - s0[1] <= 2                       # misses: none in steady state
    assert s1[0] - s0[0] >= 20 * 5 - 2              # hits
    assert s1[8] - s0[8] <= 2 * (4 << 20)           # fresh bytes
    assert s1[7] > s0[7]                            # some by recycling pages
    K.empty_cache()


def test_recycled_blocks_never_overlap_live_ones():
    """Random sizes, each array filled with its own value: splitting blocks and moving pages
    between them must leave every live array intact and fully writable."""
    rng = np.random.default_rng(0)
    K.empty_cache()
    live = []
    for i in range(400):
        if live and (len(live) > 12 or rng.random() < 0.45):
            a, v = live.pop(int(rng.integers(len(live))))
            assert (a == v).all()
        else:
            n = int(rng.integers(BIG // 16, 2 * BIG))
            a = np.empty(n, np.float32) if i % 3 else np.zeros(n, np.float32)
            if i % 3 == 0:
                assert not a.any()
            a.fill(float(i))
            live.append((a, float(i)))
        for a, v in live:
            assert a[0] == v and a[-1] == v and a[len(a) // 2] == v
        hits, misses, cached, _, _, live_bytes, peak = _alloc.stats()[:7]
        assert live_bytes + cached <= peak
    for a, v in live:
        assert (a == v).all()
    del live, a
    K.empty_cache()


def _maps():
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="Linux only")
def test_kernel_mappings_stay_within_the_budget():
    """An array assembled from the pages of 14 smaller blocks is 14 kernel mappings; kept
    alive by the thousand they would exhaust vm.max_map_count. Past the budget of pieces a
    request takes one fresh mapping instead (the budget is lowered here to keep it quick)."""
    K.empty_cache()
    extra0, budget, capped0 = _alloc.map_budget()
    _alloc.map_budget(3 * 13)                      # room for 3 arrays of 14 pieces
    try:
        keep = []
        m0 = _maps()
        for _ in range(60):
            tmp = [np.empty(BIG // 16, np.float32) for _ in range(14)]    # 14 x 256 KiB
            while tmp:                             # freed oldest first: the moved pieces
                tmp.pop(0)                         # are not merged back into one mapping
            keep.append(np.empty(14 * (BIG // 16) - 2048, np.float32))   # their pages
            _alloc.empty()
            assert _alloc.map_budget()[0] - extra0 <= 3 * 13
        grown = _maps() - m0
        capped = _alloc.map_budget()[2] - capped0
        for a in keep:                             # every page mapped and writable
            a[::1024] = 1.0
            a[-1] = 2.0
        del keep, a
    finally:
        _alloc.map_budget(budget)
    assert capped >= 50
    assert grown <= 60 + 3 * 14 + 64               # 60 x 14 = 840 without the budget
    K.empty_cache()
    assert _alloc.map_budget()[0] == extra0        # every piece accounted for, both ways


def test_piece_count_is_kept_on_every_path():
    """Split, assembled, evicted, resized and freed blocks: once all are freed and the cache
    emptied, the count of pieces is back where it started."""
    if not sys.platform.startswith("linux"):
        pytest.skip("one piece per block off Linux")
    rng = np.random.default_rng(2)
    K.empty_cache()
    extra0 = _alloc.map_budget()[0]
    live = []
    for i in range(300):
        if live and (len(live) > 10 or rng.random() < 0.4):
            live.pop(int(rng.integers(len(live))))
        elif live and rng.random() < 0.2:
            live[-1].resize(int(rng.integers(BIG // 16, 2 * BIG)), refcheck=False)
        else:
            live.append(np.ones(int(rng.integers(BIG // 16, 2 * BIG)), np.float32))
        assert _alloc.map_budget()[0] >= extra0
    assert _alloc.stats()[7] > 0                   # some blocks were recycled
    del live
    K.empty_cache()
    assert _alloc.map_budget()[0] == extra0


def test_a_failed_allocation_leaves_the_bound_intact():
    """A request the system refuses was never in use: it must not raise the high-water mark
    (the bound on live + cached)."""
    K.empty_cache()
    keep = np.ones(BIG, np.float32)
    live, peak = _alloc.stats()[5:7]
    with pytest.raises(MemoryError):
        np.empty(1 << 50, np.uint8)                # 1 PiB
    assert _alloc.stats()[5:7] == (live, peak)
    for i in range(1, 9):                          # sizes that do not repeat: all misses
        np.ones(i * BIG // 4 + 1024, np.float32)
        cached, _, _, live2, peak2 = _alloc.stats()[2:7]
        assert live2 + cached <= peak2 <= live2 + (9 << 20)
    del keep
    K.empty_cache()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_fork_while_other_threads_allocate():
    """fork() takes the cache's lock, so a child never copies the cache half updated."""
    stop = threading.Event()

    def churn():
        _alloc.install()
        rng = np.random.default_rng(1)
        while not stop.is_set():
            a = np.ones(int(rng.integers(1, 16)) * (BIG // 8), np.float32)
            del a

    t = threading.Thread(target=churn)
    t.start()
    try:
        for _ in range(10):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)   # fork with threads
                pid = os.fork()
            if pid == 0:
                ok = True
                try:
                    for n in (BIG // 4, 3 * BIG, BIG + 7):
                        a = np.full(n, 3.0, np.float32)
                        b = np.zeros(n, np.float32)
                        ok &= bool((a == 3).all()) and not b.any()
                        del a, b
                    ok &= _alloc.stats()[5] >= 0
                finally:
                    os._exit(0 if ok else 3)
            _, status = os.waitpid(pid, 0)
            assert status == 0
    finally:
        stop.set()
        t.join()


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
