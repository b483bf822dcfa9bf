"""Build tinyconv's compiled kernels (one Cython module per file in csrc/).

OpenMP is detected by compiling and linking a tiny program. Without it the kernels build
single-threaded and a warning says so; ``TINYCONV_REQUIRE_OPENMP=1`` turns that into an error
(CI sets it). ``TINYCONV_BOUNDSCHECK=1`` builds with Cython's bounds and wraparound checks on, so
the test suite can be run once against a checked build.

The kernels are compiled for the building machine's instruction set (``-march=native``: AVX2 or
AVX-512 where the CPU has them; ``pip install .`` builds from source on the machine that runs
it). ``TINYCONV_ARCH`` picks another ``-march`` value, or ``TINYCONV_ARCH=none`` a portable
build (for a wheel that will run on other CPUs).
"""

import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import warnings

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

OPENMP_PROBE = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return n > 0 ? 0 : 1;
}
"""


def _compiler():
    return os.environ.get("CC") or sysconfig.get_config_var("CC").split()[0] or "cc"


def openmp_flags():
    """Return (compile_args, link_args) for OpenMP, or None if the compiler has none."""
    if sys.platform == "win32":
        return ["/openmp"], []
    cc = _compiler()
    if shutil.which(cc) is None:
        return None
    candidates = [(["-fopenmp"], ["-fopenmp"]), (["-Xpreprocessor", "-fopenmp"], ["-lomp"])]
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(OPENMP_PROBE)
        for cflags, lflags in candidates:
            exe = os.path.join(tmp, "probe")
            cmd = [cc, *cflags, src, "-o", exe, *lflags]
            try:
                r = subprocess.run(cmd, capture_output=True, timeout=60)
            except (OSError, subprocess.SubprocessError):
                continue
            if r.returncode == 0 and subprocess.run([exe], capture_output=True).returncode == 0:
                return cflags, lflags
    return None


def arch_flags():
    """``-march=...`` for the kernels if the compiler accepts it (see the module docstring)."""
    arch = os.environ.get("TINYCONV_ARCH", "native").strip()
    if sys.platform == "win32" or arch in ("", "none"):
        return []
    cc = _compiler()
    if shutil.which(cc) is None:
        return []
    flag = f"-march={arch}"
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write("int main(void) { return 0; }\n")
        try:
            r = subprocess.run([cc, flag, src, "-o", os.path.join(tmp, "probe")],
                               capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return []
    if r.returncode != 0:
        warnings.warn(f"tinyconv: the C compiler rejects {flag}; building for the generic CPU")
        return []
    return [flag]


def extensions():
    flags = openmp_flags()
    if flags is None:
        msg = (
            "tinyconv: the C compiler has no working OpenMP; building single-threaded kernels. "
            "Install libgomp (gcc) or libomp (clang) for parallel kernels."
        )
        if os.environ.get("TINYCONV_REQUIRE_OPENMP", "") not in ("", "0"):
            raise SystemExit(msg + " (TINYCONV_REQUIRE_OPENMP is set, so this is fatal)")
        warnings.warn(msg)
        cflags, lflags = [], []
    else:
        cflags, lflags = flags
    opt = (["/O2"] if sys.platform == "win32" else
           ["-O3", "-fno-math-errno", "-fno-trapping-math"] + arch_flags())
    macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
              ("TINYCONV_OPENMP", "1" if flags else "0")]
    exts = []
    # (development) TINYCONV_ONLY=_conv,_act builds just those modules
    only = [n for n in os.environ.get("TINYCONV_ONLY", "").split(",") if n]
    for pyx in sorted(glob.glob(os.path.join("csrc", "*.pyx"))):
        name = os.path.splitext(os.path.basename(pyx))[0]
        if only and name not in only:
            continue
        exts.append(Extension(
            f"tinyconv.{name}", [pyx],
            include_dirs=[np.get_include(), "csrc"],
            define_macros=macros,
            extra_compile_args=opt + cflags,
            extra_link_args=lflags,
        ))
    checked = os.environ.get("TINYCONV_BOUNDSCHECK", "") not in ("", "0")
    directives = {
        "language_level": 3,
        "boundscheck": checked,
        "wraparound": checked,
        "initializedcheck": checked,
        "cdivision": True,
        "nonecheck": False,
    }
    return cythonize(exts, compiler_directives=directives, include_path=["csrc"])


setup(ext_modules=extensions())
