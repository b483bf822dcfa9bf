/* Elementwise activation kernels, included by csrc/_act.pyx (which runs them in parallel).
 *
 * Why C and not Cython: the loops must be vectorised to keep up with PyTorch (whose kernels
 * use AVX-512 with SLEEF), but a portable build targets the baseline x86-64 (SSE2), where a
 * vectorised sigmoid measured 11 ms on 4M floats against 2.0 ms with AVX-512 (the copy alone
 * takes 1.5 ms). GCC's target_clones compiles each loop for AVX-512, AVX2+FMA and the
 * baseline and picks one when the module is loaded, so one binary runs everywhere at the
 * speed of the machine it runs on (with -march=native the baseline clone is native code).
 * Cython cannot attach that attribute to a function.
 *
 * libm's expf/tanhf/erff are calls that stop vectorisation (the vector versions in glibc's
 * libmvec need -ffast-math, which would also break NaN handling), so the float32 path has its
 * own branch-free exp/expm1/log1p/tanh/erfc below; float64 uses libm (exact, and fast enough
 * for the gradient checks it exists for).
 *
 * The activations themselves (each forward next to its backward) and the loops over them are
 * written once, in _act_template.h, included here for float (suffix _f) and double (_d).
 */
#ifndef TINYCONV_ACT_H
#define TINYCONV_ACT_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* (Predefine TC_CLONES as empty to compile one variant only, e.g. to test the baseline loops.) */
#ifndef TC_CLONES
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && \
    defined(__linux__)
#define TC_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define TC_CLONED 1
#else
#define TC_CLONES
#define TC_CLONED 0
#endif
#else
#define TC_CLONED 0
#endif

/* Every per-element function must be inlined into the loops, or they do not vectorise: with
   plain `inline` GCC kept tc_exp_f out of line in this module (many call sites), and sigmoid ran
   35x slower. */
#if defined(__GNUC__)
#define TC_INLINE static inline __attribute__((always_inline))
#else
#define TC_INLINE static inline
#endif

/* Loops run on blocks of this many elements; the parallel loop hands out whole blocks, so
   every element takes the same code path (vector body or scalar tail) for any thread count. */
#define TC_ACT_BLOCK 8192

enum tc_act_kind {
    TC_RELU, TC_LEAKY_RELU, TC_HARDTANH, TC_ELU, TC_GELU, TC_GELU_TANH, TC_SILU, TC_MISH,
    TC_SIGMOID, TC_TANH, TC_SOFTPLUS, TC_SOFTSIGN, TC_HARDSIGMOID, TC_HARDSWISH, TC_THRESHOLD,
    TC_NORMAL_CDF,
    TC_MUL,          /* backward only: g * s (RReLU's saved slopes) */
    TC_NUM_KINDS
};

/* ------------------------------------------------------------------ float32 primitives */

TC_INLINE float tc_abs_f(float x) { return fabsf(x); }

TC_INLINE float tc_bits_to_float(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

TC_INLINE uint32_t tc_float_to_bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* x + lo = n ln2 + r with |r| <= ln2/2 (lo: a small correction to x, or -0 for none): returns
   expm1(r), its Taylor series to degree 7 (relative error below 2e-8 on that interval), and n
   in *np. x must not be NaN and |x| must be below 2^22 ln2. */
TC_INLINE float tc_expm1_core_f(float x, float lo, float *np)
{
    float n, r, q;
    n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  /* round(x / ln2), 1.5*2^23 */
    r = x - n * 0.693145751953125f;   /* ln2 = hi + lo; hi has 15 significant bits: n*hi exact */
    r = r - n * 1.428606765330187045e-06f;
    r = r + lo;
    q = 1.0f / 5040;
    q = q * r + 1.0f / 720;
    q = q * r + 1.0f / 120;
    q = q * r + 1.0f / 24;
    q = q * r + 1.0f / 6;
    q = q * r + 0.5f;
    *np = n;
    return q * r * r + r;
}

/* tc_expm1_core_f, with 2^n as two factors *s1 * *s2, so that n from -150 to 128 (denormal
   results, overflow to inf) needs no branch. */
TC_INLINE float tc_exp_reduce_f(float x, float lo, float *s1, float *s2)
{
    float n, q;
    int32_t ni, n1;
    x = x > -104.0f ? x : -104.0f;   /* exp(-104) < half the smallest denormal */
    x = x < 89.0f ? x : 89.0f;       /* exp(89) > FLT_MAX */
    q = tc_expm1_core_f(x, lo, &n);
    ni = (int32_t)n;
    n1 = ni >> 1;
    *s1 = tc_bits_to_float((uint32_t)(n1 + 127) << 23);
    *s2 = tc_bits_to_float((uint32_t)(ni - n1 + 127) << 23);
    return q;
}

TC_INLINE float tc_exp_f(float x)
{
    float s1, s2, q = tc_exp_reduce_f(x == x ? x : 0.0f, -0.0f, &s1, &s2);
    float e = (1.0f + q) * s1 * s2;
    return x == x ? e : x;
}

/* expm1(x) = 2^n expm1(r) + (2^n - 1): full relative accuracy near 0. Above x = 80 that
   form could meet 2^n = inf with expm1(r) < 0 (x in [88.4, 88.7]), where exp(x) is the answer. */
TC_INLINE float tc_expm1_f(float x)
{
    float s1, s2, q = tc_exp_reduce_f(x == x ? x : 0.0f, -0.0f, &s1, &s2);
    float s = s1 * s2;
    float e = x < 80.0f ? s * q + (s - 1.0f) : (1.0f + q) * s1 * s2;
    return x == x ? e : x;
}

/* log1p(t) for t in [0, 1] (the only range softplus needs): log1p(t) = k ln2 + log(m) with
   m = (1 + t) / 2^k in [0.71, 1.42), log(m) = 2 atanh(s), s = (m - 1)/(m + 1) written in t so
   that nothing cancels; |s| <= 0.172, series to s^9: relative error below 3e-9. */
TC_INLINE float tc_log1p01_f(float t)
{
    int big = t > 0.41421356f;
    float s = big ? (t - 1.0f) / (t + 3.0f) : t / (t + 2.0f);
    float s2 = s * s;
    float p = 1.0f / 9;
    p = p * s2 + 1.0f / 7;
    p = p * s2 + 1.0f / 5;
    p = p * s2 + 1.0f / 3;
    p = (p * s2 + 1.0f) * (2.0f * s);
    return big ? p + 0.693147180559945309f : p;
}

/* tanh(x) = expm1(2|x|) / (expm1(2|x|) + 2) with x's sign; 1 beyond |x| = 9. */
TC_INLINE float tc_tanh_f(float x)
{
    float a = fabsf(x), e, t;
    a = a < 9.0f ? a : 9.0f;
    e = tc_expm1_f(2.0f * a);
    t = copysignf(e / (e + 2.0f), x);
    return x == x ? t : x;
}

/* The standard normal CDF Phi(x) and exp(-x^2/2) (*gauss; the density without 1/sqrt(2 pi)),
   with one exp. Phi(-|x|) = erfc(z)/2, z = |x|/sqrt 2, and erfc(z) = t exp(-z^2) Q(t) with
   t = 1/(1 + z/2): Q(t) = erfc(z) exp(z^2) / t is smooth on t in (0, 1], and a polynomial of
   degree 8 in s = (2t - 1 - 2/13) / (1 - 2/13) (Chebyshev interpolation with numpy's
   chebinterpolate on t in [2/13, 1], i.e. z <= 11, then cheb2poly) keeps the relative error of
   erfc below 4e-7 wherever it is a normal float (beyond, exp(-z^2) is 0). The exponent -x^2/2
   is formed from x split into 12 high bits and the rest, exactly enough that rounding it does
   not cost 1e-5 of relative accuracy in the tail (x = -12: x^2/2 = 72). Measured: relative
   error of Phi below 4e-7 down to x = -14, of exp(-x^2/2) below 2e-7. */
TC_INLINE float tc_normal_cdf_gauss_f(float x, float *gauss)
{
    float a = fabsf(x), z, t, s, q, ah, al, hi, lo, n, p, e, h;
    a = a < 16.0f ? a : 16.0f;   /* Phi(-16) = 6e-58 rounds to 0; keeps inf (and NaN) out */
    z = a * 0.707106781186547524f;
    t = 1.0f / (1.0f + 0.5f * z);
    s = t * 2.36363636f - 1.36363636f;
    q = -3.0920760764274746e-05f;      /* Q / 2: the coefficients halved (exactly) */
    q = q * s + 1.4783222468395252e-05f;
    q = q * s + 3.210043360013515e-04f;
    q = q * s - 3.6985668702982366e-04f;
    q = q * s - 3.2429643906652927e-03f;
    q = q * s + 3.3202103804796934e-03f;
    q = q * s + 5.2450187504291534e-02f;
    q = q * s + 1.6402888298034668e-01f;
    q = q * s + 2.8350865840911865e-01f;
    /* exp(-a^2/2): a split into 12 high bits ah and the rest al, so that ah^2 is exact and
       -a^2/2 = hi + lo with hi = -ah^2/2, lo = -(ah al) - al^2/2 (enough that rounding the
       exponent does not cost 1e-5 of relative accuracy in the tail: a = 12 gives 72); reduced
       as tc_exp_reduce_f with lo as its correction, and scaled by 2^(n + 64): a normal float
       for every a <= 16 (n >= -185), with one scale factor where tc_exp_reduce_f needs two;
       the 2^-64 comes last, so a denormal result is rounded once. (fmaf would split a^2 in 2
       operations, but where the CPU has no FMA, i.e. the baseline clone, it is a libm call
       that stops vectorisation.) */
    ah = tc_bits_to_float(tc_float_to_bits(a) & 0xFFFFF000u);
    al = a - ah;
    hi = -0.5f * (ah * ah);
    lo = -(ah * al) - 0.5f * (al * al);
    p = tc_expm1_core_f(hi, lo, &n);
    e = (1.0f + p) * tc_bits_to_float((uint32_t)((int32_t)n + 64 + 127) << 23);
    h = (t * q * e) * 5.42101086242752217e-20f;  /* Phi(-|x|); 2^-64 */
    *gauss = e * 5.42101086242752217e-20f;       /* exp(-x^2/2) */
    return x < 0.0f ? h : 1.0f - h;   /* finite for NaN x: callers that need NaN select it */
}

TC_INLINE float tc_normal_cdf_f(float x)
{
    float gauss, p = tc_normal_cdf_gauss_f(x, &gauss);
    return x == x ? p : x;
}

/* ------------------------------------------------------------------ float64 primitives */

TC_INLINE double tc_abs_d(double x) { return fabs(x); }
TC_INLINE double tc_exp_d(double x) { return exp(x); }
TC_INLINE double tc_expm1_d(double x) { return expm1(x); }
TC_INLINE double tc_log1p01_d(double t) { return log1p(t); }
TC_INLINE double tc_tanh_d(double x) { return tanh(x); }
TC_INLINE double tc_normal_cdf_d(double x) { return 0.5 * erfc(-x * 0.707106781186547524); }
TC_INLINE double tc_normal_cdf_gauss_d(double x, double *gauss)
{
    *gauss = exp(-0.5 * x * x);
    return tc_normal_cdf_d(x);
}

/* ------------------------------------------------------------------ the kernels, twice */

#define T float
#define TC(name) tc_##name##_f
#include "_act_template.h"
#undef T
#undef TC

#define T double
#define TC(name) tc_##name##_d
#include "_act_template.h"
#undef T
#undef TC

static int tc_act_cloned(void) { return TC_CLONED; }

/* ------------------------------------------- derivative bit masks of the piecewise-linear kinds
 *
 * relu, leaky_relu, hardtanh (relu6) and threshold have a derivative of 1 on one side of their
 * kinks and 0 (leaky_relu: its slope) on the other, so their backward needs one bit per
 * element, not the saved input or output: on float32 the forward writes that bit and the
 * backward reads the upstream gradient and n/8 bytes instead of 2n floats. On a 16 MiB tensor
 * that took the backward from 1.32 to 0.92 ms, fwd+bwd of relu 1.22-1.25x faster (2 threads).
 *
 * Bit i (m[i >> 3] >> (i & 7) & 1) is 1 where the gradient passes through:
 *     bit = cmp(x, lo) && !(x >= hi)
 * with cmp = !(x <= lo) (a NaN gives 1: relu, hardtanh, threshold) or x > lo (NaN gives 0:
 * leaky_relu), hi = NaN for the one-sided kinds; gx = bit ? g : (leaky_relu ? g * slope : 0),
 * exactly the branches of the kinds' _grad functions in _act_template.h.
 *
 * GCC does not vectorise packing comparisons into bits, so the loops are written with AVX-512
 * and AVX2 intrinsics, next to a portable one, and tc_mask_select picks the best the CPU has
 * (tests force each level in turn). Float64 keeps the saved-tensor backward. */

#define TC_MASK_SCALAR 0
#define TC_MASK_AVX2 1
#define TC_MASK_AVX512 2

typedef struct {
    float lo, hi, slope;
    int ordered, scaled;
} tc_mask_spec;

/* The mask parameters of kind with parameters a, b; returns 0 for a kind without a mask. */
static int tc_mask_spec_of(int kind, float a, float b, tc_mask_spec *sp)
{
    sp->lo = 0.0f;
    sp->hi = NAN;
    sp->slope = 0.0f;
    sp->ordered = 0;
    sp->scaled = 0;
    switch (kind) {
    case TC_RELU: return 1;
    case TC_LEAKY_RELU: sp->ordered = 1; sp->scaled = 1; sp->slope = a; return 1;
    case TC_HARDTANH: sp->lo = a; sp->hi = b; return 1;
    case TC_THRESHOLD: sp->lo = a; return 1;
    default: return 0;
    }
}

static void tc_mask_scalar_f(const float *restrict x, uint8_t *restrict m, Py_ssize_t n,
                             const tc_mask_spec *sp)
{
    Py_ssize_t i, j;
    for (i = 0; i < n; i += 8) {
        unsigned bits = 0;
        for (j = 0; j < 8 && i + j < n; j++) {
            float v = x[i + j];
            int pass = (sp->ordered ? v > sp->lo : !(v <= sp->lo)) & !(v >= sp->hi);
            bits |= (unsigned)pass << j;
        }
        m[i >> 3] = (uint8_t)bits;
    }
}

static void tc_mask_backward_scalar_f(const float *restrict g, const uint8_t *restrict m,
                                      float *restrict gx, Py_ssize_t n, const tc_mask_spec *sp)
{
    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        float other = sp->scaled ? g[i] * sp->slope : 0.0f;
        gx[i] = (m[i >> 3] >> (i & 7)) & 1 ? g[i] : other;
    }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define TC_MASK_X86 1

__attribute__((target("avx512f"))) static void tc_mask_avx512_f(
    const float *restrict x, uint8_t *restrict m, Py_ssize_t n, const tc_mask_spec *sp)
{
    const __m512 lo = _mm512_set1_ps(sp->lo), hi = _mm512_set1_ps(sp->hi);
    Py_ssize_t i;
    for (i = 0; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __mmask16 k = sp->ordered ? _mm512_cmp_ps_mask(v, lo, _CMP_GT_OQ)
                                  : _mm512_cmp_ps_mask(v, lo, _CMP_NLE_UQ);
        uint16_t bits = (uint16_t)(k & _mm512_cmp_ps_mask(v, hi, _CMP_NGE_UQ));
        memcpy(m + (i >> 3), &bits, 2);
    }
    tc_mask_scalar_f(x + i, m + (i >> 3), n - i, sp);
}

__attribute__((target("avx512f"))) static void tc_mask_backward_avx512_f(
    const float *restrict g, const uint8_t *restrict m, float *restrict gx, Py_ssize_t n,
    const tc_mask_spec *sp)
{
    const __m512 slope = _mm512_set1_ps(sp->slope);
    Py_ssize_t i;
    for (i = 0; i + 16 <= n; i += 16) {
        uint16_t bits;
        __m512 v = _mm512_loadu_ps(g + i);
        __m512 other = sp->scaled ? _mm512_mul_ps(v, slope) : _mm512_setzero_ps();
        memcpy(&bits, m + (i >> 3), 2);
        _mm512_storeu_ps(gx + i, _mm512_mask_mov_ps(other, (__mmask16)bits, v));
    }
    tc_mask_backward_scalar_f(g + i, m + (i >> 3), gx + i, n - i, sp);
}

__attribute__((target("avx2"))) static void tc_mask_avx2_f(
    const float *restrict x, uint8_t *restrict m, Py_ssize_t n, const tc_mask_spec *sp)
{
    const __m256 lo = _mm256_set1_ps(sp->lo), hi = _mm256_set1_ps(sp->hi);
    Py_ssize_t i;
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 k = sp->ordered ? _mm256_cmp_ps(v, lo, _CMP_GT_OQ)
                               : _mm256_cmp_ps(v, lo, _CMP_NLE_UQ);
        k = _mm256_and_ps(k, _mm256_cmp_ps(v, hi, _CMP_NGE_UQ));
        m[i >> 3] = (uint8_t)_mm256_movemask_ps(k);
    }
    tc_mask_scalar_f(x + i, m + (i >> 3), n - i, sp);
}

__attribute__((target("avx2"))) static void tc_mask_backward_avx2_f(
    const float *restrict g, const uint8_t *restrict m, float *restrict gx, Py_ssize_t n,
    const tc_mask_spec *sp)
{
    const __m256 slope = _mm256_set1_ps(sp->slope);
    const __m256i lane = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    Py_ssize_t i;
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(g + i);
        __m256 other = sp->scaled ? _mm256_mul_ps(v, slope) : _mm256_setzero_ps();
        __m256i on = _mm256_and_si256(_mm256_set1_epi32(m[i >> 3]), lane);
        on = _mm256_cmpeq_epi32(on, lane);
        _mm256_storeu_ps(gx + i, _mm256_blendv_ps(other, v, _mm256_castsi256_ps(on)));
    }
    tc_mask_backward_scalar_f(g + i, m + (i >> 3), gx + i, n - i, sp);
}
#else
#define TC_MASK_X86 0
#endif

/* The best level this CPU runs. */
static int tc_mask_best(void)
{
#if TC_MASK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return TC_MASK_AVX512;
    if (__builtin_cpu_supports("avx2"))
        return TC_MASK_AVX2;
#endif
    return TC_MASK_SCALAR;
}

/* The mask of x (n elements) at level isa (at most tc_mask_best()); n need not be a multiple
   of 8 only for the last block of an array. */
static void tc_mask_f(int isa, const float *x, uint8_t *m, Py_ssize_t n, const tc_mask_spec *sp)
{
#if TC_MASK_X86
    if (isa == TC_MASK_AVX512) { tc_mask_avx512_f(x, m, n, sp); return; }
    if (isa == TC_MASK_AVX2) { tc_mask_avx2_f(x, m, n, sp); return; }
#endif
    tc_mask_scalar_f(x, m, n, sp);
}

static void tc_mask_backward_f(int isa, const float *g, const uint8_t *m, float *gx,
                               Py_ssize_t n, const tc_mask_spec *sp)
{
#if TC_MASK_X86
    if (isa == TC_MASK_AVX512) { tc_mask_backward_avx512_f(g, m, gx, n, sp); return; }
    if (isa == TC_MASK_AVX2) { tc_mask_backward_avx2_f(g, m, gx, n, sp); return; }
#endif
    tc_mask_backward_scalar_f(g, m, gx, n, sp);
}

#endif
