/* The activations, written once for a floating type T; TC(name) gives the name its type suffix.
 * Included twice by _act.h (no include guard on purpose). Needs T's primitives TC(abs),
 * TC(exp), TC(expm1), TC(log1p01), TC(tanh), TC(normal_cdf), TC(normal_cdf_gauss).
 *
 * Each activation is a forward and a backward side by side, with PyTorch's formula and its
 * choice of derivative at the kinks (ATen's CPU kernels, torch 2.13). Every function is
 * branch-free (both sides of a ?: are computed and one is kept), so that GCC vectorises the
 * loops at the end; a NaN input gives a NaN output. Backward functions take the upstream
 * gradient g and the tensor saved by the forward: the input x, or the output y where that is
 * cheaper and exact (relu, sigmoid, tanh; see TC_FROM_OUTPUT in _act.pyx).
 */

/* relu: gradient 0 where y <= 0, so relu'(0) = 0 (threshold_backward on the result). */
TC_INLINE T TC(relu)(T x) { return x <= 0 ? (T)0 : x; }
TC_INLINE T TC(relu_grad)(T g, T y) { return y <= 0 ? (T)0 : g; }

/* leaky_relu (also rrelu in eval mode): leaky_relu'(0) = slope. */
TC_INLINE T TC(leaky_relu)(T x, T slope) { return x > 0 ? x : x * slope; }
TC_INLINE T TC(leaky_relu_grad)(T g, T x, T slope) { return x > 0 ? g : g * slope; }

/* hardtanh (relu6 = hardtanh(0, 6)): gradient 0 at and beyond both bounds. */
TC_INLINE T TC(hardtanh)(T x, T lo, T hi) { return x < lo ? lo : (x > hi ? hi : x); }
TC_INLINE T TC(hardtanh_grad)(T g, T x, T lo, T hi)
{
    return (x <= lo) | (x >= hi) ? (T)0 : g;
}

/* elu family, ATen's elu(x, negcoef = alpha*scale, poscoef = scale, negiptcoef = input_scale):
   elu (1, 1), selu (SELU's alpha and scale), celu (input_scale = 1/alpha). x <= 0 takes the
   exponential side, so elu'(0) = alpha * scale * input_scale. */
TC_INLINE T TC(elu)(T x, T negcoef, T poscoef, T negiptcoef)
{
    return x <= 0 ? TC(expm1)(x * negiptcoef) * negcoef : x * poscoef;
}
TC_INLINE T TC(elu_grad)(T g, T x, T negcoef, T poscoef, T negiptcoef)
{
    return x <= 0 ? g * negiptcoef * negcoef * TC(exp)(x * negiptcoef) : g * poscoef;
}

/* normal CDF Phi and its derivative, the density phi = exp(-x^2/2) / sqrt(2 pi).
   (normal_cdf_gauss need not return NaN for NaN x; gelu gets NaN from its factor x.) */
TC_INLINE T TC(normal_cdf_grad)(T g, T x)
{
    T gauss;
    TC(normal_cdf_gauss)(x, &gauss);
    return x == x ? g * (gauss * (T)0.398942280401432678) : x;
}

/* gelu: x Phi(x); gelu' = Phi(x) + x phi(x). */
TC_INLINE T TC(gelu)(T x) { return x * TC(normal_cdf)(x); }
TC_INLINE T TC(gelu_grad)(T g, T x)
{
    T gauss, cdf = TC(normal_cdf_gauss)(x, &gauss);
    return g * (cdf + x * (gauss * (T)0.398942280401432678));
}

/* sigmoid: 1 / (1 + exp(-x)) (0 and 1 at -inf and inf, no overflow trouble); sigmoid' from y. */
TC_INLINE T TC(sigmoid)(T x) { return (T)1 / ((T)1 + TC(exp)(-x)); }
TC_INLINE T TC(sigmoid_grad)(T g, T y) { return g * ((T)1 - y) * y; }

/* gelu with approximate='tanh': 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3),
   computed as x sigmoid(2u) (the same function, without 1 + tanh(u) cancelling for x < 0);
   with s = sigmoid(2u): 0.5 (1 + tanh u) = s and 1 - tanh(u)^2 = 4 s (1 - s). */
TC_INLINE T TC(gelu_tanh)(T x)
{
    T u = (T)0.797884560802865356 * (x + (T)0.044715 * x * x * x);
    return x * TC(sigmoid)(2 * u);
}
TC_INLINE T TC(gelu_tanh_grad)(T g, T x)
{
    T x2 = x * x;
    T s = TC(sigmoid)((T)1.59576912160573071 * (x + (T)0.044715 * x2 * x));
    T du = (T)0.797884560802865356 * (1 + (T)(3 * 0.044715) * x2);
    return g * (s + 2 * x * s * (1 - s) * du);
}

/* silu: x / (1 + exp(-x)); silu' = s (1 + x (1 - s)) with s = sigmoid(x). */
TC_INLINE T TC(silu)(T x) { return x / ((T)1 + TC(exp)(-x)); }
TC_INLINE T TC(silu_grad)(T g, T x)
{
    T s = TC(sigmoid)(x);
    return g * s * ((T)1 + x * ((T)1 - s));
}

/* mish: x tanh(softplus(x)). With e = exp(x) and n = e (e + 2), tanh(log(1 + e)) = n / (n + 2):
   one exp. Beyond x = 20 tanh(softplus(x)) is 1 in float and double, so e is capped there.
   mish' = tsp + x sigmoid(x) (1 - tsp^2), 1 - tsp^2 = (1 - tsp)(1 + tsp), 1 - tsp = 2/(n + 2). */
TC_INLINE T TC(mish)(T x)
{
    T e = TC(exp)(x < 20 ? x : (T)20);
    T n = e * (e + 2);
    return x * (n / (n + 2));
}
TC_INLINE T TC(mish_grad)(T g, T x)
{
    T e = TC(exp)(x < 20 ? x : (T)20);
    T n = e * (e + 2);
    T tsp = n / (n + 2);
    T sech2 = x < 20 ? (2 / (n + 2)) * (1 + tsp) : (T)0;
    return g * (tsp + x * (e / (1 + e)) * sech2);
}

/* tanh; tanh' = 1 - y^2 from the output. */
TC_INLINE T TC(tanh_grad)(T g, T y) { return g * ((T)1 - y * y); }

/* softplus: x where beta x > threshold, else log1p(exp(beta x)) / beta, computed as
   (max(z, 0) + log1p(exp(-|z|))) / beta with z = beta x: the same function, without overflow
   when the threshold is large. softplus' = sigmoid(beta x) (1 above the threshold). */
TC_INLINE T TC(softplus)(T x, T beta, T threshold)
{
    T z = x * beta;
    T sp = ((z > 0 ? z : (T)0) + TC(log1p01)(TC(exp)(-TC(abs)(z)))) / beta;
    return z > threshold ? x : sp;
}
TC_INLINE T TC(softplus_grad)(T g, T x, T beta, T threshold)
{
    T z = x * beta;
    return z > threshold ? g : g * TC(sigmoid)(z);
}

/* softsign: x / (1 + |x|); softsign' = 1 / (1 + |x|)^2. */
TC_INLINE T TC(softsign)(T x) { return x / ((T)1 + TC(abs)(x)); }
TC_INLINE T TC(softsign_grad)(T g, T x)
{
    T d = (T)1 + TC(abs)(x);
    return g / (d * d);
}

/* hardsigmoid: min(max(x + 3, 0), 6) / 6; gradient 1/6 strictly inside (-3, 3), 0 elsewhere. */
TC_INLINE T TC(relu6_shift3)(T x)
{
    T t = x + 3;
    t = t < 0 ? (T)0 : t;
    return t > 6 ? (T)6 : t;
}
TC_INLINE T TC(hardsigmoid)(T x) { return TC(relu6_shift3)(x) / 6; }
TC_INLINE T TC(hardsigmoid_grad)(T g, T x)
{
    return (x > -3) & (x < 3) ? g * (T)(1.0 / 6.0) : (T)0;
}

/* hardswish: x min(max(x + 3, 0), 6) / 6; gradient 0 for x <= -3, x/3 + 1/2 inside, 1 for
   x >= 3 (torch 2.13: hardswish'(-3) = 0, hardswish'(3) = 1). */
TC_INLINE T TC(hardswish)(T x) { return x * TC(relu6_shift3)(x) / 6; }
TC_INLINE T TC(hardswish_grad)(T g, T x)
{
    return x <= -3 ? (T)0 : (x < 3 ? g * (x / 3 + (T)0.5) : g);
}

/* threshold: value where x <= threshold, else x; gradient 0 where x <= threshold. */
TC_INLINE T TC(threshold)(T x, T th, T value) { return x <= th ? value : x; }
TC_INLINE T TC(threshold_grad)(T g, T x, T th) { return x <= th ? (T)0 : g; }

/* ------------------------------------------------------------------ loops */

#define TC_LOOP(expr) for (i = 0; i < n; i++) { expr; } break

/* y[i] = f(x[i]) for n elements; a, b, c are the activation's parameters (see above). */
TC_CLONES static void TC(act_forward)(int kind, const T *restrict x, T *restrict y, Py_ssize_t n,
                                      T a, T b, T c)
{
    Py_ssize_t i;
    switch (kind) {
    case TC_RELU:        TC_LOOP(y[i] = TC(relu)(x[i]));
    case TC_LEAKY_RELU:  TC_LOOP(y[i] = TC(leaky_relu)(x[i], a));
    case TC_HARDTANH:    TC_LOOP(y[i] = TC(hardtanh)(x[i], a, b));
    case TC_ELU:         TC_LOOP(y[i] = TC(elu)(x[i], a, b, c));
    case TC_GELU:        TC_LOOP(y[i] = TC(gelu)(x[i]));
    case TC_GELU_TANH:   TC_LOOP(y[i] = TC(gelu_tanh)(x[i]));
    case TC_SILU:        TC_LOOP(y[i] = TC(silu)(x[i]));
    case TC_MISH:        TC_LOOP(y[i] = TC(mish)(x[i]));
    case TC_SIGMOID:     TC_LOOP(y[i] = TC(sigmoid)(x[i]));
    case TC_TANH:        TC_LOOP(y[i] = TC(tanh)(x[i]));
    case TC_SOFTPLUS:    TC_LOOP(y[i] = TC(softplus)(x[i], a, b));
    case TC_SOFTSIGN:    TC_LOOP(y[i] = TC(softsign)(x[i]));
    case TC_HARDSIGMOID: TC_LOOP(y[i] = TC(hardsigmoid)(x[i]));
    case TC_HARDSWISH:   TC_LOOP(y[i] = TC(hardswish)(x[i]));
    case TC_THRESHOLD:   TC_LOOP(y[i] = TC(threshold)(x[i], a, b));
    case TC_NORMAL_CDF:  TC_LOOP(y[i] = TC(normal_cdf)(x[i]));
    default: break;      /* the Python wrapper only passes known kinds */
    }
}

/* gx[i] = g[i] * f'(...) for n elements, s being the input or the output (TC_FROM_OUTPUT). */
TC_CLONES static void TC(act_backward)(int kind, const T *restrict g, const T *restrict s,
                                       T *restrict gx, Py_ssize_t n, T a, T b, T c)
{
    Py_ssize_t i;
    switch (kind) {
    case TC_RELU:        TC_LOOP(gx[i] = TC(relu_grad)(g[i], s[i]));
    case TC_LEAKY_RELU:  TC_LOOP(gx[i] = TC(leaky_relu_grad)(g[i], s[i], a));
    case TC_HARDTANH:    TC_LOOP(gx[i] = TC(hardtanh_grad)(g[i], s[i], a, b));
    case TC_ELU:         TC_LOOP(gx[i] = TC(elu_grad)(g[i], s[i], a, b, c));
    case TC_GELU:        TC_LOOP(gx[i] = TC(gelu_grad)(g[i], s[i]));
    case TC_GELU_TANH:   TC_LOOP(gx[i] = TC(gelu_tanh_grad)(g[i], s[i]));
    case TC_SILU:        TC_LOOP(gx[i] = TC(silu_grad)(g[i], s[i]));
    case TC_MISH:        TC_LOOP(gx[i] = TC(mish_grad)(g[i], s[i]));
    case TC_SIGMOID:     TC_LOOP(gx[i] = TC(sigmoid_grad)(g[i], s[i]));
    case TC_TANH:        TC_LOOP(gx[i] = TC(tanh_grad)(g[i], s[i]));
    case TC_SOFTPLUS:    TC_LOOP(gx[i] = TC(softplus_grad)(g[i], s[i], a, b));
    case TC_SOFTSIGN:    TC_LOOP(gx[i] = TC(softsign_grad)(g[i], s[i]));
    case TC_HARDSIGMOID: TC_LOOP(gx[i] = TC(hardsigmoid_grad)(g[i], s[i]));
    case TC_HARDSWISH:   TC_LOOP(gx[i] = TC(hardswish_grad)(g[i], s[i]));
    case TC_THRESHOLD:   TC_LOOP(gx[i] = TC(threshold_grad)(g[i], s[i], a));
    case TC_NORMAL_CDF:  TC_LOOP(gx[i] = TC(normal_cdf_grad)(g[i], s[i]));
    case TC_MUL:         TC_LOOP(gx[i] = g[i] * s[i]);
    default: break;
    }
}

#undef TC_LOOP

/* prelu on a run of n elements sharing one weight w: x where x > 0, else w x. */
TC_CLONES static void TC(prelu_forward)(const T *restrict x, T *restrict y, Py_ssize_t n, T w)
{
    Py_ssize_t i;
    for (i = 0; i < n; i++)
        y[i] = x[i] > 0 ? x[i] : w * x[i];
}

/* prelu's input gradient on such a run (if gx is not NULL) and its weight gradient, the sum of
   x g over the elements with x <= 0, in double with 8 interleaved partial sums: a fixed order
   for every machine and thread count. */
TC_CLONES static double TC(prelu_backward)(const T *restrict g, const T *restrict x,
                                           T *restrict gx, Py_ssize_t n, T w)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    Py_ssize_t i, j;
    if (gx != NULL)
        for (i = 0; i < n; i++)
            gx[i] = x[i] > 0 ? g[i] : w * g[i];
    for (i = 0; i + 8 <= n; i += 8)
        for (j = 0; j < 8; j++)
            acc[j] += x[i + j] > 0 ? 0.0 : (double)x[i + j] * (double)g[i + j];
    for (; i < n; i++)
        acc[0] += x[i] > 0 ? 0.0 : (double)x[i] * (double)g[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* rrelu in training mode: u holds uniform draws in [0, 1) on entry and the slope used for each
   element on exit (lower + (upper - lower) u, at most upper, where x <= 0; 1 elsewhere, as
   PyTorch's noise tensor); y = x * slope. */
TC_CLONES static void TC(rrelu_forward)(const T *restrict x, T *restrict u, T *restrict y,
                                        Py_ssize_t n, T lower, T upper)
{
    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        T r = lower + (upper - lower) * u[i];
        r = r < upper ? r : upper;
        r = x[i] <= 0 ? r : (T)1;
        u[i] = r;
        y[i] = x[i] * r;
    }
}
