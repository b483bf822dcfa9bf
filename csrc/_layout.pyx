# Layout passes around the convolution GEMM.
#
# The forward GEMM W (O, C*K) @ col (C*K, nb*L) yields (O, nb, L); the layer output wants
# (nb, O, L). cols_to_nchw does that transpose and adds the bias in the same pass;
# nchw_to_cols is the inverse transpose (for the backward GEMMs), and bias_grad sums a
# gradient (N, O, L) over N and L.

from cython.parallel cimport parallel, prange
from libc.string cimport memcpy

from _common cimport real, sum_double


def cols_to_nchw(const real[:, :, ::1] src, real[:, :, ::1] dst, const real[::1] bias,
                 bint has_bias, int nthreads):
    """dst[n, o, :] = src[o, n, :] + bias[o] (bias ignored unless has_bias)."""
    cdef Py_ssize_t O = src.shape[0], nb = src.shape[1], L = src.shape[2]
    cdef Py_ssize_t t, n, o, l
    cdef const real* s
    cdef real* d
    cdef real b
    cdef const real* sb = &src[0, 0, 0]
    cdef real* db = &dst[0, 0, 0]
    cdef const real* bb = &bias[0] if has_bias else NULL
    with nogil, parallel(num_threads=nthreads):
        for t in prange(nb * O, schedule='static'):   # t = n*O + o: dst in memory order
            n = t // O
            o = t - n * O
            s = sb + (o * nb + n) * L
            d = db + t * L
            if has_bias:
                b = bb[o]
                for l in range(L):
                    d[l] = s[l] + b
            else:
                memcpy(d, s, L * sizeof(real))


def nchw_to_cols(const real[:, :, ::1] src, real[:, :, ::1] dst, int nthreads):
    """dst[o, n, :] = src[n, o, :]: (nb, O, L) -> (O, nb, L)."""
    cdef Py_ssize_t nb = src.shape[0], O = src.shape[1], L = src.shape[2]
    cdef Py_ssize_t t, n, o
    cdef const real* sb = &src[0, 0, 0]
    cdef real* db = &dst[0, 0, 0]
    with nogil, parallel(num_threads=nthreads):
        for t in prange(O * nb, schedule='static'):   # t = o*nb + n: dst in memory order
            o = t // nb
            n = t - o * nb
            memcpy(db + t * L, sb + (n * O + o) * L, L * sizeof(real))


def bias_grad(const real[:, :, ::1] g, real[::1] out, int nthreads):
    """out[o] = sum over n, l of g[n, o, l], accumulated in double; one thread per o."""
    cdef Py_ssize_t N = g.shape[0], O = g.shape[1], L = g.shape[2]
    cdef Py_ssize_t o, n
    cdef double acc
    cdef const real* gb = &g[0, 0, 0]
    with nogil, parallel(num_threads=nthreads):
        for o in prange(O, schedule='static'):
            acc = 0
            for n in range(N):
                acc = acc + sum_double(gb + (n * O + o) * L, L)
            out[o] = <real>acc


def add_bias(real[:, :, ::1] x, const real[::1] bias, int nthreads):
    """x[n, o, :] += bias[o], in place (a transposed convolution's output)."""
    cdef Py_ssize_t N = x.shape[0], O = x.shape[1], L = x.shape[2]
    cdef Py_ssize_t t, l
    cdef real* xb = &x[0, 0, 0]
    cdef const real* bb = &bias[0]
    cdef real* d
    cdef real b
    with nogil, parallel(num_threads=nthreads):
        for t in prange(N * O, schedule='static'):
            d = xb + t * L
            b = bb[t % O]
            for l in range(L):
                d[l] = d[l] + b
