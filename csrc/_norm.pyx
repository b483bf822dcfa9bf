# distutils: depends = csrc/_norm.h csrc/_norm_template.h
#
# Batch normalisation kernels. The input is viewed as (N, C, L): channel c is the N planes
# x[n, c, :] of L values each, M = N*L values in all.
#
# Every kernel is parallel over blocks of channels (one channel per block on the plane path,
# TC_BN_COLS // L on the column path for small L; csrc/_norm.h), and one thread makes all the
# passes over a block before the next, so the later passes re-read it from cache (L2, or L3
# for a 64 x 32 x 32 channel whose planes lie 64 KiB apart and share cache sets): the two-pass
# variance (the sum of squared deviations from the mean, not E[x^2] - E[x]^2) is cheap. The
# blocks depend on the shape alone and each channel's sums are taken by one thread in a fixed
# order, so results with 1 and N threads are bit-identical.
#
# Fewer blocks than threads leaves threads idle; batch norm with C < 2 is rare enough that
# splitting a channel (and merging partial sums) is not worth its code.

from cython.parallel cimport parallel, prange
from libc.math cimport sqrt

from _common cimport imin, real


cdef extern from "_norm.h" nogil:
    enum:
        TC_BN_COLS
    void tc_bn_stats_f(const float* x, Py_ssize_t N, Py_ssize_t stride, Py_ssize_t L,
                       Py_ssize_t nc, int cols, double* mean, double* var)
    void tc_bn_stats_d(const double* x, Py_ssize_t N, Py_ssize_t stride, Py_ssize_t L,
                       Py_ssize_t nc, int cols, double* mean, double* var)
    void tc_bn_sums_f(const float* g, const float* x, Py_ssize_t N, Py_ssize_t stride,
                      Py_ssize_t L, Py_ssize_t nc, int cols, const float* m, double* sg,
                      double* sgx)
    void tc_bn_sums_d(const double* g, const double* x, Py_ssize_t N, Py_ssize_t stride,
                      Py_ssize_t L, Py_ssize_t nc, int cols, const double* m, double* sg,
                      double* sgx)
    void tc_bn_affine_f(const float* x, float* y, Py_ssize_t N, Py_ssize_t stride,
                        Py_ssize_t L, Py_ssize_t nc, int cols, const float* m, const float* k,
                        const float* b)
    void tc_bn_affine_d(const double* x, double* y, Py_ssize_t N, Py_ssize_t stride,
                        Py_ssize_t L, Py_ssize_t nc, int cols, const double* m,
                        const double* k, const double* b)
    void tc_bn_grad_f(const float* x, const float* g, float* gx, Py_ssize_t N,
                      Py_ssize_t stride, Py_ssize_t L, Py_ssize_t nc, int cols, const float* m,
                      const float* k, const float* q, const float* r)
    void tc_bn_grad_d(const double* x, const double* g, double* gx, Py_ssize_t N,
                      Py_ssize_t stride, Py_ssize_t L, Py_ssize_t nc, int cols,
                      const double* m, const double* k, const double* q, const double* r)
    void tc_bn_scale_f(const float* g, float* gx, Py_ssize_t N, Py_ssize_t stride,
                       Py_ssize_t L, Py_ssize_t nc, int cols, const float* k)
    void tc_bn_scale_d(const double* g, double* gx, Py_ssize_t N, Py_ssize_t stride,
                       Py_ssize_t L, Py_ssize_t nc, int cols, const double* k)


#: Columns (channels x L) per block on the column path.
COLS = TC_BN_COLS


# The loops of _norm.h picked by type; each works on nc channels from the pointers given.

cdef inline void _stats(const real* x, Py_ssize_t N, Py_ssize_t S, Py_ssize_t L, Py_ssize_t nc,
                        bint cols, double* mean, double* var) noexcept nogil:
    if real is float:
        tc_bn_stats_f(x, N, S, L, nc, cols, mean, var)
    else:
        tc_bn_stats_d(x, N, S, L, nc, cols, mean, var)


cdef inline void _sums(const real* g, const real* x, Py_ssize_t N, Py_ssize_t S, Py_ssize_t L,
                       Py_ssize_t nc, bint cols, const real* m, double* sg,
                       double* sgx) noexcept nogil:
    if real is float:
        tc_bn_sums_f(g, x, N, S, L, nc, cols, m, sg, sgx)
    else:
        tc_bn_sums_d(g, x, N, S, L, nc, cols, m, sg, sgx)


cdef inline void _affine(const real* x, real* y, Py_ssize_t N, Py_ssize_t S, Py_ssize_t L,
                         Py_ssize_t nc, bint cols, const real* m, const real* k,
                         const real* b) noexcept nogil:
    if real is float:
        tc_bn_affine_f(x, y, N, S, L, nc, cols, m, k, b)
    else:
        tc_bn_affine_d(x, y, N, S, L, nc, cols, m, k, b)


cdef inline void _grad(const real* x, const real* g, real* gx, Py_ssize_t N, Py_ssize_t S,
                       Py_ssize_t L, Py_ssize_t nc, bint cols, const real* m, const real* k,
                       const real* q, const real* r) noexcept nogil:
    if real is float:
        tc_bn_grad_f(x, g, gx, N, S, L, nc, cols, m, k, q, r)
    else:
        tc_bn_grad_d(x, g, gx, N, S, L, nc, cols, m, k, q, r)


cdef inline void _scale(const real* g, real* gx, Py_ssize_t N, Py_ssize_t S, Py_ssize_t L,
                        Py_ssize_t nc, bint cols, const real* k) noexcept nogil:
    if real is float:
        tc_bn_scale_f(g, gx, N, S, L, nc, cols, k)
    else:
        tc_bn_scale_d(g, gx, N, S, L, nc, cols, k)


cdef inline Py_ssize_t _per_block(Py_ssize_t L, bint cols) noexcept nogil:
    """Channels per block: one on the plane path, as many as fill TC_BN_COLS columns on the
    column path (which the caller must only ask for with L <= TC_BN_COLS)."""
    return TC_BN_COLS // L if cols else 1


def forward_train(const real[:, :, ::1] x, const real[::1] weight, const real[::1] bias,
                  bint has_weight, bint has_bias, double eps, double[:, ::1] stats,
                  real[:, ::1] params, real[:, :, ::1] y, bint cols, int nthreads):
    """Per channel: mean and biased variance into stats[0, c], stats[1, c] (double, two
    passes), then y = (x - mean) / sqrt(var + eps) * weight + bias (weight, bias read only
    when has_weight / has_bias). params (3, C) is scratch. Needs N*L >= 1.

    ``cols`` asks for the column path (taken only when L <= COLS) in this and the other
    kernels; the two paths differ only in the order of the sums."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], L = x.shape[2], S = C * L
    cols = cols and L <= TC_BN_COLS
    cdef Py_ssize_t per = _per_block(L, cols), c0, c, nc
    cdef double k
    cdef const real* xb = &x[0, 0, 0]
    cdef real* yb = &y[0, 0, 0]
    with nogil, parallel(num_threads=nthreads):
        for c0 in prange(0, C, per, schedule='static'):
            nc = imin(per, C - c0)
            _stats(xb + c0 * L, N, S, L, nc, cols, &stats[0, c0], &stats[1, c0])
            for c in range(c0, c0 + nc):
                k = 1.0 / sqrt(stats[1, c] + eps)
                if has_weight:
                    k = k * weight[c]
                params[0, c] = <real>stats[0, c]
                params[1, c] = <real>k
                params[2, c] = bias[c] if has_bias else 0
            _affine(xb + c0 * L, yb + c0 * L, N, S, L, nc, cols, &params[0, c0],
                    &params[1, c0], &params[2, c0])


def forward_affine(const real[:, :, ::1] x, const real[::1] mean, const real[::1] scale,
                   const real[::1] bias, real[:, :, ::1] y, bint cols, int nthreads):
    """y = (x - mean[c]) * scale[c] + bias[c] (evaluation mode: the running statistics)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], L = x.shape[2]
    cols = cols and L <= TC_BN_COLS
    cdef Py_ssize_t per = _per_block(L, cols), c0
    cdef const real* xb = &x[0, 0, 0]
    cdef real* yb = &y[0, 0, 0]
    with nogil, parallel(num_threads=nthreads):
        for c0 in prange(0, C, per, schedule='static'):
            _affine(xb + c0 * L, yb + c0 * L, N, C * L, L, imin(per, C - c0), cols, &mean[c0],
                    &scale[c0], &bias[c0])


def backward(const real[:, :, ::1] x, const real[:, :, ::1] g, const real[::1] mean,
             const real[::1] invstd, const real[::1] scale, real[:, :, ::1] gx,
             double[:, ::1] sums, real[:, ::1] params, bint training, bint need_gx,
             bint need_sums, bint cols, int nthreads):
    """Gradients of y = (x - mean) * scale + bias, scale = invstd * weight (or invstd).

    sums[0, c] = sum g (the bias gradient) and sums[1, c] = sum g * (x - mean) * invstd (the
    weight gradient), in double, when need_sums or (need_gx and training). gx, when need_gx:
    training (mean and invstd depend on x): gx = scale * (g - sums[0]/M - xhat * sums[1]/M)
    with xhat = (x - mean) * invstd; evaluation: gx = g * scale. x is not read in evaluation
    mode without need_sums. params (2, C) is scratch.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], L = x.shape[2], S = C * L
    cols = cols and L <= TC_BN_COLS
    cdef Py_ssize_t per = _per_block(L, cols), c0, c, nc, o
    cdef const real* xb = &x[0, 0, 0]
    cdef const real* gb = &g[0, 0, 0]
    cdef real* ob = &gx[0, 0, 0]
    cdef double k, inv_m = 1.0 / (N * L)
    cdef bint reduce = need_sums or (need_gx and training)
    with nogil, parallel(num_threads=nthreads):
        for c0 in prange(0, C, per, schedule='static'):
            nc = imin(per, C - c0)
            o = c0 * L
            if reduce:
                _sums(gb + o, xb + o, N, S, L, nc, cols, &mean[c0], &sums[0, c0], &sums[1, c0])
                for c in range(c0, c0 + nc):
                    sums[1, c] = sums[1, c] * invstd[c]
            if need_gx and training:
                for c in range(c0, c0 + nc):
                    k = scale[c]
                    params[0, c] = <real>(-k * invstd[c] * sums[1, c] * inv_m)
                    params[1, c] = <real>(-k * sums[0, c] * inv_m)
                _grad(xb + o, gb + o, ob + o, N, S, L, nc, cols, &mean[c0], &scale[c0],
                      &params[0, c0], &params[1, c0])
            elif need_gx:
                _scale(gb + o, ob + o, N, S, L, nc, cols, &scale[c0])
