# Separable 1-D resampling along one axis: the building block of interpolate.
#
# The array is viewed as (A, n_in, B): A the product of the dimensions before the resized axis,
# B of those after it. With per-output-position indices i0, i1 and weights w0, w1:
#
#     forward   y[a, o, b] = w0[o] * x[a, i0[o], b] + w1[o] * x[a, i1[o], b]
#     backward  gx[a, i0[o], b] += w0[o] * g[a, o, b];  gx[a, i1[o], b] += w1[o] * g[a, o, b]
#
# 'nearest' passes two = False: y is a plain copy of x[a, i0[o], b] (no multiply, so an inf
# stays an inf) and the backward adds g unscaled. Threads split A; within one a the backward
# adds in increasing o, so the result does not depend on the thread count.

from cython.parallel cimport parallel, prange
from libc.stdint cimport int64_t
from libc.string cimport memcpy

from _common cimport real


def resample(const real[:, :, ::1] x, real[:, :, ::1] y, const int64_t[::1] i0,
             const real[::1] w0, const int64_t[::1] i1, const real[::1] w1, bint two,
             int nthreads):
    """y (A, n_out, B) from x (A, n_in, B); see the module comment."""
    cdef Py_ssize_t A = x.shape[0], n_in = x.shape[1], B = x.shape[2], n_out = y.shape[1]
    cdef Py_ssize_t a, o, b
    cdef const real* xa
    cdef const real* s0
    cdef const real* s1
    cdef real* d
    cdef real c0, c1
    cdef const real* xb = &x[0, 0, 0]
    cdef real* yb = &y[0, 0, 0]
    with nogil, parallel(num_threads=nthreads):
        for a in prange(A, schedule='static'):
            xa = xb + a * n_in * B
            for o in range(n_out):
                d = yb + (a * n_out + o) * B
                s0 = xa + i0[o] * B
                if not two:
                    if B == 1:
                        d[0] = s0[0]
                    else:
                        memcpy(d, s0, B * sizeof(real))
                    continue
                s1 = xa + i1[o] * B
                c0 = w0[o]
                c1 = w1[o]
                for b in range(B):
                    d[b] = c0 * s0[b] + c1 * s1[b]


def resample_backward(const real[:, :, ::1] g, real[:, :, ::1] gx, const int64_t[::1] i0,
                      const real[::1] w0, const int64_t[::1] i1, const real[::1] w1, bint two,
                      int nthreads):
    """Accumulate into the zero-filled gx (A, n_in, B) from g (A, n_out, B)."""
    cdef Py_ssize_t A = gx.shape[0], n_in = gx.shape[1], B = gx.shape[2], n_out = g.shape[1]
    cdef Py_ssize_t a, o, b
    cdef real* ga
    cdef real* d0
    cdef real* d1
    cdef const real* s
    cdef real c0, c1
    cdef const real* gb = &g[0, 0, 0]
    cdef real* gxb = &gx[0, 0, 0]
    with nogil, parallel(num_threads=nthreads):
        for a in prange(A, schedule='static'):
            ga = gxb + a * n_in * B
            for o in range(n_out):
                s = gb + (a * n_out + o) * B
                d0 = ga + i0[o] * B
                if not two:
                    for b in range(B):
                        d0[b] += s[b]
                    continue
                d1 = ga + i1[o] * B
                c0 = w0[o]
                c1 = w1[o]
                for b in range(B):
                    d0[b] += c0 * s[b]
                    d1[b] += c1 * s[b]
