"""Convolution and correlation of 1-D and 2-D signals, as in the signal-processing textbooks.

``convolve`` and ``correlate`` follow ``numpy.convolve`` / ``numpy.correlate`` for 1-D inputs
and ``scipy.signal.convolve`` / ``scipy.signal.correlate`` (``convolve2d`` / ``correlate2d``
with their default zero boundary) for 2-D inputs. They are written on tinyconv's own
convolution ops, which compute a *cross-correlation* (the "convolution" of deep learning)::

    correlate(x, k)[i] = sum_j x[i + j] * k[j]               (conv1d / conv2d)
    convolve(x, k)[i]  = sum_j x[i - j] * k[j]  = correlate(x, flip(k))

and the three output modes are three paddings of that cross-correlation, for an input of size
``n`` and a kernel of size ``k`` along each dimension:

===========  ==========================================  ===============
mode         padding (before, after)                     output size
===========  ==========================================  ===============
``'full'``   ``(k - 1, k - 1)``: every overlap           ``n + k - 1``
``'same'``   ``(k // 2, (k - 1) // 2)``: centred on full  ``n``
``'valid'``  ``(0, 0)``: complete overlaps only           ``n - k + 1``
===========  ==========================================  ===============

``'same'`` is the centre of ``'full'`` starting at index ``(k - 1) // 2`` (scipy's and numpy's
centring: for an even kernel the extra element goes before).

When ``in2`` is the larger input the libraries swap the roles (convolution is commutative,
correlation becomes reversed): in 1-D numpy does so whenever ``len(in2) > len(in1)``, so the
output of ``'same'`` has the longer input's length; in 2-D scipy swaps only for ``'valid'``,
and then needs one input at least as large as the other in every dimension, while ``'same'``
always has ``in1``'s shape. Both rules are reproduced here.

Returns and dtypes: numpy arrays (or lists) in give a numpy array out; if either input is a
:class:`tinyconv.Tensor` the result is a Tensor, differentiable with respect to both inputs.
float32 is kept when both inputs are float32, otherwise the result is float64 (integer and bool
inputs are converted to float64). Complex inputs are not supported.

Cost: the work goes through im2col, so it needs ``prod(kernel shape) * prod(output shape)``
elements of scratch memory; that suits the small kernels of image processing and CNNs. For
very long kernels an FFT method (``scipy.signal.fftconvolve``) is faster.

``scipy.signal.correlate2d`` (but not ``scipy.signal.correlate``) centres ``'same'`` one
element later along a dimension where the kernel size is even; here ``'same'`` follows
``scipy.signal.correlate`` and ``numpy.correlate``.
"""

import numpy as np

from .ops.conv import conv1d, conv2d
from .ops.pad import pad
from .tensor import Tensor

__all__ = ["convolve", "correlate"]

_MODES = ("full", "same", "valid")


def _result_dtype(op, a, b):
    for name, v in (("in1", a), ("in2", b)):
        if v.dtype.kind == "c":
            raise TypeError(f"{op}: complex inputs are not supported ({name} is {v.dtype})")
        if v.dtype.kind not in "biuf":
            raise TypeError(f"{op}: {name} must be a real numeric array, got dtype {v.dtype}")
    if a.dtype == np.float32 and b.dtype == np.float32:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _to_tensor(v, dtype):
    if isinstance(v, Tensor):
        return v.to(dtype)
    return Tensor(np.asarray(v, dtype=dtype))


def _inputs(op, in1, in2, mode):
    """Validate; return (a, b, dtype, tensor_out) with a, b Tensors of the result dtype."""
    if mode not in _MODES:
        raise ValueError(f"{op}: mode must be 'full', 'same' or 'valid', got {mode!r}")
    tensor_out = isinstance(in1, Tensor) or isinstance(in2, Tensor)
    a = in1 if isinstance(in1, Tensor) else np.asarray(in1)
    b = in2 if isinstance(in2, Tensor) else np.asarray(in2)
    dtype = _result_dtype(op, a, b)
    if a.ndim not in (1, 2) or b.ndim != a.ndim:
        raise ValueError(f"{op}: in1 and in2 must both be 1-D or both 2-D, got shapes "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    for name, v in (("in1", a), ("in2", b)):
        if 0 in v.shape:
            raise ValueError(f"{op}: {name} is empty (shape {tuple(v.shape)})")
    return _to_tensor(a, dtype), _to_tensor(b, dtype), tensor_out


def _swap(op, a, b, mode):
    """numpy's (1-D) and scipy's (2-D) rule for when in2 takes in1's place."""
    if a.ndim == 1:
        return b.shape[0] > a.shape[0]
    if mode != "valid":
        return False
    ok1 = all(i >= j for i, j in zip(a.shape, b.shape))
    ok2 = all(j >= i for i, j in zip(a.shape, b.shape))
    if not (ok1 or ok2):
        raise ValueError(f"{op}: for 'valid' mode one input must be at least as large as the "
                         f"other in every dimension, got shapes {a.shape} and {b.shape}")
    return not ok1


def _flip(t):
    """Reverse every axis (differentiable)."""
    return t[(slice(None, None, -1),) * t.ndim]


def _cross_correlate(x, k, mode):
    """Cross-correlation of x with k (same ndim, 1 or 2) via conv1d/conv2d in a given mode."""
    nd = x.ndim
    xb = x.reshape((1, 1) + x.shape)
    kb = k.reshape((1, 1) + k.shape)
    conv = conv1d if nd == 1 else conv2d
    if mode == "full":
        y = conv(xb, kb, padding=tuple(n - 1 for n in k.shape))
    elif mode == "valid":
        y = conv(xb, kb)
    else:  # 'same': the centre of 'full', i.e. k//2 before and (k-1)//2 after
        widths = []
        for n in reversed(k.shape):           # pad() takes the last dimension first
            widths += [n // 2, (n - 1) // 2]
        y = conv(pad(xb, tuple(widths)), kb)
    return y.reshape(y.shape[2:])


def _apply(op, in1, in2, mode, flip_kernel):
    a, b, tensor_out = _inputs(op, in1, in2, mode)
    swapped = _swap(op, a, b, mode)
    if swapped:
        a, b = b, a
    kernel = _flip(b) if flip_kernel else b
    y = _cross_correlate(a, kernel, mode)
    if swapped and not flip_kernel:
        # correlate(in2, in1) is correlate(in1, in2) reversed; convolution is commutative
        y = _flip(y)
    return y if tensor_out else np.ascontiguousarray(y.numpy())


def convolve(in1, in2, mode="full"):
    """Discrete linear convolution of two 1-D or two 2-D signals.

    ``out[i] = sum_j in1[j] * in2[i - j]`` (summed over every index where both exist, zero
    elsewhere): the cross-correlation of ``in1`` with ``in2`` flipped along every axis.

    Parameters
    ----------
    in1, in2 : array_like or Tensor, both 1-D or both 2-D, real
    mode : {'full', 'same', 'valid'}
        Output size per dimension for sizes ``n`` (in1) and ``k`` (in2): ``'full'``
        ``n + k - 1``; ``'same'`` ``n`` (the centre of full, starting at ``(k - 1) // 2``);
        ``'valid'`` ``n - k + 1`` (only complete overlaps). 1-D inputs follow
        ``numpy.convolve`` (the inputs are swapped when in2 is longer, so 'same' has the longer
        length); 2-D inputs follow ``scipy.signal.convolve2d`` (in 'valid' mode the inputs are
        swapped when in2 is at least as large in every dimension; one of them must be).

    Returns
    -------
    ndarray, or Tensor if either input is a Tensor
        float32 if both inputs are float32, else float64.
    """
    return _apply("convolve", in1, in2, mode, flip_kernel=True)


def correlate(in1, in2, mode="full"):
    """Cross-correlation of two 1-D or two 2-D signals.

    ``out[i] = sum_j in1[i + j] * in2[j]`` with ``i`` counted from the first overlap (zero
    outside the inputs): what deep-learning libraries call convolution (``conv1d``/``conv2d``).

    Parameters
    ----------
    in1, in2 : array_like or Tensor, both 1-D or both 2-D, real
    mode : {'full', 'same', 'valid'}
        Sizes as :func:`convolve`. 1-D inputs follow ``numpy.correlate`` (when in2 is longer the
        result is ``correlate(in2, in1)`` reversed); 2-D inputs follow ``scipy.signal.correlate``
        (``correlate2d`` except for its 'same' centring with even kernel sizes, see the module
        docstring). Note that ``numpy.correlate`` defaults to 'valid'; here, as in scipy, the
        default is 'full'.

    Returns
    -------
    ndarray, or Tensor if either input is a Tensor
        float32 if both inputs are float32, else float64.
    """
    return _apply("correlate", in1, in2, mode, flip_kernel=False)
