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
    enum:
        TC_MASK_SCALAR
        TC_MASK_AVX2
        TC_MASK_AVX512
    ctypedef struct tc_mask_spec:
        pass
    int tc_mask_spec_of(int kind, float a, float b, tc_mask_spec* sp)
    int tc_mask_best()
    void tc_mask_f(int isa, const float* x, unsigned char* m, Py_ssize_t n,
                   const tc_mask_spec* sp)
    void tc_mask_backward_f(int isa, const float* g, const unsigned char* m, float* gx,
                            Py_ssize_t n, const tc_mask_spec* sp)


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

#: Kinds whose float32 backward reads a bit mask written by the forward (forward_masked).
MASKED = frozenset({"relu", "leaky_relu", "hardtanh", "threshold"})

#: Instruction-set levels of the mask loops, by name.
MASK_LEVELS = {"scalar": TC_MASK_SCALAR, "avx2": TC_MASK_AVX2, "avx512": TC_MASK_AVX512}

cdef int _mask_best = tc_mask_best()
cdef int _mask_isa = _mask_best


def mask_level(level=None):
    """The level (a key of MASK_LEVELS) the mask loops use; with ``level``, switch to it
    (for tests: each level must give the same bits) and return the previous one. ``None``
    keeps it; ``'best'`` restores the best the CPU runs."""
    global _mask_isa
    names = {v: k for k, v in MASK_LEVELS.items()}
    prev = names[_mask_isa]
    if level is not None:
        code = _mask_best if level == "best" else MASK_LEVELS.get(level)
        if code is None:
            raise ValueError(f"mask_level: unknown level {level!r}; expected one of "
                             f"{sorted(MASK_LEVELS)} or 'best'")
        if code > _mask_best:
            raise ValueError(f"mask_level: this CPU does not run {level!r} "
                             f"(best: {names[_mask_best]!r})")
        _mask_isa = code
    return prev


cdef tc_mask_spec _spec(int kind, double a, double b) except *:
    cdef tc_mask_spec sp
    if not tc_mask_spec_of(kind, <float>a, <float>b, &sp):
        raise ValueError(f"activation kind {kind} has no derivative mask")
    return sp


def forward_masked(int kind, const float[::1] x, float[::1] y, unsigned char[::1] m, double a,
                   double b, double c, int nthreads):
    """y = f(x) as forward, and m (at least ceil(n / 8) bytes) the bits of the backward of
    backward_masked, for the kinds in MASKED."""
    cdef Py_ssize_t n = x.shape[0], nb = (n + TC_ACT_BLOCK - 1) // TC_ACT_BLOCK, k, lo, ln
    cdef tc_mask_spec sp = _spec(kind, a, b)
    cdef const float* xp = &x[0]
    cdef float* yp = &y[0]
    cdef unsigned char* mp = &m[0]
    cdef int isa = _mask_isa
    if m.shape[0] < (n + 7) // 8:
        raise ValueError(f"forward_masked: mask of {m.shape[0]} bytes for {n} elements")
    with nogil, parallel(num_threads=nthreads):
        for k in prange(nb, schedule='static'):
            lo = k * TC_ACT_BLOCK
            ln = _len(n, lo, TC_ACT_BLOCK)
            tc_act_forward_f(kind, xp + lo, yp + lo, ln, a, b, c)
            tc_mask_f(isa, xp + lo, mp + lo // 8, ln, &sp)


def backward_masked(int kind, const float[::1] g, const unsigned char[::1] m, float[::1] gx,
                    double a, double b, int nthreads):
    """gx = g where the mask bit is 1, else 0 (leaky_relu: g * slope)."""
    cdef Py_ssize_t n = g.shape[0], nb = (n + TC_ACT_BLOCK - 1) // TC_ACT_BLOCK, k, lo
    cdef tc_mask_spec sp = _spec(kind, a, b)
    cdef const float* gp = &g[0]
    cdef const unsigned char* mp = &m[0]
    cdef float* op = &gx[0]
    cdef int isa = _mask_isa
    if m.shape[0] < (n + 7) // 8:
        raise ValueError(f"backward_masked: mask of {m.shape[0]} bytes for {n} elements")
    with nogil, parallel(num_threads=nthreads):
        for k in prange(nb, schedule='static'):
            lo = k * TC_ACT_BLOCK
            tc_mask_backward_f(isa, gp + lo, mp + lo // 8, op + lo, _len(n, lo, TC_ACT_BLOCK),
                               &sp)


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
