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

/* The backward of one plane when every index lies in its own output's 2x2 window: each
 * window's four gradients (the chosen tap's g, zeros elsewhere) are written into T and B in
 * one vectorised loop, then copied to the plane's rows; columns and rows no window covers get
 * zeros. Returns 0, or 1 without writing anything if an index lies elsewhere (the caller then
 * scatters that plane). */
#define TC_MAXPOOL2_BACKWARD(T, S)                                                             \
    static inline int tc_maxpool2_backward_##S(const T* restrict gp, const int64_t* restrict ip,\
                                               T* gx, ptrdiff_t H, ptrdiff_t W, ptrdiff_t oH,   \
                                               ptrdiff_t oW, const int64_t* restrict base,      \
                                               T* restrict Tb, T* restrict Bb)                  \
    {                                                                                          \
        ptrdiff_t w2 = 2 * oW, n = oH * oW;                                                    \
        int64_t bad = 0;                                                                       \
        _Pragma("omp simd reduction(| : bad)")                                                 \
        for (ptrdiff_t o = 0; o < n; o++) {                                                    \
            int64_t r = ip[o] - base[o];                                                       \
            T g = gp[o];                                                                       \
            Tb[2 * o] = r == 0 ? g : (T)0;                                                     \
            Tb[2 * o + 1] = r == 1 ? g : (T)0;                                                 \
            Bb[2 * o] = r == W ? g : (T)0;                                                     \
            Bb[2 * o + 1] = r == W + 1 ? g : (T)0;                                             \
            bad |= (r != 0) & (r != 1) & (r != W) & (r != W + 1);                              \
        }                                                                                      \
        if (bad)                                                                               \
            return 1;                                                                          \
        for (ptrdiff_t oh = 0; oh < oH; oh++) {                                                \
            T* r0 = gx + 2 * oh * W;                                                           \
            memcpy(r0, Tb + oh * w2, (size_t)w2 * sizeof(T));                                  \
            memcpy(r0 + W, Bb + oh * w2, (size_t)w2 * sizeof(T));                              \
            if (W > w2) {                                                                      \
                memset(r0 + w2, 0, (size_t)(W - w2) * sizeof(T));                              \
                memset(r0 + W + w2, 0, (size_t)(W - w2) * sizeof(T));                          \
            }                                                                                  \
        }                                                                                      \
        if (H > 2 * oH)                                                                        \
            memset(gx + 2 * oH * W, 0, (size_t)((H - 2 * oH) * W) * sizeof(T));                \
        return 0;                                                                              \
    }

TC_MAXPOOL2(float, f)
TC_MAXPOOL2(double, d)
TC_MAXPOOL2_BACKWARD(float, f)
TC_MAXPOOL2_BACKWARD(double, d)

#endif
