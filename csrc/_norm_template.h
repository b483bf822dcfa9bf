/* The batch-norm loops, written once for a floating type T; BN(name) gives the name its type
 * suffix. Included twice by _norm.h (no include guard on purpose); see there for the two
 * paths and the block arguments (x: the block's first value, N rows at stride `stride`, nc
 * channels of L values each).
 */

/* ------------------------------------------------------------------------- reductions */

/* Plane path, one channel: sum (x - m), or sum (x - m)^2 when `squared`. */
TC_BN_INLINE double BN(moment)(const T* x, ptrdiff_t N, ptrdiff_t stride, ptrdiff_t L,
                               double m, int squared)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    ptrdiff_t n = 0;
    for (; n + 4 <= N; n += 4) {
        const T* p0 = x + n * stride;
        const T* p1 = p0 + stride;
        const T* p2 = p1 + stride;
        const T* p3 = p2 + stride;
        #pragma omp simd reduction(+:s0, s1, s2, s3)
        for (ptrdiff_t i = 0; i < L; i++) {
            double d0 = (double)p0[i] - m, d1 = (double)p1[i] - m;
            double d2 = (double)p2[i] - m, d3 = (double)p3[i] - m;
            s0 += squared ? d0 * d0 : d0;
            s1 += squared ? d1 * d1 : d1;
            s2 += squared ? d2 * d2 : d2;
            s3 += squared ? d3 * d3 : d3;
        }
    }
    for (; n < N; n++) {
        const T* p0 = x + n * stride;
        #pragma omp simd reduction(+:s0)
        for (ptrdiff_t i = 0; i < L; i++) {
            double d0 = (double)p0[i] - m;
            s0 += squared ? d0 * d0 : d0;
        }
    }
    return (s0 + s1) + (s2 + s3);
}

/* Plane path, one channel: returns sum g and sets *sgx = sum g * (x - m). */
TC_BN_INLINE double BN(sum_dot)(const T* g, const T* x, ptrdiff_t N, ptrdiff_t stride,
                                ptrdiff_t L, double m, double* sgx)
{
    double a0 = 0, a1 = 0, b0 = 0, b1 = 0;
    ptrdiff_t n = 0;
    for (; n + 2 <= N; n += 2) {
        const T* g0 = g + n * stride;
        const T* g1 = g0 + stride;
        const T* x0 = x + n * stride;
        const T* x1 = x0 + stride;
        #pragma omp simd reduction(+:a0, a1, b0, b1)
        for (ptrdiff_t i = 0; i < L; i++) {
            double u0 = (double)g0[i], u1 = (double)g1[i];
            a0 += u0;
            a1 += u1;
            b0 += u0 * ((double)x0[i] - m);
            b1 += u1 * ((double)x1[i] - m);
        }
    }
    for (; n < N; n++) {
        const T* g0 = g + n * stride;
        const T* x0 = x + n * stride;
        #pragma omp simd reduction(+:a0, b0)
        for (ptrdiff_t i = 0; i < L; i++) {
            double u0 = (double)g0[i];
            a0 += u0;
            b0 += u0 * ((double)x0[i] - m);
        }
    }
    *sgx = b0 + b1;
    return a0 + a1;
}

/* Column path: out[c] = scale * sum of the L column sums acc[c*L : (c+1)*L], c < nc. */
TC_BN_INLINE void BN(per_channel)(const double* acc, ptrdiff_t nc, ptrdiff_t L, double scale,
                                  double* out)
{
    for (ptrdiff_t c = 0; c < nc; c++) {
        double s = 0;
        for (ptrdiff_t l = 0; l < L; l++) s += acc[c * L + l];
        out[c] = s * scale;
    }
}

/* Column path: acc[j] = sum over rows of (x - mcol[j]), or of its square when `squared`. */
TC_BN_INLINE void BN(col_moment)(const T* x, ptrdiff_t N, ptrdiff_t stride, ptrdiff_t W,
                                 const double* mcol, int squared, double* acc)
{
    for (ptrdiff_t j = 0; j < W; j++) acc[j] = 0;
    for (ptrdiff_t n = 0; n < N; n++) {
        const T* row = x + n * stride;
        #pragma omp simd
        for (ptrdiff_t j = 0; j < W; j++) {
            double d = (double)row[j] - mcol[j];
            acc[j] += squared ? d * d : d;
        }
    }
}

/* Per channel of the block: mean[c] and the biased variance var[c] (two passes). */
static inline void BN(stats)(const T* x, ptrdiff_t N, ptrdiff_t stride, ptrdiff_t L,
                             ptrdiff_t nc, int cols, double* mean, double* var)
{
    double inv_m = 1.0 / ((double)N * (double)L);
    if (!cols) {
        for (ptrdiff_t c = 0; c < nc; c++) {
            mean[c] = BN(moment)(x + c * L, N, stride, L, 0.0, 0) * inv_m;
            var[c] = BN(moment)(x + c * L, N, stride, L, mean[c], 1) * inv_m;
        }
        return;
    }
    double acc[TC_BN_COLS], mcol[TC_BN_COLS];
    ptrdiff_t W = nc * L;
    for (ptrdiff_t j = 0; j < W; j++) mcol[j] = 0;
    BN(col_moment)(x, N, stride, W, mcol, 0, acc);
    BN(per_channel)(acc, nc, L, inv_m, mean);
    for (ptrdiff_t j = 0; j < W; j++) mcol[j] = mean[j / L];
    BN(col_moment)(x, N, stride, W, mcol, 1, acc);
    BN(per_channel)(acc, nc, L, inv_m, var);
}

/* Per channel of the block: sg[c] = sum g, sgx[c] = sum g * (x - m[c]). */
static inline void BN(sums)(const T* g, const T* x, ptrdiff_t N, ptrdiff_t stride, ptrdiff_t L,
                            ptrdiff_t nc, int cols, const T* m, double* sg, double* sgx)
{
    if (!cols) {
        for (ptrdiff_t c = 0; c < nc; c++)
            sg[c] = BN(sum_dot)(g + c * L, x + c * L, N, stride, L, m[c], &sgx[c]);
        return;
    }
    double ag[TC_BN_COLS], ax[TC_BN_COLS], mcol[TC_BN_COLS];
    ptrdiff_t W = nc * L;
    for (ptrdiff_t j = 0; j < W; j++) {
        ag[j] = ax[j] = 0;
        mcol[j] = m[j / L];
    }
    for (ptrdiff_t n = 0; n < N; n++) {
        const T* gr = g + n * stride;
        const T* xr = x + n * stride;
        #pragma omp simd
        for (ptrdiff_t j = 0; j < W; j++) {
            double u = (double)gr[j];
            ag[j] += u;
            ax[j] += u * ((double)xr[j] - mcol[j]);
        }
    }
    BN(per_channel)(ag, nc, L, 1.0, sg);
    BN(per_channel)(ax, nc, L, 1.0, sgx);
}

/* ------------------------------------------------------------------------- element-wise */

/* affine: (x - m) k + r;  grad: g k + (x - m) q + r;  scale: g k. */
TC_BN_INLINE T BN(elem)(int mode, T x, T g, T m, T k, T q, T r)
{
    return mode == TC_BN_AFFINE ? (x - m) * k + r
         : mode == TC_BN_GRAD ? g * k + (x - m) * q + r
         : g * k;
}

/* out = elem(mode, x, g) with channel c's parameters m[c], k[c], q[c], r[c] (x is not read
   for TC_BN_SCALE, g not for TC_BN_AFFINE, q not for either). */
TC_BN_INLINE void BN(map)(int mode, const T* x, const T* g, T* out, ptrdiff_t N,
                          ptrdiff_t stride, ptrdiff_t L, ptrdiff_t nc, int cols, const T* m,
                          const T* k, const T* q, const T* r)
{
    if (!cols) {
        for (ptrdiff_t c = 0; c < nc; c++) {
            T mc = m[c], kc = k[c], qc = q[c], rc = r[c];
            for (ptrdiff_t n = 0; n < N; n++) {
                ptrdiff_t o = c * L + n * stride;
                const T* restrict xp = x + o;
                const T* restrict gp = g + o;
                T* restrict op = out + o;
                #pragma omp simd
                for (ptrdiff_t i = 0; i < L; i++)
                    op[i] = BN(elem)(mode, xp[i], gp[i], mc, kc, qc, rc);
            }
        }
        return;
    }
    T mcol[TC_BN_COLS], kcol[TC_BN_COLS], qcol[TC_BN_COLS], rcol[TC_BN_COLS];
    ptrdiff_t W = nc * L;
    for (ptrdiff_t j = 0; j < W; j++) {
        mcol[j] = m[j / L];
        kcol[j] = k[j / L];
        qcol[j] = q[j / L];
        rcol[j] = r[j / L];
    }
    for (ptrdiff_t n = 0; n < N; n++) {
        const T* restrict xp = x + n * stride;
        const T* restrict gp = g + n * stride;
        T* restrict op = out + n * stride;
        #pragma omp simd
        for (ptrdiff_t j = 0; j < W; j++)
            op[j] = BN(elem)(mode, xp[j], gp[j], mcol[j], kcol[j], qcol[j], rcol[j]);
    }
}

/* y = (x - m[c]) * k[c] + b[c] */
static inline void BN(affine)(const T* x, T* y, ptrdiff_t N, ptrdiff_t stride, ptrdiff_t L,
                              ptrdiff_t nc, int cols, const T* m, const T* k, const T* b)
{
    BN(map)(TC_BN_AFFINE, x, x, y, N, stride, L, nc, cols, m, k, k, b);
}

/* gx = g * k[c] + (x - m[c]) * q[c] + r[c] */
static inline void BN(grad)(const T* x, const T* g, T* gx, ptrdiff_t N, ptrdiff_t stride,
                            ptrdiff_t L, ptrdiff_t nc, int cols, const T* m, const T* k,
                            const T* q, const T* r)
{
    BN(map)(TC_BN_GRAD, x, g, gx, N, stride, L, nc, cols, m, k, q, r);
}

/* gx = g * k[c] */
static inline void BN(scale)(const T* g, T* gx, ptrdiff_t N, ptrdiff_t stride, ptrdiff_t L,
                             ptrdiff_t nc, int cols, const T* k)
{
    BN(map)(TC_BN_SCALE, g, g, gx, N, stride, L, nc, cols, k, k, k, k);
}
