# Shared declarations for tinyconv's compiled kernels.
#
# Every kernel is written once, for float and double, through the fused type `real`, and once
# for three spatial dimensions (D, H, W); 1-D and 2-D callers pass D = H = 1 or D = 1, so the
# helpers below work out the valid index ranges analytically instead of testing each element.

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
