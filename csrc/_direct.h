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

#if defined(__AVX512F__)
#define DC_LANES 16
#else
#define DC_LANES 8
#endif
typedef float dc_vec __attribute__((vector_size(DC_LANES * sizeof(float))));

#define DC_MB 8               /* output channels per register block */
#define DC_JB (2 * DC_LANES)  /* wide positions per register block */

static inline dc_vec dc_load(const float* p)
{
    dc_vec v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Y[m][j] (m < Mpad, j < ldy, ldy a multiple of DC_JB) = sum_{r < R} wt[r*Mpad + m] * X[roff[r] + j].
 * Reads X up to roff[r] + ldy - 1 (the caller pads X); Mpad is a multiple of DC_MB. */
static void dc_forward_f(const float* X, const ptrdiff_t* roff, ptrdiff_t R, const float* wt,
                         ptrdiff_t Mpad, float* Y, ptrdiff_t ldy)
{
    for (ptrdiff_t m0 = 0; m0 < Mpad; m0 += DC_MB)
        for (ptrdiff_t j0 = 0; j0 < ldy; j0 += DC_JB) {
            dc_vec a0[DC_MB], a1[DC_MB];
            for (int mm = 0; mm < DC_MB; mm++) {
                a0[mm] = (dc_vec){0};
                a1[mm] = (dc_vec){0};
            }
            for (ptrdiff_t r = 0; r < R; r++) {
                const float* s = X + roff[r] + j0;
                dc_vec x0 = dc_load(s), x1 = dc_load(s + DC_LANES);
                const float* w = wt + r * Mpad + m0;
                for (int mm = 0; mm < DC_MB; mm++) {
                    a0[mm] += w[mm] * x0;
                    a1[mm] += w[mm] * x1;
                }
            }
            for (int mm = 0; mm < DC_MB; mm++) {
                memcpy(Y + (m0 + mm) * ldy + j0, &a0[mm], sizeof a0[mm]);
                memcpy(Y + (m0 + mm) * ldy + j0 + DC_LANES, &a1[mm], sizeof a1[mm]);
            }
        }
}

#endif
