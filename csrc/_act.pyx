# distutils: depends = csrc/_act.h csrc/_act_template.h
#
# Elementwise activations: forward and backward of every activation in tinyconv.ops.activation,
# plus PReLU and training-mode RReLU, for float32 and float64.
#
# The per-element maths and the loops are C (csrc/_act.h, csrc/_act_template.h: vectorised,
# compiled for AVX-512, AVX2 and baseline x86-64 and dispatched at load time; the header says
# why). This module splits a flat array into blocks of TC_ACT_BLOCK elements and hands whole
# blocks to the threads, so every element is computed by the same instructions whatever the
# thread count: results with 1 and N threads are identical.

from cython.parallel cimport parallel, prange

from _common cimport real


cdef extern from "_act.h" nogil:
    enum:
        TC_ACT_BLOCK
        TC_RELU
        TC_LEAKY_RELU
        TC_HARDTANH
        TC_ELU
        TC_GELU
        TC_GELU_TANH
        TC_SILU
        TC_MISH
        TC_SIGMOID
        TC_TANH
        TC_SOFTPLUS
        TC_SOFTSIGN
        TC_HARDSIGMOID
        TC_HARDSWISH
        TC_THRESHOLD
        TC_NORMAL_CDF
        TC_MUL
    void tc_act_forward_f(int kind, const float* x, float* y, Py_ssize_t n,
                          float a, float b, float c)
    void tc_act_forward_d(int kind, const double* x, double* y, Py_ssize_t n,
                          double a, double b, double c)
    void tc_act_backward_f(int kind, const float* g, const float* s, float* gx, Py_ssize_t n,
                           float a, float b, float c)
    void tc_act_backward_d(int kind, const double* g, const double* s, double* gx, Py_ssize_t n,
                           double a, double b, double c)
    void tc_prelu_forward_f(const float* x, float* y, Py_ssize_t n, float w)
    void tc_prelu_forward_d(const double* x, double* y, Py_ssize_t n, double w)
    double tc_prelu_backward_f(const float* g, const float* x, float* gx, Py_ssize_t n, float w)
    double tc_prelu_backward_d(const double* g, const double* x, double* gx, Py_ssize_t n,
                               double w)
    void tc_rrelu_forward_f(const float* x, float* u, float* y, Py_ssize_t n,
                            float lower, float upper)
    void tc_rrelu_forward_d(const double* x, double* u, double* y, Py_ssize_t n,
                            double lower, double upper)
    int tc_act_cloned()


#: Kernel codes by name. Parameters (a, b, c) of each: leaky_relu (slope), hardtanh (min, max),
#: elu (alpha * scale, scale, input_scale), softplus (beta, threshold), threshold (threshold,
#: value); the others take none. "mul" is backward-only: grad * saved.
KINDS = {
    "relu": TC_RELU, "leaky_relu": TC_LEAKY_RELU, "hardtanh": TC_HARDTANH, "elu": TC_ELU,
    "gelu": TC_GELU, "gelu_tanh": TC_GELU_TANH, "silu": TC_SILU, "mish": TC_MISH,
    "sigmoid": TC_SIGMOID, "tanh": TC_TANH, "softplus": TC_SOFTPLUS, "softsign": TC_SOFTSIGN,
    "hardsigmoid": TC_HARDSIGMOID, "hardswish": TC_HARDSWISH, "threshold": TC_THRESHOLD,
    "normal_cdf": TC_NORMAL_CDF, "mul": TC_MUL,
}

#: Kinds whose backward takes the forward's output instead of its input.
FROM_OUTPUT = frozenset({"relu", "sigmoid", "tanh"})

#: Elements per block (the unit of work handed to a thread).
BLOCK = TC_ACT_BLOCK


def cloned():
    """True when the loops were compiled for several instruction sets (GCC target_clones)."""
    return bool(tc_act_cloned())


cdef inline Py_ssize_t _len(Py_ssize_t n, Py_ssize_t lo, Py_ssize_t size) noexcept nogil:
    return size if lo + size <= n else n - lo


def forward(int kind, const real[::1] x, real[::1] y, double a, double b, double c,
            int nthreads):
    """y = f(x) elementwise (x, y of equal non-zero length, not overlapping)."""
    cdef Py_ssize_t n = x.shape[0], nb = (n + TC_ACT_BLOCK - 1) // TC_ACT_BLOCK, k, lo
    cdef const real* xp = &x[0]
    cdef real* yp = &y[0]
    with nogil, parallel(num_threads=nthreads):
        for k in prange(nb, schedule='static'):
            lo = k * TC_ACT_BLOCK
            if real is float:
                tc_act_forward_f(kind, xp + lo, yp + lo, _len(n, lo, TC_ACT_BLOCK), a, b, c)
            else:
                tc_act_forward_d(kind, xp + lo, yp + lo, _len(n, lo, TC_ACT_BLOCK), a, b, c)


def backward(int kind, const real[::1] g, const real[::1] s, real[::1] gx, double a, double b,
             double c, int nthreads):
    """gx = g * f'(s) elementwise, s the forward's input (or output, for FROM_OUTPUT kinds)."""
    cdef Py_ssize_t n = g.shape[0], nb = (n + TC_ACT_BLOCK - 1) // TC_ACT_BLOCK, k, lo
    cdef const real* gp = &g[0]
    cdef const real* sp = &s[0]
    cdef real* op = &gx[0]
    with nogil, parallel(num_threads=nthreads):
        for k in prange(nb, schedule='static'):
            lo = k * TC_ACT_BLOCK
            if real is float:
                tc_act_backward_f(kind, gp + lo, sp + lo, op + lo, _len(n, lo, TC_ACT_BLOCK),
                                  a, b, c)
            else:
                tc_act_backward_d(kind, gp + lo, sp + lo, op + lo, _len(n, lo, TC_ACT_BLOCK),
                                  a, b, c)


def prelu_forward(const real[::1] x, const real[::1] w, real[::1] y, Py_ssize_t inner,
                  int nthreads):
    """y = x where x > 0, else w[r % C] x, row r being x[r*inner : (r+1)*inner] (the last row
    may be shorter) and C = len(w)."""
    cdef Py_ssize_t n = x.shape[0], C = w.shape[0], rows = (n + inner - 1) // inner, r, lo
    cdef const real* xp = &x[0]
    cdef const real* wp = &w[0]
    cdef real* yp = &y[0]
    with nogil, parallel(num_threads=nthreads):
        for r in prange(rows, schedule='static'):
            lo = r * inner
            if real is float:
                tc_prelu_forward_f(xp + lo, yp + lo, _len(n, lo, inner), wp[r % C])
            else:
                tc_prelu_forward_d(xp + lo, yp + lo, _len(n, lo, inner), wp[r % C])


def prelu_backward(const real[::1] g, const real[::1] x, const real[::1] w, real[::1] gx,
                   double[::1] partial, Py_ssize_t inner, bint want_gx, int nthreads):
    """Rows as prelu_forward. gx (if want_gx) = g where x > 0, else w[r % C] g;
    partial[r] = sum over row r of x g where x <= 0 (the weight gradient, before summing rows)."""
    cdef Py_ssize_t n = x.shape[0], C = w.shape[0], rows = (n + inner - 1) // inner, r, lo
    cdef const real* gp = &g[0]
    cdef const real* xp = &x[0]
    cdef const real* wp = &w[0]
    cdef real* op = &gx[0] if want_gx else NULL
    cdef double* pp = &partial[0]
    with nogil, parallel(num_threads=nthreads):
        for r in prange(rows, schedule='static'):
            lo = r * inner
            if real is float:
                pp[r] = tc_prelu_backward_f(gp + lo, xp + lo, op + lo if want_gx else NULL,
                                            _len(n, lo, inner), wp[r % C])
            else:
                pp[r] = tc_prelu_backward_d(gp + lo, xp + lo, op + lo if want_gx else NULL,
                                            _len(n, lo, inner), wp[r % C])


def rrelu_forward(const real[::1] x, real[::1] u, real[::1] y, double lower, double upper,
                  int nthreads):
    """y = x * slope; u holds uniform [0, 1) draws on entry and the slopes on exit."""
    cdef Py_ssize_t n = x.shape[0], nb = (n + TC_ACT_BLOCK - 1) // TC_ACT_BLOCK, k, lo
    cdef const real* xp = &x[0]
    cdef real* up = &u[0]
    cdef real* yp = &y[0]
    with nogil, parallel(num_threads=nthreads):
        for k in prange(nb, schedule='static'):
            lo = k * TC_ACT_BLOCK
            if real is float:
                tc_rrelu_forward_f(xp + lo, up + lo, yp + lo, _len(n, lo, TC_ACT_BLOCK),
                                   lower, upper)
            else:
                tc_rrelu_forward_d(xp + lo, up + lo, yp + lo, _len(n, lo, TC_ACT_BLOCK),
                                   lower, upper)
