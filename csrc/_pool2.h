/* 2x2 / stride 2 max pooling of one plane, included by csrc/_pool.pyx.
 *
 * The general tiled loop runs over the outputs of one row at a time, too few (14 for LeNet's
 * 28x28 maps) for a 16-lane vector loop, so it ran scalar. Here the plane's even and odd input
 * rows are first copied into two contiguous buffers T and B (only the 2*oW columns the windows
 * use), after which output o's window is T[2o], T[2o+1], B[2o], B[2o+1] for every o of the
 * plane: one loop over all oH*oW outputs, vectorised. The rule is _max_window's: a tap wins if
 * larger than the running max or NaN, in window order (ties keep the first tap, NaN wins).
 * base[o] = 2*oh*W + 2*ow is the index of the window's first tap in the plane.
 */
#ifndef TINYCONV_POOL2_H
#define TINYCONV_POOL2_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define TC_MAXPOOL2(T, S)                                                                      \
    static inline void tc_maxpool2_##S(const T* xp, T* restrict op, int64_t* restrict ip,     \
                                       ptrdiff_t W, ptrdiff_t oH, ptrdiff_t oW,                \
                                       const int64_t* restrict base, T* restrict Tb,            \
                                       T* restrict Bb)                                         \
    {                                                                                          \
        ptrdiff_t w2 = 2 * oW, n = oH * oW;                                                    \
        for (ptrdiff_t oh = 0; oh < oH; oh++) {                                                \
            memcpy(Tb + oh * w2, xp + 2 * oh * W, (size_t)w2 * sizeof(T));                     \
            memcpy(Bb + oh * w2, xp + (2 * oh + 1) * W, (size_t)w2 * sizeof(T));               \
        }                                                                                      \
        _Pragma("omp simd")                                                                    \
        for (ptrdiff_t o = 0; o < n; o++) {                                                    \
            T v0 = Tb[2 * o], v1 = Tb[2 * o + 1], v2 = Bb[2 * o], v3 = Bb[2 * o + 1];          \
            T m = v0;                                                                          \
            int64_t k = 0;                                                                     \
            int g = (v1 > m) | (v1 != v1);                                                     \
            m = g ? v1 : m;                                                                    \
            k = g ? 1 : k;                                                                     \
            g = (v2 > m) | (v2 != v2);                                                         \
            m = g ? v2 : m;                                                                    \
            k = g ? (int64_t)W : k;                                                            \
            g = (v3 > m) | (v3 != v3);                                                         \
            m = g ? v3 : m;                                                                    \
            k = g ? (int64_t)W + 1 : k;                                                        \
            op[o] = m;                                                                         \
            ip[o] = base[o] + k;                                                               \
        }                                                                                      \
    }

TC_MAXPOOL2(float, f)
TC_MAXPOOL2(double, d)

#endif
