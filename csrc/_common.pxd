# Shared declarations for tinyconv's compiled kernels.
#
# Every kernel is written once, for float and double, through the fused type `real`, and once
# for three spatial dimensions (D, H, W); 1-D and 2-D callers pass D = H = 1 or D = 1, so the
# helpers below work out the valid index ranges analytically instead of testing each element.

from libc.stdlib cimport malloc
from libc.string cimport memset

ctypedef fused real:
    float
    double


cdef inline void valid_range(Py_ssize_t size, Py_ssize_t count, Py_ssize_t step,
                             Py_ssize_t offset, Py_ssize_t* lo,
                             Py_ssize_t* hi) noexcept nogil:
    """Set [lo, hi) to the q in [0, count) with 0 <= q*step + offset < size (step >= 1).

    Used both for "which outputs of a sliding window read a real input element" (q an output
    index, step the stride) and for "which taps of a dilated window fall inside the input"
    (q a kernel tap, step the dilation).
    """
    cdef Py_ssize_t a, b
    if offset >= 0:
        a = 0
    else:
        a = (step - 1 - offset) // step          # ceil(-offset / step), operands >= 0
    if size - offset <= 0:
        b = 0
    else:
        b = (size - offset + step - 1) // step   # ceil((size - offset) / step)
    if b > count:
        b = count
    if a > b:
        a = b
    lo[0] = a
    hi[0] = b


cdef inline Py_ssize_t imin(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a < b else b


cdef inline Py_ssize_t imax(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a > b else b


cdef inline double sum_double(const real* s, Py_ssize_t n) noexcept nogil:
    """Sum s[0:n] in double with 8 independent partial sums: fast, and a fixed order, so the
    result does not depend on the thread count."""
    cdef double a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0
    cdef Py_ssize_t i = 0
    while i + 8 <= n:
        a0 += s[i]
        a1 += s[i + 1]
        a2 += s[i + 2]
        a3 += s[i + 3]
        a4 += s[i + 4]
        a5 += s[i + 5]
        a6 += s[i + 6]
        a7 += s[i + 7]
        i += 8
    while i < n:
        a0 += s[i]
        i += 1
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


cdef inline void zero_fill(real* p, Py_ssize_t n) noexcept nogil:
    """p[0:n] = 0. The padding runs im2col writes are mostly 1-2 elements long, where a call
    to memset costs more than the stores (it was ~15% of im2col's time)."""
    if n > 4:
        memset(p, 0, n * sizeof(real))
    else:
        if n > 0:
            p[0] = 0
        if n > 1:
            p[1] = 0
        if n > 2:
            p[2] = 0
        if n > 3:
            p[3] = 0


cdef inline Py_ssize_t* tap_table(Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                                  Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW,
                                  Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw,
                                  Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                                  Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
                                  Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw) except NULL:
    """Per kernel tap (i, j, k), 9 integers: the input offsets (offd, offh, offw) and, per
    dimension, the range [lo, hi) of output positions whose read falls inside the input.
    What a tap reads does not depend on the image or channel, so im2col/col2im tabulate this
    once per call. The caller frees the table."""
    cdef Py_ssize_t i, j, k
    cdef Py_ssize_t* t = <Py_ssize_t*>malloc(9 * kd * kh * kw * sizeof(Py_ssize_t))
    cdef Py_ssize_t* e
    if t == NULL:
        raise MemoryError("tinyconv im2col: cannot allocate the tap table")
    for i in range(kd):
        for j in range(kh):
            for k in range(kw):
                e = t + 9 * ((i * kh + j) * kw + k)
                e[0] = i * dd - pd
                e[1] = j * dh - ph
                e[2] = k * dw - pw
                valid_range(D, oD, sd, e[0], &e[3], &e[4])
                valid_range(H, oH, sh, e[1], &e[5], &e[6])
                valid_range(W, oW, sw, e[2], &e[7], &e[8])
    return t
