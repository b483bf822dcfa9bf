# Deformable im2col / col2im for 2-D deformable convolution (DCNv1, and DCNv2 with a mask), with
# torchvision's semantics (torchvision/csrc/ops/cpu/deform_conv2d_kernel.cpp).
#
# x (N, C, H, W); K = kh*kw kernel taps, tap t = i*kw + j; G offset groups of C/G channels each.
# offset (N, G*2*K, oH, oW): channel (g*K + t)*2 holds dy, the next one dx, for tap t of group g.
# mask   (N, G*K, oH, oW): channel g*K + t, or none (then every mask value is 1).
# col    (C*K, N*L), L = oH*oW, row r = c*K + t, column n*L + oy*oW + ox:
#
#   col[r, n*L + l] = m * bilinear(x[n, c], y, x)      with g = c // (C/G),
#   y = oy*sh - ph + i*dh + dy[n, g, t, l],   x = ox*sw - pw + j*dw + dx[n, g, t, l]
#
# bilinear() is torchvision's bilinear_interpolate: a sample is 0 unless -1 < y < H and
# -1 < x < W, and of its four neighbours only those inside the image contribute (zero padding).
# Written as `not (y > -1 and y < H ...)`, the test also sends NaN positions (and positions far
# outside, whose floor would overflow an integer) to 0, so no index is ever formed from them.
#
# Parallel work units never share an output element:
#   deform_im2col        (row, image) pairs, each writing one contiguous run of L columns;
#   deform_col2im        (image, channel) planes of grad_x, each scattered into by one thread;
#   deform_offset_grad   (image, group, tap) triples, each owning its dy, dx and mask rows.
# Every unit sums in a fixed order, so results do not depend on the thread count.

from cython.parallel cimport parallel, prange
from libc.math cimport floor

from _common cimport real


cdef struct Geo:
    Py_ssize_t N, C, H, W, oH, oW, kh, kw, sh, sw, ph, pw, dh, dw, G, cpg


cdef inline real _bilinear(const real* p, Py_ssize_t H, Py_ssize_t W,
                           real y, real x) noexcept nogil:
    """torchvision's bilinear_interpolate: zero outside the image and for NaN positions."""
    cdef Py_ssize_t y0, x0, y1, x1
    cdef real ly, lx, hy, hx, v1 = 0, v2 = 0, v3 = 0, v4 = 0
    if not (y > -1 and y < H and x > -1 and x < W):
        return 0
    y0 = <Py_ssize_t>floor(y)
    x0 = <Py_ssize_t>floor(x)
    y1 = y0 + 1
    x1 = x0 + 1
    ly = y - y0
    lx = x - x0
    hy = 1 - ly
    hx = 1 - lx
    if y0 >= 0 and x0 >= 0:
        v1 = p[y0 * W + x0]
    if y0 >= 0 and x1 <= W - 1:
        v2 = p[y0 * W + x1]
    if y1 <= H - 1 and x0 >= 0:
        v3 = p[y1 * W + x0]
    if y1 <= H - 1 and x1 <= W - 1:
        v4 = p[y1 * W + x1]
    return hy * hx * v1 + hy * lx * v2 + ly * hx * v3 + ly * lx * v4


cdef inline void _im2col_run(const real* xp, const real* offy, const real* offx,
                             const real* m, real* dst, const Geo* g,
                             Py_ssize_t i, Py_ssize_t j) noexcept nogil:
    """dst[0:L] = one tap (i, j) of one input plane xp, sampled at the deformed positions."""
    cdef Py_ssize_t oy, ox, l
    cdef Py_ssize_t by = i * g.dh - g.ph, bx = j * g.dw - g.pw
    cdef real yy, xx, v
    for oy in range(g.oH):
        for ox in range(g.oW):
            l = oy * g.oW + ox
            yy = <real>(oy * g.sh + by) + offy[l]
            xx = <real>(ox * g.sw + bx) + offx[l]
            v = _bilinear(xp, g.H, g.W, yy, xx)
            dst[l] = m[l] * v if m != NULL else v


cdef inline void _col2im_run(const real* src, const real* offy, const real* offx,
                             const real* m, real* xp, const Geo* g,
                             Py_ssize_t i, Py_ssize_t j) noexcept nogil:
    """Scatter one tap's column run src[0:L] into plane xp with the bilinear weights (the
    transpose of _im2col_run)."""
    cdef Py_ssize_t oy, ox, l, y0, x0, y1, x1, H = g.H, W = g.W
    cdef Py_ssize_t by = i * g.dh - g.ph, bx = j * g.dw - g.pw
    cdef real yy, xx, ly, lx, hy, hx, gv
    for oy in range(g.oH):
        for ox in range(g.oW):
            l = oy * g.oW + ox
            yy = <real>(oy * g.sh + by) + offy[l]
            xx = <real>(ox * g.sw + bx) + offx[l]
            if not (yy > -1 and yy < H and xx > -1 and xx < W):
                continue
            gv = m[l] * src[l] if m != NULL else src[l]
            y0 = <Py_ssize_t>floor(yy)
            x0 = <Py_ssize_t>floor(xx)
            y1 = y0 + 1
            x1 = x0 + 1
            ly = yy - y0
            lx = xx - x0
            hy = 1 - ly
            hx = 1 - lx
            if y0 >= 0 and x0 >= 0:
                xp[y0 * W + x0] += hy * hx * gv
            if y0 >= 0 and x1 <= W - 1:
                xp[y0 * W + x1] += hy * lx * gv
            if y1 <= H - 1 and x0 >= 0:
                xp[y1 * W + x0] += ly * hx * gv
            if y1 <= H - 1 and x1 <= W - 1:
                xp[y1 * W + x1] += ly * lx * gv


cdef inline void _coord_run(const real* xp, const real* src, const real* offy,
                            const real* offx, const real* m, real* gy, real* gx, real* gm,
                            const Geo* g, Py_ssize_t i, Py_ssize_t j) noexcept nogil:
    """Add one channel's contribution to the dy, dx (and mask) gradients of one tap.

    torchvision's get_coordinate_weight: the derivative of the bilinear sample along y (x),
    nonzero for -1 <= y < H and -1 <= x < W (at -1 exactly it is the one-sided derivative from
    inside, as torchvision's).
    """
    cdef Py_ssize_t oy, ox, l, y0, x0, y1, x1, H = g.H, W = g.W
    cdef Py_ssize_t by = i * g.dh - g.ph, bx = j * g.dw - g.pw
    cdef real yy, xx, ly, lx, v1, v2, v3, v4, c, mv
    for oy in range(g.oH):
        for ox in range(g.oW):
            l = oy * g.oW + ox
            yy = <real>(oy * g.sh + by) + offy[l]
            xx = <real>(ox * g.sw + bx) + offx[l]
            if not (yy >= -1 and yy < H and xx >= -1 and xx < W):
                continue
            y0 = <Py_ssize_t>floor(yy)
            x0 = <Py_ssize_t>floor(xx)
            y1 = y0 + 1
            x1 = x0 + 1
            v1 = xp[y0 * W + x0] if y0 >= 0 and x0 >= 0 else 0
            v2 = xp[y0 * W + x1] if y0 >= 0 and x1 < W else 0
            v3 = xp[y1 * W + x0] if y1 < H and x0 >= 0 else 0
            v4 = xp[y1 * W + x1] if y1 < H and x1 < W else 0
            ly = yy - y0
            lx = xx - x0
            c = src[l]
            mv = m[l] if m != NULL else 1
            gy[l] += mv * (lx * (v4 - v2) + (1 - lx) * (v3 - v1)) * c
            gx[l] += mv * (ly * (v4 - v3) + (1 - ly) * (v2 - v1)) * c
            if gm != NULL:
                # at y == -1 or x == -1 the sample is 0, as in _bilinear: its weights vanish
                gm[l] += c * ((1 - ly) * (1 - lx) * v1 + (1 - ly) * lx * v2
                              + ly * (1 - lx) * v3 + ly * lx * v4)


cdef Geo _geo(Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
              Py_ssize_t oH, Py_ssize_t oW, Py_ssize_t offset_channels,
              Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
              Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t dh, Py_ssize_t dw):
    cdef Geo g
    g.N, g.C, g.H, g.W, g.oH, g.oW = N, C, H, W, oH, oW
    g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw = kh, kw, sh, sw, ph, pw, dh, dw
    g.G = offset_channels // (2 * kh * kw)
    g.cpg = C // g.G
    return g


def deform_im2col(const real[:, :, :, ::1] x, const real[:, :, :, ::1] offset,
                  const real[:, :, :, ::1] mask, bint has_mask, real[:, ::1] col,
                  Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                  Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t dh, Py_ssize_t dw, int nthreads):
    """Sample x (N, C, H, W) into col (C*kh*kw, N*oH*oW). Inputs pre-validated, x not empty."""
    cdef Geo g = _geo(x.shape[0], x.shape[1], x.shape[2], x.shape[3], offset.shape[2],
                      offset.shape[3], offset.shape[1], kh, kw, sh, sw, ph, pw, dh, dw)
    cdef Py_ssize_t K = kh * kw, L = g.oH * g.oW, HW = g.H * g.W, N = g.N
    cdef Py_ssize_t t, r, n, c, tap, grp
    cdef const real* xb = &x[0, 0, 0, 0]
    cdef const real* ob = &offset[0, 0, 0, 0]
    cdef const real* mb = &mask[0, 0, 0, 0] if has_mask else NULL
    cdef const real* offy
    cdef real* cb = &col[0, 0]
    with nogil, parallel(num_threads=nthreads):
        for t in prange(g.C * K * N, schedule='static'):
            r = t // N
            n = t - r * N
            c = r // K
            tap = r - c * K
            grp = c // g.cpg
            offy = ob + ((n * g.G + grp) * 2 * K + 2 * tap) * L
            _im2col_run(xb + (n * g.C + c) * HW, offy, offy + L,
                        mb + ((n * g.G + grp) * K + tap) * L if has_mask else NULL,
                        cb + t * L, &g, tap // kw, tap % kw)


def deform_col2im(const real[:, ::1] col, const real[:, :, :, ::1] offset,
                  const real[:, :, :, ::1] mask, bint has_mask, real[:, :, :, ::1] x,
                  Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                  Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t dh, Py_ssize_t dw, int nthreads):
    """grad_x (N, C, H, W, overwritten) from the column gradient: the adjoint of
    deform_im2col in x. Inputs pre-validated, x not empty."""
    cdef Geo g = _geo(x.shape[0], x.shape[1], x.shape[2], x.shape[3], offset.shape[2],
                      offset.shape[3], offset.shape[1], kh, kw, sh, sw, ph, pw, dh, dw)
    cdef Py_ssize_t K = kh * kw, L = g.oH * g.oW, HW = g.H * g.W, N = g.N
    cdef Py_ssize_t t, n, c, tap, grp, q
    cdef const real* cb = &col[0, 0]
    cdef const real* ob = &offset[0, 0, 0, 0]
    cdef const real* mb = &mask[0, 0, 0, 0] if has_mask else NULL
    cdef const real* offy
    cdef real* xb = &x[0, 0, 0, 0]
    cdef real* xp
    with nogil, parallel(num_threads=nthreads):
        for t in prange(N * g.C, schedule='static'):
            n = t // g.C
            c = t - n * g.C
            grp = c // g.cpg
            xp = xb + t * HW
            for q in range(HW):
                xp[q] = 0
            for tap in range(K):
                offy = ob + ((n * g.G + grp) * 2 * K + 2 * tap) * L
                _col2im_run(cb + ((c * K + tap) * N + n) * L, offy, offy + L,
                            mb + ((n * g.G + grp) * K + tap) * L if has_mask else NULL,
                            xp, &g, tap // kw, tap % kw)


def deform_offset_grad(const real[:, ::1] col, const real[:, :, :, ::1] x,
                       const real[:, :, :, ::1] offset, const real[:, :, :, ::1] mask,
                       bint has_mask, real[:, :, :, ::1] grad_offset,
                       real[:, :, :, ::1] grad_mask,
                       Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                       Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t dh, Py_ssize_t dw,
                       int nthreads):
    """grad_offset (overwritten) and, with a mask, grad_mask (overwritten) from the column
    gradient col (C*K, N*L) and the input x. Inputs pre-validated, x not empty."""
    cdef Geo g = _geo(x.shape[0], x.shape[1], x.shape[2], x.shape[3], offset.shape[2],
                      offset.shape[3], offset.shape[1], kh, kw, sh, sw, ph, pw, dh, dw)
    cdef Py_ssize_t K = kh * kw, L = g.oH * g.oW, HW = g.H * g.W, N = g.N
    cdef Py_ssize_t t, n, r, tap, grp, c, q
    cdef const real* cb = &col[0, 0]
    cdef const real* xb = &x[0, 0, 0, 0]
    cdef const real* ob = &offset[0, 0, 0, 0]
    cdef const real* mb = &mask[0, 0, 0, 0] if has_mask else NULL
    cdef const real* offy
    cdef real* gob = &grad_offset[0, 0, 0, 0]
    cdef real* gmb = &grad_mask[0, 0, 0, 0] if has_mask else NULL
    cdef real* gy
    cdef real* gm
    with nogil, parallel(num_threads=nthreads):
        for t in prange(N * g.G * K, schedule='static'):
            n = t // (g.G * K)
            r = t - n * g.G * K
            grp = r // K
            tap = r - grp * K
            gy = gob + ((n * g.G + grp) * 2 * K + 2 * tap) * L
            gm = gmb + t * L if has_mask else NULL
            for q in range(2 * L):
                gy[q] = 0
            if gm != NULL:
                for q in range(L):
                    gm[q] = 0
            offy = ob + ((n * g.G + grp) * 2 * K + 2 * tap) * L
            for c in range(grp * g.cpg, (grp + 1) * g.cpg):
                _coord_run(xb + (n * g.C + c) * HW, cb + ((c * K + tap) * N + n) * L,
                           offy, offy + L, mb + t * L if has_mask else NULL,
                           gy, gy + L, gm, &g, tap // kw, tap % kw)
