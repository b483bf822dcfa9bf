/* Direct ("implicit GEMM") forward convolution for few channels, float32, stride 1, included
 * by csrc/_conv.pyx. With the input planes zero-padded and indexed "wide" (see _dw.h), output
 * j of channel m is sum over (c, tap) of w[m, c, tap] * P_c[j + off[tap]]: a GEMM whose
 * right-hand matrix is never built. The kernel keeps an 8-channel x 2-vector block of outputs
 * in registers and, for each (c, tap), loads two vectors of P_c once and multiply-adds them
 * into all 8 channels with broadcast weights: no im2col copy at all, and none of the packing
 * a BLAS call does, which dominates when M (output channels) and C*K are small (LeNet's
 * layers: BLAS reached ~40-65 GFLOP/s on them).
 */
#ifndef TINYCONV_DIRECT_H
#define TINYCONV_DIRECT_H

#include <stddef.h>
#include <string.h>
#include "_dw.h"

#if defined(__AVX512F__)
#define DC_LANES 16
#else
#define DC_LANES 8
#endif
typedef float dc_vec __attribute__((vector_size(DC_LANES * sizeof(float))));

#ifndef DC_MB
#define DC_MB 8               /* output channels per register block */
#endif
#ifndef DC_NV
#define DC_NV 2               /* vectors of wide positions per register block */
#endif
#define DC_JB (DC_NV * DC_LANES)  /* wide positions per register block */

static inline dc_vec dc_load(const float* p)
{
    dc_vec v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* One register block: Y[m0 + mm][j0 + v*DC_LANES] for DC_MB channels x NV vectors, vector v
 * read at X + roff[r] + vo[v]. */
static inline __attribute__((always_inline)) void
dc_forward_block(const float* X, const ptrdiff_t* roff, ptrdiff_t R, const float* wt,
                 ptrdiff_t Mpad, float* Y, ptrdiff_t ldy, ptrdiff_t m0, ptrdiff_t j0,
                 const ptrdiff_t* vo, const int NV)
{
    dc_vec a[DC_MB][DC_NV];
    ptrdiff_t o[DC_NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++)
        o[v] = vo[v];
#pragma GCC unroll 16
    for (int mm = 0; mm < DC_MB; mm++)
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++)
            a[mm][v] = (dc_vec){0};
    for (ptrdiff_t r = 0; r < R; r++) {
        const float* s = X + roff[r];
        dc_vec x[DC_NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++)
            x[v] = dc_load(s + o[v]);
        const float* w = wt + r * Mpad + m0;
#pragma GCC unroll 16
        for (int mm = 0; mm < DC_MB; mm++)
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++)
                a[mm][v] += w[mm] * x[v];
    }
#pragma GCC unroll 16
    for (int mm = 0; mm < DC_MB; mm++)
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++)
            memcpy(Y + (m0 + mm) * ldy + j0 + v * DC_LANES, &a[mm][v], sizeof a[mm][v]);
}

/* Y[m*ldy + v*DC_LANES + i] (m < Mpad, v < n / DC_LANES) = sum_{r < R} wt[r*Mpad + m] *
 * X[roff[r] + voff[v] + i]: vector v of every row r read at offset voff[v]. With
 * voff[v] = v*DC_LANES these are the wide positions; when the output rows are whole vectors
 * (oW a multiple of DC_LANES) voff can skip the thrown-away columns, and Y is the outputs
 * themselves. Reads X up to roff[r] + voff[v] + DC_LANES - 1 (the caller pads X); Mpad is a
 * multiple of DC_MB, n of DC_LANES. The last vectors take one-vector blocks, so small planes
 * (8x8: 80 wide places) do not round up to a whole block. */
static void dc_forward_ld_f(const float* X, const ptrdiff_t* roff, ptrdiff_t R, const float* wt,
                            ptrdiff_t Mpad, float* Y, ptrdiff_t ldy, ptrdiff_t n,
                            const ptrdiff_t* voff)
{
    for (ptrdiff_t m0 = 0; m0 < Mpad; m0 += DC_MB) {
        ptrdiff_t j0 = 0;
        for (; j0 + DC_JB <= n; j0 += DC_JB)
            dc_forward_block(X, roff, R, wt, Mpad, Y, ldy, m0, j0, voff + j0 / DC_LANES, DC_NV);
        for (; j0 < n; j0 += DC_LANES)
            dc_forward_block(X, roff, R, wt, Mpad, Y, ldy, m0, j0, voff + j0 / DC_LANES, 1);
    }
}

/* dc_forward_ld_f with rows of Y as long as its n = ldy columns. */
static void dc_forward_f(const float* X, const ptrdiff_t* roff, ptrdiff_t R, const float* wt,
                         ptrdiff_t Mpad, float* Y, ptrdiff_t ldy, const ptrdiff_t* voff)
{
    dc_forward_ld_f(X, roff, R, wt, Mpad, Y, ldy, ldy, voff);
}

/* voff for dc_forward_f (n + DC_LANES - 1) / DC_LANES entries): the output rows' vectors
 * when whole vectors make up each row (returns the number of outputs, L), else the wide
 * positions (returns n rounded up to DC_LANES). */
static ptrdiff_t dc_vector_offsets(const dw_geo* g, ptrdiff_t* voff)
{
    ptrdiff_t L = g->oD * g->oH * g->oW, v = 0;
    if (g->oW % DC_LANES == 0) {
        for (ptrdiff_t d = 0; d < g->oD; d++)
            for (ptrdiff_t h = 0; h < g->oH; h++)
                for (ptrdiff_t q = 0; q < g->oW; q += DC_LANES)
                    voff[v++] = (d * g->Hp + h) * g->Wp + q;
        return L;
    }
    for (; v * DC_LANES < g->n; v++)
        voff[v] = v * DC_LANES;
    return v * DC_LANES;
}

/* ------------------------------------------------------------------ weight gradient
 * The same geometry run the other way: the gradient of w[m, c, tap] is, summed over images,
 * sum over wide positions j of G[m, j] * P_c[j + off[tap]], with G the upstream gradient
 * spread wide (zeros in the thrown-away columns). As an outer product: with G transposed,
 * Gt[j][m], acc[r][m] += P[roff[r] + j] * Gt[j][m] is a register block of RB rows x MV
 * vectors of m, one broadcast per row and MV vector loads per position: 24 multiply-adds
 * for 10 loads with 16-lane vectors. Nothing is packed or copied but G's transpose.
 * The earlier dot-product form (vectors along j, one horizontal sum per weight) measured
 * 0.2-0.9x OpenBLAS on im2col columns.
 */
#if DC_LANES == 16
#define DC_WACC 24            /* accumulators in a block (of 32 vector registers) */
#else
#define DC_WACC 12            /* of 16 */
#endif
#define DC_WRB 24             /* acc rows are padded to a multiple of this (DC_WACC / 1) */

static inline __attribute__((always_inline)) void
dc_wgrad_block(const float* X, const ptrdiff_t* roff, const float* Gt, ptrdiff_t ldg,
               const ptrdiff_t* rowoff, ptrdiff_t nrows, ptrdiff_t rowlen, float* acc,
               ptrdiff_t lda, const int RB, const int MV)
{
    dc_vec a[DC_WACC];
    const float* xs[DC_WACC];
#pragma GCC unroll 32
    for (int r = 0; r < RB; r++) {
        xs[r] = X + roff[r];
#pragma GCC unroll 8
        for (int v = 0; v < MV; v++)
            a[r * MV + v] = dc_load(acc + r * lda + v * DC_LANES);
    }
    for (ptrdiff_t row = 0; row < nrows; row++) {
        const float* gp = Gt + row * rowlen * ldg;
        ptrdiff_t xo = rowoff[row];
        for (ptrdiff_t q = 0; q < rowlen; q++) {
            dc_vec g[4];
#pragma GCC unroll 8
            for (int v = 0; v < MV; v++)
                g[v] = dc_load(gp + q * ldg + v * DC_LANES);
#pragma GCC unroll 32
            for (int r = 0; r < RB; r++) {
                float x = xs[r][xo + q];
#pragma GCC unroll 8
                for (int v = 0; v < MV; v++)
                    a[r * MV + v] += x * g[v];
            }
        }
    }
#pragma GCC unroll 32
    for (int r = 0; r < RB; r++)
#pragma GCC unroll 8
        for (int v = 0; v < MV; v++)
            memcpy(acc + r * lda + v * DC_LANES, &a[r * MV + v], sizeof a[0]);
}

#define DC_WGRAD_B(MV)                                                                       \
static void dc_wgrad_b##MV(const float* X, const ptrdiff_t* roff, const float* Gt,          \
                           ptrdiff_t ldg, const ptrdiff_t* rowoff, ptrdiff_t nrows,         \
                           ptrdiff_t rowlen, float* acc, ptrdiff_t lda)                     \
{ dc_wgrad_block(X, roff, Gt, ldg, rowoff, nrows, rowlen, acc, lda, DC_WACC / MV, MV); }
DC_WGRAD_B(1)
DC_WGRAD_B(2)
DC_WGRAD_B(3)
DC_WGRAD_B(4)

/* acc[r][m] (r < R, m < Mpad, row stride Mpad) += sum over positions p of X[roff[r] + p] *
 * Gt[p][m], the positions being nrows runs of rowlen, run i at X offset rowoff[i] and at Gt
 * row i*rowlen (the output rows: no thrown-away columns; the wide positions are one run).
 * The last row block may run past R up to R rounded up to DC_WRB: the caller gives acc and
 * roff that many rows (roff pointing at readable memory; those acc rows are thrown away).
 * Mpad is a multiple of DC_LANES. No blocking over positions: Gt stays in L2, and storing
 * the accumulators per block of 64-1024 positions measured 3-20 % slower. */
static void dc_wgrad_f(const float* X, const ptrdiff_t* roff, ptrdiff_t R, const float* Gt,
                       ptrdiff_t Mpad, const ptrdiff_t* rowoff, ptrdiff_t nrows,
                       ptrdiff_t rowlen, float* acc)
{
    for (ptrdiff_t m0 = 0; m0 < Mpad; m0 += 4 * DC_LANES) {
        ptrdiff_t mv = (Mpad - m0) / DC_LANES;
        if (mv > 4)
            mv = 4;
        ptrdiff_t rb = DC_WACC / mv;
        for (ptrdiff_t r0 = 0; r0 < R; r0 += rb) {
            float* a = acc + r0 * Mpad + m0;
            const float* g = Gt + m0;
            switch (mv) {
            case 1: dc_wgrad_b1(X, roff + r0, g, Mpad, rowoff, nrows, rowlen, a, Mpad); break;
            case 2: dc_wgrad_b2(X, roff + r0, g, Mpad, rowoff, nrows, rowlen, a, Mpad); break;
            case 3: dc_wgrad_b3(X, roff + r0, g, Mpad, rowoff, nrows, rowlen, a, Mpad); break;
            default: dc_wgrad_b4(X, roff + r0, g, Mpad, rowoff, nrows, rowlen, a, Mpad); break;
            }
        }
    }
}

/* The rows dc_wgrad_f computes for R rows of Mpad outputs, R rounded up per block of m:
 * more than R when R is not a multiple of the block's rows. */
static inline ptrdiff_t dc_wgrad_cost(ptrdiff_t R, ptrdiff_t Mpad)
{
    ptrdiff_t rows = 0;
    for (ptrdiff_t m0 = 0; m0 < Mpad; m0 += 4 * DC_LANES) {
        ptrdiff_t mv = (Mpad - m0) / DC_LANES;
        if (mv > 4)
            mv = 4;
        ptrdiff_t rb = DC_WACC / mv;
        rows += (R + rb - 1) / rb * rb * mv;
    }
    return rows;
}

/* Gt[j][m] (row stride Mpad) = G[m][l] (M x L, L = oD*oH*oW) at the wide place j of output l.
 * Only those places are written: the thrown-away columns and m >= M keep what Gt held (zeros
 * from the caller's zeroed buffer, for every image). */
#if defined(__AVX__)
#include <immintrin.h>
/* dst[q*ld + i] = src[i*ls + q] for an 8 x 8 tile (the classic unpack/shuffle/permute) */
static inline void dc_transpose8(const float* src, ptrdiff_t ls, float* dst, ptrdiff_t ld)
{
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ls);
    __m256 r2 = _mm256_loadu_ps(src + 2 * ls), r3 = _mm256_loadu_ps(src + 3 * ls);
    __m256 r4 = _mm256_loadu_ps(src + 4 * ls), r5 = _mm256_loadu_ps(src + 5 * ls);
    __m256 r6 = _mm256_loadu_ps(src + 6 * ls), r7 = _mm256_loadu_ps(src + 7 * ls);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + ld, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * ld, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * ld, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * ld, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * ld, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * ld, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * ld, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#else
static inline void dc_transpose8(const float* src, ptrdiff_t ls, float* dst, ptrdiff_t ld)
{
    for (int q = 0; q < 8; q++)
        for (int i = 0; i < 8; i++)
            dst[q * ld + i] = src[i * ls + q];
}
#endif

static void dc_widen_t_f(const float* G, ptrdiff_t M, float* Gt, ptrdiff_t Mpad, const dw_geo* g)
{
    /* 8 x 8 tiles: G's rows are L apart (often a multiple of 4 KiB), so a plain column walk
     * hits one cache set M times and measured ~2 ns an element */
    ptrdiff_t L = g->oD * g->oH * g->oW, M8 = M - M % 8;
    for (ptrdiff_t d = 0; d < g->oD; d++)
        for (ptrdiff_t h = 0; h < g->oH; h++) {
            const float* src = G + (d * g->oH + h) * g->oW;
            float* dst = Gt + (d * g->Hp + h) * g->Wp * Mpad;
            ptrdiff_t q = 0;
            for (; q + 8 <= g->oW; q += 8)
                for (ptrdiff_t m = 0; m < M8; m += 8)
                    dc_transpose8(src + m * L + q, L, dst + q * Mpad + m, Mpad);
            for (ptrdiff_t qq = q; qq < g->oW; qq++)
                for (ptrdiff_t m = 0; m < M8; m++)
                    dst[qq * Mpad + m] = src[m * L + qq];
            for (ptrdiff_t m = M8; m < M; m++)
                for (ptrdiff_t qq = 0; qq < g->oW; qq++)
                    dst[qq * Mpad + m] = src[m * L + qq];
        }
}



/* ------------------------------------------------------------------ strided input
 * A stride-s convolution reads the padded plane at s*o + t*d. Split the plane into its s
 * phases, Q_(a)[i] = P[s*i + a] (per dimension), and tap t reads phase (t*d) % s at
 * o + (t*d) / s: a stride-1 read again. So with the phases stored one after the other (each
 * Dq x Hp x Wp, Hp and Wp now a phase's rows and width, see dw_geo) every (channel, tap) is
 * still one contiguous run of wide positions at a fixed offset, and the forward and weight-
 * gradient kernels above run unchanged. Phases no tap reads are skipped (left as they are:
 * zero from the caller's zeroed buffer). */
/* The columns k0 <= k < k1 of a row's even/odd split (Wq each, padded by pw on the left) that
 * read inside the W columns of the input row, column 2k - pw and 2k + 1 - pw. */
static inline void dc_pad2_inside(ptrdiff_t W, ptrdiff_t pw, ptrdiff_t Wq, ptrdiff_t* k0,
                                  ptrdiff_t* k1)
{
    *k0 = (pw + 1) / 2;                            /* 2k - pw >= 0 from here */
    *k1 = (W + pw - 1) / 2;                        /* 2k + 1 - pw < W below this */
    if (*k1 > Wq)
        *k1 = Wq;
    if (*k0 > *k1)
        *k0 = *k1;
}

/* dc_pad_f for a column stride of 2: both column phases of a row in one pass, the interior
 * (where both read inside the row) a deinterleaving loop the compiler vectorises. */
static void dc_pad2_f(const float* x, float* p, const dw_geo* g, ptrdiff_t plane)
{
    ptrdiff_t Wq = g->Wp, pw = g->pw, W = g->W, k0, k1;
    dc_pad2_inside(W, pw, Wq, &k0, &k1);
    for (ptrdiff_t a = 0; a < g->sd; a++)
        for (ptrdiff_t b = 0; b < g->sh; b++) {
            ptrdiff_t ph = (a * g->sh + b) * 2;
            if (g->used && !g->used[ph] && !g->used[ph + 1])
                continue;
            float* q0 = p + ph * plane;
            float* q1 = q0 + plane;
            for (ptrdiff_t i = 0; i < g->Dq; i++) {
                ptrdiff_t id = g->sd * i + a - g->pd;
                for (ptrdiff_t j = 0; j < g->Hp; j++) {
                    ptrdiff_t ih = g->sh * j + b - g->ph;
                    float* restrict r0 = q0 + (i * g->Hp + j) * Wq;
                    float* restrict r1 = q1 + (i * g->Hp + j) * Wq;
                    if (id < 0 || id >= g->D || ih < 0 || ih >= g->H) {
                        memset(r0, 0, (size_t)Wq * sizeof(float));
                        memset(r1, 0, (size_t)Wq * sizeof(float));
                        continue;
                    }
                    const float* restrict src = x + (id * g->H + ih) * W - pw;  /* src[iw + pw] */
                    for (ptrdiff_t k = 0; k < k0; k++) {
                        ptrdiff_t w0 = 2 * k - pw, w1 = w0 + 1;
                        r0[k] = w0 >= 0 && w0 < W ? src[2 * k] : 0.0f;
                        r1[k] = w1 >= 0 && w1 < W ? src[2 * k + 1] : 0.0f;
                    }
                    for (ptrdiff_t k = k0; k < k1; k++) {
                        r0[k] = src[2 * k];
                        r1[k] = src[2 * k + 1];
                    }
                    for (ptrdiff_t k = k1; k < Wq; k++) {
                        ptrdiff_t w0 = 2 * k - pw, w1 = w0 + 1;
                        r0[k] = w0 >= 0 && w0 < W ? src[2 * k] : 0.0f;
                        r1[k] = w1 >= 0 && w1 < W ? src[2 * k + 1] : 0.0f;
                    }
                }
            }
        }
}

static void dc_pad_f(const float* x, float* p, const dw_geo* g)
{
    if (g->sd == 1 && g->sh == 1 && g->sw == 1) {
        dw_pad_f(x, p, g);
        return;
    }
    ptrdiff_t plane = g->Dq * g->Hp * g->Wp;
    if (g->sw == 2) {
        dc_pad2_f(x, p, g, plane);
        return;
    }
    for (ptrdiff_t a = 0; a < g->sd; a++)
        for (ptrdiff_t b = 0; b < g->sh; b++)
            for (ptrdiff_t e = 0; e < g->sw; e++) {
                ptrdiff_t ph = (a * g->sh + b) * g->sw + e;
                if (g->used && !g->used[ph])
                    continue;
                float* q = p + ph * plane;
                for (ptrdiff_t i = 0; i < g->Dq; i++) {
                    ptrdiff_t id = g->sd * i + a - g->pd;
                    for (ptrdiff_t j = 0; j < g->Hp; j++) {
                        ptrdiff_t ih = g->sh * j + b - g->ph;
                        float* row = q + (i * g->Hp + j) * g->Wp;
                        if (id < 0 || id >= g->D || ih < 0 || ih >= g->H) {
                            memset(row, 0, (size_t)g->Wp * sizeof(float));
                            continue;
                        }
                        /* row[k] = x[sw*k + e - pw]: inside for k in [k0, k1) */
                        const float* src = x + (id * g->H + ih) * g->W + e - g->pw;
                        ptrdiff_t k0 = e >= g->pw ? 0 : (g->pw - e + g->sw - 1) / g->sw;
                        ptrdiff_t k1 = (g->W + g->pw - e + g->sw - 1) / g->sw;
                        if (k1 > g->Wp)
                            k1 = g->Wp;
                        if (k0 > k1)
                            k0 = k1;
                        memset(row, 0, (size_t)k0 * sizeof(float));
                        if (g->sw == 2)
                            for (ptrdiff_t k = k0; k < k1; k++)
                                row[k] = src[2 * k];
                        else
                            for (ptrdiff_t k = k0; k < k1; k++)
                                row[k] = src[g->sw * k];
                        memset(row + k1, 0, (size_t)(g->Wp - k1) * sizeof(float));
                    }
                }
            }
}


/* The input gradient of a strided convolution, phase by phase: the padded plane's phase a
 * gets w[m, c, t] * G[m, o] at o + (t*d)/s for the taps t with (t*d) % s == a, a stride-1
 * "full" correlation of G with that phase's taps. With G spread wide (phase-plane strides)
 * behind a margin of zq zeros, phase plane position j reads G at j + zq - off_t: the forward
 * kernel again, over rows (m, t) and with the input channels as its outputs. This writes one
 * computed phase plane q (Dq x Hp x Wp, wide) of channel x (D, H, W) back to its places. */
static void dc_unphase_f(const float* q, float* x, const dw_geo* g, ptrdiff_t a, ptrdiff_t b,
                         ptrdiff_t e)
{
    ptrdiff_t k0 = e >= g->pw ? 0 : (g->pw - e + g->sw - 1) / g->sw;
    ptrdiff_t k1 = (g->W + g->pw - e + g->sw - 1) / g->sw;
    if (k1 > g->Wp)
        k1 = g->Wp;
    for (ptrdiff_t i = 0; i < g->Dq; i++) {
        ptrdiff_t id = g->sd * i + a - g->pd;
        if (id < 0 || id >= g->D)
            continue;
        for (ptrdiff_t j = 0; j < g->Hp; j++) {
            ptrdiff_t ih = g->sh * j + b - g->ph;
            if (ih < 0 || ih >= g->H)
                continue;
            const float* src = q + (i * g->Hp + j) * g->Wp;
            float* dst = x + (id * g->H + ih) * g->W + e - g->pw;
            for (ptrdiff_t k = k0; k < k1; k++)
                dst[g->sw * k] = src[k];
        }
    }
}

#endif
