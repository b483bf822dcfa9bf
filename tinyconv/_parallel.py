"""Thread count for tinyconv's kernels and for the BLAS calls made on its behalf.

One knob: ``set_num_threads(n)`` sets the OpenMP thread count passed to every compiled kernel and,
where the BLAS that numpy loaded can be found, its thread count too. The default is
``OMP_NUM_THREADS`` if set, otherwise the number of cores this process may run on.
"""

import ctypes
import os

__all__ = ["set_num_threads", "get_num_threads", "show_config", "blas_info"]


def _default_threads():
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


_num_threads = _default_threads()
_blas = None  # (name, path, set_fn, get_fn, lib, prefix, suffix) once looked up; False if none


_wait_policy = None  # what default_wait_policy() found and did, for show_config()


def default_wait_policy():
    """Set how OpenMP workers wait between parallel regions, unless the user already did.

    Called by ``tinyconv/__init__.py`` before any compiled module loads the OpenMP runtime,
    which reads these variables once, when it loads. The choice, measured on 2 cores:

    * libgomp's default spins ~300,000 rounds (several ms). A spinning worker steals the core
      that OpenBLAS needs for the user's next numpy matmul: loops that alternate the two
      measured up to 23x slower (DESIGN.md, section 3).
    * PASSIVE (sleep at once) avoids that, but on a virtual machine waking a sleeping worker
      costs ~65 us, and a LeNet-5 step starts ~15 parallel regions: a standalone step measured
      1.3-1.6x slower than with spinning workers (ResNet-8 1.2-1.3x).
    * So the default is PASSIVE after 3,000 spin rounds (50-100 us here): enough to bridge the
      Python between the kernels of a step, 100x shorter than libgomp's default. What is left of
      the trap: for ~0.1 s after a multi-threaded numpy matmul, OpenBLAS's worker spins on one
      core and tinyconv's 2-thread regions run several times slower (a loop alternating a 384^3
      matmul with a LeNet-5 step measured ~1.5x slower than with PASSIVE alone).

    If you set ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` yourself, both are left alone
    (``OMP_WAIT_POLICY=PASSIVE`` alone means no spinning at all).
    """
    global _wait_policy
    try:
        with open("/proc/self/maps") as f:
            preloaded = "libgomp" in f.read()
    except OSError:  # not Linux
        preloaded = False
    user = {k: os.environ[k] for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT") if k in os.environ}
    if not user:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        os.environ["GOMP_SPINCOUNT"] = "3000"
    if preloaded:
        _wait_policy = "the OpenMP runtime was loaded before tinyconv (e.g. by torch): its own"
    elif user:
        _wait_policy = "yours: " + " ".join(f"{k}={v}" for k, v in user.items())
    else:
        _wait_policy = "tinyconv's default: spin 3000 rounds, then sleep (PASSIVE)"


def _find_blas():
    """Locate the OpenBLAS that numpy loaded and its thread-control functions.

    Reads the shared objects mapped into this process (Linux) and looks for OpenBLAS's
    ``*openblas_set_num_threads*`` symbol under the names numpy's wheels use.
    """
    global _blas
    if _blas is not None:
        return _blas
    _blas = False
    import numpy  # noqa: F401  (make sure numpy's BLAS is loaded)

    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1]
                name = os.path.basename(p).lower()
                if "blas" in name and ".so" in name and p not in paths:
                    paths.append(p)
    except OSError:
        return _blas
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix in ("", "64_", "_64"):
            for prefix in ("scipy_", ""):
                setter = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}", None)
                getter = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}", None)
                if setter is not None and getter is not None:
                    setter.argtypes, setter.restype = [ctypes.c_int], None
                    getter.argtypes, getter.restype = [], ctypes.c_int
                    _blas = ("OpenBLAS", path, setter, getter, lib, prefix, suffix)
                    return _blas
    return _blas


def find_gemm():
    """Addresses of the cblas_sgemm / cblas_dgemm of numpy's OpenBLAS, for the compiled kernels.

    Returns ``(sgemm_address, dgemm_address, int64)`` or None. ``int64`` says whether the
    library takes 64-bit integers (scipy-openblas64 and other ILP64 builds: the symbol suffix
    ``64_``/``_64`` or ``USE64BITINT`` in ``openblas_get_config()``).
    """
    blas = _find_blas()
    if not blas:
        return None
    lib, prefix, suffix = blas[4], blas[5], blas[6]
    s = getattr(lib, f"{prefix}cblas_sgemm{suffix}", None)
    d = getattr(lib, f"{prefix}cblas_dgemm{suffix}", None)
    if s is None or d is None:
        return None
    int64 = "64" in suffix
    config = getattr(lib, f"{prefix}openblas_get_config{suffix}", None)
    if config is not None:
        config.argtypes, config.restype = [], ctypes.c_char_p
        int64 = int64 or b"USE64BITINT" in (config() or b"")
    address = ctypes.cast(s, ctypes.c_void_p).value, ctypes.cast(d, ctypes.c_void_p).value
    return address[0], address[1], int64


def set_num_threads(n):
    """Set the number of threads used by tinyconv's kernels and its BLAS calls."""
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads: expected an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"set_num_threads: need at least 1 thread, got {n}")
    _num_threads = n
    blas = _find_blas()
    if blas:
        blas[2](n)


def get_num_threads():
    """Return the number of threads tinyconv's kernels use."""
    return _num_threads


def blas_threads():
    """Threads of the BLAS numpy uses; when it cannot be found, assume it uses every core."""
    blas = _find_blas()
    return blas[3]() if blas else _default_cores()


def set_blas_threads(n):
    """Set only the BLAS thread count (the kernels' own count is unchanged)."""
    blas = _find_blas()
    if blas:
        blas[2](n)


def blas_info():
    """Return a short description of the BLAS numpy uses and its current thread count."""
    blas = _find_blas()
    if not blas:
        return "not found (numpy's BLAS threads are not controlled by tinyconv)"
    return f"{blas[0]} ({os.path.basename(blas[1])}), {blas[3]()} threads"


def show_config():
    """Print what this build of tinyconv has: OpenMP, thread counts, BLAS."""
    import numpy as np

    from . import _kernels

    print(f"tinyconv {_kernels.version()}")
    print(f"  OpenMP:       {'on' if _kernels.openmp_enabled() else 'OFF (single-threaded build)'}")
    print(f"  threads:      {get_num_threads()} (cores available: {_default_cores()})")
    print(f"  OpenMP wait:  {_wait_policy}")
    print(f"  BLAS:         {blas_info()}")
    gemm = ("numpy's OpenBLAS cblas_?gemm, one thread per OpenMP thread"
            if _kernels.fused_conv_available() else
            "not found: convolutions use batch-chunked im2col + numpy.matmul")
    print(f"  conv GEMM:    {gemm}")
    print(f"  allocator:    {_kernels.allocator_info()}")
    print(f"  SIMD:         {_kernels.simd_info()}")
    print(f"  numpy:        {np.__version__}")


def _default_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()
