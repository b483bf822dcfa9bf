/* Depthwise (one input channel per group) convolution with stride 1, one plane at a time,
 * included by csrc/_conv.pyx, which runs the planes in parallel.
 *
 * The trick: copy the input plane into a zero-padded buffer of Dp x Hp x Wp. With stride 1,
 * output (od, oh, ow) then reads, for tap (i, j, k), the buffer at
 *     (od*Hp + oh)*Wp + ow  +  off[tap],   off[tap] = (i*dd*Hp + j*dh)*Wp + k*dw,
 * so indexing the outputs "wide", j = (od*Hp + oh)*Wp + ow for ow in [0, Wp), every tap is
 * one long contiguous multiply-add over the whole plane (the ow >= oW columns are computed
 * and thrown away). A tap loop per output row, as the strided kernel does, spends more on
 * loop set-up than on arithmetic for 16x16 planes (measured 3-4x slower than PyTorch).
 *
 * The same geometry gives the backward: the input gradient is the taps run the other way
 * (negated offsets) over the upstream gradient spread "wide" with zeros in the thrown-away
 * columns, and each weight's gradient is one dot product of that with the padded input.
 *
 * Written once for a type T (suffix from DW(name)) in _dw_template.h, included for float and
 * double. restrict and `omp simd` let GCC vectorise the loops without runtime alias checks.
 */
#ifndef TINYCONV_DW_H
#define TINYCONV_DW_H

#include <stddef.h>
#include <string.h>

typedef struct {
    ptrdiff_t D, H, W;       /* the input plane */
    ptrdiff_t pd, ph, pw;    /* zeros in front along each dimension */
    ptrdiff_t Hp, Wp, PP;    /* padded rows and width; padded plane size Dp*Hp*Wp */
    ptrdiff_t oD, oH, oW;    /* the output plane */
    ptrdiff_t n;             /* wide outputs computed: ((oD-1)*Hp + oH-1)*Wp + oW */
    ptrdiff_t i0, i1;        /* wide indices of the first and one past the last input element */
    ptrdiff_t K;             /* taps */
    ptrdiff_t Z;             /* the largest tap offset */
    const ptrdiff_t* off;    /* K tap offsets in the padded plane, ascending */
    const ptrdiff_t* neg;    /* the same, negated */
    /* Strided geometry (the direct kernels of _direct.h only): with stride s > 1 the padded
     * plane is split into s-phase planes, and Hp, Wp, PP above are a phase plane's rows and
     * width and all phases' size; 1, 1, 1 and Dq = the padded depth otherwise. */
    ptrdiff_t sd, sh, sw, Dq;
    const char* used;        /* which of the sd*sh*sw phases a tap reads (NULL: all) */
} dw_geo;

/* the nine terms of a 3x3 tap sum at wide index j (names as in DW(taps)) */
#define DW_SUM9(j) (w0 * a0[j] + w1 * a1[j] + w2 * a2[j] + w3 * a3[j] + w4 * a4[j] + \
                    w5 * a5[j] + w6 * a6[j] + w7 * a7[j] + w8 * a8[j])

#define T float
#define DW(name) dw_##name##_f
#include "_dw_template.h"
#undef T
#undef DW

#define T double
#define DW(name) dw_##name##_d
#include "_dw_template.h"
#undef T
#undef DW

#endif
