# im2col / col2im for 1-, 2- and 3-D convolution (always written for (N, C, D, H, W)).
#
# col has shape (C*kd*kh*kw, N*L) with L = oD*oH*oW:
#   row    r = ((c*kd + i)*kh + j)*kw + k
#   column   n*L + (od*oH + oh)*oW + ow
#   col[r, n*L + ...] = x[n, c, od*sd - pd + i*dd, oh*sh - ph + j*dh, ow*sw - pw + k*dw]  (0 outside)
#
# im2col is parallel over (row, image) pairs: each pair writes one contiguous run of L values, so
# the work splits well even for C = 1 or N = 1. col2im is parallel over (image, channel) planes:
# each plane of x is written by exactly one thread, so overlapping windows never race.
#
# What a kernel tap (i, j, k) reads does not depend on the image or channel, so the input offsets
# and the ranges of outputs that read inside the input are tabulated once per call (9 integers
# per tap); the per-run work is then two integer divisions plus the copies.

from cython.parallel cimport parallel, prange
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from _common cimport real, tap_table, zero_fill

cdef enum:
    TAB = 9   # table entries per tap (see _common.tap_table)


cdef inline void _copy_short(real* dst, const real* src, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t q
    for q in range(n):
        dst[q] = src[q]


cdef inline void _im2col_run(const real* xp, real* dst, const Py_ssize_t* e,
                             Py_ssize_t H, Py_ssize_t W,
                             Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW,
                             Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw) noexcept nogil:
    """Fill dst[0:oD*oH*oW] with one kernel tap (table entry e) of one input plane xp."""
    cdef Py_ssize_t offd = e[0], offh = e[1], offw = e[2]
    cdef Py_ssize_t d0 = e[3], d1 = e[4], h0 = e[5], h1 = e[6], w0 = e[7], w1 = e[8]
    cdef Py_ssize_t od, oh, ow, nw = w1 - w0, plane = oH * oW
    cdef const real* src
    cdef real* o
    if d0 > 0:
        memset(dst, 0, d0 * plane * sizeof(real))
    for od in range(d0, d1):
        if h0 > 0:
            memset(dst + od * plane, 0, h0 * oW * sizeof(real))
        for oh in range(h0, h1):
            o = dst + od * plane + oh * oW
            # first valid element of this output row: input column w0*sw + offw >= 0
            src = xp + ((od * sd + offd) * H + (oh * sh + offh)) * W + (w0 * sw + offw)
            zero_fill(o, w0)
            if sw == 1 and nw >= 16:
                memcpy(o + w0, src, nw * sizeof(real))
            elif sw == 1:
                _copy_short(o + w0, src, nw)   # small maps (LeNet): a call costs more
            else:
                for ow in range(nw):
                    o[w0 + ow] = src[ow * sw]
            zero_fill(o + w1, oW - w1)
        if h1 < oH:
            memset(dst + od * plane + h1 * oW, 0, (oH - h1) * oW * sizeof(real))
    if d1 < oD:
        memset(dst + d1 * plane, 0, (oD - d1) * plane * sizeof(real))


cdef inline void _col2im_add(const real* src, real* xp, const Py_ssize_t* e,
                             Py_ssize_t H, Py_ssize_t W, Py_ssize_t oH, Py_ssize_t oW,
                             Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw) noexcept nogil:
    """Add one kernel tap's column run src[0:oD*oH*oW] back into the input plane xp."""
    cdef Py_ssize_t offd = e[0], offh = e[1], offw = e[2]
    cdef Py_ssize_t d0 = e[3], d1 = e[4], h0 = e[5], h1 = e[6], w0 = e[7], w1 = e[8]
    cdef Py_ssize_t od, oh, ow, nw = w1 - w0
    cdef const real* s
    cdef real* t
    for od in range(d0, d1):
        for oh in range(h0, h1):
            s = src + (od * oH + oh) * oW + w0
            t = xp + ((od * sd + offd) * H + (oh * sh + offh)) * W + (w0 * sw + offw)
            if sw == 1:
                for ow in range(nw):
                    t[ow] += s[ow]
            else:
                for ow in range(nw):
                    t[ow * sw] += s[ow]


def im2col(const real[:, :, :, :, ::1] x, real[:, ::1] col,
           Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw,
           Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
           Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
           Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
           Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW, int nthreads):
    """Unfold x (N, C, D, H, W) into col (C*kd*kh*kw, N*oD*oH*oW). Inputs pre-validated."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1]
    cdef Py_ssize_t D = x.shape[2], H = x.shape[3], W = x.shape[4]
    cdef Py_ssize_t K = kd * kh * kw, L = oD * oH * oW, DHW = D * H * W
    cdef Py_ssize_t total = C * K * N, t, r, n, c
    cdef const real* xb = &x[0, 0, 0, 0, 0]
    cdef real* cb = &col[0, 0]
    cdef Py_ssize_t* tab = tap_table(D, H, W, oD, oH, oW, kd, kh, kw, sd, sh, sw,
                                      pd, ph, pw, dd, dh, dw)
    with nogil, parallel(num_threads=nthreads):
        # t walks col in memory order (row-major), so each thread streams one contiguous block
        for t in prange(total, schedule='static'):
            r = t // N
            n = t - r * N
            c = r // K
            _im2col_run(xb + (n * C + c) * DHW, cb + t * L, tab + TAB * (r - c * K),
                        H, W, oD, oH, oW, sd, sh, sw)
    free(tab)


def col2im(const real[:, ::1] col, real[:, :, :, :, ::1] x,
           Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw,
           Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
           Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
           Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
           Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW, int nthreads):
    """Fold col back into x (overwritten): the adjoint of im2col. Inputs pre-validated."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1]
    cdef Py_ssize_t D = x.shape[2], H = x.shape[3], W = x.shape[4]
    cdef Py_ssize_t K = kd * kh * kw, L = oD * oH * oW, DHW = D * H * W
    cdef Py_ssize_t NL = N * L, t, n, c, tap
    cdef const real* cb = &col[0, 0]
    cdef real* xb = &x[0, 0, 0, 0, 0]
    cdef Py_ssize_t* tab = tap_table(D, H, W, oD, oH, oW, kd, kh, kw, sd, sh, sw,
                                      pd, ph, pw, dd, dh, dw)
    with nogil, parallel(num_threads=nthreads):
        for t in prange(N * C, schedule='static'):
            n = t // C
            c = t - n * C
            memset(xb + t * DHW, 0, DHW * sizeof(real))
            for tap in range(K):
                _col2im_add(cb + (c * K + tap) * NL + n * L, xb + t * DHW, tab + TAB * tap,
                            H, W, oH, oW, sd, sh, sw)
    free(tab)
