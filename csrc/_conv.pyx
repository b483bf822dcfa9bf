# Convolution, one image per thread: im2col of a cache-sized slice of one image straight into a
# thread-private buffer, then a single-threaded BLAS GEMM on it, all inside one OpenMP region.
#
# Why: with im2col and GEMM as separate batch-wide steps, OpenMP's threads (im2col) and BLAS's
# own threads (GEMM) take turns on the same cores, each side's idle workers spinning while the
# other works (DESIGN.md section 3), and the batch-wide column buffer falls out of cache. Here
# BLAS runs on the calling OpenMP thread (the caller sets BLAS to one thread around the call),
# so only one thread team exists, and each thread's column slice is reused while it is in L2.
#
# The GEMM is numpy's own OpenBLAS, reached through the function pointers that
# tinyconv._kernels looks up once (cblas_sgemm / cblas_dgemm, 32- or 64-bit integers).
#
# Two kernels cover convolution and transposed convolution, forward and backward. With U an
# (N, C, D, H, W) batch, A a weight viewed as (groups*M, Cg*K) (Cg = C/groups, K taps) and
# col_g(U[n]) the (Cg*K, L) columns of image n's group g:
#
#   unfold_gemm:  Y[n, g*M:(g+1)*M] = A_g @ col_g(U[n])              (+ bias)
#   gemm_fold:    gU[n, g] = col2im(A_g.T @ G[n, g*M:(g+1)*M])         (need_u)
#                 gA_g.T  += col_g(U[n]) @ G[n, g*M:(g+1)*M].T         (need_a, per thread)
#
# The weight gradient is accumulated transposed, (Cg*K, M) per group: OpenBLAS then packs the
# column buffer as stored instead of transposing it, measured 1.3-2x faster for these shapes.
#
# conv forward = unfold_gemm(x, W); conv backward = gemm_fold(x, W, grad_out);
# conv_transpose forward = the need_u half of gemm_fold (G = x); its backward =
# unfold_gemm(grad_out, W) for the input and the need_a half of gemm_fold for the weight.
#
# Work is split over images (static schedule); each thread adds its weight gradient into its
# own slice of ga_acc, summed by the caller, so no two threads ever write the same element.

from cython.parallel cimport parallel, prange, threadid
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

cdef extern from "stdlib.h" nogil:
    int posix_memalign(void** memptr, size_t alignment, size_t size)

from _common cimport imin, real, tap_table, zero_fill

cdef extern from "_dw.h" nogil:
    ctypedef struct dw_geo:
        Py_ssize_t D, H, W, pd, ph, pw, Hp, Wp, PP, oD, oH, oW, n, i0, i1, K, Z
        const Py_ssize_t* off
        const Py_ssize_t* neg
        Py_ssize_t sd, sh, sw, Dq
        const char* used
    void dw_forward_plane_f(const float* x, float* y, const float* w, const float* b,
                            Py_ssize_t mult, const dw_geo* g, float* P, float* Y)
    void dw_forward_plane_d(const double* x, double* y, const double* w, const double* b,
                            Py_ssize_t mult, const dw_geo* g, double* P, double* Y)
    void dw_backward_plane_f(const float* x, const float* gy, float* gx, const float* w,
                             double* gw, Py_ssize_t mult, const dw_geo* g, float* P, float* G,
                             float* GX)
    void dw_backward_plane_d(const double* x, const double* gy, double* gx, const double* w,
                             double* gw, Py_ssize_t mult, const dw_geo* g, double* P, double* G,
                             double* GX)
    void dw_pad_f(const float* x, float* p, const dw_geo* g)
    void dw_narrow_f(const float* w, float* y, float b, const dw_geo* g)
    void dw_narrow_d(const double* w, double* y, double b, const dw_geo* g)
    void dw_widen_f(const float* y, float* w, const dw_geo* g)
    void dw_widen_d(const double* y, double* w, const dw_geo* g)
    void dw_unfold_wide_f(const float* x, float* col, Py_ssize_t ld, Py_ssize_t C,
                          Py_ssize_t DHW, const dw_geo* g, float* P)
    void dw_unfold_wide_d(const double* x, double* col, Py_ssize_t ld, Py_ssize_t C,
                          Py_ssize_t DHW, const dw_geo* g, double* P)
    void dw_fold_wide_f(const float* col, Py_ssize_t ld, float* x, Py_ssize_t C,
                        Py_ssize_t DHW, const dw_geo* g, float* P)
    void dw_fold_wide_d(const double* col, Py_ssize_t ld, double* x, Py_ssize_t C,
                        Py_ssize_t DHW, const dw_geo* g, double* P)


cdef extern from "_direct.h" nogil:
    enum:
        DC_MB
        DC_JB
        DC_LANES
        DC_WRB
    void dc_forward_f(const float* X, const Py_ssize_t* roff, Py_ssize_t R, const float* wt,
                      Py_ssize_t Mpad, float* Y, Py_ssize_t ldy, const Py_ssize_t* voff)
    void dc_forward_ld_f(const float* X, const Py_ssize_t* roff, Py_ssize_t R, const float* wt,
                         Py_ssize_t Mpad, float* Y, Py_ssize_t ldy, Py_ssize_t n,
                         const Py_ssize_t* voff)
    Py_ssize_t dc_vector_offsets(const dw_geo* g, Py_ssize_t* voff)
    void dc_wgrad_f(const float* X, const Py_ssize_t* roff, Py_ssize_t R, const float* Gt,
                    Py_ssize_t Mpad, const Py_ssize_t* rowoff, Py_ssize_t nrows,
                    Py_ssize_t rowlen, float* acc)
    Py_ssize_t dc_wgrad_cost(Py_ssize_t R, Py_ssize_t Mpad)
    void dc_widen_t_f(const float* G, Py_ssize_t M, float* Gt, Py_ssize_t Mpad, const dw_geo* g)
    void dc_pad_f(const float* x, float* p, const dw_geo* g)
    void dc_unphase_f(const float* q, float* x, const dw_geo* g, Py_ssize_t a, Py_ssize_t b,
                      Py_ssize_t e)


cdef extern from "_wino.h" nogil:
    void wino_weights_f(const float* w, Py_ssize_t M, Py_ssize_t C, float* U, Py_ssize_t Mpad)
    void wino_input_row_f(const float* E, const float* O, Py_ssize_t Wq, Py_ssize_t ti,
                          Py_ssize_t tW, float* V, Py_ssize_t xs, Py_ssize_t t0)
    void wino_output_row_f(const float* Mt, Py_ssize_t xs, Py_ssize_t t0, Py_ssize_t ti,
                           Py_ssize_t tW, float b, float* y, Py_ssize_t yrs, Py_ssize_t ycs,
                           Py_ssize_t oH, Py_ssize_t oW, float* tmp)
    void wino_pad_f(const float* x, Py_ssize_t rs, Py_ssize_t cs, Py_ssize_t H, Py_ssize_t W,
                    Py_ssize_t ph, Py_ssize_t pw, float* E, float* O, Py_ssize_t Hq,
                    Py_ssize_t Wq)
    void wino_wgrad_z_f(const float* Gt, Py_ssize_t oH, Py_ssize_t oW, Py_ssize_t Mpad,
                        Py_ssize_t ti, Py_ssize_t tW, float* Z, Py_ssize_t zs, Py_ssize_t t0,
                        const float* zero)
    void wino_wgrad_out_f(const float* acc, Py_ssize_t xs, Py_ssize_t M, float* dst)
    void wino22_weight_f(const float* g, float* U, Py_ssize_t stride)
    void w22_gather2(const float* L, float* E, float* O, Py_ssize_t Wq)
    void w22_interleave(const float* e, const float* o, float* y, Py_ssize_t W)
    void wino22_input_row_f(const float* E, const float* O, Py_ssize_t Wq, Py_ssize_t ti,
                            Py_ssize_t tW, float* V, Py_ssize_t xs, Py_ssize_t t0)
    void wino22_output_row_f(const float* Mt, Py_ssize_t xs, Py_ssize_t t0, Py_ssize_t ti,
                             Py_ssize_t tW, float b, float* y, Py_ssize_t yrs, Py_ssize_t ycs,
                             Py_ssize_t oH, Py_ssize_t oW, float* tmp)

# the "wide" helpers of _dw.h for the fused type
cdef inline void _narrow(const real* w, real* y, real b, const dw_geo* g) noexcept nogil:
    if real is float:
        dw_narrow_f(w, y, b, g)
    else:
        dw_narrow_d(w, y, b, g)


cdef inline void _widen(const real* y, real* w, const dw_geo* g) noexcept nogil:
    if real is float:
        dw_widen_f(y, w, g)
    else:
        dw_widen_d(y, w, g)


cdef inline void _unfold_wide(const real* x, real* col, Py_ssize_t ld, Py_ssize_t C,
                              Py_ssize_t DHW, const dw_geo* g, real* P) noexcept nogil:
    if real is float:
        dw_unfold_wide_f(x, col, ld, C, DHW, g, P)
    else:
        dw_unfold_wide_d(x, col, ld, C, DHW, g, P)


cdef inline void _fold_wide(const real* col, Py_ssize_t ld, real* x, Py_ssize_t C,
                            Py_ssize_t DHW, const dw_geo* g, real* P) noexcept nogil:
    if real is float:
        dw_fold_wide_f(col, ld, x, C, DHW, g, P)
    else:
        dw_fold_wide_d(col, ld, x, C, DHW, g, P)

cdef enum:
    TAB = 9             # tap table entries per tap (see _common.tap_table)
    ROW_MAJOR = 101     # CBLAS enum values
    NO_TRANS = 111
    TRANS = 112

ctypedef void (*sgemm64_t)(int, int, int, int64_t, int64_t, int64_t, float, const float*,
                           int64_t, const float*, int64_t, float, float*, int64_t) noexcept nogil
ctypedef void (*dgemm64_t)(int, int, int, int64_t, int64_t, int64_t, double, const double*,
                           int64_t, const double*, int64_t, double, double*, int64_t) noexcept nogil
ctypedef void (*sgemm32_t)(int, int, int, int, int, int, float, const float*,
                           int, const float*, int, float, float*, int) noexcept nogil
ctypedef void (*dgemm32_t)(int, int, int, int, int, int, double, const double*,
                           int, const double*, int, double, double*, int) noexcept nogil

cdef size_t _s_addr = 0
cdef size_t _d_addr = 0
cdef bint _int64 = True


def set_gemm(size_t sgemm_address, size_t dgemm_address, bint int64):
    """Register cblas_sgemm / cblas_dgemm (addresses from ctypes; 0 disables this module)."""
    global _s_addr, _d_addr, _int64
    _s_addr, _d_addr, _int64 = sgemm_address, dgemm_address, int64


def has_gemm():
    return _s_addr != 0 and _d_addr != 0


cdef inline void gemm(bint ta, bint tb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                      const real* a, Py_ssize_t lda, const real* b, Py_ssize_t ldb, real beta,
                      real* c, Py_ssize_t ldc) noexcept nogil:
    """Row-major C = op(A) @ op(B) + beta*C through the registered cblas GEMM."""
    cdef int tra = TRANS if ta else NO_TRANS
    cdef int trb = TRANS if tb else NO_TRANS
    if real is float:
        if _int64:
            (<sgemm64_t>_s_addr)(ROW_MAJOR, tra, trb, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)
        else:
            (<sgemm32_t>_s_addr)(ROW_MAJOR, tra, trb, <int>m, <int>n, <int>k, 1, a, <int>lda,
                                 b, <int>ldb, beta, c, <int>ldc)
    else:
        if _int64:
            (<dgemm64_t>_d_addr)(ROW_MAJOR, tra, trb, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)
        else:
            (<dgemm32_t>_d_addr)(ROW_MAJOR, tra, trb, <int>m, <int>n, <int>k, 1, a, <int>lda,
                                 b, <int>ldb, beta, c, <int>ldc)


cdef inline void _im2col_rows(const real* xp, real* dst, const Py_ssize_t* e,
                              Py_ssize_t H, Py_ssize_t W, Py_ssize_t oH, Py_ssize_t oW,
                              Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                              Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """dst[(r-r0)*oW + ow] = the input element kernel tap e reads for output row r (= od*oH+oh)
    and column ow, for r in [r0, r1); zero where the tap falls in the padding."""
    cdef Py_ssize_t offd = e[0], offh = e[1], offw = e[2]
    cdef Py_ssize_t d0 = e[3], d1 = e[4], h0 = e[5], h1 = e[6], w0 = e[7], w1 = e[8]
    cdef Py_ssize_t r, q, nw = w1 - w0
    cdef Py_ssize_t od = r0 // oH
    cdef Py_ssize_t oh = r0 - od * oH       # (od, oh) follow r without a division per row
    cdef const real* src
    cdef real* o = dst
    if sw == 1 and w0 == 0 and w1 == oW:
        # every column reads inside the input (no horizontal padding): plain row copies, the
        # common case of small maps, where the general loop's edge handling costs more
        for r in range(r0, r1):
            if od < d0 or od >= d1 or oh < h0 or oh >= h1:
                zero_fill(o, oW)
            else:
                src = xp + ((od * sd + offd) * H + (oh * sh + offh)) * W + offw
                for q in range(oW):
                    o[q] = src[q]
            o += oW
            oh += 1
            if oh == oH:
                oh = 0
                od += 1
        return
    for r in range(r0, r1):
        if nw <= 0 or od < d0 or od >= d1 or oh < h0 or oh >= h1:
            zero_fill(o, oW)
        else:
            src = xp + ((od * sd + offd) * H + (oh * sh + offh)) * W + (w0 * sw + offw)
            zero_fill(o, w0)
            if sw == 1:
                if nw >= 64:
                    memcpy(o + w0, src, nw * sizeof(real))
                else:
                    for q in range(nw):
                        o[w0 + q] = src[q]
            else:
                for q in range(nw):
                    o[w0 + q] = src[q * sw]
            zero_fill(o + w1, oW - w1)
        o += oW
        oh += 1
        if oh == oH:
            oh = 0
            od += 1


cdef inline void _col2im_rows(const real* src, real* xp, const Py_ssize_t* e,
                              Py_ssize_t H, Py_ssize_t W, Py_ssize_t oH, Py_ssize_t oW,
                              Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                              Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """The adjoint of _im2col_rows: add src's rows back where tap e read them."""
    cdef Py_ssize_t offd = e[0], offh = e[1], offw = e[2]
    cdef Py_ssize_t d0 = e[3], d1 = e[4], h0 = e[5], h1 = e[6], w0 = e[7], w1 = e[8]
    cdef Py_ssize_t r, q, nw = w1 - w0
    cdef Py_ssize_t od = r0 // oH
    cdef Py_ssize_t oh = r0 - od * oH
    cdef const real* s = src + w0
    cdef real* t
    if nw <= 0:
        return
    for r in range(r0, r1):
        if od >= d0 and od < d1 and oh >= h0 and oh < h1:
            t = xp + ((od * sd + offd) * H + (oh * sh + offh)) * W + (w0 * sw + offw)
            if sw == 1:
                for q in range(nw):
                    t[q] += s[q]
            else:
                for q in range(nw):
                    t[q * sw] += s[q]
        s += oW
        oh += 1
        if oh == oH:
            oh = 0
            od += 1


cdef inline void _unfold_group(const real* xg, real* col, Py_ssize_t ld, Py_ssize_t Cg,
                               Py_ssize_t K, Py_ssize_t DHW, const Py_ssize_t* tab,
                               Py_ssize_t H, Py_ssize_t W, Py_ssize_t oH, Py_ssize_t oW,
                               Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                               Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """Columns of output rows [r0, r1) of one image's group (channels xg, xg + DHW, ...):
    row c*K + tap of col (row stride ld) gets what tap reads of channel c."""
    cdef Py_ssize_t c, tap
    for c in range(Cg):
        for tap in range(K):
            _im2col_rows(xg + c * DHW, col + (c * K + tap) * ld, tab + TAB * tap,
                         H, W, oH, oW, sd, sh, sw, r0, r1)


cdef inline void _fold_group(const real* col, real* xg, Py_ssize_t ld, Py_ssize_t Cg,
                             Py_ssize_t K, Py_ssize_t DHW, const Py_ssize_t* tab,
                             Py_ssize_t H, Py_ssize_t W, Py_ssize_t oH, Py_ssize_t oW,
                             Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                             Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """The adjoint of _unfold_group: add col's rows back into the group's channels."""
    cdef Py_ssize_t c, tap
    for c in range(Cg):
        for tap in range(K):
            _col2im_rows(col + (c * K + tap) * ld, xg + c * DHW, tab + TAB * tap,
                         H, W, oH, oW, sd, sh, sw, r0, r1)


cdef bint _wide_on = True


def set_wide(bint on):
    """Let the fused kernels take the wide im2col where it applies (the default), or never
    (for tests and measurements); returns the previous setting."""
    global _wide_on
    before = _wide_on
    _wide_on = on
    return before


cdef inline void* _zalloc(size_t count, size_t size) noexcept nogil:
    """calloc that writes its zeros. calloc leaves a fresh mmap'd block untouched, so a buffer
    that is read before it is written (accumulators) is mapped to the zero page on the first
    read and copied on the first write: two faults a page and a TLB flush on every CPU (15 %
    of a weight gradient's time in a loop of calls, measured)."""
    cdef void* p = NULL
    # (not malloc: GCC folds malloc + memset into calloc)
    if posix_memalign(&p, 64, count * size if count * size else 1) != 0:
        return NULL
    memset(p, 0, count * size)
    return p


ctypedef struct conv_geo:      # a dense convolution as unfold_gemm / gemm_fold get it
    Py_ssize_t N, C, D, H, W, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw, oD, oH, oW
    Py_ssize_t groups, M       # M: output channels per group


cdef conv_geo _conv_geo(const real[:, :, :, :, ::1] u, const real[:, ::1] a,
                        Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw,
                        Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                        Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
                        Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
                        Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW, Py_ssize_t groups):
    cdef conv_geo s
    s.N, s.C, s.D, s.H, s.W = u.shape[0], u.shape[1], u.shape[2], u.shape[3], u.shape[4]
    s.kd, s.kh, s.kw, s.sd, s.sh, s.sw = kd, kh, kw, sd, sh, sw
    s.pd, s.ph, s.pw, s.dd, s.dh, s.dw = pd, ph, pw, dd, dh, dw
    s.oD, s.oH, s.oW, s.groups, s.M = oD, oH, oW, groups, a.shape[0] // groups
    return s


cdef Py_ssize_t* _wide_setup(dw_geo* g, const conv_geo* s, bint whole_images) except? NULL:
    """The "wide" im2col of _dw.h for a dense convolution, or NULL when it does not pay or
    apply: it needs stride 1 and whole images per GEMM, and computes n (wide) instead of L
    columns. The extra columns cost GEMM work in proportion to M (outputs per group), the
    rows it saves cost im2col work: measured (one thread), wide won on LeNet's layers (M 6
    and 16, n/L 1.14 and 1.36: fwd 1.5-1.7x faster) and 3x3 layers with M = 16-32 on 32x32
    and 16x16 maps (bwd 1.1-1.3x), tied on a 64-channel 32x32 one and lost 5% on 64 channels
    at 8x8 (n/L 1.22), hence (n - L) * M <= 8 L. The caller frees the returned table."""
    cdef Py_ssize_t* offs
    cdef Py_ssize_t L = s.oD * s.oH * s.oW
    if (not _wide_on or not whole_images or s.sd != 1 or s.sh != 1 or s.sw != 1
            or s.kd * s.kh * s.kw == 1):
        return NULL
    offs = _dw_setup(g, s.D, s.H, s.W, s.kd, s.kh, s.kw, s.pd, s.ph, s.pw, s.dd, s.dh, s.dw,
                     s.oD, s.oH, s.oW)
    if g.K == 0 or 2 * g.n > 3 * L or (g.n - L) * s.M > 8 * L:
        free(offs)
        return NULL
    return offs


cdef int _wide(const real* ub, const real* ab, const real* bb, bint has_bias, const real* gb,
               real* yb, real* gub, real* gab, bint forward, bint need_u, bint need_a,
               Py_ssize_t N, Py_ssize_t C, Py_ssize_t groups, Py_ssize_t M,
               const dw_geo* geo, Py_ssize_t per_block, int nthreads) noexcept nogil:
    """unfold_gemm (forward) or gemm_fold for blocks of whole images through the wide
    im2col: the block's columns side by side (n each), one GEMM per group. Forward narrows
    the GEMM's wide outputs into y. Backward first spreads the block's gy wide (zeros in the
    thrown-away columns, so they add nothing), then runs the weight-gradient GEMM on the
    wide columns and folds the input-gradient GEMM back. Returns 1 if a buffer is missing."""
    cdef Py_ssize_t DHW = geo.D * geo.H * geo.W, L = geo.oD * geo.oH * geo.oW, nw = geo.n
    cdef Py_ssize_t Cg = C // groups, Kd = Cg * geo.K
    cdef Py_ssize_t nblocks = (N + per_block - 1) // per_block
    cdef Py_ssize_t b, n, n1, i, g, m, nl
    cdef int tid
    cdef real* col = NULL
    cdef real* tmp = NULL
    cdef real* P = NULL
    cdef int failed = 0
    cdef int* failp = &failed
    with parallel(num_threads=nthreads):
        tid = threadid()
        col = <real*>malloc(Kd * per_block * nw * sizeof(real))
        tmp = <real*>malloc(M * per_block * nw * sizeof(real))
        P = <real*>malloc(geo.PP * sizeof(real))
        if col == NULL or tmp == NULL or P == NULL:
            failp[0] = 1
        for b in prange(nblocks, schedule='static'):
            if col == NULL or tmp == NULL or P == NULL:
                continue
            n = b * per_block
            n1 = imin(n + per_block, N)
            nl = (n1 - n) * nw
            for g in range(groups):
                if forward or need_a:
                    for i in range(n1 - n):
                        _unfold_wide(ub + ((n + i) * C + g * Cg) * DHW, col + i * nw, nl, Cg,
                                     DHW, geo, P)
                if forward:
                    gemm(False, False, M, nl, Kd, ab + g * M * Kd, Kd, col, nl, 0, tmp, nl)
                    for i in range(n1 - n):
                        for m in range(M):
                            _narrow(tmp + m * nl + i * nw,
                                    yb + ((n + i) * groups * M + g * M + m) * L,
                                    bb[g * M + m] if has_bias else 0, geo)
                    continue
                for i in range(n1 - n):
                    for m in range(M):
                        _widen(gb + ((n + i) * groups * M + g * M + m) * L,
                               tmp + m * nl + i * nw, geo)
                if need_a:
                    gemm(False, True, Kd, M, nl, col, nl, tmp, nl, 1,
                         gab + (tid * groups + g) * M * Kd, M)
                if need_u:
                    gemm(True, False, Kd, nl, M, ab + g * M * Kd, Kd, tmp, nl, 0, col, nl)
                    for i in range(n1 - n):
                        _fold_wide(col + i * nw, nl, gub + ((n + i) * C + g * Cg) * DHW, Cg,
                                   DHW, geo, P)
        free(col)
        free(tmp)
        free(P)
    return failed


cdef void _pointwise(const real* ub, const real* ab, const real* bb, bint has_bias,
                     const real* gb, real* yb, real* gub, real* gab, bint forward,
                     bint need_u, bint need_a, Py_ssize_t N, Py_ssize_t C, Py_ssize_t groups,
                     Py_ssize_t M, Py_ssize_t L, int nthreads) noexcept nogil:
    """1x1 kernels with stride 1 and no padding, where an image's columns are the image
    itself: GEMMs straight on u, y, gy and gu, one image at a time, nothing copied.
    forward: y[n, g] = a_g @ u[n, g] (+ bias); else gu[n, g] = a_g.T @ gy[n, g] (need_u) and
    ga_acc[thread, g] += u[n, g] @ gy[n, g].T (need_a)."""
    cdef Py_ssize_t Cg = C // groups, n, g, m, q
    cdef real* dst
    cdef real bv
    cdef int tid
    with parallel(num_threads=nthreads):
        tid = threadid()
        for n in prange(N, schedule='static'):
            for g in range(groups):
                if forward:
                    dst = yb + (n * groups + g) * M * L
                    gemm(False, False, M, L, Cg, ab + g * M * Cg, Cg, ub + (n * C + g * Cg) * L,
                         L, 0, dst, L)
                    if has_bias:
                        for m in range(M):
                            bv = bb[g * M + m]
                            for q in range(L):
                                dst[m * L + q] += bv
                    continue
                if need_a:
                    gemm(False, True, Cg, M, L, ub + (n * C + g * Cg) * L, L,
                         gb + (n * groups + g) * M * L, L, 1, gab + (tid * groups + g) * M * Cg, M)
                if need_u:
                    gemm(True, False, Cg, L, M, ab + g * M * Cg, Cg,
                         gb + (n * groups + g) * M * L, L, 0, gub + (n * C + g * Cg) * L, L)


cdef bint _direct_conv_on = True
cdef Py_ssize_t DC_DIRECT_MAX_M = 1 << 30   # measured faster than im2col + BLAS for M = 6..128
cdef Py_ssize_t DC_DIRECT_MAX_BYTES = 16 << 20   # the largest case measured (conv3d) used 2 MiB


def set_direct(bint on, Py_ssize_t max_m=-1):
    """Let float32 forward convolutions with few channels take the register-blocked direct
    kernel (csrc/_direct.h; the default), or never; max_m (if >= 0) sets the most output
    channels per group it takes. Returns the previous on/off setting."""
    global _direct_conv_on, DC_DIRECT_MAX_M
    before = _direct_conv_on
    _direct_conv_on = on
    if max_m >= 0:
        DC_DIRECT_MAX_M = max_m
    return before


cdef int _direct_conv_f(const float* ub, const float* ab, const float* bb, bint has_bias,
                        float* yb, Py_ssize_t N, Py_ssize_t C, Py_ssize_t groups, Py_ssize_t M,
                        const dw_geo* geo, int nthreads) noexcept nogil:
    """Forward of a float32 convolution (any stride: dc_pad_f) through dc_forward_f, one
    (image, group) per work item: the group's planes padded into a thread buffer, the kernel,
    the outputs narrowed into y (or, when the output rows are whole vectors and M fills the
    register blocks, written there by the kernel). Returns 1 if a buffer is missing."""
    cdef Py_ssize_t DHW = geo.D * geo.H * geo.W, L = geo.oD * geo.oH * geo.oW, K = geo.K
    cdef Py_ssize_t Cg = C // groups, R = Cg * K, Mpad = (M + DC_MB - 1) // DC_MB * DC_MB
    cdef Py_ssize_t nv = (geo.n + DC_LANES - 1) // DC_LANES, ldy, t, n, g, c, m, r, q
    cdef float* wt = <float*>_zalloc(groups * R * Mpad, sizeof(float))
    cdef Py_ssize_t* roff = <Py_ssize_t*>malloc((R + nv) * sizeof(Py_ssize_t))
    cdef Py_ssize_t* voff
    cdef bint rows, inplace
    cdef float* X = NULL
    cdef float* Y = NULL
    cdef float* Ym
    cdef float* ym
    cdef float bv
    cdef int failed = 0
    cdef int* failp = &failed
    if wt == NULL or roff == NULL:
        free(wt)
        free(roff)
        return 1
    for g in range(groups):          # wt[g][r][m] = a[g*M + m][r], zero for m >= M
        for m in range(M):
            for r in range(R):
                wt[(g * R + r) * Mpad + m] = ab[(g * M + m) * R + r]
    for c in range(Cg):
        for r in range(K):
            roff[c * K + r] = c * geo.PP + geo.off[r]
    voff = roff + R
    ldy = dc_vector_offsets(geo, voff)
    rows = geo.oW % DC_LANES == 0        # Y holds the outputs themselves, (Mpad, L)
    inplace = rows and Mpad == M
    with parallel(num_threads=nthreads):
        X = <float*>_zalloc(Cg * geo.PP + nv * DC_LANES, sizeof(float))  # the tail stays zero
        Y = <float*>malloc(Mpad * ldy * sizeof(float)) if not inplace else X
        if X == NULL or Y == NULL:
            failp[0] = 1
        for t in prange(N * groups, schedule='static'):
            if X == NULL or Y == NULL:
                continue
            n = t // groups
            g = t - n * groups
            for c in range(Cg):
                dc_pad_f(ub + (n * C + g * Cg + c) * DHW, X + c * geo.PP, geo)
            if inplace:
                dc_forward_f(X, roff, R, wt + g * R * Mpad, Mpad, yb + t * M * L, L, voff)
                if has_bias:
                    for m in range(M):
                        ym = yb + (t * M + m) * L
                        bv = bb[g * M + m]
                        for q in range(L):
                            ym[q] += bv
                continue
            dc_forward_f(X, roff, R, wt + g * R * Mpad, Mpad, Y, ldy, voff)
            for m in range(M):
                bv = bb[g * M + m] if has_bias else 0
                Ym = Y + m * ldy
                ym = yb + (t * M + m) * L
                if rows:
                    for q in range(L):
                        ym[q] = Ym[q] + bv
                else:
                    dw_narrow_f(Ym, ym, bv, geo)
        free(X)
        if not inplace:
            free(Y)
    free(wt)
    free(roff)
    return failed


cdef bint _wino_on = True
# measured, 2 threads, against the direct kernel (forward, transforms as in _winograd_conv_f):
# 32 -> 32 channels at 32x32 1.17x, 32 -> 64 at 16x16 1.33x, 64 -> 64 at 32x32 1.35x, 128 at
# 16x16 1.36x, 64 at 8x8 1.12-1.44x, 256 at 8x8 1.59x; but 16-24 channels 0.7-0.9x (the 16
# products are too short), 32 channels at 8x8 0.68x and 4x4 planes 0.66x (too few tiles)
cdef Py_ssize_t WINO_MIN_CHANNELS = 32   # twice as many channels: a quarter of the outputs
cdef Py_ssize_t WINO_MIN_OUTPUTS = 256
# 3x3x3 layers: the products have 3x the rows (channel, depth tap), so fewer channels and
# smaller planes pay off. Measured against the direct kernel (2 threads, 16^3 volumes, N 8):
# 8 -> 16 channels 1.21x, 16 -> 8 1.10x, 16 -> 32 1.30x, 32 -> 16 1.08x, but 8 -> 8 0.93x and
# 4 -> 16 0.99x; 8^3 volumes with 32-64 channels 2.6-2.75x, 4^3 1.06x.
cdef Py_ssize_t WINO3_MIN_CHANNELS = 8   # both counts, and their product at least 2 * 8 * 8
cdef Py_ssize_t WINO3_MIN_OUTPUTS = 64


def set_winograd(bint on, Py_ssize_t min_channels=-1, Py_ssize_t min_outputs=-1,
                 Py_ssize_t min_channels_3d=-1, Py_ssize_t min_outputs_3d=-1,
                 Py_ssize_t min_channels_22=-1, Py_ssize_t min_outputs_22=-1):
    """Let float32 convolutions with a 3x3 kernel in (H, W) and stride 1 take Winograd
    F(2x2, 3x3) (csrc/_wino.h; the default), or never. 2-D layers (and 1x3x3 ones) take it when
    both channel counts per group reach min_channels (default 32) and a plane has min_outputs
    outputs (default 256; a quarter of that with twice the channels); dilated 2-D layers whose
    sizes and paddings are multiples of the dilation alike, per phase plane; 3x3x3 layers
    (undilated) when both counts reach min_channels_3d (default 8; their product twice its
    square) and a plane has min_outputs_3d outputs (default 64). The weight gradient of the
    2-D (undilated) layers that take it runs on F(2x2, 3x3) too. The same switch covers
    F(2x2, 2x2) for the input gradient of 4x4 stride-2 convolutions (padding at most 2), i.e.
    the forward of conv_transpose2d(kernel_size=4, stride=2): both channel counts per group at
    least min_channels_22 (default 16), min_outputs_22 outputs per phase plane (default 64).
    Negative values keep the current thresholds. Returns the previous on/off setting.

    Winograd sums other products than the direct kernel: results agree to float rounding
    (relative 1e-6), and a NaN input reaches exactly the outputs it would reach directly, but
    an infinite input can give NaN (inf - inf in the transforms) where the direct sum gives
    +-inf, as in any Winograd implementation (cuDNN's included)."""
    global WINO_MIN_CHANNELS, WINO_MIN_OUTPUTS, WINO3_MIN_CHANNELS, WINO3_MIN_OUTPUTS
    global W22_MIN_CHANNELS, W22_MIN_OUTPUTS, _wino_on
    before = _wino_on
    _wino_on = on
    if min_channels >= 0:
        WINO_MIN_CHANNELS = min_channels
    if min_outputs >= 0:
        WINO_MIN_OUTPUTS = min_outputs
    if min_channels_3d >= 0:
        WINO3_MIN_CHANNELS = min_channels_3d
    if min_outputs_3d >= 0:
        WINO3_MIN_OUTPUTS = min_outputs_3d
    if min_channels_22 >= 0:
        W22_MIN_CHANNELS = min_channels_22
    if min_outputs_22 >= 0:
        W22_MIN_OUTPUTS = min_outputs_22
    return before


cdef inline Py_ssize_t _wino_ring(const float* P, Py_ssize_t PP, Py_ssize_t Hq, Py_ssize_t Wq,
                                   Py_ssize_t Cg, Py_ssize_t D, Py_ssize_t kd, Py_ssize_t iz0,
                                   Py_ssize_t top, Py_ssize_t ti0, Py_ssize_t nt, Py_ssize_t tW,
                                   float* V, Py_ssize_t VS, Py_ssize_t VC, Py_ssize_t ldt,
                                   Py_ssize_t* roff) noexcept nogil:
    """The product rows (c, z) of one output plane, z < kd reading input plane iz0 + z: that
    plane's transformed tiles (tile rows ti0 .. ti0 + nt of the padded even/odd planes P, Cg
    per input plane) sit in ring slot iz % kd of V, transformed here unless an earlier output
    plane of the chunk did (iz <= top), or in the zero slot kd outside the volume; sets
    roff[c*kd + z] and returns the new top."""
    cdef Py_ssize_t z, iz, base, c, tl
    for z in range(kd):
        iz = iz0 + z
        if iz < 0 or iz >= D:
            base = kd * VS
        else:
            base = (iz % kd) * VS
            if iz > top:
                top = iz
                for c in range(Cg):
                    for tl in range(nt):
                        wino_input_row_f(P + (iz * Cg + c) * PP, P + (iz * Cg + c) * PP + Hq * Wq,
                                         Wq, ti0 + tl, tW, V + base + c * VC, ldt, tl * tW)
        for c in range(Cg):
            roff[c * kd + z] = base + c * VC
    return top


cdef int _winograd_conv_f(const float* ub, const float* ab, const float* bb, bint has_bias,
                          float* yb, const conv_geo* s, int nthreads) noexcept nogil:
    """Forward of a float32 convolution with a 3x3 kernel in (H, W) (stride 1) and kd = 1 or 3
    in depth (stride 1, no dilation) by Winograd F(2x2, 3x3), one (image, phase, group) per
    work item: the group's planes padded and split into even/odd columns, then per chunk of
    tile rows and per output plane od the input transforms of the planes it reads, the 16
    products on dc_forward_ld_f and the output transform into y.

    In depth the products do the sum: their rows are the pairs (c, z) of channel and depth tap,
    and row (c, z) reads channel c of input plane od + z - pd, transformed once per chunk into
    a ring of kd slots (slot iz % kd), or a zero slot outside the volume. So a 3-D 3x3x3 layer
    runs 16 products with 3*Cg rows where the direct kernel runs 27 with Cg.

    A 2-D layer dilated by (dh, dw) (see _phases_geo) runs as dh*dw undilated ones, one per
    phase (a, b): its planes read in place from x's rows a::dh and columns b::dw, its outputs
    written to y's.

    Layout: a channel's 16 transformed rows lie together, V[c][xi][tile] and Mt[m][xi][tile]
    (channel blocks of VC floats, 64 more than 16 rows so that they do not fall on one cache
    set), so each transform writes or reads 16 rows at one small stride, ldt, which is a
    constant (64) in the common case (see wino_input_row_f). Returns 1 if a buffer is missing."""
    cdef Py_ssize_t dh = s.dh, dw = s.dw, nph = s.dh * s.dw, N = s.N, C = s.C, M = s.M
    cdef Py_ssize_t groups = s.groups, D = s.D, kd = s.kd, pd = s.pd, oD = s.oD
    cdef Py_ssize_t H = s.H // dh, W = s.W // dw, ph = s.ph // dh, pw = s.pw // dw
    cdef Py_ssize_t oH = s.oH // dh, oW = s.oW // dw, HW = s.H * s.W, oHW = s.oH * s.oW
    cdef Py_ssize_t tH = (oH + 1) // 2, tW = (oW + 1) // 2, Hq = 2 * tH + 2, Wq = tW + 1
    cdef Py_ssize_t Cg = C // groups, Mpad = (M + DC_MB - 1) // DC_MB * DC_MB, R = Cg * kd
    cdef Py_ssize_t tr = imin(tH, max(1, 64 // tW))
    cdef Py_ssize_t ldt = (tr * tW + DC_LANES - 1) // DC_LANES * DC_LANES
    cdef Py_ssize_t VC = 16 * ldt + 64, PP = 2 * Hq * Wq, VS = Cg * VC
    cdef Py_ssize_t t, n, g, c, m, i, ti0, nt, tl, xi, od, dz, top, a, b, ib, ob
    cdef float* U = <float*>_zalloc(groups * 16 * R * Mpad, sizeof(float))
    cdef Py_ssize_t* voff = <Py_ssize_t*>malloc((ldt // DC_LANES) * sizeof(Py_ssize_t))
    cdef Py_ssize_t* roff = NULL
    cdef float* P = NULL
    cdef float* V = NULL
    cdef float* Mt = NULL
    cdef float* tmp = NULL
    cdef int failed = 0
    cdef int* failp = &failed
    if U == NULL or voff == NULL:
        free(U)
        free(voff)
        return 1
    for g in range(groups):               # the 3x3 kernels of the pairs (c, z) as rows c*kd + z
        wino_weights_f(ab + g * M * R * 9, M, R, U + g * 16 * R * Mpad, Mpad)
    for i in range(ldt // DC_LANES):
        voff[i] = i * DC_LANES
    with parallel(num_threads=nthreads):
        P = <float*>malloc(D * Cg * PP * sizeof(float))
        V = <float*>_zalloc((kd + 1) * VS, sizeof(float))      # kd slots and the zero slot
        Mt = <float*>malloc(Mpad * VC * sizeof(float))
        tmp = <float*>malloc(4 * tW * sizeof(float))
        roff = <Py_ssize_t*>malloc(R * sizeof(Py_ssize_t))
        if P == NULL or V == NULL or Mt == NULL or tmp == NULL or roff == NULL:
            failp[0] = 1
        for t in prange(N * nph * groups, schedule='static'):
            if P == NULL or V == NULL or Mt == NULL or tmp == NULL or roff == NULL:
                continue
            n = t // (nph * groups)
            g = t - n * nph * groups
            a = g // (dw * groups)           # the phase: rows a::dh, columns b::dw
            b = (g // groups) % dw
            g = g % groups
            ib = a * s.W + b
            ob = a * s.oW + b
            for dz in range(D):
                for c in range(Cg):
                    wino_pad_f(ub + ((n * C + g * Cg + c) * D + dz) * HW + ib, dh * s.W, dw, H, W,
                               ph, pw, P + (dz * Cg + c) * PP, P + (dz * Cg + c) * PP + Hq * Wq,
                               Hq, Wq)
            ti0 = 0
            while ti0 < tH:
                nt = imin(tr, tH - ti0)
                top = -1                  # the last input plane transformed for this chunk
                for od in range(oD):
                    top = _wino_ring(P, PP, Hq, Wq, Cg, D, kd, od - pd, top, ti0, nt, tW, V, VS,
                                     VC, ldt, roff)
                    for xi in range(16):
                        dc_forward_ld_f(V + xi * ldt, roff, R, U + (g * 16 + xi) * R * Mpad,
                                        Mpad, Mt + xi * ldt, VC, ldt, voff)
                    for m in range(M):
                        for tl in range(nt):
                            wino_output_row_f(Mt + m * VC, ldt, tl * tW, ti0 + tl, tW,
                                              bb[g * M + m] if has_bias else 0,
                                              yb + ((n * groups + g) * M + m) * oD * oHW
                                              + od * oHW + ob, dh * s.oW, dw, oH, oW, tmp)
                ti0 = ti0 + nt
        free(P)
        free(V)
        free(Mt)
        free(tmp)
        free(roff)
    free(U)
    free(voff)
    return failed


cdef Py_ssize_t _wino_wgrad_bytes(const conv_geo* s) noexcept nogil:
    """A thread's buffers in _winograd_wgrad_f, in bytes."""
    cdef Py_ssize_t Cg = s.C // s.groups, tH = (s.oH + 1) // 2, tW = (s.oW + 1) // 2
    cdef Py_ssize_t tr = imin(tH, max(1, 64 // tW))
    cdef Py_ssize_t ldt = (tr * tW + DC_LANES - 1) // DC_LANES * DC_LANES
    cdef Py_ssize_t Mpad = (s.M + DC_LANES - 1) // DC_LANES * DC_LANES
    cdef Py_ssize_t Rpad = (Cg * s.kd + DC_WRB - 1) // DC_WRB * DC_WRB
    return (s.D * Cg * 2 * (2 * tH + 2) * (tW + 1) + (s.kd + 1) * Cg * (16 * ldt + 64)
            + s.oD * s.oH * s.oW * Mpad + 16 * ldt * Mpad + s.groups * 16 * Rpad * Mpad
            + Mpad + Rpad) * 4


cdef int _winograd_wgrad_f(const float* ub, const float* gb, float* gab, const conv_geo* s,
                           int nthreads) noexcept nogil:
    """gab[thread, g] (Cg*kd*9, M) += the weight gradient of a float32 convolution that
    _winograd_conv_f runs (3x3 in (H, W) with stride 1, kd = 1 or 3), undilated, by Winograd
    F(2x2, 3x3), one (image, group) per work item: the group's input planes padded, and per
    chunk of tile rows and output plane od the input planes it reads transformed into the ring
    of kd slots (zero slot outside the volume) as in the forward, so product row (c, z) reads
    V[c][xi][tile] of input plane od + z - pd; the image's upstream gradient transposed
    (Gt[position][m], dc_widen_t_f) and turned into Z[xi][tile][m] = A gy A^T per tile of
    plane od (wino_wgrad_z_f); then per xi dL/dU[xi][(c, z)][m] += sum over tiles of
    V * Z on dc_wgrad_f (the direct weight gradient's outer-product kernel, tiles as
    positions), accumulated per thread over its images; at the end G^T (dL/dU) G per row and
    m into gab. 16 products per row, output channel and 2x2 outputs where the direct weight
    gradient does 36. Returns 1 if a buffer is missing."""
    cdef Py_ssize_t G = s.groups, Cg = s.C // s.groups, M = s.M, H = s.H, W = s.W, D = s.D
    cdef Py_ssize_t kd = s.kd, pd = s.pd, oD = s.oD, R = Cg * s.kd, HW = s.H * s.W
    cdef Py_ssize_t oH = s.oH, oW = s.oW, oHW = s.oH * s.oW
    cdef Py_ssize_t tH = (oH + 1) // 2, tW = (oW + 1) // 2, Hq = 2 * tH + 2, Wq = tW + 1
    cdef Py_ssize_t tr = imin(tH, max(1, 64 // tW))
    cdef Py_ssize_t ldt = (tr * tW + DC_LANES - 1) // DC_LANES * DC_LANES
    cdef Py_ssize_t VC = 16 * ldt + 64, PP = 2 * Hq * Wq, VS = Cg * VC
    cdef Py_ssize_t Mpad = (M + DC_LANES - 1) // DC_LANES * DC_LANES
    cdef Py_ssize_t Rpad = (R + DC_WRB - 1) // DC_WRB * DC_WRB, AS = 16 * Rpad * Mpad
    cdef Py_ssize_t t, n, g, c, tl, ti0, nt, xi, tid, gg, rr, od, dz, top
    cdef Py_ssize_t rowoff[1]
    cdef dw_geo compact                   # Gt: the outputs without wide gaps
    cdef Py_ssize_t* roff = NULL
    cdef float* P = NULL
    cdef float* V = NULL
    cdef float* Gt = NULL
    cdef float* Z = NULL
    cdef float* acc = NULL
    cdef float* zero = NULL
    cdef int failed = 0
    cdef int* failp = &failed
    rowoff[0] = 0
    memset(&compact, 0, sizeof(compact))
    compact.oD, compact.oH, compact.oW, compact.Hp, compact.Wp = oD, oH, oW, oH, oW
    with parallel(num_threads=nthreads):
        P = <float*>malloc(D * Cg * PP * sizeof(float))
        V = <float*>_zalloc((kd + 1) * VS, sizeof(float))    # kd slots and the zero slot
        Gt = <float*>_zalloc(oD * oHW * Mpad, sizeof(float))  # zero where m >= M
        Z = <float*>malloc(16 * ldt * Mpad * sizeof(float))
        acc = <float*>_zalloc(G * AS, sizeof(float))
        zero = <float*>_zalloc(Mpad, sizeof(float))
        roff = <Py_ssize_t*>_zalloc(Rpad, sizeof(Py_ssize_t))  # pad rows read V's start
        if (P == NULL or V == NULL or Gt == NULL or Z == NULL or acc == NULL or zero == NULL
                or roff == NULL):
            failp[0] = 1
        tid = threadid()
        for t in prange(s.N * G, schedule='static'):
            if (P == NULL or V == NULL or Gt == NULL or Z == NULL or acc == NULL
                    or zero == NULL or roff == NULL):
                continue
            n = t // G
            g = t - n * G
            for dz in range(D):
                for c in range(Cg):
                    wino_pad_f(ub + ((n * s.C + g * Cg + c) * D + dz) * HW, W, 1, H, W, s.ph,
                               s.pw, P + (dz * Cg + c) * PP, P + (dz * Cg + c) * PP + Hq * Wq,
                               Hq, Wq)
            dc_widen_t_f(gb + t * M * oD * oHW, M, Gt, Mpad, &compact)
            ti0 = 0
            while ti0 < tH:
                nt = imin(tr, tH - ti0)
                top = -1                  # the last input plane transformed for this chunk
                for od in range(oD):
                    top = _wino_ring(P, PP, Hq, Wq, Cg, D, kd, od - pd, top, ti0, nt, tW, V, VS,
                                     VC, ldt, roff)
                    for tl in range(nt):
                        wino_wgrad_z_f(Gt + od * oHW * Mpad, oH, oW, Mpad, ti0 + tl, tW, Z,
                                       ldt * Mpad, tl * tW, zero)
                    for xi in range(16):
                        dc_wgrad_f(V + xi * ldt, roff, R, Z + xi * ldt * Mpad, Mpad, rowoff, 1,
                                   nt * tW, acc + g * AS + xi * Rpad * Mpad)
                ti0 = ti0 + nt
        if not (P == NULL or V == NULL or Gt == NULL or Z == NULL or acc == NULL or
                zero == NULL or roff == NULL):
            for gg in range(G):
                for rr in range(R):
                    wino_wgrad_out_f(acc + gg * AS + rr * Mpad, Rpad * Mpad, M,
                                     gab + ((tid * G + gg) * R + rr) * 9 * M)
        free(P)
        free(V)
        free(Gt)
        free(Z)
        free(acc)
        free(zero)
        free(roff)
    return failed


# ------------------------------------------------------------------ Winograd F(2x2, 2x2)
# The input gradient of a 4x4 stride-2 convolution, i.e. the forward of the transposed
# convolution of DCGAN generators and U-Net decoders, is per input phase (r, q) (rows r::2,
# columns q::2) a 2x2 correlation of the upstream gradient. _wino22_dgrad_f runs those on
# F(2x2, 2x2) (csrc/_wino.h): 9 products per 2x2 outputs where _direct_dgrad_f does 16.
# Measured against _direct_dgrad_f (conv_transpose2d forward, 2 threads, N 32): 64->32 channels
# from 16x16 1.20x, 32->32 1.17x, 128->64 from 8x8 1.25x, 64->64 from 32x32 (N 16) 1.46x,
# 16->16 from 32x32 1.14x; 32->16 1.01x, and 4x4 inputs 0.59x (too few tiles). The same
# algorithm for the convolution's own forward (product rows: 4 input phases per channel)
# measured 0.5-1.0x its direct kernel, whose 16-tap products are long already, and was dropped.
cdef Py_ssize_t W22_MIN_CHANNELS = 16   # upstream channels and input channels, per group
cdef Py_ssize_t W22_MIN_OUTPUTS = 64    # outputs of a phase plane
DEF W22_Z = 1                           # zeros in front of a padded row


cdef Py_ssize_t _w22_bytes(Py_ssize_t M, Py_ssize_t Cg, Py_ssize_t H,
                           Py_ssize_t W) noexcept nogil:
    """A thread's buffers in _wino22_dgrad_f, in bytes."""
    cdef Py_ssize_t pH = (H + 1) // 2, pW = (W + 1) // 2, tH = (pH + 1) // 2, tW = (pW + 1) // 2
    cdef Py_ssize_t tr = imin(tH, max(1, 64 // tW))
    cdef Py_ssize_t ldt = (tr * tW + DC_LANES - 1) // DC_LANES * DC_LANES
    cdef Py_ssize_t Cpad = (Cg + DC_MB - 1) // DC_MB * DC_MB
    return (M * 2 * (2 * tH + 2) * (tW + 2) + (M + Cpad) * (9 * ldt + 64) + 4 * tW
            + 2 * (tW + 2) + 8 + 4 * Cg * pH * pW) * 4


cdef bint _wino22_applies(const conv_geo* s) noexcept nogil:
    """Whether _wino22_dgrad_f takes the input gradient of this float32 convolution: 2-D, 4x4,
    stride 2, undilated, paddings of at most 2 (each phase then reads the upstream gradient
    padded by one row and column, from row and column 0 or 1), W22_MIN_CHANNELS channels
    both ways, W22_MIN_OUTPUTS outputs per phase plane, and a thread's buffers within
    DC_DIRECT_MAX_BYTES."""
    cdef Py_ssize_t Cg = s.C // s.groups
    return (_wino_on and s.D == 1 and s.kd == 1 and s.pd == 0 and s.oD == 1 and s.kh == 4
            and s.kw == 4 and s.sh == 2 and s.sw == 2 and s.dh == 1 and s.dw == 1
            and s.ph <= 2 and s.pw <= 2 and s.H >= 2 and s.W >= 2 and s.oH >= 1 and s.oW >= 1
            and s.M >= W22_MIN_CHANNELS and Cg >= W22_MIN_CHANNELS
            and (s.H // 2) * (s.W // 2) >= W22_MIN_OUTPUTS
            and _w22_bytes(s.M, Cg, s.H, s.W) <= DC_DIRECT_MAX_BYTES)


cdef inline void _w22_pad(const float* x, Py_ssize_t H, Py_ssize_t W, float* E, float* O,
                          Py_ssize_t Hq, Py_ssize_t Wq, float* line) noexcept nogil:
    """E[j][k] = x(j - 1, 2k - 1), O[j][k] = x(j - 1, 2k) of an H x W plane, zero outside:
    each row copied behind W22_Z zeros into line, then split by w22_gather2 (vectorised)."""
    cdef Py_ssize_t j, n = imin(W, 2 * Wq - W22_Z)
    line[0] = 0
    memset(line + W22_Z + n, 0, (2 * Wq - W22_Z - n) * sizeof(float))
    for j in range(Hq):
        if j < 1 or j > H:
            memset(E + j * Wq, 0, Wq * sizeof(float))
            memset(O + j * Wq, 0, Wq * sizeof(float))
        else:
            memcpy(line + W22_Z, x + (j - 1) * W, n * sizeof(float))
            w22_gather2(line, E + j * Wq, O + j * Wq, Wq)


cdef int _wino22_dgrad_f(const float* ab, const float* gb, float* gub, const conv_geo* s,
                         int nthreads) noexcept nogil:
    """Input gradient of a 4x4 stride-2 convolution (see _wino22_applies) on F(2x2, 2x2).

    With kappa = (r + ph) mod 2 and e = (r - kappa + ph) / 2, input row 2u + r gets the sum
    over alpha < 2 of w[m, c, 2 alpha + kappa, .] gy[m, u + e - alpha, .]: a 2x2 correlation
    of gy zero-padded by 1 - e rows in front with the flipped taps, columns alike. So one
    work item, an (image, group), pads the group's M upstream planes once by one row and
    column, into even/odd column planes (as wino_pad_f), and runs the four phases (r, q) on
    them from row e_r and column e_q (an odd start column reads the odd plane as the even
    one); per chunk of tile rows the input transforms, the 9 products on dc_forward_ld_f
    (rows m, outputs c) and the output transforms, into a buffer of the four phase planes
    that is then interleaved into the input gradient row by row (writing each phase in place,
    every other float, cost more than its products). Layouts as _winograd_conv_f. Returns 1
    if a buffer is missing."""
    cdef Py_ssize_t G = s.groups, Cg = s.C // s.groups, M = s.M, H = s.H, W = s.W
    cdef Py_ssize_t Cpad = (Cg + DC_MB - 1) // DC_MB * DC_MB, oHW = s.oH * s.oW
    cdef Py_ssize_t pH = (H + 1) // 2, pW = (W + 1) // 2, PH = pH * pW
    cdef Py_ssize_t tHm = (pH + 1) // 2, tWm = (pW + 1) // 2, tr = imin(tHm, max(1, 64 // tWm))
    cdef Py_ssize_t ldt = (tr * tWm + DC_LANES - 1) // DC_LANES * DC_LANES
    cdef Py_ssize_t VC = 9 * ldt + 64, Hq = 2 * tHm + 2, Wq = tWm + 2, PP = 2 * Hq * Wq
    cdef Py_ssize_t t, n, g, c, m, r, q, v, i, xi, tl, ti0, nt, tH, tW, oh, ow, h, al, be
    cdef Py_ssize_t dr[4]
    cdef Py_ssize_t dcol[4]
    cdef float k4[4]
    cdef const float* w
    cdef const float* E
    cdef const float* O
    cdef const float* ye
    cdef float* U = <float*>_zalloc(G * 4 * 9 * M * Cpad, sizeof(float))
    cdef Py_ssize_t* voff = <Py_ssize_t*>malloc((ldt // DC_LANES + M) * sizeof(Py_ssize_t))
    cdef Py_ssize_t* roff = voff + ldt // DC_LANES
    cdef float* P = NULL
    cdef float* V = NULL
    cdef float* Mt = NULL
    cdef float* tmp = NULL
    cdef float* Yb = NULL
    cdef int failed = 0
    cdef int* failp = &failed
    if U == NULL or voff == NULL:
        free(U)
        free(voff)
        return 1
    for i in range(ldt // DC_LANES):
        voff[i] = i * DC_LANES
    for m in range(M):
        roff[m] = m * VC
    for v in range(4):                      # phase v = (r, q): taps kappa, start e
        r, q = v // 2, v % 2
        dr[v] = (r - ((r + s.ph) & 1) + s.ph) // 2
        dcol[v] = (q - ((q + s.pw) & 1) + s.pw) // 2
        for g in range(G):
            for m in range(M):
                for c in range(Cg):
                    w = ab + ((g * M + m) * Cg + c) * 16
                    for al in range(2):
                        for be in range(2):
                            k4[al * 2 + be] = w[(2 * (1 - al) + ((r + s.ph) & 1)) * 4
                                                + 2 * (1 - be) + ((q + s.pw) & 1)]
                    wino22_weight_f(k4, U + ((g * 4 + v) * 9 * M + m) * Cpad + c, M * Cpad)
    with parallel(num_threads=nthreads):
        P = <float*>malloc(M * PP * sizeof(float))
        V = <float*>_zalloc(M * VC, sizeof(float))    # columns past a chunk's tiles stay finite
        Mt = <float*>malloc(Cpad * VC * sizeof(float))
        tmp = <float*>malloc((4 * tWm + 2 * Wq + 8) * sizeof(float))
        Yb = <float*>malloc(4 * Cg * PH * sizeof(float))
        if P == NULL or V == NULL or Mt == NULL or tmp == NULL or Yb == NULL:
            failp[0] = 1
        for t in prange(s.N * G, schedule='static'):
            if P == NULL or V == NULL or Mt == NULL or tmp == NULL or Yb == NULL:
                continue
            n = t // G
            g = t - n * G
            for m in range(M):
                _w22_pad(gb + (t * M + m) * oHW, s.oH, s.oW, P + m * PP, P + m * PP + Hq * Wq,
                         Hq, Wq, tmp + 4 * tWm)
            for v in range(4):
                r, q = v // 2, v % 2
                oh, ow = (H - r + 1) // 2, (W - q + 1) // 2
                tH, tW = (oh + 1) // 2, (ow + 1) // 2
                ti0 = 0
                while ti0 < tH:
                    nt = imin(tr, tH - ti0)
                    for m in range(M):
                        E = P + m * PP + dr[v] * Wq
                        O = E + Hq * Wq
                        if dcol[v]:
                            E, O = O, E + 1
                        for tl in range(nt):
                            wino22_input_row_f(E, O, Wq, ti0 + tl, tW, V + m * VC, ldt, tl * tW)
                    for xi in range(9):
                        dc_forward_ld_f(V + xi * ldt, roff, M,
                                        U + ((g * 4 + v) * 9 + xi) * M * Cpad, Cpad,
                                        Mt + xi * ldt, VC, ldt, voff)
                    for c in range(Cg):
                        for tl in range(nt):
                            wino22_output_row_f(Mt + c * VC, ldt, tl * tW, ti0 + tl, tW, 0,
                                                Yb + (v * Cg + c) * PH, pW, 1, oh, ow, tmp)
                    ti0 = ti0 + nt
            for c in range(Cg):               # row h from phases (h % 2, 0) and (h % 2, 1)
                for h in range(H):
                    ye = Yb + ((h & 1) * 2 * Cg + c) * PH + (h >> 1) * pW
                    w22_interleave(ye, ye + Cg * PH, gub + ((n * G + g) * Cg + c) * H * W
                                   + h * W, W)
        free(P)
        free(V)
        free(Mt)
        free(tmp)
        free(Yb)
    free(U)
    free(voff)
    return failed


cdef inline bint _is_pointwise(Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sd,
                               Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pd, Py_ssize_t ph,
                               Py_ssize_t pw):
    """1x1 without stride or padding: plain GEMMs on the images (_pointwise)."""
    return (kd * kh * kw == 1 and sd == 1 and sh == 1 and sw == 1
            and pd == 0 and ph == 0 and pw == 0)


cdef int _direct_wgrad_f(const float* ub, const float* gb, float* gab, Py_ssize_t N,
                         Py_ssize_t C, Py_ssize_t groups, Py_ssize_t M, const dw_geo* geo,
                         int nthreads) noexcept nogil:
    """gab[thread, g] (Kd, M) += the weight gradient of a float32 convolution (any stride)
    through dc_wgrad_f, one (image, group) per work item: the group's planes padded and the image's
    upstream gradient transposed wide into thread buffers, the products accumulated in the
    thread's (Rpad, Mpad) block per group and added to gab once. Returns 1 if a buffer is
    missing."""
    cdef Py_ssize_t DHW = geo.D * geo.H * geo.W, L = geo.oD * geo.oH * geo.oW, K = geo.K
    cdef Py_ssize_t Cg = C // groups, R = Cg * K, Mpad = (M + DC_LANES - 1) // DC_LANES * DC_LANES
    cdef Py_ssize_t Rpad = (R + DC_WRB - 1) // DC_WRB * DC_WRB, t, n, g, c, r, tid, gg, rr, mm
    cdef Py_ssize_t nrows = geo.oD * geo.oH
    # roff's pad rows (R to Rpad) stay 0: they read X from its start
    cdef Py_ssize_t* roff = <Py_ssize_t*>_zalloc(Rpad + nrows, sizeof(Py_ssize_t))
    cdef Py_ssize_t* rowoff = roff + Rpad
    cdef dw_geo compact = geo[0]         # Gt holds the outputs without wide gaps
    compact.Hp, compact.Wp = geo.oH, geo.oW
    cdef float* X = NULL
    cdef float* Gt = NULL
    cdef float* acc = NULL
    cdef float* dst
    cdef int failed = 0
    cdef int* failp = &failed
    if roff == NULL:
        return 1
    for c in range(Cg):
        for r in range(K):
            roff[c * K + r] = c * geo.PP + geo.off[r]
    for r in range(nrows):              # output row r = (d, h) starts at wide (d*Hp + h)*Wp
        rowoff[r] = (r // geo.oH * geo.Hp + r % geo.oH) * geo.Wp
    with parallel(num_threads=nthreads):
        X = <float*>_zalloc(Cg * geo.PP + geo.n, sizeof(float))
        Gt = <float*>_zalloc(L * Mpad, sizeof(float))   # zero where never written (m >= M)
        acc = <float*>_zalloc(groups * Rpad * Mpad, sizeof(float))
        if X == NULL or Gt == NULL or acc == NULL:
            failp[0] = 1
        tid = threadid()
        for t in prange(N * groups, schedule='static'):
            if X == NULL or Gt == NULL or acc == NULL:
                continue
            n = t // groups
            g = t - n * groups
            for c in range(Cg):
                dc_pad_f(ub + (n * C + g * Cg + c) * DHW, X + c * geo.PP, geo)
            dc_widen_t_f(gb + t * M * L, M, Gt, Mpad, &compact)
            dc_wgrad_f(X, roff, R, Gt, Mpad, rowoff, nrows, geo.oW, acc + g * Rpad * Mpad)
        if X != NULL and Gt != NULL and acc != NULL:
            for gg in range(groups):
                dst = gab + (tid * groups + gg) * R * M
                for rr in range(R):
                    for mm in range(M):
                        dst[rr * M + mm] += acc[(gg * Rpad + rr) * Mpad + mm]
        free(X)
        free(Gt)
        free(acc)
    free(roff)
    return failed


cdef int _direct_dgrad_f(const float* ab, const float* gb, float* gub, Py_ssize_t N,
                         Py_ssize_t C, Py_ssize_t groups, Py_ssize_t M, const dw_geo* geo,
                         int nthreads) noexcept nogil:
    """gub = the input gradient of a strided float32 convolution, phase by phase through
    dc_forward_f (see dc_unphase_f), one (image, group) per work item: the image's upstream
    gradient spread wide behind a margin, each phase's rows (m, tap) run with the group's
    input channels as outputs, the phase planes written back. Returns 1 if a buffer is
    missing."""
    cdef Py_ssize_t DHW = geo.D * geo.H * geo.W, L = geo.oD * geo.oH * geo.oW, K = geo.K
    cdef Py_ssize_t P = geo.sd * geo.sh * geo.sw, plane = geo.PP // P
    cdef Py_ssize_t Cg = C // groups, Cpad = (Cg + DC_MB - 1) // DC_MB * DC_MB
    cdef Py_ssize_t ldy = (plane + DC_LANES - 1) // DC_LANES * DC_LANES
    cdef Py_ssize_t zq = 0, gs, t, n, g, c, m, q, r, i, ph, nrow
    cdef Py_ssize_t* first = <Py_ssize_t*>_zalloc(P + 1, sizeof(Py_ssize_t))  # rows of phase q
    cdef Py_ssize_t* roff = <Py_ssize_t*>malloc((M * K + ldy // DC_LANES) * sizeof(Py_ssize_t))
    cdef float* wt = <float*>_zalloc(groups * M * K * Cpad, sizeof(float))
    cdef float* Gw = NULL
    cdef float* Y = NULL
    cdef int failed = 0
    cdef int* failp = &failed
    if first == NULL or roff == NULL or wt == NULL:
        free(first)
        free(roff)
        free(wt)
        return 1
    for i in range(ldy // DC_LANES):    # the phase plane's wide positions
        roff[M * K + i] = i * DC_LANES
    for t in range(K):
        zq = max(zq, geo.off[t] % plane)
    gs = zq + ldy                       # a channel's wide G: zq zeros, then the outputs
    for t in range(K):                  # rows sorted by phase: (m, t) for each phase's taps
        first[geo.off[t] // plane + 1] += M
    for q in range(P):
        first[q + 1] += first[q]
    for q in range(P):
        r = first[q]
        for t in range(K):
            if geo.off[t] // plane != q:
                continue
            for m in range(M):
                roff[r] = m * gs + zq - geo.off[t] % plane
                for g in range(groups):     # wt[g][r][c] = a[g*M + m][c*K + t]
                    for c in range(Cg):
                        wt[(g * M * K + r) * Cpad + c] = ab[(g * M + m) * Cg * K + c * K + t]
                r += 1
    with parallel(num_threads=nthreads):
        Gw = <float*>_zalloc(M * gs, sizeof(float))
        Y = <float*>malloc(Cpad * ldy * sizeof(float))
        if Gw == NULL or Y == NULL:
            failp[0] = 1
        for t in prange(N * groups, schedule='static'):
            if Gw == NULL or Y == NULL:
                continue
            n = t // groups
            g = t - n * groups
            memset(gub + (n * C + g * Cg) * DHW, 0, Cg * DHW * sizeof(float))
            for m in range(M):
                dw_widen_f(gb + (t * M + m) * L, Gw + m * gs + zq, geo)
            for q in range(P):
                nrow = first[q + 1] - first[q]
                if nrow == 0:
                    continue
                dc_forward_f(Gw, roff + first[q], nrow, wt + (g * M * K + first[q]) * Cpad,
                             Cpad, Y, ldy, roff + M * K)
                ph = q // geo.sw
                for c in range(Cg):
                    dc_unphase_f(Y + c * ldy, gub + (n * C + g * Cg + c) * DHW, geo,
                                 ph // geo.sh, ph % geo.sh, q % geo.sw)
        free(Gw)
        free(Y)
    free(first)
    free(roff)
    free(wt)
    return failed


cdef int _direct_backward(const real* ub, const real* ab, const real* gb, real* gub, real* gab,
                          bint need_u, bint need_a, const conv_geo* s, int nthreads) except -1:
    """The products of gemm_fold on the direct kernels where they apply (float32, not
    _pointwise, the thread's buffers cache-sized): the weight gradient on dc_wgrad_f unless
    its padded row blocks waste over 25 %, the input gradient of a strided convolution with
    at least DC_MB input channels per group phase by phase (stride 1 has its own route:
    ops/conv.py _grad_input_conv). Returns which it computed: bit 1 the weight gradient, bit 2
    the input gradient."""
    cdef dw_geo geo
    cdef Py_ssize_t* offs
    cdef int failed = 0, done = 0
    cdef Py_ssize_t Cg = s.C // s.groups, Mpad = (s.M + DC_LANES - 1) // DC_LANES * DC_LANES
    cdef Py_ssize_t plane
    if not (real is float and _direct_conv_on) or _is_pointwise(s.kd, s.kh, s.kw, s.sd, s.sh, s.sw,
                                                              s.pd, s.ph, s.pw):
        return 0
    offs = _dc_setup(&geo, s)
    plane = geo.PP // (s.sd * s.sh * s.sw)
    # rows of a register block past R are computed and thrown away: C = 3 with M = 16 would
    # compute 48 rows for 27 (measured 0.5x the column path); keep that waste under 25 %
    if (need_a and s.dh == 1 and s.dw == 1 and _wino_on
            and _winograd_applies(s) and _wino_wgrad_bytes(s) <= DC_DIRECT_MAX_BYTES):
        if real is float:
            with nogil:
                failed = _winograd_wgrad_f(ub, gb, gab, s, nthreads)
        done |= 1
    elif (need_a and geo.K and 2 * geo.n <= 3 * s.oD * s.oH * s.oW
            and 4 * dc_wgrad_cost(Cg * geo.K, Mpad) <= 5 * Cg * geo.K * (Mpad // DC_LANES)
            and (Cg * geo.PP + Mpad * geo.n) * 4 <= DC_DIRECT_MAX_BYTES):
        if real is float:
            with nogil:
                failed = _direct_wgrad_f(ub, gb, gab, s.N, s.C, s.groups, s.M, &geo, nthreads)
        done |= 1
    if need_u and not failed and _wino22_applies(s):
        if real is float:
            with nogil:
                failed = _wino22_dgrad_f(ab, gb, gub, s, nthreads)
        done |= 2
    elif (need_u and not failed and geo.K and s.sd * s.sh * s.sw > 1 and Cg >= DC_MB
            and (s.M * (plane + geo.Z + 2 * DC_LANES) + (Cg + DC_MB) * (plane + DC_LANES)) * 4
            <= DC_DIRECT_MAX_BYTES):
        if real is float:
            with nogil:
                failed = _direct_dgrad_f(ab, gb, gub, s.N, s.C, s.groups, s.M, &geo, nthreads)
        done |= 2
    free(offs)
    if failed:
        raise MemoryError("tinyconv conv: cannot allocate a thread's buffers")
    return done


cdef bint _winograd_applies(const conv_geo* s) noexcept nogil:
    """Whether _winograd_conv_f takes this (float32 forward) convolution: 3x3 in (H, W) and 1 or
    3 in depth, stride 1, no dilation (a dilated one is asked with its _phases_geo), big enough
    channel counts and planes (WINO_MIN_*, measured) and a thread's buffers within
    DC_DIRECT_MAX_BYTES."""
    cdef Py_ssize_t Cg = s.C // s.groups, tW = (s.oW + 1) // 2
    cdef Py_ssize_t least = WINO_MIN_CHANNELS if s.kd == 1 else WINO3_MIN_CHANNELS
    cdef Py_ssize_t outputs = WINO_MIN_OUTPUTS if s.kd == 1 else WINO3_MIN_OUTPUTS
    if s.kd == 1 and Cg >= 2 * least and s.M >= 2 * least:
        outputs = outputs // 4
    if not (s.kh == 3 and s.kw == 3 and s.sh == 1 and s.sw == 1 and s.dh == 1 and s.dw == 1
            and s.oH >= 2 and s.oW >= 2 and s.oH * s.oW >= outputs
            and s.oH == s.H + 2 * s.ph - 2 and s.oW == s.W + 2 * s.pw - 2
            and Cg >= least and s.M >= least and (s.kd == 1 or Cg * s.M >= 2 * least * least)):
        return False
    if not ((s.kd == 1 or (s.kd == 3 and s.dd == 1)) and s.sd == 1
            and s.oD == s.D + 2 * s.pd - (s.kd - 1)):
        return False
    return ((Cg * s.D * 2 * (s.oH + 3) * (tW + 1)
             + 16 * ((s.kd + 1) * Cg + s.M + DC_MB) * (64 + tW + DC_LANES)) * 4
            <= DC_DIRECT_MAX_BYTES)


cdef bint _phases_geo(const conv_geo* s, conv_geo* q) noexcept nogil:
    """A 2-D convolution dilated by (dh, dw) whose paddings and input sizes are multiples of the
    dilation is dh*dw independent undilated ones: output phase (a, b) (rows a::dh, columns
    b::dw) reads only input phase (a, b), with padding p / d. Fills q with that undilated
    convolution over the N*dh*dw phase images and returns True, or returns False."""
    if not (s.D == 1 and s.kd == 1 and s.dh * s.dw > 1 and s.sh == 1 and s.sw == 1
            and s.H % s.dh == 0 and s.W % s.dw == 0 and s.ph % s.dh == 0 and s.pw % s.dw == 0
            and s.oH % s.dh == 0 and s.oW % s.dw == 0):
        return False
    q[0] = s[0]
    q.N = s.N * s.dh * s.dw
    q.H, q.W, q.ph, q.pw = s.H // s.dh, s.W // s.dw, s.ph // s.dh, s.pw // s.dw
    q.oH, q.oW, q.dh, q.dw = s.oH // s.dh, s.oW // s.dw, 1, 1
    return True


cdef bint _direct(const real* ub, const real* ab, const real* bb, bint has_bias,
                  const real* gb, real* yb, real* gub, real* gab, bint forward, bint need_u,
                  bint need_a, const conv_geo* s, bint whole_images, Py_ssize_t per_block,
                  int nthreads) except -1:
    """Run unfold_gemm (forward) or gemm_fold on a path without row-by-row im2col when one
    applies (1x1 without stride or padding: _pointwise; small stride-1 planes: _wide);
    returns whether it did."""
    cdef dw_geo geo
    cdef conv_geo phases
    cdef Py_ssize_t* offs
    cdef int failed
    if _is_pointwise(s.kd, s.kh, s.kw, s.sd, s.sh, s.sw, s.pd, s.ph, s.pw):
        with nogil:
            _pointwise(ub, ab, bb, has_bias, gb, yb, gub, gab, forward, need_u, need_a, s.N, s.C,
                       s.groups, s.M, s.oD * s.oH * s.oW, nthreads)
        return True
    if real is float and forward and _wino_on and (
            _winograd_applies(s) if s.dh * s.dw == 1 or s.kd != 1
            else _phases_geo(s, &phases) and _winograd_applies(&phases)):
        with nogil:
            failed = _winograd_conv_f(ub, ab, bb, has_bias, yb, s, nthreads)
        if failed:
            raise MemoryError("tinyconv conv: cannot allocate a thread's buffers")
        return True
    if real is float and forward and _direct_conv_on and s.M <= DC_DIRECT_MAX_M:
        offs = _dc_setup(&geo, s)
        # per thread the kernel holds the group's padded planes and its wide outputs: keep
        # that cache-sized, or a large volume would cost more memory than the column path
        if (geo.K and 2 * geo.n <= 3 * s.oD * s.oH * s.oW
                and ((s.C // s.groups) * geo.PP + (s.M + DC_MB) * (geo.n + DC_JB)) * 4
                <= DC_DIRECT_MAX_BYTES):
            with nogil:
                failed = _direct_conv_f(ub, ab, bb, has_bias, yb, s.N, s.C, s.groups, s.M, &geo,
                                        nthreads)
            free(offs)
            if failed:
                raise MemoryError("tinyconv conv: cannot allocate a thread's buffers")
            return True
        free(offs)
    offs = _wide_setup(&geo, s, whole_images)
    if offs == NULL:
        return False
    with nogil:
        failed = _wide(ub, ab, bb, has_bias, gb, yb, gub, gab, forward, need_u, need_a,
                       s.N, s.C, s.groups, s.M, &geo, per_block, nthreads)
    free(offs)
    if failed:
        raise MemoryError("tinyconv conv: cannot allocate a thread's column buffer")
    return True


def unfold_gemm(const real[:, :, :, :, ::1] u, const real[:, ::1] a, const real[::1] bias,
                bint has_bias, real[:, :, ::1] y,
                Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw,
                Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
                Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
                Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW,
                Py_ssize_t groups, Py_ssize_t rows_per_chunk, Py_ssize_t per_block,
                int nthreads):
    """y[n, g*M:(g+1)*M, :] = a_g @ col_g(u[n]) (+ bias). Inputs pre-validated by _kernels.

    Work items are blocks of ``per_block`` images. With one image per block, its columns are
    built ``rows_per_chunk`` output rows at a time and the GEMM writes straight into y; with
    several (small maps, where one image's GEMM is too thin to run fast), the block's columns
    sit side by side, one GEMM covers them all, and its result is copied into y."""
    cdef Py_ssize_t N = u.shape[0], C = u.shape[1]
    cdef Py_ssize_t D = u.shape[2], H = u.shape[3], W = u.shape[4], DHW = D * H * W
    cdef Py_ssize_t K = kd * kh * kw, Cg = C // groups, Kd = Cg * K
    cdef Py_ssize_t M = a.shape[0] // groups, L = oD * oH * oW, R = oD * oH
    cdef Py_ssize_t nblocks = (N + per_block - 1) // per_block
    cdef Py_ssize_t b, n, n1, i, g, m, q, r0, r1, nl
    cdef const real* ub = &u[0, 0, 0, 0, 0]
    cdef const real* ab = &a[0, 0]
    cdef const real* bb = &bias[0]
    cdef real* yb = &y[0, 0, 0]
    cdef real* col
    cdef real* tmp
    cdef real* dst
    cdef real bv
    cdef int failed = 0
    cdef int* failp = &failed
    cdef conv_geo s = _conv_geo(u, a, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw,
                                oD, oH, oW, groups)
    if _direct(ub, ab, bb, has_bias, NULL, yb, NULL, NULL, True, False, False, &s,
               per_block > 1 or rows_per_chunk >= R, per_block, nthreads):
        return
    cdef Py_ssize_t* tab = tap_table(D, H, W, oD, oH, oW, kd, kh, kw, sd, sh, sw,
                                     pd, ph, pw, dd, dh, dw)
    with nogil, parallel(num_threads=nthreads):
        col = <real*>malloc(Kd * (rows_per_chunk * oW if per_block == 1 else per_block * L)
                            * sizeof(real))
        tmp = <real*>malloc(M * per_block * L * sizeof(real)) if per_block > 1 else NULL
        if col == NULL or (per_block > 1 and tmp == NULL):
            failp[0] = 1
        for b in prange(nblocks, schedule='static'):
            if failp[0]:
                continue
            n = b * per_block
            n1 = imin(n + per_block, N)
            if per_block > 1:
                nl = (n1 - n) * L
                for g in range(groups):
                    for i in range(n1 - n):
                        _unfold_group(ub + ((n + i) * C + g * Cg) * DHW, col + i * L, nl, Cg, K,
                                      DHW, tab, H, W, oH, oW, sd, sh, sw, 0, R)
                    gemm(False, False, M, nl, Kd, ab + g * M * Kd, Kd, col, nl, 0, tmp, nl)
                    for i in range(n1 - n):
                        for m in range(M):
                            dst = yb + ((n + i) * groups * M + g * M + m) * L
                            bv = bb[g * M + m] if has_bias else 0
                            for q in range(L):
                                dst[q] = tmp[m * nl + i * L + q] + bv
                continue
            for g in range(groups):
                r0 = 0
                while r0 < R:
                    r1 = imin(r0 + rows_per_chunk, R)
                    nl = (r1 - r0) * oW
                    _unfold_group(ub + (n * C + g * Cg) * DHW, col, nl, Cg, K, DHW, tab,
                                  H, W, oH, oW, sd, sh, sw, r0, r1)
                    dst = yb + (n * groups * M + g * M) * L + r0 * oW
                    gemm(False, False, M, nl, Kd, ab + g * M * Kd, Kd, col, nl, 0, dst, L)
                    if has_bias:
                        for m in range(M):
                            bv = bb[g * M + m]
                            for q in range(nl):
                                dst[m * L + q] += bv
                    r0 = r1
        free(col)
        free(tmp)
    free(tab)
    if failed:
        raise MemoryError("tinyconv conv: cannot allocate a thread's column buffer")


def gemm_fold(const real[:, :, :, :, ::1] u, const real[:, ::1] a, const real[:, :, ::1] gy,
              real[:, :, :, :, ::1] gu, real[:, :, ::1] ga_acc, bint need_u, bint need_a,
              Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw,
              Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
              Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
              Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
              Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW,
              Py_ssize_t groups, Py_ssize_t rows_per_chunk, Py_ssize_t per_block,
              int nthreads):
    """gu[n] = col2im(a_g.T @ gy[n, g]) (overwritten) if need_u; ga_acc[thread, g] (Kd, M) +=
    col_g(u[n]) @ gy[n, g].T if need_a. u and gu have the same shape (u is only read when
    need_a, gu only written when need_u; when need_a is off u only supplies the shape, and
    the caller passes a one-element stand-in for gu when need_u is off). Float32 products
    take the direct kernels where they apply (_direct_backward), the rest blocks of images
    as in unfold_gemm: with several per block, the block's gy rows are first gathered side by
    side. Inputs pre-validated by _kernels."""
    cdef Py_ssize_t N = u.shape[0], C = u.shape[1]
    cdef Py_ssize_t D = u.shape[2], H = u.shape[3], W = u.shape[4], DHW = D * H * W
    cdef Py_ssize_t K = kd * kh * kw, Cg = C // groups, Kd = Cg * K
    cdef Py_ssize_t M = a.shape[0] // groups, L = oD * oH * oW, R = oD * oH
    cdef Py_ssize_t nblocks = (N + per_block - 1) // per_block
    cdef Py_ssize_t b, n, n1, i, m, g, r0, r1, nl, tid
    cdef const real* ub = &u[0, 0, 0, 0, 0]
    cdef const real* ab = &a[0, 0]
    cdef const real* gb = &gy[0, 0, 0]
    cdef real* gub = &gu[0, 0, 0, 0, 0]
    cdef real* gab = &ga_acc[0, 0, 0]
    cdef const real* gp
    cdef real* col
    cdef real* tmp
    cdef int failed = 0, done
    cdef int* failp = &failed
    cdef conv_geo s = _conv_geo(u, a, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw,
                                oD, oH, oW, groups)
    done = _direct_backward(ub, ab, gb, gub, gab, need_u, need_a, &s, nthreads)
    need_a = need_a and not (done & 1)
    need_u = need_u and not (done & 2)
    if not (need_u or need_a):
        return
    if _direct(ub, ab, NULL, False, gb, NULL, gub, gab, False, need_u, need_a, &s,
               per_block > 1 or rows_per_chunk >= R, per_block, nthreads):
        return
    cdef Py_ssize_t* tab = tap_table(D, H, W, oD, oH, oW, kd, kh, kw, sd, sh, sw,
                                     pd, ph, pw, dd, dh, dw)
    with nogil, parallel(num_threads=nthreads):
        col = <real*>malloc(Kd * (rows_per_chunk * oW if per_block == 1 else per_block * L)
                            * sizeof(real))
        tmp = <real*>malloc(M * per_block * L * sizeof(real)) if per_block > 1 else NULL
        if col == NULL or (per_block > 1 and tmp == NULL):
            failp[0] = 1
        tid = threadid()
        for b in prange(nblocks, schedule='static'):
            if failp[0]:
                continue
            n = b * per_block
            n1 = imin(n + per_block, N)
            if need_u:
                memset(gub + n * C * DHW, 0, (n1 - n) * C * DHW * sizeof(real))
            if per_block > 1:
                nl = (n1 - n) * L
                for g in range(groups):
                    for i in range(n1 - n):       # tmp[m, i*L + l] = gy[n + i, g*M + m, l]
                        for m in range(M):
                            memcpy(tmp + m * nl + i * L,
                                   gb + ((n + i) * groups * M + g * M + m) * L,
                                   L * sizeof(real))
                    if need_a:
                        for i in range(n1 - n):
                            _unfold_group(ub + ((n + i) * C + g * Cg) * DHW, col + i * L, nl,
                                          Cg, K, DHW, tab, H, W, oH, oW, sd, sh, sw, 0, R)
                        gemm(False, True, Kd, M, nl, col, nl, tmp, nl, 1,
                             gab + (tid * groups + g) * M * Kd, M)
                    if need_u:
                        gemm(True, False, Kd, nl, M, ab + g * M * Kd, Kd, tmp, nl, 0, col, nl)
                        for i in range(n1 - n):
                            _fold_group(col + i * L, gub + ((n + i) * C + g * Cg) * DHW, nl,
                                        Cg, K, DHW, tab, H, W, oH, oW, sd, sh, sw, 0, R)
                continue
            for g in range(groups):
                r0 = 0
                while r0 < R:
                    r1 = imin(r0 + rows_per_chunk, R)
                    nl = (r1 - r0) * oW
                    gp = gb + (n * groups * M + g * M) * L + r0 * oW
                    if need_a:
                        _unfold_group(ub + (n * C + g * Cg) * DHW, col, nl, Cg, K, DHW, tab,
                                      H, W, oH, oW, sd, sh, sw, r0, r1)
                        gemm(False, True, Kd, M, nl, col, nl, gp, L, 1,
                             gab + (tid * groups + g) * M * Kd, M)
                    if need_u:
                        gemm(True, False, Kd, nl, M, ab + g * M * Kd, Kd, gp, L, 0, col, nl)
                        _fold_group(col, gub + (n * C + g * Cg) * DHW, nl, Cg, K, DHW, tab,
                                    H, W, oH, oW, sd, sh, sw, r0, r1)
                    r0 = r1
        free(col)
        free(tmp)
    free(tab)
    if failed:
        raise MemoryError("tinyconv conv: cannot allocate a thread's column buffer")


# ----------------------------------------------------------------------------- one input channel
# When each group has a single input channel (depthwise convolution, and any layer with C = 1
# such as LeNet's first), the GEMM has an inner dimension of just K taps: too thin for BLAS.
# These kernels slide each tap over the plane directly: for tap (i, j, k) with weight w, every
# output row adds w * (the input row that tap reads), a contiguous axpy when the stride is 1.
# Output channel o reads input channel o // mult (mult = O / C outputs per input channel).


cdef inline void _tap_axpy(const real* xp, real* yp, real wv, const Py_ssize_t* e,
                           Py_ssize_t H, Py_ssize_t W, Py_ssize_t oH, Py_ssize_t oW,
                           Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw) noexcept nogil:
    """yp[od, oh, ow] += wv * (what tap e reads of plane xp), over the outputs where the tap
    falls inside the input."""
    cdef Py_ssize_t offd = e[0], offh = e[1], offw = e[2]
    cdef Py_ssize_t d0 = e[3], d1 = e[4], h0 = e[5], h1 = e[6], w0 = e[7], w1 = e[8]
    cdef Py_ssize_t od, oh, q, nw = w1 - w0
    cdef const real* s
    cdef real* t
    if nw <= 0:
        return
    for od in range(d0, d1):
        for oh in range(h0, h1):
            s = xp + ((od * sd + offd) * H + (oh * sh + offh)) * W + (w0 * sw + offw)
            t = yp + (od * oH + oh) * oW + w0
            if sw == 1:
                for q in range(nw):
                    t[q] += wv * s[q]
            else:
                for q in range(nw):
                    t[q] += wv * s[q * sw]


cdef inline void _tap_scatter(const real* gp, real* xp, real wv, const Py_ssize_t* e,
                              Py_ssize_t H, Py_ssize_t W, Py_ssize_t oH, Py_ssize_t oW,
                              Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw) noexcept nogil:
    """The adjoint of _tap_axpy: xp[where tap e reads] += wv * gp[outputs]."""
    cdef Py_ssize_t offd = e[0], offh = e[1], offw = e[2]
    cdef Py_ssize_t d0 = e[3], d1 = e[4], h0 = e[5], h1 = e[6], w0 = e[7], w1 = e[8]
    cdef Py_ssize_t od, oh, q, nw = w1 - w0
    cdef const real* s
    cdef real* t
    if nw <= 0:
        return
    for od in range(d0, d1):
        for oh in range(h0, h1):
            s = gp + (od * oH + oh) * oW + w0
            t = xp + ((od * sd + offd) * H + (oh * sh + offh)) * W + (w0 * sw + offw)
            if sw == 1:
                for q in range(nw):
                    t[q] += wv * s[q]
            else:
                for q in range(nw):
                    t[q * sw] += wv * s[q]


cdef inline double _tap_dot(const real* gp, const real* xp, const Py_ssize_t* e,
                            Py_ssize_t H, Py_ssize_t W, Py_ssize_t oH, Py_ssize_t oW,
                            Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw) noexcept nogil:
    """sum over outputs of gp[output] * (what tap e reads of xp): one weight's gradient."""
    cdef Py_ssize_t offd = e[0], offh = e[1], offw = e[2]
    cdef Py_ssize_t d0 = e[3], d1 = e[4], h0 = e[5], h1 = e[6], w0 = e[7], w1 = e[8]
    cdef Py_ssize_t od, oh, q, nw = w1 - w0
    cdef const real* s
    cdef const real* t
    cdef real acc
    cdef double total = 0
    if nw <= 0:
        return 0
    for od in range(d0, d1):
        for oh in range(h0, h1):
            t = gp + (od * oH + oh) * oW + w0
            s = xp + ((od * sd + offd) * H + (oh * sh + offh)) * W + (w0 * sw + offw)
            acc = 0
            if sw == 1:
                for q in range(nw):
                    acc = acc + t[q] * s[q]
            else:
                for q in range(nw):
                    acc = acc + t[q] * s[q * sw]
            total += acc
    return total


cdef Py_ssize_t* _dw_setup(dw_geo* g, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                           Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw,
                           Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
                           Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
                           Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW) except NULL:
    """Fill g for the stride-1 "wide" kernels of _dw.h; returns the table behind g.off and
    g.neg (2*K entries, the caller frees it), or NULL with g.K = 0 if the output size is not
    the one stride 1 gives (the caller then takes the tap-by-tap path)."""
    cdef Py_ssize_t i, j, k, t, K = kd * kh * kw
    cdef Py_ssize_t* off
    g.D, g.H, g.W, g.pd, g.ph, g.pw = D, H, W, pd, ph, pw
    g.Hp, g.Wp = H + 2 * ph, W + 2 * pw
    g.PP = (D + 2 * pd) * g.Hp * g.Wp
    g.oD, g.oH, g.oW = oD, oH, oW
    g.n = ((oD - 1) * g.Hp + oH - 1) * g.Wp + oW
    g.i0 = (pd * g.Hp + ph) * g.Wp + pw
    g.i1 = ((pd + D - 1) * g.Hp + ph + H - 1) * g.Wp + pw + W
    g.K = K
    off = <Py_ssize_t*>malloc(2 * K * sizeof(Py_ssize_t))
    if off == NULL:
        raise MemoryError("tinyconv depthwise conv: cannot allocate the tap offsets")
    for i in range(kd):
        for j in range(kh):
            for k in range(kw):
                t = (i * kh + j) * kw + k
                off[t] = (i * dd * g.Hp + j * dh) * g.Wp + k * dw
                off[K + t] = -off[t]
    g.Z = off[K - 1]
    g.off, g.neg = off, off + K
    g.sd, g.sh, g.sw, g.Dq, g.used = 1, 1, 1, D + 2 * pd, NULL
    if (oD != D + 2 * pd - dd * (kd - 1) or oH != H + 2 * ph - dh * (kh - 1)
            or oW != W + 2 * pw - dw * (kw - 1)):
        g.K = 0
    return off


cdef Py_ssize_t* _dc_setup(dw_geo* g, const conv_geo* s) except NULL:
    """Fill g for the direct kernels of _direct.h at any stride: _dw_setup's geometry at
    stride 1, else the phase planes of dc_pad_f (g.Hp, g.Wp a phase's rows and width, g.PP
    all phases of a channel, g.off into them). Returns the block behind g.off (the caller
    frees it); g.K = 0 if the output size is not the one the arguments give."""
    if s.sd == 1 and s.sh == 1 and s.sw == 1:
        return _dw_setup(g, s.D, s.H, s.W, s.kd, s.kh, s.kw, s.pd, s.ph, s.pw, s.dd, s.dh, s.dw,
                     s.oD, s.oH, s.oW)
    cdef Py_ssize_t i, j, k, t, q, K = s.kd * s.kh * s.kw, P = s.sd * s.sh * s.sw
    cdef Py_ssize_t Dp = s.D + 2 * s.pd
    cdef Py_ssize_t Hp = s.H + 2 * s.ph, Wp = s.W + 2 * s.pw, plane
    cdef Py_ssize_t* off = <Py_ssize_t*>malloc(2 * K * sizeof(Py_ssize_t) + P)
    cdef char* used
    if off == NULL:
        raise MemoryError("tinyconv conv: cannot allocate the tap offsets")
    used = <char*>(off + 2 * K)
    memset(used, 0, P)
    g.D, g.H, g.W, g.pd, g.ph, g.pw = s.D, s.H, s.W, s.pd, s.ph, s.pw
    g.sd, g.sh, g.sw = s.sd, s.sh, s.sw
    g.Dq, g.Hp, g.Wp = (Dp + s.sd - 1) // s.sd, (Hp + s.sh - 1) // s.sh, (Wp + s.sw - 1) // s.sw
    plane = g.Dq * g.Hp * g.Wp
    g.PP = P * plane
    g.oD, g.oH, g.oW = s.oD, s.oH, s.oW
    g.n = ((s.oD - 1) * g.Hp + s.oH - 1) * g.Wp + s.oW
    g.i0, g.i1 = 0, 0     # not used by the direct kernels
    g.K = K
    g.Z = 0
    for i in range(s.kd):
        for j in range(s.kh):
            for k in range(s.kw):
                t = (i * s.kh + j) * s.kw + k
                q = ((i * s.dd) % s.sd * s.sh + (j * s.dh) % s.sh) * s.sw + (k * s.dw) % s.sw
                used[q] = 1
                off[t] = (q * plane + ((i * s.dd // s.sd) * g.Hp + j * s.dh // s.sh) * g.Wp
                          + k * s.dw // s.sw)
                off[K + t] = -off[t]
                g.Z = max(g.Z, off[t])
    g.off, g.neg, g.used = off, off + K, used
    if (s.oD != (Dp - s.dd * (s.kd - 1) - 1) // s.sd + 1
            or s.oH != (Hp - s.dh * (s.kh - 1) - 1) // s.sh + 1
            or s.oW != (Wp - s.dw * (s.kw - 1) - 1) // s.sw + 1):
        g.K = 0
    return off


cdef int _dw_forward(const real* xb, const real* wb, const real* bb, real* yb,
                     Py_ssize_t N, Py_ssize_t C, Py_ssize_t O, const dw_geo* g,
                     int nthreads) noexcept nogil:
    """Stride-1 channelwise forward, parallel over input planes; 1 if a buffer is missing."""
    cdef Py_ssize_t t, n, c, mult = O // C, K = g.K, DHW = g.D * g.H * g.W
    cdef Py_ssize_t L = g.oD * g.oH * g.oW
    cdef real* P = NULL
    cdef real* Y = NULL
    cdef int failed = 0
    cdef int* failp = &failed
    with parallel(num_threads=nthreads):
        P = <real*>malloc(g.PP * sizeof(real))
        Y = <real*>malloc(g.n * sizeof(real))
        if P == NULL or Y == NULL:
            failp[0] = 1
        for t in prange(N * C, schedule='static'):
            if P == NULL or Y == NULL:
                continue
            n = t // C
            c = t - n * C
            if real is float:
                dw_forward_plane_f(xb + t * DHW, yb + (n * O + c * mult) * L, wb + c * mult * K,
                                   bb + c * mult if bb != NULL else NULL, mult, g, P, Y)
            else:
                dw_forward_plane_d(xb + t * DHW, yb + (n * O + c * mult) * L, wb + c * mult * K,
                                   bb + c * mult if bb != NULL else NULL, mult, g, P, Y)
        free(P)
        free(Y)
    return failed


cdef int _dw_backward(const real* xb, const real* wb, const real* gb, real* gxb, real* gwb,
                      Py_ssize_t N, Py_ssize_t C, Py_ssize_t O, const dw_geo* g,
                      int nthreads) noexcept nogil:
    """Stride-1 channelwise backward, parallel over input planes; each thread sums its weight
    gradients apart (in double), added up at the end. gxb / gwb NULL when not wanted. Returns
    1 if a buffer is missing."""
    cdef Py_ssize_t t, n, c, i, mult = O // C, K = g.K, DHW = g.D * g.H * g.W
    cdef Py_ssize_t L = g.oD * g.oH * g.oW
    cdef int tid, failed = 0
    cdef int* failp = &failed
    cdef double total
    cdef real* P = NULL
    cdef real* G = NULL
    cdef real* GX = NULL
    cdef double* acc = NULL
    if gwb != NULL:
        acc = <double*>_zalloc(nthreads * O * K, sizeof(double))
        if acc == NULL:
            return 1
    with parallel(num_threads=nthreads):
        tid = threadid()
        P = <real*>malloc(g.PP * sizeof(real))
        GX = <real*>malloc(g.PP * sizeof(real))
        G = <real*>_zalloc(g.Z + g.PP, sizeof(real))
        if P == NULL or GX == NULL or G == NULL:
            failp[0] = 1
        for t in prange(N * C, schedule='static'):
            if P == NULL or GX == NULL or G == NULL:
                continue
            n = t // C
            c = t - n * C
            if real is float:
                dw_backward_plane_f(xb + t * DHW, gb + (n * O + c * mult) * L,
                                    gxb + t * DHW if gxb != NULL else NULL, wb + c * mult * K,
                                    acc + (tid * O + c * mult) * K if acc != NULL else NULL,
                                    mult, g, P, G, GX)
            else:
                dw_backward_plane_d(xb + t * DHW, gb + (n * O + c * mult) * L,
                                    gxb + t * DHW if gxb != NULL else NULL, wb + c * mult * K,
                                    acc + (tid * O + c * mult) * K if acc != NULL else NULL,
                                    mult, g, P, G, GX)
        free(P)
        free(GX)
        free(G)
    if acc != NULL:
        for i in range(O * K):
            total = 0
            for tid in range(nthreads):
                total += acc[tid * O * K + i]
            gwb[i] = <real>total
        free(acc)
    return failed


def channelwise_forward(const real[:, :, :, :, ::1] x, const real[:, ::1] w, const real[::1] bias,
                        bint has_bias, real[:, :, ::1] y,
                        Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw,
                        Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                        Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
                        Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
                        Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW, int nthreads):
    """y[n, o] = sum_tap w[o, tap] * x[n, o // mult] read at that tap (+ bias[o]).
    x (N, C, D, H, W), w (O, K), y (N, O, L) with O = mult*C. Pre-validated by _kernels."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1]
    cdef Py_ssize_t D = x.shape[2], H = x.shape[3], W = x.shape[4], DHW = D * H * W
    cdef Py_ssize_t O = w.shape[0], K = w.shape[1], mult = O // C, L = oD * oH * oW
    cdef Py_ssize_t t, n, o, tap, q
    cdef const real* xb = &x[0, 0, 0, 0, 0]
    cdef const real* wb = &w[0, 0]
    cdef const real* bb = &bias[0]
    cdef real* yb = &y[0, 0, 0]
    cdef real* yp
    cdef real b0
    cdef dw_geo geo
    cdef Py_ssize_t* offs
    cdef int failed = 0
    if sd == 1 and sh == 1 and sw == 1:
        offs = _dw_setup(&geo, D, H, W, kd, kh, kw, pd, ph, pw, dd, dh, dw, oD, oH, oW)
        if geo.K:
            with nogil:
                failed = _dw_forward(xb, wb, bb if has_bias else NULL, yb, N, C, O, &geo,
                                     nthreads)
        free(offs)
        if geo.K:
            if failed:
                raise MemoryError("tinyconv depthwise conv: cannot allocate a plane buffer")
            return
    cdef Py_ssize_t* tab = tap_table(D, H, W, oD, oH, oW, kd, kh, kw, sd, sh, sw,
                                     pd, ph, pw, dd, dh, dw)
    with nogil, parallel(num_threads=nthreads):
        for t in prange(N * O, schedule='static'):
            n = t // O
            o = t - n * O
            yp = yb + t * L
            b0 = bb[o] if has_bias else 0
            for q in range(L):
                yp[q] = b0
            for tap in range(K):
                _tap_axpy(xb + (n * C + o // mult) * DHW, yp, wb[o * K + tap], tab + TAB * tap,
                          H, W, oH, oW, sd, sh, sw)
    free(tab)


def channelwise_backward(const real[:, :, :, :, ::1] x, const real[:, ::1] w,
                         const real[:, :, ::1] gy, real[:, :, :, :, ::1] gx, real[:, ::1] gw,
                         bint need_x, bint need_w,
                         Py_ssize_t kd, Py_ssize_t kh, Py_ssize_t kw,
                         Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                         Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
                         Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
                         Py_ssize_t oD, Py_ssize_t oH, Py_ssize_t oW, int nthreads):
    """Gradients of channelwise_forward: gx (overwritten) if need_x, parallel over input
    planes; gw (overwritten) if need_w, parallel over output channels, each weight summed over
    the batch in a fixed order. Pre-validated by _kernels."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1]
    cdef Py_ssize_t D = x.shape[2], H = x.shape[3], W = x.shape[4], DHW = D * H * W
    cdef Py_ssize_t O = w.shape[0], K = w.shape[1], mult = O // C, L = oD * oH * oW
    cdef Py_ssize_t t, n, c, o, tap, j
    cdef double acc
    cdef const real* xb = &x[0, 0, 0, 0, 0]
    cdef const real* wb = &w[0, 0]
    cdef const real* gb = &gy[0, 0, 0]
    cdef real* gxb = &gx[0, 0, 0, 0, 0]
    cdef real* gwb = &gw[0, 0]
    cdef dw_geo geo
    cdef Py_ssize_t* offs
    cdef int failed = 0
    if sd == 1 and sh == 1 and sw == 1:
        offs = _dw_setup(&geo, D, H, W, kd, kh, kw, pd, ph, pw, dd, dh, dw, oD, oH, oW)
        if geo.K:
            with nogil:
                failed = _dw_backward(xb, wb, gb, gxb if need_x else NULL,
                                      gwb if need_w else NULL, N, C, O, &geo, nthreads)
        free(offs)
        if geo.K:
            if failed:
                raise MemoryError("tinyconv depthwise conv: cannot allocate a plane buffer")
            return
    cdef Py_ssize_t* tab = tap_table(D, H, W, oD, oH, oW, kd, kh, kw, sd, sh, sw,
                                     pd, ph, pw, dd, dh, dw)
    with nogil, parallel(num_threads=nthreads):
        if need_x:
            for t in prange(N * C, schedule='static'):
                n = t // C
                c = t - n * C
                memset(gxb + t * DHW, 0, DHW * sizeof(real))
                for j in range(mult):
                    o = c * mult + j
                    for tap in range(K):
                        _tap_scatter(gb + (n * O + o) * L, gxb + t * DHW, wb[o * K + tap],
                                     tab + TAB * tap, H, W, oH, oW, sd, sh, sw)
        if need_w:
            for o in prange(O, schedule='static'):
                for tap in range(K):
                    acc = 0
                    for n in range(N):
                        acc = acc + _tap_dot(gb + (n * O + o) * L, xb + (n * C + o // mult) * DHW,
                                             tab + TAB * tap, H, W, oH, oW, sd, sh, sw)
                    gwb[o * K + tap] = <real>acc
    free(tab)


# ----------------------------------------------------------------------------- plain GEMM
# C = op(A) @ op(B) with the rows of C split into one slab per OpenMP thread, each a
# single-threaded BLAS call. Used by linear layers so that BLAS never runs its own thread pool
# next to tinyconv's OpenMP team (DESIGN.md section 3) and small products stay on one thread.


def gemm_rows(const real[:, ::1] a, const real[:, ::1] b, real[:, ::1] c, bint ta, bint tb,
              real beta, int nthreads):
    """c = op(a) @ op(b) + beta*c, op = transpose when ta / tb. Shapes pre-validated."""
    cdef Py_ssize_t M = c.shape[0], N = c.shape[1]
    cdef Py_ssize_t K = a.shape[0] if ta else a.shape[1]
    cdef Py_ssize_t lda = a.shape[1], ldb = b.shape[1]
    cdef Py_ssize_t t, m0, m1, step
    cdef const real* ab = &a[0, 0]
    cdef const real* bb = &b[0, 0]
    cdef real* cb = &c[0, 0]
    if nthreads < 1:
        nthreads = 1
    step = (M + nthreads - 1) // nthreads
    with nogil, parallel(num_threads=nthreads):
        for t in prange(nthreads, schedule='static'):
            m0 = t * step
            m1 = imin(m0 + step, M)
            if m1 > m0:
                # rows m0..m1 of op(a): a[m0:m1, :] or, transposed, columns m0..m1 of a
                gemm(ta, tb, m1 - m0, N, K, ab + (m0 if ta else m0 * lda), lda, bb, ldb, beta,
                     cb + m0 * N, N)
