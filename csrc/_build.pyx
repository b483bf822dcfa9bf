# Facts about how the compiled kernels were built (setup.py defines TINYCONV_OPENMP).

cdef extern from *:
    """
    #ifndef TINYCONV_OPENMP
    #define TINYCONV_OPENMP 0
    #endif
    #ifdef _OPENMP
    #include <omp.h>
    static int tinyconv_omp_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int tinyconv_omp_max_threads(void) { return 1; }
    #endif
    """
    int TINYCONV_OPENMP
    int tinyconv_omp_max_threads() nogil


def openmp_enabled():
    """True when the kernels were compiled with OpenMP (setup.py found a working compiler flag)."""
    return bool(TINYCONV_OPENMP)


def omp_max_threads():
    """OpenMP's own default thread count (1 without OpenMP); tinyconv passes its own count."""
    return tinyconv_omp_max_threads()
