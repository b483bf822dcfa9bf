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
from libc.math cimport INFINITY
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

from _common cimport imax, imin, real, sum_double, valid_range

cdef extern from "_pool2.h" nogil:
    void tc_maxpool2_f(const float* xp, float* op, int64_t* ip, Py_ssize_t W, Py_ssize_t oH,
                       Py_ssize_t oW, const int64_t* base, float* Tb, float* Bb)
    void tc_maxpool2_d(const double* xp, double* op, int64_t* ip, Py_ssize_t W, Py_ssize_t oH,
                       Py_ssize_t oW, const int64_t* base, double* Tb, double* Bb)
    int tc_maxpool2_backward_f(const float* gp, const int64_t* ip, float* gx, Py_ssize_t H,
                               Py_ssize_t W, Py_ssize_t oH, Py_ssize_t oW, const int64_t* base,
                               float* Tb, float* Bb)
    int tc_maxpool2_backward_d(const double* gp, const int64_t* ip, double* gx, Py_ssize_t H,
                               Py_ssize_t W, Py_ssize_t oH, Py_ssize_t oW, const int64_t* base,
                               double* Tb, double* Bb)


# Window bounds depend only on the output index along each dim, so every kernel tabulates them
# once per call (a few hundred integers) instead of recomputing them - with integer divisions -
# for every output element of every plane. Tables hold `per` entries per output index.

cdef Py_ssize_t* _table(Py_ssize_t n) except NULL:
    cdef Py_ssize_t* t = <Py_ssize_t*>malloc(imax(n, 1) * sizeof(Py_ssize_t))
    if t == NULL:
        raise MemoryError("tinyconv pooling: cannot allocate a window table")
    return t


cdef void _tap_table(Py_ssize_t* t, Py_ssize_t O, Py_ssize_t I, Py_ssize_t k, Py_ssize_t s,
                     Py_ssize_t p, Py_ssize_t d) noexcept nogil:
    """t[2o], t[2o+1] = range of taps of window o (start o*s - p, dilation d) inside [0, I)."""
    cdef Py_ssize_t o
    for o in range(O):
        valid_range(I, k, d, o * s - p, &t[2 * o], &t[2 * o + 1])


cdef void _avg_table(Py_ssize_t* t, Py_ssize_t O, Py_ssize_t I, Py_ssize_t k, Py_ssize_t s,
                     Py_ssize_t p) noexcept nogil:
    """PyTorch's avg-pool window: t[3o], t[3o+1] = clipped input range, t[3o+2] = padded size.

    start = o*s - p; end = min(start + k, I + p); padded = end - start; then clip to [0, I).
    """
    cdef Py_ssize_t o, start, end
    for o in range(O):
        start = o * s - p
        end = imin(start + k, I + p)
        t[3 * o] = imax(start, 0)
        t[3 * o + 1] = imin(end, I)
        t[3 * o + 2] = end - start


cdef void _adaptive_table(Py_ssize_t* t, Py_ssize_t O, Py_ssize_t I) noexcept nogil:
    """t[2o], t[2o+1] = floor(o*I/O), ceil((o+1)*I/O), in integers."""
    cdef Py_ssize_t o
    for o in range(O):
        t[2 * o] = (o * I) // O
        t[2 * o + 1] = ((o + 1) * I + O - 1) // O


# ----------------------------------------------------------------------------- max pool

cdef inline void _max_window(const real* xp, Py_ssize_t base, Py_ssize_t dstep, Py_ssize_t nd,
                             Py_ssize_t hstep, Py_ssize_t nh, Py_ssize_t k0, Py_ssize_t k1,
                             Py_ssize_t wstep, real* mout, int64_t* iout) noexcept nogil:
    """Max over the taps base + a*dstep + b*hstep + k*wstep (a < nd, b < nh, k0 <= k < k1).

    PyTorch's rule: a tap replaces the running max if it is larger or NaN, starting from -inf
    at the first tap; ties keep the first tap, several NaNs keep the last. The common NaN-free
    case runs a branch-free "larger" loop (on random data a branch there mispredicts about
    once per window, which cost ~2x), and a window found to hold a NaN is redone exactly.
    """
    cdef Py_ssize_t a, b, k, idx, row
    cdef Py_ssize_t best = base + k0 * wstep
    cdef real v, m = -INFINITY
    cdef bint gt, nan = False
    for a in range(nd):
        for b in range(nh):
            row = base + a * dstep + b * hstep
            for k in range(k0, k1):
                idx = row + k * wstep
                v = xp[idx]
                gt = v > m
                best = idx if gt else best
                m = v if gt else m
                nan |= v != v
    if nan:
        for a in range(nd):
            for b in range(nh):
                row = base + a * dstep + b * hstep
                for k in range(k0, k1):
                    idx = row + k * wstep
                    if xp[idx] != xp[idx]:
                        m = xp[idx]
                        best = idx
    mout[0] = m
    iout[0] = best


cdef void _max_plane(const real* xp, real* op, int64_t* ip,
                     const Py_ssize_t* tD, const Py_ssize_t* tH, const Py_ssize_t* tW,
                     Py_ssize_t H, Py_ssize_t W, Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW,
                     Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                     Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
                     Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw) noexcept nogil:
    cdef Py_ssize_t od, oh, ow, ds, hs, i0, i1, j0, j1, k0, k1, rowbase
    for od in range(oD):
        ds = od * sd - pd
        i0 = tD[2 * od]
        i1 = tD[2 * od + 1]
        for oh in range(oH):
            hs = oh * sh - ph
            j0 = tH[2 * oh]
            j1 = tH[2 * oh + 1]
            rowbase = ((ds + i0 * dd) * H + hs + j0 * dh) * W - pw
            for ow in range(oW):
                k0 = tW[2 * ow]
                k1 = tW[2 * ow + 1]
                if i0 >= i1 or j0 >= j1 or k0 >= k1:    # no tap inside the input
                    op[ow] = -INFINITY
                    ip[ow] = -1
                else:
                    _max_window(xp, rowbase + ow * sw, dd * H * W, i1 - i0, dh * W, j1 - j0,
                                k0, k1, dw, &op[ow], &ip[ow])
            op += oW
            ip += oW


cdef void _max_tile_plane(const real* xp, real* op, int64_t* ip, Py_ssize_t H, Py_ssize_t W,
                          Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW,
                          Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw) noexcept nogil:
    """One plane of max pooling whose windows tile the input (stride = kernel, no padding or
    dilation): _max_window's rule (a tap wins if larger or NaN, ties keep the first) with the
    NaN test folded into the comparison, no per-window tables, and 2x2 windows unrolled."""
    cdef Py_ssize_t od, oh, ow, a, b, k, base, idx, best
    cdef real v, m, v0, v1, v2, v3
    cdef bint gt
    for od in range(oD):
        for oh in range(oH):
            base = (od * kd * H + oh * kh) * W
            if kd == 1 and kh == 2 and kw == 2:
                for ow in range(oW):
                    idx = base + 2 * ow
                    v0 = xp[idx]
                    v1 = xp[idx + 1]
                    v2 = xp[idx + W]
                    v3 = xp[idx + W + 1]
                    m = v0
                    best = idx
                    gt = (v1 > m) | (v1 != v1)
                    m = v1 if gt else m
                    best = idx + 1 if gt else best
                    gt = (v2 > m) | (v2 != v2)
                    m = v2 if gt else m
                    best = idx + W if gt else best
                    gt = (v3 > m) | (v3 != v3)
                    m = v3 if gt else m
                    best = idx + W + 1 if gt else best
                    op[ow] = m
                    ip[ow] = best
            else:
                for ow in range(oW):
                    m = -INFINITY
                    best = base + ow * kw
                    for a in range(kd):
                        for b in range(kh):
                            for k in range(kw):
                                idx = base + (a * H + b) * W + ow * kw + k
                                v = xp[idx]
                                gt = (v > m) | (v != v)
                                m = v if gt else m
                                best = idx if gt else best
                    op[ow] = m
                    ip[ow] = best
            op += oW
            ip += oW


cdef void _max_pool2(const real* xb, real* ob, int64_t* ib, Py_ssize_t P, Py_ssize_t H,
                     Py_ssize_t W, Py_ssize_t oH, Py_ssize_t oW, int nthreads) except *:
    """2-D 2x2 / stride 2 max pooling through tc_maxpool2 (csrc/_pool2.h), planes in
    parallel."""
    cdef Py_ssize_t p, oh, ow, HW = H * W, n = oH * oW
    cdef int64_t* base = <int64_t*>malloc(imax(n, 1) * sizeof(int64_t))
    cdef real* Tb = NULL
    cdef real* Bb = NULL
    cdef int failed = 0
    cdef int* failp = &failed
    if base == NULL:
        raise MemoryError("tinyconv max_pool: cannot allocate the window table")
    for oh in range(oH):
        for ow in range(oW):
            base[oh * oW + ow] = 2 * oh * W + 2 * ow
    with nogil, parallel(num_threads=nthreads):
        Tb = <real*>malloc(imax(2 * n, 1) * sizeof(real))
        Bb = <real*>malloc(imax(2 * n, 1) * sizeof(real))
        for p in prange(P, schedule='static'):
            if Tb == NULL or Bb == NULL:
                continue      # reported below
            if real is float:
                tc_maxpool2_f(xb + p * HW, ob + p * n, ib + p * n, W, oH, oW, base, Tb, Bb)
            else:
                tc_maxpool2_d(xb + p * HW, ob + p * n, ib + p * n, W, oH, oW, base, Tb, Bb)
        if Tb == NULL or Bb == NULL:
            failp[0] = 1
        free(Tb)
        free(Bb)
    free(base)
    if failed:
        raise MemoryError("tinyconv max_pool: cannot allocate a thread's row buffers")


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
    cdef Py_ssize_t* tab = _table(2 * (oD + oH + oW))
    cdef Py_ssize_t* tD = tab
    cdef Py_ssize_t* tH = tab + 2 * oD
    cdef Py_ssize_t* tW = tab + 2 * (oD + oH)
    _tap_table(tD, oD, D, kd, sd, pd, dd)
    _tap_table(tH, oH, H, kh, sh, ph, dh)
    _tap_table(tW, oW, W, kw, sw, pw, dw)
    if dd == 1 and dh == 1 and dw == 1 and _tiles(D, H, W, oD, oH, oW, kd, kh, kw, sd, sh, sw,
                                                  pd, ph, pw):
        if kd == 1 and kh == 2 and kw == 2 and D == 1:
            free(tab)
            _max_pool2(xb, ob, ib, P, H, W, oH, oW, nthreads)
            return
        with nogil, parallel(num_threads=nthreads):
            for p in prange(P, schedule='static'):
                _max_tile_plane(xb + p * DHW, ob + p * oDHW, ib + p * oDHW, H, W, oD, oH, oW,
                                kd, kh, kw)
        free(tab)
        return
    with nogil, parallel(num_threads=nthreads):
        for p in prange(P, schedule='static'):
            _max_plane(xb + p * DHW, ob + p * oDHW, ib + p * oDHW, tD, tH, tW,
                       H, W, oD, oH, oW, sd, sh, sw, pd, ph, pw, dd, dh, dw)
    free(tab)


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
                      real[:, ::1] grad_in, int nthreads, Py_ssize_t H=0, Py_ssize_t W=0,
                      Py_ssize_t oH=0, Py_ssize_t oW=0):
    """grad_in (P, D*H*W) = 0, then grad_in[p, indices[p, o]] += grad_out[p, o].

    With H, W, oH, oW given (2-D planes, 2*oH <= H, 2*oW <= W), planes whose every index lies
    in its own output's 2x2 / stride 2 window take tc_maxpool2_backward (no scatter); the rest
    are scattered. Returns how many indices were outside [0, D*H*W) (and not -1); those are
    skipped.
    """
    cdef Py_ssize_t P = grad_in.shape[0], S = grad_in.shape[1], O = grad_out.shape[1]
    cdef Py_ssize_t p, oh, ow, bad = 0
    cdef const real* gb = &grad_out[0, 0]
    cdef const int64_t* ib = &indices[0, 0]
    cdef real* xb = &grad_in[0, 0]
    cdef bint tiles = oH > 0 and oW > 0 and 2 * oH <= H and 2 * oW <= W and H * W == S \
        and oH * oW == O
    cdef int64_t* base = NULL
    cdef real* Tb = NULL
    cdef real* Bb = NULL
    cdef int done
    if tiles:
        base = <int64_t*>malloc(O * sizeof(int64_t))
        if base == NULL:
            tiles = False
        else:
            for oh in range(oH):
                for ow in range(oW):
                    base[oh * oW + ow] = 2 * oh * W + 2 * ow
    with nogil, parallel(num_threads=nthreads):
        if tiles:
            Tb = <real*>malloc(2 * O * sizeof(real))
            Bb = <real*>malloc(2 * O * sizeof(real))
        for p in prange(P, schedule='static'):
            done = 0
            if Tb != NULL and Bb != NULL:
                if real is float:
                    done = not tc_maxpool2_backward_f(gb + p * O, ib + p * O, xb + p * S, H, W,
                                                      oH, oW, base, Tb, Bb)
                else:
                    done = not tc_maxpool2_backward_d(gb + p * O, ib + p * O, xb + p * S, H, W,
                                                      oH, oW, base, Tb, Bb)
            if not done:
                bad += _scatter_add_plane(gb + p * O, ib + p * O, xb + p * S, O, S)
        free(Tb)
        free(Bb)
    free(base)
    return bad


# ----------------------------------------------------------------------------- avg pools

cdef void _avg_plane(const real* xp, real* op, real* gp, bint backward, bint adaptive,
                     const Py_ssize_t* tD, const Py_ssize_t* tH, const Py_ssize_t* tW,
                     Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                     Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW,
                     bint count_include_pad, Py_ssize_t divisor_override) noexcept nogil:
    """One plane of avg_pool (tables from _avg_table, 3 entries per output) or
    adaptive_avg_pool (adaptive: tables from _adaptive_table, 2 entries, divisor = window size).

    Forward: op[o] = window sum / divisor. Backward: gp (the input gradient, zeroed here)
    += op[o] / divisor over the window. One function for both, so the rule exists once.
    """
    cdef Py_ssize_t od, oh, ow, d0, d1, h0, h1, w0, w1, pdn = 0, phn = 0, pwn = 0, i, j, k
    cdef Py_ssize_t div, per = 2 if adaptive else 3
    cdef double acc
    cdef real g
    cdef real* grow
    if backward:
        memset(gp, 0, D * H * W * sizeof(real))
    for od in range(oD):
        d0 = tD[per * od]
        d1 = tD[per * od + 1]
        if not adaptive:
            pdn = tD[3 * od + 2]
        for oh in range(oH):
            h0 = tH[per * oh]
            h1 = tH[per * oh + 1]
            if not adaptive:
                phn = tH[3 * oh + 2]
            for ow in range(oW):
                w0 = tW[per * ow]
                w1 = tW[per * ow + 1]
                if d0 >= d1 or h0 >= h1 or w0 >= w1:   # window entirely in padding: 0
                    if not backward:
                        op[ow] = 0
                    continue
                if adaptive:
                    div = (d1 - d0) * (h1 - h0) * (w1 - w0)
                elif divisor_override != 0:
                    div = divisor_override
                elif count_include_pad:
                    pwn = tW[3 * ow + 2]
                    div = pdn * phn * pwn
                else:
                    div = (d1 - d0) * (h1 - h0) * (w1 - w0)
                if backward:
                    g = op[ow] / <real>div
                    for i in range(d0, d1):
                        for j in range(h0, h1):
                            grow = gp + (i * H + j) * W
                            for k in range(w0, w1):
                                grow[k] += g
                else:
                    acc = 0
                    for i in range(d0, d1):
                        for j in range(h0, h1):
                            acc += sum_double(xp + (i * H + j) * W + w0, w1 - w0)
                    op[ow] = <real>(acc / div)
            op += oW


cdef Py_ssize_t* _avg_tables(bint adaptive, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                             Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW,
                             Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw,
                             Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                             Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw) except NULL:
    cdef Py_ssize_t per = 2 if adaptive else 3
    cdef Py_ssize_t* tab = _table(per * (oD + oH + oW))
    if adaptive:
        _adaptive_table(tab, oD, D)
        _adaptive_table(tab + 2 * oD, oH, H)
        _adaptive_table(tab + 2 * (oD + oH), oW, W)
    else:
        _avg_table(tab, oD, D, kd, sd, pd)
        _avg_table(tab + 3 * oD, oH, H, kh, sh, ph)
        _avg_table(tab + 3 * (oD + oH), oW, W, kw, sw, pw)
    return tab


cdef void _avg_run(const real* xb, real* ob, real* gb, bint backward, bint adaptive,
                   Py_ssize_t P, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                   Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW, const Py_ssize_t* tab,
                   bint count_include_pad, Py_ssize_t divisor_override,
                   int nthreads) noexcept nogil:
    cdef Py_ssize_t per = 2 if adaptive else 3, DHW = D * H * W, oDHW = oD * oH * oW, p
    cdef const Py_ssize_t* tH = tab + per * oD
    cdef const Py_ssize_t* tW = tab + per * (oD + oH)
    with parallel(num_threads=nthreads):
        for p in prange(P, schedule='static'):
            _avg_plane(xb + p * DHW if xb != NULL else NULL, ob + p * oDHW,
                       gb + p * DHW if gb != NULL else NULL, backward, adaptive, tab, tH, tW,
                       D, H, W, oD, oH, oW, count_include_pad, divisor_override)


cdef void _avg_tile_plane(const real* xp, real* op, real* gp, bint backward, real* acc,
                          Py_ssize_t H, Py_ssize_t W, Py_ssize_t oD, Py_ssize_t oH,
                          Py_ssize_t oW, Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw,
                          real div) noexcept nogil:
    """One plane of _avg_tiles; acc is oW*kw scratch. Backward overwrites gp (D*H*W)."""
    cdef Py_ssize_t wc = oW * kw, od, oh, ow, i, j, q
    cdef const real* row
    cdef real* grow
    cdef real v
    for od in range(oD):
        for oh in range(oH):
            if backward:
                for ow in range(oW):
                    v = op[ow] / div
                    for q in range(kw):
                        acc[ow * kw + q] = v
                for i in range(kd):
                    for j in range(kh):
                        grow = gp + ((od * kd + i) * H + oh * kh + j) * W
                        for q in range(wc):
                            grow[q] = acc[q]
            else:
                row = xp + (od * kd * H + oh * kh) * W
                for q in range(wc):
                    acc[q] = row[q]
                for i in range(kd):
                    for j in range(kh):
                        if i or j:
                            row = xp + ((od * kd + i) * H + oh * kh + j) * W
                            for q in range(wc):
                                acc[q] += row[q]
                for ow in range(oW):
                    v = 0
                    for q in range(kw):
                        v += acc[ow * kw + q]
                    op[ow] = v / div
            op += oW


cdef void _avg_tiles(const real* xb, real* ob, real* gb, bint backward, Py_ssize_t P,
                     Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                     Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW,
                     Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw, real div,
                     int nthreads) noexcept nogil:
    """avg_pool with stride = kernel and no padding (the usual 2x2 / 2): windows tile the
    input, so forward adds whole input rows (contiguous, vectorised) before summing each
    window's kw columns, and backward writes each gradient into its own tile (no adds)."""
    cdef Py_ssize_t DHW = D * H * W, oDHW = oD * oH * oW, p
    cdef real* acc = NULL
    with parallel(num_threads=nthreads):
        acc = <real*>malloc(imax(oW * kw, 1) * sizeof(real))
        for p in prange(P, schedule='static'):
            if acc == NULL:
                continue
            if backward:
                memset(gb + p * DHW, 0, DHW * sizeof(real))
            _avg_tile_plane(xb + p * DHW if xb != NULL else NULL, ob + p * oDHW,
                            gb + p * DHW if gb != NULL else NULL, backward, acc, H, W,
                            oD, oH, oW, kd, kh, kw, div)
        free(acc)


cdef bint _tiles(Py_ssize_t D, Py_ssize_t H, Py_ssize_t W, Py_ssize_t oD, Py_ssize_t oH,
                 Py_ssize_t oW, Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sd,
                 Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pd, Py_ssize_t ph,
                 Py_ssize_t pw) noexcept nogil:
    """Whether the windows tile the input: stride = kernel, no padding, no partial window."""
    return (sd == kd and sh == kh and sw == kw and pd == 0 and ph == 0 and pw == 0
            and oD * kd <= D and oH * kh <= H and oW * kw <= W)


def avg_pool_forward(const real[:, :, :, ::1] x, real[:, :, :, ::1] out,
                     Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw,
                     Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                     Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
                     bint count_include_pad, Py_ssize_t divisor_override, int nthreads):
    """Average pooling with PyTorch's divisor rule; an empty (all-padding) window gives 0."""
    cdef Py_ssize_t P = x.shape[0], D = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t oD = out.shape[1], oH = out.shape[2], oW = out.shape[3]
    if _tiles(D, H, W, oD, oH, oW, kd, kh, kw, sd, sh, sw, pd, ph, pw):
        with nogil:
            _avg_tiles(&x[0, 0, 0, 0], &out[0, 0, 0, 0], NULL, False, P, D, H, W, oD, oH, oW,
                       kd, kh, kw, <real>(divisor_override if divisor_override
                                          else kd * kh * kw), nthreads)
        return
    cdef Py_ssize_t* tab = _avg_tables(False, D, H, W, oD, oH, oW,
                                       kd, kh, kw, sd, sh, sw, pd, ph, pw)
    with nogil:
        _avg_run(&x[0, 0, 0, 0], &out[0, 0, 0, 0], NULL, False, False, P, D, H, W, oD, oH, oW,
                 tab, count_include_pad, divisor_override, nthreads)
    free(tab)


def avg_pool_backward(const real[:, :, :, ::1] grad_out, real[:, :, :, ::1] grad_in,
                      Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw,
                      Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                      Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
                      bint count_include_pad, Py_ssize_t divisor_override, int nthreads):
    """Adjoint of avg_pool_forward; grad_in (P, D, H, W) is overwritten."""
    cdef Py_ssize_t P = grad_in.shape[0], D = grad_in.shape[1]
    cdef Py_ssize_t H = grad_in.shape[2], W = grad_in.shape[3]
    cdef Py_ssize_t oD = grad_out.shape[1], oH = grad_out.shape[2], oW = grad_out.shape[3]
    if _tiles(D, H, W, oD, oH, oW, kd, kh, kw, sd, sh, sw, pd, ph, pw):
        with nogil:
            _avg_tiles(NULL, <real*>&grad_out[0, 0, 0, 0], &grad_in[0, 0, 0, 0], True, P, D, H,
                       W, oD, oH, oW, kd, kh, kw,
                       <real>(divisor_override if divisor_override else kd * kh * kw),
                       nthreads)
        return
    cdef Py_ssize_t* tab = _avg_tables(False, D, H, W, oD, oH, oW,
                                       kd, kh, kw, sd, sh, sw, pd, ph, pw)
    with nogil:
        # in backward mode _avg_plane only reads its `op` argument (here grad_out)
        _avg_run(NULL, <real*>&grad_out[0, 0, 0, 0], &grad_in[0, 0, 0, 0], True, False,
                 P, D, H, W, oD, oH, oW, tab, count_include_pad, divisor_override, nthreads)
    free(tab)


def adaptive_avg_pool_forward(const real[:, :, :, ::1] x, real[:, :, :, ::1] out, int nthreads):
    """out (P, oD, oH, oW): mean over windows [floor(o*I/O), ceil((o+1)*I/O)) per dim."""
    cdef Py_ssize_t P = x.shape[0], D = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t oD = out.shape[1], oH = out.shape[2], oW = out.shape[3]
    cdef Py_ssize_t* tab = _avg_tables(True, D, H, W, oD, oH, oW, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    with nogil:
        _avg_run(&x[0, 0, 0, 0], &out[0, 0, 0, 0], NULL, False, True, P, D, H, W, oD, oH, oW,
                 tab, False, 0, nthreads)
    free(tab)


def adaptive_avg_pool_backward(const real[:, :, :, ::1] grad_out, real[:, :, :, ::1] grad_in,
                               int nthreads):
    """Adjoint of adaptive_avg_pool_forward; grad_in (P, D, H, W) is overwritten."""
    cdef Py_ssize_t P = grad_in.shape[0], D = grad_in.shape[1]
    cdef Py_ssize_t H = grad_in.shape[2], W = grad_in.shape[3]
    cdef Py_ssize_t oD = grad_out.shape[1], oH = grad_out.shape[2], oW = grad_out.shape[3]
    cdef Py_ssize_t* tab = _avg_tables(True, D, H, W, oD, oH, oW, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    with nogil:
        _avg_run(NULL, <real*>&grad_out[0, 0, 0, 0], &grad_in[0, 0, 0, 0], True, True,
                 P, D, H, W, oD, oH, oW, tab, False, 0, nthreads)
    free(tab)


# ----------------------------------------------------------------------------- adaptive max

cdef void _adaptive_max_plane(const real* xp, real* op, int64_t* ip,
                              const Py_ssize_t* tD, const Py_ssize_t* tH, const Py_ssize_t* tW,
                              Py_ssize_t H, Py_ssize_t W,
                              Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW) noexcept nogil:
    cdef Py_ssize_t od, oh, ow, d0, d1, h0, h1, w0, w1, i, j, k, idx, best
    cdef double v, m
    cdef bint upd
    for od in range(oD):
        d0 = tD[2 * od]
        d1 = tD[2 * od + 1]
        for oh in range(oH):
            h0 = tH[2 * oh]
            h1 = tH[2 * oh + 1]
            for ow in range(oW):
                w0 = tW[2 * ow]
                w1 = tW[2 * ow + 1]
                m = -INFINITY
                best = (d0 * H + h0) * W + w0
                for i in range(d0, d1):
                    for j in range(h0, h1):
                        for k in range(w0, w1):
                            idx = (i * H + j) * W + k
                            v = xp[idx]
                            upd = (v > m) | (v != v)
                            m = v if upd else m
                            best = idx if upd else best
                op[ow] = <real>m
                ip[ow] = best
            op += oW
            ip += oW


def adaptive_max_pool_forward(const real[:, :, :, ::1] x, real[:, :, :, ::1] out,
                              int64_t[:, :, :, ::1] indices, int nthreads):
    """Adaptive max pooling; indices as max_pool_forward (backward is max_pool_backward)."""
    cdef Py_ssize_t P = x.shape[0], D = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t oD = out.shape[1], oH = out.shape[2], oW = out.shape[3]
    cdef Py_ssize_t DHW = D * H * W, oDHW = oD * oH * oW, p
    cdef const real* xb = &x[0, 0, 0, 0]
    cdef real* ob = &out[0, 0, 0, 0]
    cdef int64_t* ib = &indices[0, 0, 0, 0]
    cdef Py_ssize_t* tab = _avg_tables(True, D, H, W, oD, oH, oW, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    cdef Py_ssize_t* tH = tab + 2 * oD
    cdef Py_ssize_t* tW = tab + 2 * (oD + oH)
    with nogil, parallel(num_threads=nthreads):
        for p in prange(P, schedule='static'):
            _adaptive_max_plane(xb + p * DHW, ob + p * oDHW, ib + p * oDHW, tab, tH, tW,
                                H, W, oD, oH, oW)
    free(tab)


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
