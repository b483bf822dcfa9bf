"""Plain-numpy convolution, pooling and activations, as in "Deep Learning from Scratch".

This is the baseline the benchmark compares tinyconv against: the textbook's ``im2col`` /
``col2im`` (a Python loop over the kernel offsets, each one a strided slice of the padded
image), its ``Convolution`` and ``Pooling`` layers with ``forward`` / ``backward``, a
transposed convolution written with ``col2im`` (it is the input-gradient of a convolution), and
the activations as layers in the style of the book's ``Relu`` and ``Sigmoid`` (``ACTIVATIONS``,
see :class:`Activation`).

Extended beyond the book so that it can run every benchmark row, and written to be fair rather
than a strawman:

* any number of spatial dimensions (1-D, 2-D, 3-D): the loop over kernel offsets runs over
  ``itertools.product`` of the kernel ranges;
* stride, padding, dilation (offset ``i`` starts at ``i * dilation``), groups (a loop over groups,
  each a BLAS product on a strided view of the one shared ``col`` buffer);
* max pooling pads with ``-inf`` (PyTorch's semantics; the book pads with 0), average pooling
  with ``count_include_pad=True`` (PyTorch's default);
* the loops are the book's, but ``im2col`` writes each kernel offset's slice straight into
  ``col``'s final layout and ``col2im`` accumulates into a channels-last buffer, instead of the
  book's transposing copies (numpy's 6-D transposes measured 2.5-3.5x slower than the loops);
* groups: each group's product writes a contiguous block (narrow column slices were 3x slower);
* dtype is preserved: every buffer is allocated with the input's dtype, so float32 stays float32
  (the book's ``np.zeros(shape)`` silently computes in float64); ``col`` is ``np.empty`` since
  every element of it is written.

Layout, as in the book: ``col`` has one row per output position, ordered ``(n, *out)``, and one
column per ``(c, *kernel)``. A layer's output is the NCHW *view* of an ``(n, *out, c)`` array,
i.e. physically channels-last, exactly like PyTorch's ``channels_last`` tensors.

Run ``python bench/numpy_ref.py --check`` to compare against PyTorch (float64 oracle) or, when
PyTorch is not installed, against tinyconv.
"""

import itertools
import math

import numpy as np

__all__ = ["im2col", "col2im", "Convolution", "TransposedConvolution", "Pooling", "AvgPooling",
           "conv_output_size", "Activation", "ACTIVATIONS", "erf", "sigmoid", "step",
           "function_name", "make_layer"]


def _tuple(v, n):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def conv_output_size(size, kernel, stride=1, pad=0, dilation=1):
    """``floor((size + 2*pad - dilation*(kernel-1) - 1) / stride) + 1``."""
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def _offset_slices(offs, dilation, stride, out):
    """Strided slice, per spatial dim, of the padded image that kernel offset ``offs`` reads."""
    return tuple(slice(o * d, o * d + s * (m - 1) + 1, s)
                 for o, d, s, m in zip(offs, dilation, stride, out))


def im2col(x, kernel, stride=1, pad=0, dilation=1, pad_value=0.0):
    """Unfold ``x`` (N, C, *S) into ``col`` (N*L, C*prod(kernel)).

    Returns ``(col, out)`` with ``out`` the output spatial shape (L = prod(out)).
    """
    nd = x.ndim - 2
    kernel, stride = _tuple(kernel, nd), _tuple(stride, nd)
    pad, dilation = _tuple(pad, nd), _tuple(dilation, nd)
    n, c = x.shape[:2]
    out = tuple(conv_output_size(s, k, st, p, d)
                for s, k, st, p, d in zip(x.shape[2:], kernel, stride, pad, dilation))
    if any(pad):
        img = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad], constant_values=pad_value)
    else:
        img = x
    # The book fills a (n, c, *k, *out) array and then transposes it to (n, *out, c, *k) with
    # one big copy; writing each offset's slice straight into the final layout is the same
    # loop and measured 2.5x faster (numpy's 6-D transposing copy is slow).
    img_t = img.transpose((0,) + tuple(range(2, 2 + nd)) + (1,))  # (n, *S, c) view
    col = np.empty((n,) + out + (c,) + kernel, dtype=x.dtype)
    for offs in itertools.product(*(range(k) for k in kernel)):
        src = (slice(None),) + _offset_slices(offs, dilation, stride, out)
        col[(Ellipsis,) + offs] = img_t[src]
    return col.reshape(n * math.prod(out), -1), out


def col2im(col, x_shape, kernel, stride=1, pad=0, dilation=1):
    """Fold ``col`` (N*L, C*prod(kernel)) back onto an image of shape ``x_shape`` (N, C, *S).

    ``col`` may be any array of that size whose C-order is (n, *out, c, *k), e.g. a transposed
    (N*L, groups, C/groups*prod(kernel)) view.

    The adjoint of :func:`im2col`: overlapping patches are summed. Returns an NCHW view into a
    padded channels-last buffer (the book also returns a view into its padded buffer).
    """
    nd = len(x_shape) - 2
    kernel, stride = _tuple(kernel, nd), _tuple(stride, nd)
    pad, dilation = _tuple(pad, nd), _tuple(dilation, nd)
    n, c = x_shape[:2]
    out = tuple(conv_output_size(s, k, st, p, d)
                for s, k, st, p, d in zip(x_shape[2:], kernel, stride, pad, dilation))
    col = col.reshape((n,) + out + (c,) + kernel)
    # Accumulate in a channels-last buffer, so that each offset adds into contiguous rows of
    # channels (3.5x faster than the book's NCHW buffer fed from a transposed col).
    img_t = np.zeros((n,) + tuple(s + 2 * p for s, p in zip(x_shape[2:], pad)) + (c,),
                     dtype=col.dtype)
    for offs in itertools.product(*(range(k) for k in kernel)):
        dst = (slice(None),) + _offset_slices(offs, dilation, stride, out)
        img_t[dst] += col[(Ellipsis,) + offs]
    img = img_t.transpose((0, nd + 1) + tuple(range(1, nd + 1)))  # NCHW view
    return img[(slice(None), slice(None)) + tuple(slice(p, p + s)
                                                   for p, s in zip(pad, x_shape[2:]))]


def _to_rows(a):
    """(N, C, *S) -> (N*L, C): the book's ``transpose(0, 2, 3, 1).reshape(-1, C)``."""
    nd = a.ndim - 2
    return a.transpose((0,) + tuple(range(2, 2 + nd)) + (1,)).reshape(-1, a.shape[1])


def _from_rows(rows, n, spatial):
    """(N*L, C) -> NCHW view of the (N, *S, C) array."""
    nd = len(spatial)
    y = rows.reshape((n,) + tuple(spatial) + (rows.shape[1],))
    return y.transpose((0, nd + 1) + tuple(range(1, nd + 1)))


class Convolution:
    """Convolution layer: ``W`` (FN, C/groups, *k), ``b`` (FN,), any number of spatial dims.

    ``forward(x)`` returns the output, ``backward(dout)`` returns ``dx`` and sets ``dW``, ``db``.
    """

    def __init__(self, W, b, stride=1, pad=0, dilation=1, groups=1):
        nd = W.ndim - 2
        self.W, self.b, self.groups = W, b, groups
        self.stride, self.pad = _tuple(stride, nd), _tuple(pad, nd)
        self.dilation = _tuple(dilation, nd)
        self.x_shape = self.col = self.col_W = self.out = None
        self.dW = self.db = None

    def forward(self, x):
        FN, G = self.W.shape[0], self.groups
        kernel = self.W.shape[2:]
        col, out = im2col(x, kernel, self.stride, self.pad, self.dilation)
        col_W = self.W.reshape(FN, -1).T  # (C/G*K, FN)
        if G == 1:
            y = np.dot(col, col_W)
        else:
            # One product per group on a strided view of the shared col; each group's result
            # goes to its own contiguous block (writing into narrow column slices of one
            # (N*L, FN) array measured 3x slower for depthwise).
            K, Og = col_W.shape[0], FN // G
            col3 = col.reshape(col.shape[0], G, K)
            y3 = np.empty((G, col.shape[0], Og), dtype=col.dtype)
            for g in range(G):
                np.matmul(col3[:, g], col_W[:, g * Og:(g + 1) * Og], out=y3[g])
            y = y3.transpose(1, 0, 2).reshape(col.shape[0], FN)  # a view when Og == 1
        if self.b is not None:
            y += self.b
        self.x_shape, self.col, self.col_W, self.out = x.shape, col, col_W, out
        return _from_rows(y, x.shape[0], out)

    def backward(self, dout):
        FN, G = self.W.shape[0], self.groups
        col, col_W = self.col, self.col_W
        dout = _to_rows(dout)  # (N*L, FN)
        self.db = dout.sum(axis=0) if self.b is not None else None
        if G == 1:
            self.dW = np.dot(dout.T, col).reshape(self.W.shape)
            dcol = np.dot(dout, col_W.T)
        else:
            K, Og = col_W.shape[0], FN // G
            col3, dout3 = col.reshape(col.shape[0], G, K), dout.reshape(dout.shape[0], G, Og)
            dW = np.empty((G, Og, K), dtype=col.dtype)
            dcol3 = np.empty((G, col.shape[0], K), dtype=col.dtype)
            for g in range(G):
                np.matmul(dout3[:, g].T, col3[:, g], out=dW[g])
                np.matmul(dout3[:, g], col_W[:, g * Og:(g + 1) * Og].T, out=dcol3[g])
            self.dW = dW.reshape(self.W.shape)
            dcol = dcol3.transpose(1, 0, 2)  # (N*L, G, K): col2im reshapes it as it needs
        return col2im(dcol, self.x_shape, self.W.shape[2:], self.stride, self.pad, self.dilation)


class TransposedConvolution:
    """Transposed convolution: ``W`` (C_in, C_out/groups, *k), ``b`` (C_out,).

    Its forward is a convolution's input-gradient: ``x`` rows times ``W`` give the columns,
    ``col2im`` folds them onto the output. Its backward is a convolution's forward (``im2col``
    of ``dout``). Output size ``(S-1)*stride - 2*pad + dilation*(k-1) + output_padding + 1``.
    """

    def __init__(self, W, b, stride=1, pad=0, output_padding=0, groups=1, dilation=1):
        nd = W.ndim - 2
        self.W, self.b, self.groups = W, b, groups
        self.stride, self.pad = _tuple(stride, nd), _tuple(pad, nd)
        self.output_padding, self.dilation = _tuple(output_padding, nd), _tuple(dilation, nd)
        self.x_shape = self.x_rows = None
        self.dW = self.db = None

    def forward(self, x):
        Cin, G = self.W.shape[0], self.groups
        kernel = self.W.shape[2:]
        Cout = self.W.shape[1] * G
        out = tuple((s - 1) * st - 2 * p + d * (k - 1) + op + 1 for s, st, p, d, k, op in
                    zip(x.shape[2:], self.stride, self.pad, self.dilation, kernel,
                        self.output_padding))
        x_rows = _to_rows(x)  # (N*L, Cin)
        W2 = self.W.reshape(Cin, -1)  # (Cin, Cout/G*K)
        if G == 1:
            col = np.dot(x_rows, W2)
        else:
            Cg, OK = Cin // G, W2.shape[1]
            x3 = x_rows.reshape(x_rows.shape[0], G, Cg)
            col3 = np.empty((G, x_rows.shape[0], OK), dtype=x.dtype)
            for g in range(G):
                np.matmul(x3[:, g], W2[g * Cg:(g + 1) * Cg], out=col3[g])
            col = col3.transpose(1, 0, 2)  # (N*L, G, Cout/G*K)
        y = col2im(col, (x.shape[0], Cout) + out, kernel, self.stride, self.pad, self.dilation)
        if self.b is not None:
            y += self.b.reshape((1, Cout) + (1,) * len(out))
        self.x_shape, self.x_rows = x.shape, x_rows
        return y

    def backward(self, dout):
        Cin, G = self.W.shape[0], self.groups
        nd = dout.ndim - 2
        self.db = dout.sum(axis=(0,) + tuple(range(2, 2 + nd))) if self.b is not None else None
        dcol, _ = im2col(dout, self.W.shape[2:], self.stride, self.pad, self.dilation)
        W2 = self.W.reshape(Cin, -1)
        if G == 1:
            self.dW = np.dot(self.x_rows.T, dcol).reshape(self.W.shape)
            dx_rows = np.dot(dcol, W2.T)
        else:
            Cg, OK = Cin // G, W2.shape[1]
            x3, dcol3 = self.x_rows.reshape(-1, G, Cg), dcol.reshape(dcol.shape[0], G, OK)
            dW = np.empty((G, Cg, OK), dtype=dcol.dtype)
            dx3 = np.empty((G, dcol.shape[0], Cg), dtype=dcol.dtype)
            for g in range(G):
                np.matmul(x3[:, g].T, dcol3[:, g], out=dW[g])
                np.matmul(dcol3[:, g], W2[g * Cg:(g + 1) * Cg].T, out=dx3[g])
            self.dW = dW.reshape(self.W.shape)
            dx_rows = dx3.transpose(1, 0, 2).reshape(dcol.shape[0], Cin)
        return _from_rows(dx_rows, self.x_shape[0], self.x_shape[2:])


class Pooling:
    """Max pooling (the book's ``Pooling``), padding with ``-inf`` as PyTorch does."""

    def __init__(self, kernel, stride=None, pad=0):
        self.kernel, self.stride, self.pad = kernel, kernel if stride is None else stride, pad
        self.x_shape = self.arg_max = self.out = None

    def forward(self, x):
        nd = x.ndim - 2
        k = _tuple(self.kernel, nd)
        col, out = im2col(x, k, self.stride, self.pad, pad_value=-np.inf)
        col = col.reshape(-1, math.prod(k))  # rows (n, *out, c)
        self.arg_max = np.argmax(col, axis=1)
        y = np.max(col, axis=1)
        self.x_shape, self.out = x.shape, out
        return _from_rows(y.reshape(-1, x.shape[1]), x.shape[0], out)

    def backward(self, dout):
        nd = dout.ndim - 2
        k = _tuple(self.kernel, nd)
        K = math.prod(k)
        d = _to_rows(dout).reshape(-1)
        dmax = np.zeros((d.size, K), dtype=dout.dtype)
        dmax[np.arange(self.arg_max.size), self.arg_max] = d
        dcol = dmax.reshape(-1, self.x_shape[1] * K)
        return col2im(dcol, self.x_shape, k, self.stride, self.pad)


class AvgPooling:
    """Average pooling over the window, zero padding counted (``count_include_pad=True``)."""

    def __init__(self, kernel, stride=None, pad=0):
        self.kernel, self.stride, self.pad = kernel, kernel if stride is None else stride, pad
        self.x_shape = None

    def forward(self, x):
        nd = x.ndim - 2
        k = _tuple(self.kernel, nd)
        col, out = im2col(x, k, self.stride, self.pad)
        y = col.reshape(-1, math.prod(k)).mean(axis=1, dtype=x.dtype)
        self.x_shape = x.shape
        return _from_rows(y.reshape(-1, x.shape[1]), x.shape[0], out)

    def backward(self, dout):
        nd = dout.ndim - 2
        k = _tuple(self.kernel, nd)
        K = math.prod(k)
        d = _to_rows(dout).reshape(-1, 1) * dout.dtype.type(1.0 / K)
        dcol = np.broadcast_to(d, (d.shape[0], K)).reshape(-1, self.x_shape[1] * K)
        return col2im(dcol, self.x_shape, k, self.stride, self.pad)


# --------------------------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------------------------

class Activation:
    """Elementwise activation layer, the book's way (its ``Relu`` keeps a mask, its ``Sigmoid``
    its output): ``forward(x)`` computes ``f(x)`` and keeps ``x`` and the output,
    ``backward(dout)`` returns ``dout * f'(x)``. Subclasses write ``f`` and ``df`` as one formula
    each of numpy ufuncs, in the input's dtype (Python scalars only, so float32 stays float32).
    Piecewise formulas select with 0/1 masks (:func:`step`) rather than ``np.where``, which
    measured 10x slower on a mask of random signs (15 ms against 1.5 ms for 4 M elements: it
    branches per element). Parameters have PyTorch's names and defaults."""

    def __init__(self):
        self.x = self.out = None

    def forward(self, x):
        self.x = x
        self.out = self.f(x)
        return self.out

    def backward(self, dout):
        return dout * self.df(self.x, self.out)


def step(x):
    """1 where ``x > 0``, else 0, in ``x``'s dtype (the book's ReLU mask, as numbers)."""
    return (x > 0).astype(x.dtype)


class Relu(Activation):
    def f(self, x):
        return np.maximum(x, 0)

    def df(self, x, out):
        return step(x)  # relu'(0) = 0, as in PyTorch


class LeakyRelu(Activation):
    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.slope = negative_slope

    def f(self, x):
        return np.maximum(x, 0) + np.minimum(x, 0) * self.slope

    def df(self, x, out):
        return step(x) * (1 - self.slope) + self.slope


class Elu(Activation):
    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = alpha

    def f(self, x):
        return np.maximum(x, 0) + np.expm1(np.minimum(x, 0)) * self.alpha

    def df(self, x, out):  # 1 for x > 0, alpha * exp(x) otherwise
        return np.exp(np.minimum(x, 0)) * self.alpha + step(x) * (1 - self.alpha)


def erf(x):
    """erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7): numpy has no erf."""
    t = 1 / (1 + 0.3275911 * np.abs(x))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (
        -1.453152027 + t * 1.061405429))))
    return np.sign(x) * (1 - poly * np.exp(-x * x))


class Gelu(Activation):
    """``x * Phi(x)``, Phi the standard normal CDF (PyTorch's default ``approximate='none'``)."""

    def f(self, x):
        self.cdf = 0.5 * (1 + erf(x * math.sqrt(0.5)))
        return x * self.cdf

    def df(self, x, out):
        return self.cdf + x * np.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


class Sigmoid(Activation):
    def f(self, x):
        return sigmoid(x)

    def df(self, x, out):
        return out * (1 - out)


class Tanh(Activation):
    def f(self, x):
        return np.tanh(x)

    def df(self, x, out):
        return 1 - out * out


class Silu(Activation):
    """``x * sigmoid(x)``."""

    def f(self, x):
        self.s = sigmoid(x)
        return x * self.s

    def df(self, x, out):
        return self.s * (1 + x * (1 - self.s))


class Hardswish(Activation):
    """``x * clip(x + 3, 0, 6) / 6``."""

    def f(self, x):
        return x * np.clip(x + 3, 0, 6) * (1 / 6)

    def df(self, x, out):  # 0 below -3, x / 3 + 1/2 between, 1 above 3
        return np.clip(x + 3, 0, 6) * (1 / 6) + x * step(3 - np.abs(x)) * (1 / 6)


class Softplus(Activation):
    """``log(1 + exp(beta x)) / beta``, and ``x`` where ``beta x > threshold``."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def f(self, x):
        z = np.minimum(x * self.beta, self.threshold)  # no overflow in exp where x is kept
        linear = step(x * self.beta - self.threshold)
        return linear * x + (1 - linear) * np.log1p(np.exp(z)) * (1 / self.beta)

    def df(self, x, out):
        z = np.minimum(x * self.beta, self.threshold)
        linear = step(x * self.beta - self.threshold)
        return linear + (1 - linear) * sigmoid(z)


# The benchmark's activation rows, by PyTorch's functional name.
ACTIVATIONS = {"relu": Relu, "leaky_relu": LeakyRelu, "elu": Elu, "gelu": Gelu,
               "sigmoid": Sigmoid, "tanh": Tanh, "silu": Silu, "hardswish": Hardswish,
               "softplus": Softplus}


def function_name(op, nd):
    """PyTorch's (and tinyconv's) functional name of a layer op: conv2d, max_pool1d, relu, ..."""
    return op if op in ACTIVATIONS else f"{op}{nd}d"


# --------------------------------------------------------------------------------------------
# Self-check
# --------------------------------------------------------------------------------------------

_CHECK_CASES = [
    # (op, x shape, weight shape or pool kernel, keyword arguments in PyTorch's names)
    ("conv", (2, 3, 9, 8), (4, 3, 3, 3), dict(stride=1, padding=1)),
    ("conv", (2, 4, 11, 10), (6, 2, 3, 2), dict(stride=(2, 1), padding=(1, 2), dilation=(2, 1),
                                                groups=2)),
    ("conv", (2, 6, 7, 7), (6, 1, 3, 3), dict(padding=1, groups=6)),
    ("conv", (3, 4, 17), (5, 4, 3), dict(stride=2, padding=1, dilation=2)),
    ("conv", (2, 2, 5, 6, 4), (3, 2, 3, 2, 3), dict(stride=(1, 2, 1), padding=1)),
    ("conv_transpose", (2, 4, 5, 6), (4, 3, 4, 4), dict(stride=2, padding=1)),
    ("conv_transpose", (2, 4, 5, 4), (4, 2, 3, 3), dict(stride=2, padding=1, output_padding=1,
                                                        groups=2, dilation=2)),
    ("max_pool", (2, 3, 9, 8), 2, dict(stride=2)),
    ("max_pool", (2, 3, 9, 8), 3, dict(stride=2, padding=1)),
    ("avg_pool", (2, 3, 8, 8), 2, dict(stride=2)),
    ("avg_pool", (2, 3, 9, 8), 3, dict(stride=2, padding=1)),
    ("relu", (2, 3, 5, 4), None, {}),
    ("leaky_relu", (2, 3, 5, 4), None, dict(negative_slope=0.2)),
    ("elu", (2, 3, 5, 4), None, dict(alpha=0.7)),
    ("gelu", (2, 3, 5, 4), None, {}),
    ("sigmoid", (2, 3, 5, 4), None, {}),
    ("tanh", (2, 3, 5, 4), None, {}),
    ("silu", (2, 3, 5, 4), None, {}),
    ("hardswish", (2, 3, 5, 4), None, {}),
    ("softplus", (2, 3, 5, 4), None, dict(beta=2.0, threshold=3.0)),
]


def make_layer(op, w, b, kw):
    """Build the numpy_ref layer for a benchmark/check case (PyTorch argument names)."""
    kw = dict(kw)
    if op == "conv":
        return Convolution(w, b, kw.get("stride", 1), kw.get("padding", 0), kw.get("dilation", 1),
                           kw.get("groups", 1))
    if op == "conv_transpose":
        return TransposedConvolution(w, b, kw.get("stride", 1), kw.get("padding", 0),
                                     kw.get("output_padding", 0), kw.get("groups", 1),
                                     kw.get("dilation", 1))
    if op == "max_pool":
        return Pooling(kw["kernel_size"], kw.get("stride"), kw.get("padding", 0))
    if op == "avg_pool":
        return AvgPooling(kw["kernel_size"], kw.get("stride"), kw.get("padding", 0))
    if op in ACTIVATIONS:
        return ACTIVATIONS[op](**kw)
    raise ValueError(f"numpy_ref: unknown op {op!r}")


def _oracle(op, x, w, b, gy, kw):
    """Output and gradients from PyTorch (float64) or, without PyTorch, tinyconv."""
    try:
        import torch
        import torch.nn.functional as TF
        name = "torch (float64)"
        wrap = lambda a: torch.tensor(a, dtype=torch.float64, requires_grad=True)  # noqa: E731
        run_backward = lambda y, g: y.backward(torch.tensor(g, dtype=torch.float64))  # noqa
    except ImportError:
        import tinyconv
        import tinyconv.functional as TF
        name = "tinyconv (float64)"
        wrap = lambda a: tinyconv.tensor(np.asarray(a, np.float64), requires_grad=True)  # noqa
        run_backward = lambda y, g: y.backward(np.asarray(g, np.float64))  # noqa: E731
    fn = getattr(TF, function_name(op, x.ndim - 2))
    xt = wrap(x)
    params = (wrap(w), wrap(b)) if w is not None else ()
    y = fn(xt, *params, **kw)
    run_backward(y, gy)
    out = {"out": y.detach().numpy() if hasattr(y, "detach") else y.numpy(),
           "dx": xt.grad.numpy()}
    if params:
        out.update(dW=params[0].grad.numpy(), db=params[1].grad.numpy())
    return name, out


def self_check(verbose=True):
    """Compare every layer here against an oracle; return the number of failures."""
    rng = np.random.default_rng(0)
    failures, oracle_name = 0, None
    for op, xs, wk, kw in _CHECK_CASES:
        x = rng.standard_normal(xs).astype(np.float32)
        if op in ("conv", "conv_transpose"):
            w = rng.standard_normal(wk).astype(np.float32)
            b = rng.standard_normal(wk[1] * kw.get("groups", 1) if op == "conv_transpose"
                                    else wk[0]).astype(np.float32)
            layer = make_layer(op, w, b, kw)
        else:
            w = b = None
            if op in ACTIVATIONS:
                x *= 4  # reach every branch: hardswish's -3 and 3, softplus's threshold
            else:
                kw = dict(kw, kernel_size=wk)
            layer = make_layer(op, None, None, kw)
        y = layer.forward(x)
        gy = rng.standard_normal(y.shape).astype(np.float32)
        dx = layer.backward(gy)
        got = {"out": y, "dx": dx}
        if w is not None:
            got.update(dW=layer.dW, db=layer.db)
        oracle_name, ref = _oracle(op, x, w, b, gy, kw)
        errs = []
        for key, r in ref.items():
            g = got[key]
            if g.shape != r.shape:
                errs.append(f"{key}: shape {g.shape} != {r.shape}")
                continue
            if g.dtype != np.float32:
                errs.append(f"{key}: dtype {g.dtype}, expected float32")
            e = float(np.max(np.abs(g.astype(np.float64) - r)) / (np.max(np.abs(r)) + 1e-30))
            if not e < 1e-5:
                errs.append(f"{key}: relative error {e:.2e}")
        failures += bool(errs)
        if verbose:
            print(f"{'FAIL' if errs else 'ok  '} {op:15s} x{xs} {wk} {kw}"
                  + (": " + "; ".join(errs) if errs else ""))
    # col2im is the adjoint of im2col: <im2col(x), c> == <x, col2im(c)>
    x = rng.standard_normal((2, 3, 7, 6))
    col, _ = im2col(x, (3, 2), (2, 1), (1, 1), (1, 2))
    c = rng.standard_normal(col.shape)
    lhs, rhs = np.vdot(col, c), np.vdot(x, col2im(c, x.shape, (3, 2), (2, 1), (1, 1), (1, 2)))
    adj_ok = abs(lhs - rhs) <= 1e-9 * abs(lhs)
    failures += not adj_ok
    if verbose:
        print(f"{'ok  ' if adj_ok else 'FAIL'} col2im is the adjoint of im2col ({lhs:.6f} vs {rhs:.6f})")
        print(f"oracle: {oracle_name}; {failures} failure(s)")
    return failures


if __name__ == "__main__":
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare against an oracle")
    args = parser.parse_args()
    if not args.check:
        parser.print_help()
        sys.exit(0)
    sys.exit(1 if self_check() else 0)
