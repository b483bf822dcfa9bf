/* Loops of the batch-norm kernels, included by csrc/_norm.pyx (which runs them in parallel).
 *
 * The input is viewed as (N, C, L). Every function works on a block of nc consecutive
 * channels, given by a pointer to the block's first value, the number of rows N and the row
 * stride (C*L), in one of two layouts picked by the caller:
 *
 * - plane path (`cols` false; L large): each channel is N contiguous planes of L values, swept
 *   with vector loops along the plane. The sums take four planes at a time, one accumulator
 *   each, so that the latency of the vector adds never limits them (on the shapes measured
 *   the loads did anyway: no change in time).
 * - column path (`cols` true; L small, down to BatchNorm1d's L = 1): the block's W = nc*L
 *   values of one row are contiguous, so each row is swept at once with one accumulator (or
 *   parameter) per column, kept in arrays of TC_BN_COLS. With L = 1 the plane path reads one
 *   value per cache line: 40x slower than this (64 x 4096 float32), 3x slower than the numpy
 *   code the kernels replaced. The crossover is measured in tinyconv/_kernels.py.
 *
 * Why C: `#pragma omp simd reduction` lets the compiler vectorise a sum without -ffast-math
 * (which tinyconv does not use). The same sums written in Cython with eight scalar
 * accumulators (_common.pxd's sum_double) compiled to scalar float -> double code; on
 * 64 x 16 x 32 x 32 float32, one thread, the vector loops took the training forward from 0.41
 * to 0.31 ms and the backward from 0.52 to 0.38 ms. Without OpenMP the pragmas are ignored
 * and the loops run scalar.
 *
 * Sums are accumulated in double, in an order fixed by the shape (and the build), so results
 * do not depend on the thread count; element-wise outputs are computed in the input's type.
 */
#ifndef TINYCONV_NORM_H
#define TINYCONV_NORM_H

#include <stddef.h>

/* Columns (channels x L) per block of the column path: the accumulator and parameter arrays
   of a block live on the stack and stay in L1. */
#define TC_BN_COLS 256

/* The template's helpers take `squared` and `mode` as constants that must fold away. */
#if defined(__GNUC__)
#define TC_BN_INLINE static inline __attribute__((always_inline))
#else
#define TC_BN_INLINE static inline
#endif

/* What the element-wise sweep computes (see BN(elem) in the template). */
enum { TC_BN_AFFINE, TC_BN_GRAD, TC_BN_SCALE };

#define T float
#define BN(name) tc_bn_##name##_f
#include "_norm_template.h"
#undef T
#undef BN

#define T double
#define BN(name) tc_bn_##name##_d
#include "_norm_template.h"
#undef T
#undef BN

#endif
