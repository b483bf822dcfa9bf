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

from cython.parallel cimport parallel, prange
from libc.string cimport memcpy, memset

from _common cimport real, valid_range, zero_fill


cdef inline void _im2col_run(const real* xp, real* dst,
                             Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                             Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW,
                             Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                             Py_ssize_t offd, Py_ssize_t offh, Py_ssize_t offw) noexcept nogil:
    """Fill dst[0:oD*oH*oW] with one kernel tap of one input plane xp (D, H, W)."""
    cdef Py_ssize_t d0, d1, h0, h1, w0, w1, od, oh, ow, nw
    cdef Py_ssize_t plane = oH * oW
    cdef const real* src
    cdef real* o
    valid_range(D, oD, sd, offd, &d0, &d1)
    valid_range(H, oH, sh, offh, &h0, &h1)
    valid_range(W, oW, sw, offw, &w0, &w1)
    nw = w1 - w0
    if d0 > 0:
        memset(dst, 0, d0 * plane * sizeof(real))
    for od in range(d0, d1):
        o = dst + od * plane
        if h0 > 0:
            memset(o, 0, h0 * oW * sizeof(real))
        for oh in range(h0, h1):
            o = dst + od * plane + oh * oW
            # first valid element of this output row: input column w0*sw + offw >= 0
            src = xp + ((od * sd + offd) * H + (oh * sh + offh)) * W + (w0 * sw + offw)
            zero_fill(o, w0)
            if sw == 1:
                memcpy(o + w0, src, nw * sizeof(real))
            else:
                for ow in range(nw):
                    o[w0 + ow] = src[ow * sw]
            zero_fill(o + w1, oW - w1)
        if h1 < oH:
            memset(dst + od * plane + h1 * oW, 0, (oH - h1) * oW * sizeof(real))
    if d1 < oD:
        memset(dst + d1 * plane, 0, (oD - d1) * plane * sizeof(real))


cdef inline void _col2im_add(const real* src, real* xp,
                             Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                             Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW,
                             Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                             Py_ssize_t offd, Py_ssize_t offh, Py_ssize_t offw) noexcept nogil:
    """Add one kernel tap's column run src[0:oD*oH*oW] back into the input plane xp."""
    cdef Py_ssize_t d0, d1, h0, h1, w0, w1, od, oh, ow, nw
    cdef const real* s
    cdef real* t
    valid_range(D, oD, sd, offd, &d0, &d1)
    valid_range(H, oH, sh, offh, &h0, &h1)
    valid_range(W, oW, sw, offw, &w0, &w1)
    nw = w1 - w0
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
    cdef Py_ssize_t K = kd * kh * kw, L = oD * oH * oW
    cdef Py_ssize_t R = C * K, total = R * N, t, r, n, c, tap, i, j, k
    cdef const real* xb = &x[0, 0, 0, 0, 0]
    cdef real* cb = &col[0, 0]
    with nogil, parallel(num_threads=nthreads):
        # t walks col in memory order (row-major), so each thread streams one contiguous block
        for t in prange(total, schedule='static'):
            r = t // N
            n = t - r * N
            c = r // K
            tap = r - c * K
            i = tap // (kh * kw)
            j = (tap // kw) % kh
            k = tap % kw
            _im2col_run(xb + (n * C + c) * D * H * W, cb + t * L,
                        D, H, W, oD, oH, oW, sd, sh, sw,
                        i * dd - pd, j * dh - ph, k * dw - pw)


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
    cdef Py_ssize_t NL = N * L, t, n, c, tap, i, j, k
    cdef const real* cb = &col[0, 0]
    cdef real* xb = &x[0, 0, 0, 0, 0]
    with nogil, parallel(num_threads=nthreads):
        for t in prange(N * C, schedule='static'):
            n = t // C
            c = t - n * C
            memset(xb + t * DHW, 0, DHW * sizeof(real))
            for tap in range(K):
                i = tap // (kh * kw)
                j = (tap // kw) % kh
                k = tap % kw
                _col2im_add(cb + (c * K + tap) * NL + n * L, xb + t * DHW,
                            D, H, W, oD, oH, oW, sd, sh, sw,
                            i * dd - pd, j * dh - ph, k * dw - pw)
