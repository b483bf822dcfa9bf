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
# Where a tap samples, and with which bilinear weights, depends on (image, offset group, tap,
# output position) but not on the channel, so each kernel works on blocks of BLK output
# positions: it tabulates the sample positions once (flat index of the top-left neighbour, a
# bit per neighbour inside the image, the weights) and then applies the table to every channel
# of the group. Samples with all four neighbours inside take a branch-free path.
#
# Parallel work units never share an output element:
#   deform_im2col        (image, offset group, tap), writing that tap's rows for the group;
#   deform_col2im        (image, offset group, block of CB channels) planes of grad_x;
#   deform_offset_grad   (image, offset group, tap), owning its dy, dx and mask rows.
# Every unit sums in a fixed order, so results do not depend on the thread count.

from cython.parallel cimport parallel, prange
from libc.math cimport floor

from _common cimport imin, real

cdef enum:
    BLK = 256   # output positions per table block (the table stays in L1)
    CB = 8      # channels per deform_col2im work unit
    ALL = 15    # all four neighbours inside the image


cdef struct Geo:
    Py_ssize_t N, C, H, W, oH, oW, kh, kw, sh, sw, ph, pw, dh, dw, G, cpg, K, L


cdef Geo _geo(Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
              Py_ssize_t oH, Py_ssize_t oW, Py_ssize_t offset_channels,
              Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
              Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t dh, Py_ssize_t dw):
    cdef Geo g
    g.N, g.C, g.H, g.W, g.oH, g.oW = N, C, H, W, oH, oW
    g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw = kh, kw, sh, sw, ph, pw, dh, dw
    g.K = kh * kw
    g.L = oH * oW
    g.G = offset_channels // (2 * g.K)
    g.cpg = C // g.G
    return g


cdef inline int _table(const Geo* g, const real* offy, const real* offx, Py_ssize_t tap,
                       Py_ssize_t l0, Py_ssize_t nl, bint coord, Py_ssize_t* idx, int* bits,
                       real* ly, real* lx) noexcept nogil:
    """Tabulate the sample positions of output positions l0 .. l0+nl-1 for one tap.

    idx: flat index y0*W + x0 of the top-left neighbour; bits: 1, 2, 4, 8 for the neighbours
    (y0, x0), (y0, x1), (y1, x0), (y1, x1) that lie inside the image, 0 for a sample outside
    the guard; ly, lx: fractional parts. The guard is torchvision's: -1 < y < H, -1 < x < W for
    samples; -1 <= y < H, -1 <= x < W for the coordinate derivatives (coord). Written as
    `not (...)` it sends NaN and positions far outside (whose floor would overflow) to 0.
    Returns the OR of all bits (0: nothing in the block touches the image).
    """
    cdef Py_ssize_t q, l, oy, ox, y0, x0, H = g.H, W = g.W, oW = g.oW
    cdef Py_ssize_t by = (tap // g.kw) * g.dh - g.ph, bx = (tap % g.kw) * g.dw - g.pw
    cdef real yy, xx
    cdef int b, any_bits = 0
    for q in range(nl):
        l = l0 + q
        oy = l // oW
        ox = l - oy * oW
        yy = <real>(oy * g.sh + by) + offy[l]
        xx = <real>(ox * g.sw + bx) + offx[l]
        if coord:
            if not (yy >= -1 and yy < H and xx >= -1 and xx < W):
                bits[q] = 0
                continue
        elif not (yy > -1 and yy < H and xx > -1 and xx < W):
            bits[q] = 0
            continue
        y0 = <Py_ssize_t>floor(yy)
        x0 = <Py_ssize_t>floor(xx)
        b = 0
        if y0 >= 0:
            b = b | (1 if x0 >= 0 else 0) | (2 if x0 + 1 < W else 0)
        if y0 + 1 < H:
            b = b | (4 if x0 >= 0 else 0) | (8 if x0 + 1 < W else 0)
        bits[q] = b
        any_bits = any_bits | b
        idx[q] = y0 * W + x0
        ly[q] = yy - y0
        lx[q] = xx - x0
    return any_bits


cdef inline real _sample(const real* p, Py_ssize_t W, int b, real ly, real lx) noexcept nogil:
    """torchvision's bilinear_interpolate at p (the top-left neighbour), neighbours outside
    the image (bits clear) reading 0."""
    cdef real hy = 1 - ly, hx = 1 - lx, v1 = 0, v2 = 0, v3 = 0, v4 = 0
    if b == ALL:
        v1 = p[0]
        v2 = p[1]
        v3 = p[W]
        v4 = p[W + 1]
    else:
        if b & 1:
            v1 = p[0]
        if b & 2:
            v2 = p[1]
        if b & 4:
            v3 = p[W]
        if b & 8:
            v4 = p[W + 1]
    return hy * hx * v1 + hy * lx * v2 + ly * hx * v3 + ly * lx * v4


cdef void _im2col_unit(const real* xb, const real* ob, const real* mb, real* cb,
                       const Geo* g, Py_ssize_t n, Py_ssize_t grp,
                       Py_ssize_t tap) noexcept nogil:
    """Rows c*K + tap (c in group grp) of image n's columns."""
    cdef Py_ssize_t idx[BLK]
    cdef int bits[BLK]
    cdef real ly[BLK]
    cdef real lx[BLK]
    cdef Py_ssize_t K = g.K, L = g.L, W = g.W, HW = g.H * g.W, l0, nl, c, q
    cdef const real* offy = ob + ((n * g.G + grp) * 2 * K + 2 * tap) * L
    cdef const real* m = mb + ((n * g.G + grp) * K + tap) * L if mb != NULL else NULL
    cdef const real* xp
    cdef real* dst
    cdef real v
    l0 = 0
    while l0 < L:
        nl = imin(BLK, L - l0)
        _table(g, offy, offy + L, tap, l0, nl, False, idx, bits, ly, lx)
        for c in range(grp * g.cpg, (grp + 1) * g.cpg):
            xp = xb + (n * g.C + c) * HW
            dst = cb + ((c * K + tap) * g.N + n) * L + l0
            for q in range(nl):
                v = _sample(xp + idx[q], W, bits[q], ly[q], lx[q]) if bits[q] else 0
                dst[q] = m[l0 + q] * v if m != NULL else v
        l0 += nl


cdef void _col2im_unit(const real* cb, const real* ob, const real* mb, real* xb,
                       const Geo* g, Py_ssize_t n, Py_ssize_t grp,
                       Py_ssize_t c0, Py_ssize_t c1) noexcept nogil:
    """Planes c0 .. c1-1 (all in group grp) of image n's input gradient (overwritten)."""
    cdef Py_ssize_t idx[BLK]
    cdef int bits[BLK]
    cdef real ly[BLK]
    cdef real lx[BLK]
    cdef Py_ssize_t K = g.K, L = g.L, W = g.W, HW = g.H * g.W, l0, nl, c, q, tap
    cdef const real* offy
    cdef const real* m
    cdef const real* src
    cdef real* p
    cdef real gv, hy, hx
    cdef int b
    for c in range(c0, c1):
        p = xb + (n * g.C + c) * HW
        for q in range(HW):
            p[q] = 0
    for tap in range(K):
        offy = ob + ((n * g.G + grp) * 2 * K + 2 * tap) * L
        m = mb + ((n * g.G + grp) * K + tap) * L if mb != NULL else NULL
        l0 = 0
        while l0 < L:
            nl = imin(BLK, L - l0)
            if not _table(g, offy, offy + L, tap, l0, nl, False, idx, bits, ly, lx):
                l0 += nl
                continue
            for c in range(c0, c1):
                src = cb + ((c * K + tap) * g.N + n) * L + l0
                for q in range(nl):
                    b = bits[q]
                    if not b:
                        continue
                    gv = m[l0 + q] * src[q] if m != NULL else src[q]
                    p = xb + (n * g.C + c) * HW + idx[q]
                    hy = 1 - ly[q]
                    hx = 1 - lx[q]
                    if b == ALL:
                        p[0] += hy * hx * gv
                        p[1] += hy * lx[q] * gv
                        p[W] += ly[q] * hx * gv
                        p[W + 1] += ly[q] * lx[q] * gv
                        continue
                    if b & 1:
                        p[0] += hy * hx * gv
                    if b & 2:
                        p[1] += hy * lx[q] * gv
                    if b & 4:
                        p[W] += ly[q] * hx * gv
                    if b & 8:
                        p[W + 1] += ly[q] * lx[q] * gv
            l0 += nl


cdef void _coord_unit(const real* cb, const real* xb, const real* ob, const real* mb,
                      real* gob, real* gmb, const Geo* g, Py_ssize_t n, Py_ssize_t grp,
                      Py_ssize_t tap) noexcept nogil:
    """dy, dx (and mask) gradient rows of one tap of one offset group of image n.

    torchvision's get_coordinate_weight: the derivative of the bilinear sample along y (x),
    nonzero for -1 <= y < H and -1 <= x < W (at -1 exactly it is the one-sided derivative
    from inside, as torchvision's).
    """
    cdef Py_ssize_t idx[BLK]
    cdef int bits[BLK]
    cdef real ly[BLK]
    cdef real lx[BLK]
    cdef Py_ssize_t K = g.K, L = g.L, W = g.W, HW = g.H * g.W, l0, nl, c, q, l
    cdef const real* offy = ob + ((n * g.G + grp) * 2 * K + 2 * tap) * L
    cdef const real* m = mb + ((n * g.G + grp) * K + tap) * L if mb != NULL else NULL
    cdef real* gy = gob + ((n * g.G + grp) * 2 * K + 2 * tap) * L
    cdef real* gx = gy + L
    cdef real* gm = gmb + ((n * g.G + grp) * K + tap) * L if gmb != NULL else NULL
    cdef const real* p
    cdef const real* src
    cdef real v1, v2, v3, v4, s, mv, a, bq
    cdef int b
    for q in range(2 * L):
        gy[q] = 0
    if gm != NULL:
        for q in range(L):
            gm[q] = 0
    l0 = 0
    while l0 < L:
        nl = imin(BLK, L - l0)
        if not _table(g, offy, offy + L, tap, l0, nl, True, idx, bits, ly, lx):
            l0 += nl
            continue
        for c in range(grp * g.cpg, (grp + 1) * g.cpg):
            src = cb + ((c * K + tap) * g.N + n) * L + l0
            for q in range(nl):
                b = bits[q]
                if not b:
                    continue
                p = xb + (n * g.C + c) * HW + idx[q]
                if b == ALL:
                    v1, v2, v3, v4 = p[0], p[1], p[W], p[W + 1]
                else:
                    v1 = p[0] if b & 1 else 0
                    v2 = p[1] if b & 2 else 0
                    v3 = p[W] if b & 4 else 0
                    v4 = p[W + 1] if b & 8 else 0
                l = l0 + q
                s = src[q]
                mv = m[l] if m != NULL else 1
                a = ly[q]
                bq = lx[q]
                gy[l] += mv * (bq * (v4 - v2) + (1 - bq) * (v3 - v1)) * s
                gx[l] += mv * (a * (v4 - v3) + (1 - a) * (v2 - v1)) * s
                if gm != NULL:
                    # at y == -1 or x == -1 the sample is 0, as in _sample: its weights vanish
                    gm[l] += s * ((1 - a) * (1 - bq) * v1 + (1 - a) * bq * v2
                                  + a * (1 - bq) * v3 + a * bq * v4)
        l0 += nl


def deform_im2col(const real[:, :, :, ::1] x, const real[:, :, :, ::1] offset,
                  const real[:, :, :, ::1] mask, bint has_mask, real[:, ::1] col,
                  Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                  Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t dh, Py_ssize_t dw, int nthreads):
    """Sample x (N, C, H, W) into col (C*kh*kw, N*oH*oW). Inputs pre-validated, x not empty."""
    cdef Geo g = _geo(x.shape[0], x.shape[1], x.shape[2], x.shape[3], offset.shape[2],
                      offset.shape[3], offset.shape[1], kh, kw, sh, sw, ph, pw, dh, dw)
    cdef Py_ssize_t t, n, r, GK = g.G * g.K
    cdef const real* mb = &mask[0, 0, 0, 0] if has_mask else NULL
    with nogil, parallel(num_threads=nthreads):
        for t in prange(g.N * GK, schedule='dynamic'):
            n = t // GK
            r = t - n * GK
            _im2col_unit(&x[0, 0, 0, 0], &offset[0, 0, 0, 0], mb, &col[0, 0], &g, n,
                         r // g.K, r % g.K)


def deform_col2im(const real[:, ::1] col, const real[:, :, :, ::1] offset,
                  const real[:, :, :, ::1] mask, bint has_mask, real[:, :, :, ::1] x,
                  Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                  Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t dh, Py_ssize_t dw, int nthreads):
    """grad_x (N, C, H, W, overwritten) from the column gradient: the adjoint of
    deform_im2col in x. Inputs pre-validated, x not empty."""
    cdef Geo g = _geo(x.shape[0], x.shape[1], x.shape[2], x.shape[3], offset.shape[2],
                      offset.shape[3], offset.shape[1], kh, kw, sh, sw, ph, pw, dh, dw)
    cdef Py_ssize_t nb = (g.cpg + CB - 1) // CB          # channel blocks per group
    cdef Py_ssize_t t, n, r, grp, c0
    cdef const real* mb = &mask[0, 0, 0, 0] if has_mask else NULL
    with nogil, parallel(num_threads=nthreads):
        for t in prange(g.N * g.G * nb, schedule='dynamic'):
            n = t // (g.G * nb)
            r = t - n * g.G * nb
            grp = r // nb
            c0 = grp * g.cpg + (r - grp * nb) * CB
            _col2im_unit(&col[0, 0], &offset[0, 0, 0, 0], mb, &x[0, 0, 0, 0], &g, n, grp,
                         c0, imin(c0 + CB, (grp + 1) * g.cpg))


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
    cdef Py_ssize_t t, n, r, GK = g.G * g.K
    cdef const real* mb = &mask[0, 0, 0, 0] if has_mask else NULL
    cdef real* gmb = &grad_mask[0, 0, 0, 0] if has_mask else NULL
    with nogil, parallel(num_threads=nthreads):
        for t in prange(g.N * GK, schedule='dynamic'):
            n = t // GK
            r = t - n * GK
            _coord_unit(&col[0, 0], &x[0, 0, 0, 0], &offset[0, 0, 0, 0], mb,
                        &grad_offset[0, 0, 0, 0], gmb, &g, n, r // g.K, r % g.K)
