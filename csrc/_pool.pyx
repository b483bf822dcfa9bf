# Pooling kernels. Inputs are viewed as (P, D, H, W) planes with P = N*C; every kernel is
# parallel over planes, and each plane of every output is written by one thread only.
#
# Each kernel's per-plane work is a cdef function, so every loop variable is a C local of that
# call. (Inside a prange body Cython makes a variable thread-private only if it is assigned there
# directly; one set only through a pointer, as valid_range's outputs are, would be shared.)
#
# Index convention (PyTorch's return_indices): a flat index into one input plane,
# (d*H + h)*W + w. max_pool_forward writes -1 for a window with no element inside the input
# (possible only with unusual padding/dilation); the backward kernels skip -1 and count any other
# index outside the plane, so the Python wrapper can raise instead of writing out of bounds.

from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY, isnan
from libc.stdint cimport int64_t
from libc.string cimport memset

from _common cimport imax, imin, real, valid_range


# ----------------------------------------------------------------------------- max pool

cdef void _max_plane(const real* xp, real* op, int64_t* ip,
                     Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                     Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW,
                     Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw,
                     Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                     Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
                     Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw) noexcept nogil:
    cdef Py_ssize_t od, oh, ow, ds, hs, ws, i0, i1, j0, j1, k0, k1, i, j, k, idx, rowi, best, o
    cdef double v, m
    for od in range(oD):
        ds = od * sd - pd
        valid_range(D, kd, dd, ds, &i0, &i1)          # taps of the window inside the input
        for oh in range(oH):
            hs = oh * sh - ph
            valid_range(H, kh, dh, hs, &j0, &j1)
            for ow in range(oW):
                ws = ow * sw - pw
                valid_range(W, kw, dw, ws, &k0, &k1)
                m = -INFINITY
                if i0 < i1 and j0 < j1 and k0 < k1:
                    best = ((ds + i0 * dd) * H + hs + j0 * dh) * W + ws + k0 * dw
                else:
                    best = -1
                for i in range(i0, i1):
                    for j in range(j0, j1):
                        rowi = ((ds + i * dd) * H + hs + j * dh) * W + ws
                        for k in range(k0, k1):
                            idx = rowi + k * dw
                            v = xp[idx]
                            if v > m or isnan(v):     # PyTorch's rule: NaN propagates
                                m = v
                                best = idx
                o = (od * oH + oh) * oW + ow
                op[o] = <real>m
                ip[o] = best


def max_pool_forward(const real[:, :, :, ::1] x, real[:, :, :, ::1] out,
                     int64_t[:, :, :, ::1] indices,
                     Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw,
                     Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                     Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
                     Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw, int nthreads):
    """Max pooling with dilation; out/indices (P, oD, oH, oW) sized by the caller."""
    cdef Py_ssize_t P = x.shape[0], D = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t oD = out.shape[1], oH = out.shape[2], oW = out.shape[3]
    cdef Py_ssize_t DHW = D * H * W, oDHW = oD * oH * oW, p
    cdef const real* xb = &x[0, 0, 0, 0]
    cdef real* ob = &out[0, 0, 0, 0]
    cdef int64_t* ib = &indices[0, 0, 0, 0]
    with nogil, parallel(num_threads=nthreads):
        for p in prange(P, schedule='static'):
            _max_plane(xb + p * DHW, ob + p * oDHW, ib + p * oDHW, D, H, W, oD, oH, oW,
                       kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw)


cdef Py_ssize_t _scatter_add_plane(const real* gp, const int64_t* ip, real* xp,
                                   Py_ssize_t O, Py_ssize_t S) noexcept nogil:
    cdef Py_ssize_t o, bad = 0
    cdef int64_t idx
    memset(xp, 0, S * sizeof(real))
    for o in range(O):
        idx = ip[o]
        if 0 <= idx < S:
            xp[idx] += gp[o]
        elif idx != -1:
            bad += 1
    return bad


def max_pool_backward(const real[:, ::1] grad_out, const int64_t[:, ::1] indices,
                      real[:, ::1] grad_in, int nthreads):
    """grad_in (P, D*H*W) = 0, then grad_in[p, indices[p, o]] += grad_out[p, o].

    Returns how many indices were outside [0, D*H*W) (and not -1); those are skipped.
    """
    cdef Py_ssize_t P = grad_in.shape[0], S = grad_in.shape[1], O = grad_out.shape[1]
    cdef Py_ssize_t p, bad = 0
    cdef const real* gb = &grad_out[0, 0]
    cdef const int64_t* ib = &indices[0, 0]
    cdef real* xb = &grad_in[0, 0]
    with nogil, parallel(num_threads=nthreads):
        for p in prange(P, schedule='static'):
            bad += _scatter_add_plane(gb + p * O, ib + p * O, xb + p * S, O, S)
    return bad


# ----------------------------------------------------------------------------- avg pool

cdef inline Py_ssize_t _avg_window(Py_ssize_t o, Py_ssize_t s, Py_ssize_t p, Py_ssize_t k,
                                   Py_ssize_t I, Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """PyTorch's avg-pool window along one dim: returns the padded size, sets the clipped range."""
    cdef Py_ssize_t start = o * s - p
    cdef Py_ssize_t end = imin(start + k, I + p)
    lo[0] = imax(start, 0)
    hi[0] = imin(end, I)
    return end - start


cdef void _avg_plane(const real* xp, real* op, real* gp, bint backward,
                     Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                     Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW,
                     Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw,
                     Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                     Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
                     bint count_include_pad, Py_ssize_t divisor_override) noexcept nogil:
    """Forward: op[o] = mean of xp's window. Backward: gp (input grad, zeroed here) += op[o]/div.

    One function for both directions so the window and divisor rule exist once.
    """
    cdef Py_ssize_t od, oh, ow, d0, d1, h0, h1, w0, w1, pdn, phn, pwn, i, j, k, div, o
    cdef double acc
    cdef real g
    cdef const real* row
    cdef real* grow
    if backward:
        memset(gp, 0, D * H * W * sizeof(real))
    for od in range(oD):
        pdn = _avg_window(od, sd, pd, kd, D, &d0, &d1)
        for oh in range(oH):
            phn = _avg_window(oh, sh, ph, kh, H, &h0, &h1)
            for ow in range(oW):
                pwn = _avg_window(ow, sw, pw, kw, W, &w0, &w1)
                o = (od * oH + oh) * oW + ow
                if d0 >= d1 or h0 >= h1 or w0 >= w1:   # window entirely in padding
                    if not backward:
                        op[o] = 0
                    continue
                if divisor_override != 0:
                    div = divisor_override
                elif count_include_pad:
                    div = pdn * phn * pwn
                else:
                    div = (d1 - d0) * (h1 - h0) * (w1 - w0)
                if backward:
                    g = op[o] / <real>div
                    for i in range(d0, d1):
                        for j in range(h0, h1):
                            grow = gp + (i * H + j) * W
                            for k in range(w0, w1):
                                grow[k] += g
                else:
                    acc = 0
                    for i in range(d0, d1):
                        for j in range(h0, h1):
                            row = xp + (i * H + j) * W
                            for k in range(w0, w1):
                                acc += row[k]
                    op[o] = <real>(acc / div)


def avg_pool_forward(const real[:, :, :, ::1] x, real[:, :, :, ::1] out,
                     Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw,
                     Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                     Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
                     bint count_include_pad, Py_ssize_t divisor_override, int nthreads):
    """Average pooling with PyTorch's divisor rule; an empty (all-padding) window gives 0."""
    cdef Py_ssize_t P = x.shape[0], D = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t oD = out.shape[1], oH = out.shape[2], oW = out.shape[3]
    cdef Py_ssize_t DHW = D * H * W, oDHW = oD * oH * oW, p
    cdef const real* xb = &x[0, 0, 0, 0]
    cdef real* ob = &out[0, 0, 0, 0]
    with nogil, parallel(num_threads=nthreads):
        for p in prange(P, schedule='static'):
            _avg_plane(xb + p * DHW, ob + p * oDHW, <real*>NULL, False, D, H, W, oD, oH, oW,
                       kd, kh, kw, sd, sh, sw, pd, ph, pw, count_include_pad, divisor_override)


def avg_pool_backward(const real[:, :, :, ::1] grad_out, real[:, :, :, ::1] grad_in,
                      Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw,
                      Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                      Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
                      bint count_include_pad, Py_ssize_t divisor_override, int nthreads):
    """Adjoint of avg_pool_forward; grad_in (P, D, H, W) is overwritten."""
    cdef Py_ssize_t P = grad_in.shape[0], D = grad_in.shape[1]
    cdef Py_ssize_t H = grad_in.shape[2], W = grad_in.shape[3]
    cdef Py_ssize_t oD = grad_out.shape[1], oH = grad_out.shape[2], oW = grad_out.shape[3]
    cdef Py_ssize_t DHW = D * H * W, oDHW = oD * oH * oW, p
    cdef const real* gb = &grad_out[0, 0, 0, 0]
    cdef real* xb = &grad_in[0, 0, 0, 0]
    with nogil, parallel(num_threads=nthreads):
        for p in prange(P, schedule='static'):
            # _avg_plane only reads op in backward mode
            _avg_plane(<const real*>NULL, <real*>(gb + p * oDHW), xb + p * DHW, True,
                       D, H, W, oD, oH, oW, kd, kh, kw, sd, sh, sw, pd, ph, pw,
                       count_include_pad, divisor_override)


# ----------------------------------------------------------------------------- adaptive pools

cdef inline void _adaptive_window(Py_ssize_t o, Py_ssize_t I, Py_ssize_t O,
                                  Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """floor(o*I/O) .. ceil((o+1)*I/O), in integers."""
    lo[0] = (o * I) // O
    hi[0] = ((o + 1) * I + O - 1) // O


cdef void _adaptive_avg_plane(const real* xp, real* op, real* gp, bint backward,
                              Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                              Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW) noexcept nogil:
    """Forward: op[o] = window mean of xp. Backward: gp (zeroed here) += op[o] / window size."""
    cdef Py_ssize_t od, oh, ow, d0, d1, h0, h1, w0, w1, i, j, k, o
    cdef double acc
    cdef real g
    cdef const real* row
    cdef real* grow
    if backward:
        memset(gp, 0, D * H * W * sizeof(real))
    for od in range(oD):
        _adaptive_window(od, D, oD, &d0, &d1)
        for oh in range(oH):
            _adaptive_window(oh, H, oH, &h0, &h1)
            for ow in range(oW):
                _adaptive_window(ow, W, oW, &w0, &w1)
                o = (od * oH + oh) * oW + ow
                if backward:
                    g = op[o] / <real>((d1 - d0) * (h1 - h0) * (w1 - w0))
                    for i in range(d0, d1):
                        for j in range(h0, h1):
                            grow = gp + (i * H + j) * W
                            for k in range(w0, w1):
                                grow[k] += g
                else:
                    acc = 0
                    for i in range(d0, d1):
                        for j in range(h0, h1):
                            row = xp + (i * H + j) * W
                            for k in range(w0, w1):
                                acc += row[k]
                    op[o] = <real>(acc / ((d1 - d0) * (h1 - h0) * (w1 - w0)))


def adaptive_avg_pool_forward(const real[:, :, :, ::1] x, real[:, :, :, ::1] out, int nthreads):
    """out (P, oD, oH, oW): mean over windows [floor(o*I/O), ceil((o+1)*I/O)) per dim."""
    cdef Py_ssize_t P = x.shape[0], D = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t oD = out.shape[1], oH = out.shape[2], oW = out.shape[3]
    cdef Py_ssize_t DHW = D * H * W, oDHW = oD * oH * oW, p
    cdef const real* xb = &x[0, 0, 0, 0]
    cdef real* ob = &out[0, 0, 0, 0]
    with nogil, parallel(num_threads=nthreads):
        for p in prange(P, schedule='static'):
            _adaptive_avg_plane(xb + p * DHW, ob + p * oDHW, <real*>NULL, False,
                                D, H, W, oD, oH, oW)


def adaptive_avg_pool_backward(const real[:, :, :, ::1] grad_out, real[:, :, :, ::1] grad_in,
                               int nthreads):
    """Adjoint of adaptive_avg_pool_forward; grad_in (P, D, H, W) is overwritten."""
    cdef Py_ssize_t P = grad_in.shape[0], D = grad_in.shape[1]
    cdef Py_ssize_t H = grad_in.shape[2], W = grad_in.shape[3]
    cdef Py_ssize_t oD = grad_out.shape[1], oH = grad_out.shape[2], oW = grad_out.shape[3]
    cdef Py_ssize_t DHW = D * H * W, oDHW = oD * oH * oW, p
    cdef const real* gb = &grad_out[0, 0, 0, 0]
    cdef real* xb = &grad_in[0, 0, 0, 0]
    with nogil, parallel(num_threads=nthreads):
        for p in prange(P, schedule='static'):
            _adaptive_avg_plane(<const real*>NULL, <real*>(gb + p * oDHW), xb + p * DHW, True,
                                D, H, W, oD, oH, oW)


cdef void _adaptive_max_plane(const real* xp, real* op, int64_t* ip,
                              Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                              Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW) noexcept nogil:
    cdef Py_ssize_t od, oh, ow, d0, d1, h0, h1, w0, w1, i, j, k, idx, best, o
    cdef double v, m
    for od in range(oD):
        _adaptive_window(od, D, oD, &d0, &d1)
        for oh in range(oH):
            _adaptive_window(oh, H, oH, &h0, &h1)
            for ow in range(oW):
                _adaptive_window(ow, W, oW, &w0, &w1)
                m = -INFINITY
                best = (d0 * H + h0) * W + w0
                for i in range(d0, d1):
                    for j in range(h0, h1):
                        for k in range(w0, w1):
                            idx = (i * H + j) * W + k
                            v = xp[idx]
                            if v > m or isnan(v):
                                m = v
                                best = idx
                o = (od * oH + oh) * oW + ow
                op[o] = <real>m
                ip[o] = best


def adaptive_max_pool_forward(const real[:, :, :, ::1] x, real[:, :, :, ::1] out,
                              int64_t[:, :, :, ::1] indices, int nthreads):
    """Adaptive max pooling; indices as max_pool_forward (backward is max_pool_backward)."""
    cdef Py_ssize_t P = x.shape[0], D = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t oD = out.shape[1], oH = out.shape[2], oW = out.shape[3]
    cdef Py_ssize_t DHW = D * H * W, oDHW = oD * oH * oW, p
    cdef const real* xb = &x[0, 0, 0, 0]
    cdef real* ob = &out[0, 0, 0, 0]
    cdef int64_t* ib = &indices[0, 0, 0, 0]
    with nogil, parallel(num_threads=nthreads):
        for p in prange(P, schedule='static'):
            _adaptive_max_plane(xb + p * DHW, ob + p * oDHW, ib + p * oDHW, D, H, W, oD, oH, oW)


# ----------------------------------------------------------------------------- max unpool

cdef Py_ssize_t _unpool_plane(const real* xp, const int64_t* ip, real* op,
                              Py_ssize_t n, Py_ssize_t S) noexcept nogil:
    cdef Py_ssize_t i, bad = 0
    cdef int64_t idx
    memset(op, 0, S * sizeof(real))
    for i in range(n):
        idx = ip[i]
        if 0 <= idx < S:
            op[idx] = xp[i]
        else:
            bad += 1
    return bad


cdef Py_ssize_t _gather_plane(const real* gp, const int64_t* ip, real* xp,
                              Py_ssize_t n, Py_ssize_t S) noexcept nogil:
    cdef Py_ssize_t i, bad = 0
    cdef int64_t idx
    for i in range(n):
        idx = ip[i]
        if 0 <= idx < S:
            xp[i] = gp[idx]
        else:
            xp[i] = 0
            bad += 1
    return bad


def max_unpool_forward(const real[:, ::1] x, const int64_t[:, ::1] indices, real[:, ::1] out,
                       int nthreads):
    """out (P, S) = 0, then out[p, indices[p, i]] = x[p, i] (later i wins on duplicates).

    Returns how many indices fell outside [0, S); those are skipped.
    """
    cdef Py_ssize_t P = x.shape[0], n = x.shape[1], S = out.shape[1]
    cdef Py_ssize_t p, bad = 0
    cdef const real* xb = &x[0, 0]
    cdef const int64_t* ib = &indices[0, 0]
    cdef real* ob = &out[0, 0]
    with nogil, parallel(num_threads=nthreads):
        for p in prange(P, schedule='static'):
            bad += _unpool_plane(xb + p * n, ib + p * n, ob + p * S, n, S)
    return bad


def max_unpool_backward(const real[:, ::1] grad_out, const int64_t[:, ::1] indices,
                        real[:, ::1] grad_in, int nthreads):
    """grad_in[p, i] = grad_out[p, indices[p, i]]; out-of-range indices give 0 and are counted."""
    cdef Py_ssize_t P = grad_in.shape[0], n = grad_in.shape[1], S = grad_out.shape[1]
    cdef Py_ssize_t p, bad = 0
    cdef const real* gb = &grad_out[0, 0]
    cdef const int64_t* ib = &indices[0, 0]
    cdef real* xb = &grad_in[0, 0]
    with nogil, parallel(num_threads=nthreads):
        for p in prange(P, schedule='static'):
            bad += _gather_plane(gb + p * S, ib + p * n, xb + p * n, n, S)
    return bad
