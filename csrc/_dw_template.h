/* Stride-1 depthwise convolution of one plane, written once for a floating type T; DW(name)
 * gives the name its type suffix. Included twice by _dw.h (no include guard on purpose); see
 * there for the "wide" indexing and dw_geo. Row copies are inline loops, not memcpy: a plane
 * row is often 8-32 elements, where a library call costs more than the copy. */

/* p = the plane x (D, H, W) inside g's zero padding. */
static inline void DW(pad)(const T* restrict x, T* restrict p, const dw_geo* g)
{
    memset(p, 0, (size_t)g->PP * sizeof(T));
    for (ptrdiff_t d = 0; d < g->D; d++)
        for (ptrdiff_t h = 0; h < g->H; h++) {
            T* restrict dst = p + ((d + g->pd) * g->Hp + h + g->ph) * g->Wp + g->pw;
            const T* restrict src = x + (d * g->H + h) * g->W;
            for (ptrdiff_t q = 0; q < g->W; q++)
                dst[q] = src[q];
        }
}

/* x (D, H, W) = the interior of the padded plane p. */
static inline void DW(unpad)(const T* restrict p, T* restrict x, const dw_geo* g)
{
    for (ptrdiff_t d = 0; d < g->D; d++)
        for (ptrdiff_t h = 0; h < g->H; h++) {
            const T* restrict src = p + ((d + g->pd) * g->Hp + h + g->ph) * g->Wp + g->pw;
            T* restrict dst = x + (d * g->H + h) * g->W;
            for (ptrdiff_t q = 0; q < g->W; q++)
                dst[q] = src[q];
        }
}

/* y (oD, oH, oW) = the wide outputs w at their places, plus b. */
static inline void DW(narrow)(const T* restrict w, T* restrict y, T b, const dw_geo* g)
{
    for (ptrdiff_t d = 0; d < g->oD; d++)
        for (ptrdiff_t h = 0; h < g->oH; h++) {
            const T* restrict src = w + (d * g->Hp + h) * g->Wp;
            T* restrict dst = y + (d * g->oH + h) * g->oW;
            for (ptrdiff_t q = 0; q < g->oW; q++)
                dst[q] = src[q] + b;
        }
}

/* w[0:n) = the outputs y (oD, oH, oW) spread wide, zeros in the thrown-away places: the
 * adjoint of narrow. */
static inline void DW(widen)(const T* restrict y, T* restrict w, const dw_geo* g)
{
    memset(w, 0, (size_t)g->n * sizeof(T));
    for (ptrdiff_t d = 0; d < g->oD; d++)
        for (ptrdiff_t h = 0; h < g->oH; h++) {
            const T* restrict src = y + (d * g->oH + h) * g->oW;
            T* restrict dst = w + (d * g->Hp + h) * g->Wp;
            for (ptrdiff_t q = 0; q < g->oW; q++)
                dst[q] = src[q];
        }
}

/* y[j] = (y[j] if add else 0) + sum_t w[t] * p[j + off[t]] for j in [0, n). Three taps per
 * pass over y, all nine of a 3x3 kernel in one. */
static inline void DW(taps)(T* restrict y, const T* restrict p, ptrdiff_t n,
                            const ptrdiff_t* off, const T* w, ptrdiff_t K, int add)
{
    ptrdiff_t t = 0, j;
    if (K == 9) {
        const T* restrict a0 = p + off[0]; const T* restrict a1 = p + off[1];
        const T* restrict a2 = p + off[2]; const T* restrict a3 = p + off[3];
        const T* restrict a4 = p + off[4]; const T* restrict a5 = p + off[5];
        const T* restrict a6 = p + off[6]; const T* restrict a7 = p + off[7];
        const T* restrict a8 = p + off[8];
        T w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6],
          w7 = w[7], w8 = w[8];
        if (add) {
#pragma omp simd
            for (j = 0; j < n; j++)
                y[j] += DW_SUM9(j);
        } else {
#pragma omp simd
            for (j = 0; j < n; j++)
                y[j] = DW_SUM9(j);
        }
        return;
    }
    if (!add)
        memset(y, 0, (size_t)n * sizeof(T));
    for (; t + 3 <= K; t += 3) {
        const T* restrict a = p + off[t];
        const T* restrict b = p + off[t + 1];
        const T* restrict c = p + off[t + 2];
        T wa = w[t], wb = w[t + 1], wc = w[t + 2];
#pragma omp simd
        for (j = 0; j < n; j++)
            y[j] += wa * a[j] + wb * b[j] + wc * c[j];
    }
    for (; t < K; t++) {
        const T* restrict a = p + off[t];
        T wa = w[t];
#pragma omp simd
        for (j = 0; j < n; j++)
            y[j] += wa * a[j];
    }
}

/* acc[t] += sum_j g[j] * p[j + off[t]] for j in [0, n): the weight gradients of one plane. */
static inline void DW(dots)(const T* restrict g, const T* restrict p, ptrdiff_t n,
                            const ptrdiff_t* off, ptrdiff_t K, double* acc)
{
    ptrdiff_t t = 0, j;
    for (; t + 3 <= K; t += 3) {
        const T* restrict a = p + off[t];
        const T* restrict b = p + off[t + 1];
        const T* restrict c = p + off[t + 2];
        T sa = 0, sb = 0, sc = 0;
#pragma omp simd reduction(+ : sa, sb, sc)
        for (j = 0; j < n; j++) {
            sa += g[j] * a[j];
            sb += g[j] * b[j];
            sc += g[j] * c[j];
        }
        acc[t] += sa;
        acc[t + 1] += sb;
        acc[t + 2] += sc;
    }
    for (; t < K; t++) {
        const T* restrict a = p + off[t];
        T sa = 0;
#pragma omp simd reduction(+ : sa)
        for (j = 0; j < n; j++)
            sa += g[j] * a[j];
        acc[t] += sa;
    }
}

/* Forward of one input plane x: its mult output planes y (each oD*oH*oW), weights w (mult, K),
 * biases b (mult,) or NULL. P (PP) and Y (n) are scratch. */
static inline void DW(forward_plane)(const T* x, T* y, const T* w, const T* b, ptrdiff_t mult,
                                     const dw_geo* g, T* P, T* Y)
{
    ptrdiff_t L = g->oD * g->oH * g->oW;
    DW(pad)(x, P, g);
    for (ptrdiff_t m = 0; m < mult; m++) {
        DW(taps)(Y, P, g->n, g->off, w + m * g->K, g->K, 0);
        DW(narrow)(Y, y + m * L, b ? b[m] : (T)0, g);
    }
}

/* Backward of one input plane x with its mult upstream gradients gy: gx (the plane's input
 * gradient, overwritten) unless NULL; gw (mult, K) accumulators incremented unless NULL.
 * Scratch: P and GX (PP each) and G (Z + PP), G zero everywhere widen does not write. */
static inline void DW(backward_plane)(const T* x, const T* gy, T* gx, const T* w, double* gw,
                                      ptrdiff_t mult, const dw_geo* g, T* P, T* G, T* GX)
{
    ptrdiff_t L = g->oD * g->oH * g->oW, K = g->K;
    T* Gw = G + g->Z;
    if (gw)
        DW(pad)(x, P, g);
    for (ptrdiff_t m = 0; m < mult; m++) {
        DW(widen)(gy + m * L, Gw, g);
        if (gw)
            DW(dots)(Gw, P, g->n, g->off, K, gw + m * K);
        if (gx)
            DW(taps)(GX + g->i0, Gw + g->i0, g->i1 - g->i0, g->neg, w + m * K, K, m > 0);
    }
    if (gx)
        DW(unpad)(GX, gx, g);
}

/* The same geometry for dense convolutions on small planes (csrc/_conv.pyx, "wide" im2col):
 * col row c*K + t, columns [0, n), = padded channel c read at offset off[t], so that each of
 * the Cg*K rows is one contiguous copy instead of one short copy per output row. x holds C
 * planes DHW apart; P (PP) is scratch, unused when there is no padding. */
static inline void DW(unfold_wide)(const T* x, T* col, ptrdiff_t ld, ptrdiff_t C, ptrdiff_t DHW,
                                   const dw_geo* g, T* P)
{
    int padded = g->PP != DHW;
    for (ptrdiff_t c = 0; c < C; c++) {
        const T* src = x + c * DHW;
        if (padded) {
            DW(pad)(src, P, g);
            src = P;
        }
        for (ptrdiff_t t = 0; t < g->K; t++) {
            const T* restrict a = src + g->off[t];
            T* restrict dst = col + (c * g->K + t) * ld;
            for (ptrdiff_t j = 0; j < g->n; j++)
                dst[j] = a[j];
        }
    }
}

/* The adjoint of unfold_wide: x's C planes = what col's rows add up to at their places
 * (overwritten). P (PP) is scratch, unused when there is no padding. */
static inline void DW(fold_wide)(const T* col, ptrdiff_t ld, T* x, ptrdiff_t C, ptrdiff_t DHW,
                                 const dw_geo* g, T* P)
{
    int padded = g->PP != DHW;
    for (ptrdiff_t c = 0; c < C; c++) {
        T* dst = padded ? P : x + c * DHW;
        memset(dst, 0, (size_t)g->PP * sizeof(T));
        for (ptrdiff_t t = 0; t < g->K; t++) {
            T* restrict a = dst + g->off[t];
            const T* restrict s = col + (c * g->K + t) * ld;
#pragma omp simd
            for (ptrdiff_t j = 0; j < g->n; j++)
                a[j] += s[j];
        }
        if (padded)
            DW(unpad)(P, x + c * DHW, g);
    }
}
