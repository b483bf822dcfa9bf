/* Winograd F(2x2, 3x3) for float32 3x3 convolutions with stride 1 and no dilation, included
 * by csrc/_conv.pyx (see _winograd_conv_f there), after _direct.h.
 *
 * Each 2x2 block of outputs ("tile") needs a 4x4 patch d of the padded input. With
 *     B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 *     A^T = [1 1 1 0; 0 1 -1 -1],
 * the tile is A^T [ sum_c (G g_mc G^T) .* (B^T d_c B) ] A: 16 products per channel pair
 * instead of 36. The sum over c is, for each of the 16 places xi of the 4x4 transforms, a
 * product U_xi (C x M) by V_xi (C x tiles): dc_forward_f does those 16 GEMMs on the
 * transformed tiles (rows c, vectors of tiles), so 2.25x fewer multiply-adds run on the same
 * register-blocked kernel as the direct convolution.
 *
 * Layout: the padded input plane is split into its even and odd columns (dc_pad_f with a
 * column stride of 2), so the four columns a tile row reads, x[2j .. 2j+3], are E[j], O[j],
 * E[j+1], O[j+1]: contiguous over the tiles j of a row, and the transforms vectorise.
 */
#ifndef TINYCONV_WINO_H
#define TINYCONV_WINO_H

#include <stddef.h>
#include <string.h>

/* U[xi][c][m] (m < Mpad, row stride Mpad) = (G g G^T)[xi] for g = w[m][c] (3x3), for the M
 * output channels of one group (w: M x (C*9)). U must be zero for m >= M. */
static void wino_weights_f(const float* w, ptrdiff_t M, ptrdiff_t C, float* U, ptrdiff_t Mpad)
{
    for (ptrdiff_t m = 0; m < M; m++)
        for (ptrdiff_t c = 0; c < C; c++) {
            const float* g = w + (m * C + c) * 9;
            float t[4][3], u[4][4];
            for (int j = 0; j < 3; j++) {          /* t = G g */
                t[0][j] = g[j];
                t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                t[3][j] = g[6 + j];
            }
            for (int i = 0; i < 4; i++) {          /* u = t G^T */
                u[i][0] = t[i][0];
                u[i][1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
                u[i][2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
                u[i][3] = t[i][2];
            }
            for (int i = 0; i < 4; i++)
                for (int k = 0; k < 4; k++)
                    U[((i * 4 + k) * C + c) * Mpad + m] = u[i][k];
        }
}

/* V[xi][c][t0 + j] (row stride ldt per c, C*ldt per xi) = (B^T d B)[xi] for the tiles j < tW
 * of tile row ti, channel c: E, O are its even/odd column planes (row stride Wq). */
static inline __attribute__((always_inline)) void
wino_input_row_k(const float* restrict E, const float* restrict O,
                                    ptrdiff_t Wq, ptrdiff_t ti, ptrdiff_t tW,
                                    float* restrict V, ptrdiff_t xs, ptrdiff_t t0)
{
    const float* e0 = E + 2 * ti * Wq;
    const float* o0 = O + 2 * ti * Wq;
    const float *e1 = e0 + Wq, *e2 = e1 + Wq, *e3 = e2 + Wq;
    const float *o1 = o0 + Wq, *o2 = o1 + Wq, *o3 = o2 + Wq;
    float* v = V + t0;
#pragma omp simd
    for (ptrdiff_t j = 0; j < tW; j++) {
        /* rows r = 0..3 of the patch, after the column transform d B */
#define WINO_DB(x, e, o) float x##0 = e[j] - e[j + 1], x##1 = o[j] + e[j + 1], \
                                 x##2 = e[j + 1] - o[j], x##3 = o[j] - o[j + 1]
        WINO_DB(a, e0, o0);
        WINO_DB(b, e1, o1);
        WINO_DB(c, e2, o2);
        WINO_DB(d, e3, o3);
#undef WINO_DB
        /* then the row transform B^T (.) */
        v[0 * xs + j] = a0 - c0;  v[1 * xs + j] = a1 - c1;
        v[2 * xs + j] = a2 - c2;  v[3 * xs + j] = a3 - c3;
        v[4 * xs + j] = b0 + c0;  v[5 * xs + j] = b1 + c1;
        v[6 * xs + j] = b2 + c2;  v[7 * xs + j] = b3 + c3;
        v[8 * xs + j] = c0 - b0;  v[9 * xs + j] = c1 - b1;
        v[10 * xs + j] = c2 - b2; v[11 * xs + j] = c3 - b3;
        v[12 * xs + j] = b0 - d0; v[13 * xs + j] = b1 - d1;
        v[14 * xs + j] = b2 - d2; v[15 * xs + j] = b3 - d3;
    }
}

/* Output rows 2*ti and 2*ti + 1 (those < oH) of a tile row, r0 and r1 (oW values each), to
 * y[r*yrs + q*ycs]. */
static inline void wino_store_rows_f(const float* r0, const float* r1, ptrdiff_t ti,
                                     float* restrict y, ptrdiff_t yrs, ptrdiff_t ycs,
                                     ptrdiff_t oH, ptrdiff_t oW)
{
    for (int k = 0; k < 2 && 2 * ti + k < oH; k++) {
        float* restrict row = y + (2 * ti + k) * yrs;
        const float* r = k ? r1 : r0;
        if (ycs == 1)
            memcpy(row, r, (size_t)oW * sizeof(float));
        else
            for (ptrdiff_t q = 0; q < oW; q++)
                row[q * ycs] = r[q];
    }
}

/* Output rows 2*ti, 2*ti + 1 (those < oH) of channel m: A^T Mt A for the tiles j < tW of tile
 * row ti, Mt[xi][t0 + j] (xi stride xs), plus b; output (r, q) of the channel's oH x oW plane
 * is y[r*yrs + q*ycs] (a dilated convolution's phase plane is written in place with
 * yrs = dh*width, ycs = dw), and tmp holds 4*tW floats. */
static inline __attribute__((always_inline)) void
wino_output_row_k(const float* restrict Mt, ptrdiff_t xs, ptrdiff_t t0, ptrdiff_t ti,
                  ptrdiff_t tW, float b, float* restrict y, ptrdiff_t yrs, ptrdiff_t ycs,
                  ptrdiff_t oH, ptrdiff_t oW, float* restrict tmp)
{
    const float* p = Mt + t0;
    float* r0 = tmp;
    float* r1 = tmp + 2 * tW;
#pragma omp simd
    for (ptrdiff_t j = 0; j < tW; j++) {
        float s00 = p[0 * xs + j] + p[4 * xs + j] + p[8 * xs + j];
        float s01 = p[1 * xs + j] + p[5 * xs + j] + p[9 * xs + j];
        float s02 = p[2 * xs + j] + p[6 * xs + j] + p[10 * xs + j];
        float s03 = p[3 * xs + j] + p[7 * xs + j] + p[11 * xs + j];
        float s10 = p[4 * xs + j] - p[8 * xs + j] - p[12 * xs + j];
        float s11 = p[5 * xs + j] - p[9 * xs + j] - p[13 * xs + j];
        float s12 = p[6 * xs + j] - p[10 * xs + j] - p[14 * xs + j];
        float s13 = p[7 * xs + j] - p[11 * xs + j] - p[15 * xs + j];
        r0[2 * j] = s00 + s01 + s02 + b;
        r0[2 * j + 1] = s01 - s02 - s03 + b;
        r1[2 * j] = s10 + s11 + s12 + b;
        r1[2 * j + 1] = s11 - s12 - s13 + b;
    }
    wino_store_rows_f(r0, r1, ti, y, yrs, ycs, oH, oW);
}

/* wino_input_row_k and wino_output_row_k as called: with xs a compile-time 64 (ldt in the
 * common case) the 16 row addresses are constant offsets instead of spilled pointers. */
static inline void wino_input_row_f(const float* E, const float* O, ptrdiff_t Wq, ptrdiff_t ti,
                                    ptrdiff_t tW, float* V, ptrdiff_t xs, ptrdiff_t t0)
{
    if (xs == 64)
        wino_input_row_k(E, O, Wq, ti, tW, V, 64, t0);
    else
        wino_input_row_k(E, O, Wq, ti, tW, V, xs, t0);
}

static inline void wino_output_row_f(const float* Mt, ptrdiff_t xs, ptrdiff_t t0, ptrdiff_t ti,
                                     ptrdiff_t tW, float b, float* y, ptrdiff_t yrs,
                                     ptrdiff_t ycs, ptrdiff_t oH, ptrdiff_t oW, float* tmp)
{
    if (xs == 64)
        wino_output_row_k(Mt, 64, t0, ti, tW, b, y, yrs, ycs, oH, oW, tmp);
    else
        wino_output_row_k(Mt, xs, t0, ti, tW, b, y, yrs, ycs, oH, oW, tmp);
}

/* The even and odd columns (E, O: Hq rows of Wq) of a plane zero-padded by ph rows on top and
 * pw columns on the left: E[j][k] = x(j - ph, 2k - pw), O[j][k] = x(j - ph, 2k + 1 - pw), zero
 * outside the plane's H x W, where x(i, w) = x[i*rs + w*cs] (a dilated convolution's phase
 * plane is read in place with rs = dh*width, cs = dw). */
static void wino_pad_f(const float* x, ptrdiff_t rs, ptrdiff_t cs, ptrdiff_t H, ptrdiff_t W,
                       ptrdiff_t ph, ptrdiff_t pw, float* E, float* O, ptrdiff_t Hq,
                       ptrdiff_t Wq)
{
    ptrdiff_t k0, k1;
    dc_pad2_inside(W, pw, Wq, &k0, &k1);
    for (ptrdiff_t j = 0; j < Hq; j++) {
        float* restrict e = E + j * Wq;
        float* restrict o = O + j * Wq;
        ptrdiff_t i = j - ph;
        if (i < 0 || i >= H) {
            memset(e, 0, (size_t)Wq * sizeof(float));
            memset(o, 0, (size_t)Wq * sizeof(float));
            continue;
        }
        const float* restrict src = x + i * rs;
        for (ptrdiff_t k = 0; k < Wq; k++) {
            if (k == k0) {                    /* the inside, without checks */
                if (cs == 1)
                    for (; k < k1; k++) {
                        e[k] = src[2 * k - pw];
                        o[k] = src[2 * k + 1 - pw];
                    }
                else
                    for (; k < k1; k++) {
                        e[k] = src[(2 * k - pw) * cs];
                        o[k] = src[(2 * k + 1 - pw) * cs];
                    }
                if (k == Wq)
                    break;
            }
            ptrdiff_t w0 = 2 * k - pw, w1 = w0 + 1;
            e[k] = w0 >= 0 && w0 < W ? src[w0 * cs] : 0.0f;
            o[k] = w1 >= 0 && w1 < W ? src[w1 * cs] : 0.0f;
        }
    }
}

/* ------------------------------------------------------------ F(2x2, 2x2), for 2x2 kernels
 * The 2x2 kernels a 4x4 stride-2 convolution's input gradient is made of, phase by phase
 * (see _wino22_dgrad_f in _conv.pyx). Each 2x2 block of outputs needs a 3x3 patch d; with
 *     B^T = [1 -1 0; 0 1 0; 0 -1 1],  G = [1 0; 1 1; 0 1],  A^T = [1 1 0; 0 1 1]
 * the tile is A^T [ sum_c (G g G^T) .* (B^T d B) ] A: 9 products per channel pair instead of
 * 16. The layout is the one above: a tile row's three patch rows r read columns 2j, 2j+1,
 * 2j+2 = E[r][j], O[r][j], E[r][j+1]; V[c][xi][tile] and Mt[m][xi][tile], 9 rows xi. */

/* A padded row's even and odd columns: E[k] = L[2k], O[k] = L[2k + 1], k < Wq. */
static inline void w22_gather2(const float* restrict L, float* restrict E, float* restrict O,
                               ptrdiff_t Wq)
{
    for (ptrdiff_t k = 0; k < Wq; k++) {
        E[k] = L[2 * k];
        O[k] = L[2 * k + 1];
    }
}

/* y[2k] = e[k], y[2k + 1] = o[k] for the W entries of y. */
static inline void w22_interleave(const float* restrict e, const float* restrict o,
                                  float* restrict y, ptrdiff_t W)
{
    ptrdiff_t k;
    for (k = 0; k < W / 2; k++) {
        y[2 * k] = e[k];
        y[2 * k + 1] = o[k];
    }
    if (W & 1)
        y[W - 1] = e[W / 2];
}

/* U[xi * stride] = (G g G^T)[xi] for the 2x2 kernel g = {g00, g01, g10, g11}. */
static void wino22_weight_f(const float* g, float* U, ptrdiff_t stride)
{
    float t[3][2] = {{g[0], g[1]}, {g[0] + g[2], g[1] + g[3]}, {g[2], g[3]}};
    for (int i = 0; i < 3; i++) {
        U[(i * 3 + 0) * stride] = t[i][0];
        U[(i * 3 + 1) * stride] = t[i][0] + t[i][1];
        U[(i * 3 + 2) * stride] = t[i][1];
    }
}

static inline __attribute__((always_inline)) void
wino22_input_row_k(const float* restrict E, const float* restrict O, ptrdiff_t Wq, ptrdiff_t ti,
                   ptrdiff_t tW, float* restrict V, ptrdiff_t xs, ptrdiff_t t0)
{
    const float* e0 = E + 2 * ti * Wq;
    const float* o0 = O + 2 * ti * Wq;
    const float *e1 = e0 + Wq, *e2 = e1 + Wq, *o1 = o0 + Wq, *o2 = o1 + Wq;
    float* v = V + t0;
#pragma omp simd
    for (ptrdiff_t j = 0; j < tW; j++) {
        /* row r of d B: (d0 - d1, d1, d2 - d1) */
#define WINO22_DB(x, e, o) float x##0 = e[j] - o[j], x##1 = o[j], x##2 = e[j + 1] - o[j]
        WINO22_DB(a, e0, o0);
        WINO22_DB(b, e1, o1);
        WINO22_DB(c, e2, o2);
#undef WINO22_DB
        v[0 * xs + j] = a0 - b0;  v[1 * xs + j] = a1 - b1;  v[2 * xs + j] = a2 - b2;
        v[3 * xs + j] = b0;       v[4 * xs + j] = b1;       v[5 * xs + j] = b2;
        v[6 * xs + j] = c0 - b0;  v[7 * xs + j] = c1 - b1;  v[8 * xs + j] = c2 - b2;
    }
}

static inline __attribute__((always_inline)) void
wino22_output_row_k(const float* restrict Mt, ptrdiff_t xs, ptrdiff_t t0, ptrdiff_t ti,
                    ptrdiff_t tW, float b, float* restrict y, ptrdiff_t yrs, ptrdiff_t ycs,
                    ptrdiff_t oH, ptrdiff_t oW, float* restrict tmp)
{
    const float* p = Mt + t0;
    float* r0 = tmp;
    float* r1 = tmp + 2 * tW;
#pragma omp simd
    for (ptrdiff_t j = 0; j < tW; j++) {
        float s00 = p[0 * xs + j] + p[3 * xs + j], s01 = p[1 * xs + j] + p[4 * xs + j];
        float s02 = p[2 * xs + j] + p[5 * xs + j];
        float s10 = p[3 * xs + j] + p[6 * xs + j], s11 = p[4 * xs + j] + p[7 * xs + j];
        float s12 = p[5 * xs + j] + p[8 * xs + j];
        r0[2 * j] = s00 + s01 + b;
        r0[2 * j + 1] = s01 + s02 + b;
        r1[2 * j] = s10 + s11 + b;
        r1[2 * j + 1] = s11 + s12 + b;
    }
    wino_store_rows_f(r0, r1, ti, y, yrs, ycs, oH, oW);
}

/* As wino_input_row_f / wino_output_row_f: xs = 64 compiled as a constant. */
static inline void wino22_input_row_f(const float* E, const float* O, ptrdiff_t Wq, ptrdiff_t ti,
                                      ptrdiff_t tW, float* V, ptrdiff_t xs, ptrdiff_t t0)
{
    if (xs == 64)
        wino22_input_row_k(E, O, Wq, ti, tW, V, 64, t0);
    else
        wino22_input_row_k(E, O, Wq, ti, tW, V, xs, t0);
}

static inline void wino22_output_row_f(const float* Mt, ptrdiff_t xs, ptrdiff_t t0,
                                       ptrdiff_t ti, ptrdiff_t tW, float b, float* y,
                                       ptrdiff_t yrs, ptrdiff_t ycs, ptrdiff_t oH, ptrdiff_t oW,
                                       float* tmp)
{
    if (xs == 64)
        wino22_output_row_k(Mt, 64, t0, ti, tW, b, y, yrs, ycs, oH, oW, tmp);
    else
        wino22_output_row_k(Mt, xs, t0, ti, tW, b, y, yrs, ycs, oH, oW, tmp);
}

/* ------------------------------------------------------------ weight gradient, F(2x2, 3x3)
 * With P = sum_c U_c .* V_c the products of a tile (above) and y = A^T P A, the upstream
 * gradient of a tile gy (2x2) gives dL/dP = Z = A gy A^T (4x4), dL/dU_c = Z .* V_c summed
 * over tiles and images, and dL/dg = G^T (dL/dU) G: 16 products per channel pair and tile
 * where the direct weight gradient does 36 (see _winograd_wgrad_f in _conv.pyx). */

/* Z[xi*zs + (t0 + j)*Mpad + m] for the tiles j < tW of tile row ti: Z = A gy A^T of the 2x2
 * outputs (2ti + a, 2j + b) of channel m, read from Gt[(row*oW + col)*Mpad + m] (the image's
 * upstream gradient transposed), zero past oH x oW (zero: Mpad zeros). */
static void wino_wgrad_z_f(const float* Gt, ptrdiff_t oH, ptrdiff_t oW, ptrdiff_t Mpad,
                           ptrdiff_t ti, ptrdiff_t tW, float* Z, ptrdiff_t zs, ptrdiff_t t0,
                           const float* zero)
{
    ptrdiff_t r0 = 2 * ti, r1 = 2 * ti + 1;
    for (ptrdiff_t j = 0; j < tW; j++) {
        ptrdiff_t q0 = 2 * j, q1 = 2 * j + 1;
        const float* restrict y00 = Gt + (r0 * oW + q0) * Mpad;
        const float* restrict y01 = q1 < oW ? y00 + Mpad : zero;
        const float* restrict y10 = r1 < oH ? y00 + oW * Mpad : zero;
        const float* restrict y11 = r1 < oH && q1 < oW ? y00 + (oW + 1) * Mpad : zero;
        float* restrict z = Z + (t0 + j) * Mpad;
#pragma omp simd
        for (ptrdiff_t m = 0; m < Mpad; m++) {
            /* columns: (y0, y0 + y1, y0 - y1, -y1) per row, then the same over the rows */
            float a0 = y00[m], a1 = y00[m] + y01[m], a2 = y00[m] - y01[m], a3 = -y01[m];
            float b0 = y10[m], b1 = y10[m] + y11[m], b2 = y10[m] - y11[m], b3 = -y11[m];
            z[0 * zs + m] = a0;       z[1 * zs + m] = a1;
            z[2 * zs + m] = a2;       z[3 * zs + m] = a3;
            z[4 * zs + m] = a0 + b0;  z[5 * zs + m] = a1 + b1;
            z[6 * zs + m] = a2 + b2;  z[7 * zs + m] = a3 + b3;
            z[8 * zs + m] = a0 - b0;  z[9 * zs + m] = a1 - b1;
            z[10 * zs + m] = a2 - b2; z[11 * zs + m] = a3 - b3;
            z[12 * zs + m] = -b0;     z[13 * zs + m] = -b1;
            z[14 * zs + m] = -b2;     z[15 * zs + m] = -b3;
        }
    }
}

/* dst[tap*M + m] += (G^T u G)[tap] for m < M, u[xi] = acc[xi*xs + m] (dL/dU of one input
 * channel): the 3x3 kernel gradient of that channel for every output channel. */
static void wino_wgrad_out_f(const float* acc, ptrdiff_t xs, ptrdiff_t M, float* dst)
{
#pragma omp simd
    for (ptrdiff_t m = 0; m < M; m++) {
        float u[16], t[3][4];
        for (int i = 0; i < 16; i++)
            u[i] = acc[i * xs + m];
        for (int k = 0; k < 4; k++) {            /* t = G^T u */
            float h = 0.5f * (u[4 + k] + u[8 + k]);
            t[0][k] = u[k] + h;
            t[1][k] = 0.5f * (u[4 + k] - u[8 + k]);
            t[2][k] = h + u[12 + k];
        }
        for (int i = 0; i < 3; i++) {            /* (G^T u) G */
            float h = 0.5f * (t[i][1] + t[i][2]);
            dst[(i * 3 + 0) * M + m] += t[i][0] + h;
            dst[(i * 3 + 1) * M + m] += 0.5f * (t[i][1] - t[i][2]);
            dst[(i * 3 + 2) * M + m] += h + t[i][3];
        }
    }
}

#endif
