"""Thin, memory-safe wrappers around tinyconv's compiled kernels.

This is the only module that imports the compiled extensions (``tinyconv._im2col``,
``tinyconv._conv``, ``tinyconv._pool``, ``tinyconv._norm``, ``tinyconv._act``,
``tinyconv._alloc``, ...). Every
wrapper takes and returns numpy arrays and does the things the ``nogil`` kernels cannot:

* checks that float arrays are float32 or float64 (``TypeError`` naming the op otherwise) and
  that index arrays are integers;
* makes inputs C-contiguous and allocates outputs with the input's dtype;
* checks that every shape agrees with the parameters, so a kernel can never read or write out
  of bounds whatever is passed (``ValueError`` naming the op and the shapes otherwise);
* picks the thread count: :func:`tinyconv._parallel.get_num_threads`, or 1 when the work is
  smaller than :data:`PARALLEL_MIN_WORK` elements (waking threads costs more than it saves),
  or 1 for the convolution-path copies while BLAS is multi-threaded (see ``_threads``).

User-facing checks (PyTorch's messages, output-size formulas, ceil_mode) live in ``tinyconv.ops``;
the shapes here are the kernels' contract, not the public API.

Spatial wrappers always take 5-D ``(N, C, D, H, W)`` arrays and 3-tuples of parameters; 1-D and
2-D ops pass ``D = H = 1`` / ``D = 1`` with kernel 1, stride 1, padding 0, dilation 1 there.
"""

import operator
import os

import numpy as np

from . import _parallel

try:
    from . import _act, _alloc, _build, _conv, _im2col, _layout, _norm, _pool
    from . import _deform
    from . import _interp
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        f"tinyconv: the compiled kernels could not be imported ({exc}). Build them with "
        "`pip install .` or, in a source checkout, `python setup.py build_ext --inplace` "
        "(needs a C compiler, Cython>=3 and numpy)."
    ) from exc

__all__ = [
    "PARALLEL_MIN_WORK", "openmp_enabled", "version", "conv_out_size",
    "im2col", "col2im", "fused_conv_available", "conv_unfold_gemm", "conv_gemm_fold",
    "channelwise_conv", "channelwise_conv_backward", "gemm",
    "cols_to_nchw", "nchw_to_cols", "bias_grad",
    "max_pool", "max_pool_backward", "avg_pool", "avg_pool_backward",
    "adaptive_avg_pool", "adaptive_avg_pool_backward", "adaptive_max_pool",
    "max_unpool", "max_unpool_backward",
    "deform_im2col", "deform_col2im", "deform_offset_grad",
    "ACTIVATION_FROM_OUTPUT", "ACTIVATION_MASKED", "activation", "activation_backward",
    "activation_masked", "activation_backward_masked", "prelu", "prelu_backward",
    "rrelu_train",
]

_VERSION = "0.1.0"

#: Below this many elements of work (output elements, or input elements for reductions) a
#: kernel runs on one thread: an OpenMP fork/join costs a few microseconds, which is more than
#: copying ~32k floats takes, and the idle worker threads would then spin against BLAS's.
PARALLEL_MIN_WORK = 32768

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

# ----------------------------------------------------------------------------- allocator
# numpy's array data through tinyconv's caching allocator (csrc/_alloc.h): the same large
# arrays come back every training step, and fresh memory costs a page fault per 4 KiB on
# first write (relu forward on 16 MiB: 0.94 ms fresh, 0.36 ms reused). Installed for the
# thread that imports tinyconv (numpy's handler is per context); TINYCONV_ALLOCATOR=numpy
# keeps numpy's default.
_ALLOCATOR = os.environ.get("TINYCONV_ALLOCATOR", "cache").strip().lower() or "cache"
if _ALLOCATOR not in ("cache", "numpy"):
    raise ValueError(f"tinyconv: TINYCONV_ALLOCATOR must be 'cache' or 'numpy', got "
                     f"{_ALLOCATOR!r}")
if _ALLOCATOR == "cache":
    _alloc.install()


def allocator_info():
    """One line for show_config: which allocator numpy arrays get, and the cache's counts."""
    hits, misses, cached, blocks, min_size, _, _, recycled, _ = _alloc.stats()
    if _ALLOCATOR != "cache":
        return "numpy's default (TINYCONV_ALLOCATOR=numpy)"
    return (f"caching, blocks >= {min_size >> 10} KiB (hits {hits}, {recycled} of them from "
            f"other-sized blocks, misses {misses}, {blocks} blocks / {cached / 2**20:.1f} MiB "
            f"held)")


def empty_cache():
    """Give the memory the caching allocator holds for reuse back to the C library.

    Returns the number of bytes released. Like ``torch.cuda.empty_cache()``: never needed for
    correctness; in use plus cached never exceeds the most memory that was in use at once
    (counted again from now on)."""
    return _alloc.empty()
_ONE = {dt: np.zeros(1, dt) for dt in _FLOATS}  # stand-in for "no bias" (kernels want a buffer)


def openmp_enabled():
    """Return True if the kernels were compiled with OpenMP (else they run single-threaded)."""
    return _build.openmp_enabled()


def simd_info():
    """The instruction sets the activation kernels run: their loops (GCC target_clones picks
    AVX-512, AVX2+FMA or baseline x86-64 at load time, else one build for this machine) and
    the bit masks of the relu family (csrc/_act.h)."""
    loops = ("AVX-512 / AVX2 / baseline clones, picked at load" if _act.cloned()
             else "one build (-march of the build)")
    return f"activations {loops}; relu-family masks {_act.mask_level()}"


def version():
    """Return tinyconv's version string."""
    return _VERSION


def _threads(work, beside_blas=False):
    """Threads for a kernel doing ``work`` elements.

    ``beside_blas``: the kernel runs between multi-threaded BLAS GEMMs (im2col, col2im and the
    layout transforms of a convolution). OpenBLAS's idle workers spin for up to ~0.1 s after each
    call; an OpenMP team started next to them on the same cores measured 18x slower (VGG 3x3
    64->64 forward, 2 cores, PyTorch's spinning OpenMP runtime loaded first: 456 ms vs 25 ms),
    and a one-thread im2col beside a two-thread GEMM was the fastest combination measured
    (19 ms, vs 21 ms with both parallel under OMP_WAIT_POLICY=PASSIVE). These copies are
    memory-bound, so the second core gains them little. With single-threaded BLAS they use
    every thread.
    """
    n = _parallel.get_num_threads()
    if work < PARALLEL_MIN_WORK or (beside_blas and _parallel.blas_threads() > 1):
        return 1
    return n


# ----------------------------------------------------------------------------- validation

def _float_array(op, name, a, ndim=None):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{op}: {name} must be a numpy array, got {type(a).__name__}")
    if a.dtype not in _FLOATS:
        raise TypeError(f"{op}: {name} must be float32 or float64, got {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{op}: {name} must be {ndim}-D, got shape {a.shape}")
    return np.ascontiguousarray(a)


def _index_array(op, name, a, shape):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{op}: {name} must be a numpy array, got {type(a).__name__}")
    if a.dtype.kind not in "iu":
        raise TypeError(f"{op}: {name} must be an integer array, got {a.dtype}")
    if a.shape != tuple(shape):
        raise ValueError(f"{op}: {name} has shape {a.shape} but {tuple(shape)} was expected")
    return np.ascontiguousarray(a, dtype=np.int64)


def _same_dtype(op, a, b, names):
    if a.dtype != b.dtype:
        raise TypeError(f"{op}: {names[0]} is {a.dtype} but {names[1]} is {b.dtype}")


def _ints(op, name, value, n, minimum):
    if type(value) is tuple and len(value) == n:   # fast path: runs on every kernel call
        for v in value:
            if type(v) is not int or v < minimum:
                break
        else:
            return value
    try:
        vals = tuple(value)
    except TypeError:
        raise TypeError(f"{op}: {name} must be a sequence of {n} ints, got {value!r}") from None
    if len(vals) != n:
        raise ValueError(f"{op}: {name} must have {n} entries, got {value!r}")
    out = []
    for v in vals:
        if isinstance(v, (bool, np.bool_)):
            raise TypeError(f"{op}: {name} must contain ints, got {value!r}")
        try:
            v = operator.index(v)
        except TypeError:
            raise TypeError(f"{op}: {name} must contain ints, got {value!r}") from None
        if v < minimum:
            raise ValueError(f"{op}: every entry of {name} must be >= {minimum}, got {value!r}")
        out.append(v)
    return tuple(out)


def _params(op, kernel, stride, padding, dilation=(1, 1, 1)):
    return (_ints(op, "kernel", kernel, 3, 1), _ints(op, "stride", stride, 3, 1),
            _ints(op, "padding", padding, 3, 0), _ints(op, "dilation", dilation, 3, 1))


def _out_buffer(op, out, shape, dtype, *inputs):
    """Allocate an output, or check a caller-supplied one (exact shape/dtype, C-contiguous)."""
    if out is None:
        return np.empty(shape, dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{op}: out must be a numpy array, got {type(out).__name__}")
    if out.dtype != dtype or out.shape != tuple(shape) or not out.flags.c_contiguous \
            or not out.flags.writeable:
        raise ValueError(f"{op}: out must be a writeable C-contiguous {dtype} array of shape "
                         f"{tuple(shape)}, got {out.dtype} {out.shape}")
    for a in inputs:
        if np.may_share_memory(out, a):
            raise ValueError(f"{op}: out overlaps an input")
    return out


def conv_out_size(size, kernel, stride=1, padding=0, dilation=1):
    """Output length of a sliding window along one dim: (size + 2p - d(k-1) - 1)//s + 1.

    May be <= 0 when the (dilated) kernel does not fit; callers decide whether that is an error.
    """
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _conv_out_shape(op, spatial, kernel, stride, padding, dilation):
    out = (conv_out_size(spatial[0], kernel[0], stride[0], padding[0], dilation[0]),
           conv_out_size(spatial[1], kernel[1], stride[1], padding[1], dilation[1]),
           conv_out_size(spatial[2], kernel[2], stride[2], padding[2], dilation[2]))
    if out[0] < 1 or out[1] < 1 or out[2] < 1:
        raise ValueError(
            f"{op}: the dilated kernel does not fit: input (D, H, W) = {tuple(spatial)}, kernel "
            f"{kernel}, stride {stride}, padding {padding}, dilation {dilation} give output "
            f"{out}")
    return out


# ----------------------------------------------------------------------------- im2col

def im2col(x, kernel, stride, padding, dilation, out=None):
    """Unfold a batch into convolution columns.

    Parameters
    ----------
    x : ndarray (N, C, D, H, W), float32 or float64
    kernel, stride, padding, dilation : 3-tuples of ints (D, H, W)
    out : ndarray, optional
        Preallocated C-contiguous result of the right shape and dtype (reused workspace).

    Returns
    -------
    col : ndarray (C*kd*kh*kw, N*oD*oH*oW)
        ``col[((c*kd + i)*kh + j)*kw + k, n*L + (od*oH + oh)*oW + ow] =
        x[n, c, od*sd - pd + i*dd, oh*sh - ph + j*dh, ow*sw - pw + k*dw]`` (0 in the padding),
        with ``o = (i + 2p - d(k-1) - 1)//s + 1`` per dim and ``L = oD*oH*oW``.
    """
    op = "im2col"
    x = _float_array(op, "x", x, 5)
    k, s, p, d = _params(op, kernel, stride, padding, dilation)
    N, C = x.shape[:2]
    oD, oH, oW = _conv_out_shape(op, x.shape[2:], k, s, p, d)
    shape = (C * k[0] * k[1] * k[2], N * oD * oH * oW)
    col = _out_buffer(op, out, shape, x.dtype, x)
    if col.size:
        _im2col.im2col(x, col, *k, *s, *p, *d, oD, oH, oW, _threads(col.size, True))
    return col


def col2im(col, x_shape, kernel, stride, padding, dilation, out=None):
    """Fold columns back into a batch, summing overlaps: the adjoint (transpose) of im2col.

    Parameters
    ----------
    col : ndarray (C*kd*kh*kw, N*oD*oH*oW), float32 or float64
    x_shape : 5 ints (N, C, D, H, W), the shape of im2col's input
    kernel, stride, padding, dilation : 3-tuples of ints
    out : ndarray, optional
        Preallocated C-contiguous result (overwritten).

    Returns
    -------
    x : ndarray (N, C, D, H, W) with col's dtype
    """
    op = "col2im"
    col = _float_array(op, "col", col, 2)
    xs = _ints(op, "x_shape", x_shape, 5, 0)
    k, s, p, d = _params(op, kernel, stride, padding, dilation)
    N, C = xs[:2]
    oD, oH, oW = _conv_out_shape(op, xs[2:], k, s, p, d)
    expected = (C * k[0] * k[1] * k[2], N * oD * oH * oW)
    if col.shape != expected:
        raise ValueError(f"{op}: col has shape {col.shape} but x_shape {xs}, kernel {k}, stride "
                         f"{s}, padding {p}, dilation {d} need {expected}")
    x = _out_buffer(op, out, xs, col.dtype, col)
    if x.size:
        _im2col.col2im(col, x, *k, *s, *p, *d, oD, oH, oW, _threads(col.size, True))
    return x


# ----------------------------------------------------------------------------- fused conv
# im2col + GEMM per image inside one OpenMP region, with numpy's OpenBLAS called on each
# OpenMP thread (csrc/_conv.pyx). Registered once at import; absent when the BLAS numpy uses
# cannot be found, and then ops.conv uses im2col/col2im with numpy.matmul instead.

_GEMM = _parallel.find_gemm()
if _GEMM is not None:
    _conv.set_gemm(*_GEMM)

#: Bytes of column buffer per thread: one slice of one image's columns, sized to stay in L2.
CONV_CHUNK_BYTES = 1 << 21
#: Images whose whole column matrix is smaller than this are batched into one GEMM per thread,
#: up to CONV_BLOCK_MAX_L output positions per GEMM (a one-image GEMM with L ~ 100 columns runs
#: far below BLAS's peak).
CONV_BLOCK_BYTES = 1 << 19
CONV_BLOCK_MAX_L = 1024


def fused_conv_available(batch=None):
    """True when the per-image fused convolution kernels have a GEMM to call and, given the
    ``batch`` size, enough images to keep every thread busy (a smaller batch is faster with
    the batch-wide im2col and a multi-threaded GEMM)."""
    return _conv.has_gemm() and (batch is None or batch >= _parallel.get_num_threads())


def _conv_geometry(op, u, a, groups, kernel, stride, padding, dilation, out_spatial):
    u = _float_array(op, "u", u, 5)
    a = _float_array(op, "a", a, 2)
    _same_dtype(op, u, a, ("u", "a"))
    k, s, p, d = _params(op, kernel, stride, padding, dilation)
    o = _ints(op, "out_spatial", out_spatial, 3, 1)
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    N, C = u.shape[:2]
    K = k[0] * k[1] * k[2]
    if C % groups or a.shape[0] % groups or a.shape[1] != (C // groups) * K:
        raise ValueError(f"{op}: u {u.shape} with groups={groups} and kernel {k} needs a of "
                         f"shape (groups*M, {(C // max(groups, 1)) * K}), got {a.shape}")
    if min(u.shape[2:]) < 1:
        raise ValueError(f"{op}: u has an empty spatial dimension: shape {u.shape}")
    if not _conv.has_gemm():
        raise RuntimeError(f"{op}: no BLAS GEMM was found for the fused convolution kernels")
    L = o[0] * o[1] * o[2]
    rows = max(1, min(o[0] * o[1], CONV_CHUNK_BYTES // (a.shape[1] * o[2] * u.itemsize)))
    threads = min(_threads(N * a.shape[1] * L), N)
    # several small images per GEMM, while every thread still gets a block
    per_block = max(1, min(-(-N // max(threads, 1)),
                           CONV_BLOCK_BYTES // (a.shape[1] * L * u.itemsize),
                           CONV_BLOCK_MAX_L // L))
    return u, a, k, s, p, d, o, rows, per_block, threads


def _blas_one_thread():
    """Put BLAS on one thread for a call made from every OpenMP thread; return what to restore."""
    before = _parallel.blas_threads()
    if before > 1:
        _parallel.set_blas_threads(1)
    return before


def _blas_restore(before):
    if before > 1:
        _parallel.set_blas_threads(before)


def conv_unfold_gemm(u, a, bias, groups, kernel, stride, padding, dilation, out_spatial):
    """``y[n, g*M:(g+1)*M] = a_g @ col_g(u[n]) (+ bias)`` for every image n and group g.

    Parameters
    ----------
    u : ndarray (N, C, D, H, W), float32 or float64
    a : ndarray (groups*M, (C/groups)*kd*kh*kw), u's dtype
    bias : ndarray (groups*M,) or None
    kernel, stride, padding, dilation, out_spatial : 3-tuples of ints; ``out_spatial`` is the
        (oD, oH, oW) grid of windows (taps falling outside u read zeros).

    Returns
    -------
    y : ndarray (N, groups*M, oD*oH*oW)
    """
    op = "conv_unfold_gemm"
    u, a, k, s, p, d, o, rows, blk, threads = _conv_geometry(
        op, u, a, groups, kernel, stride, padding, dilation, out_spatial)
    if bias is None:
        b, has_bias = _ONE[u.dtype], False
    else:
        b = _float_array(op, "bias", bias, 1)
        _same_dtype(op, u, b, ("u", "bias"))
        if b.shape != (a.shape[0],):
            raise ValueError(f"{op}: bias has shape {b.shape} but a {a.shape} needs "
                             f"({a.shape[0]},)")
        has_bias = True
    y = np.empty((u.shape[0], a.shape[0], o[0] * o[1] * o[2]), u.dtype)
    if y.size:
        before = _blas_one_thread()
        try:
            _conv.unfold_gemm(u, a, b, has_bias, y, *k, *s, *p, *d, *o, groups, rows, blk,
                              threads)
        finally:
            _blas_restore(before)
    return y


def conv_gemm_fold(u, a, gy, groups, kernel, stride, padding, dilation, out_spatial,
                   need_u=True, need_a=True):
    """The products behind the gradients of ``y = conv_unfold_gemm(u, a)``, per image in parallel.

    Parameters
    ----------
    u : ndarray (N, C, D, H, W); when ``need_a`` is False only its shape is used and a 5-tuple
        shape may be passed instead
    a : ndarray (groups*M, (C/groups)*kd*kh*kw)
    gy : ndarray (N, groups*M, oD*oH*oW)
    kernel, stride, padding, dilation, out_spatial : 3-tuples of ints, as conv_unfold_gemm
    need_u, need_a : bool

    Returns
    -------
    gu : ndarray with u's shape, ``col2im(a_g.T @ gy[n, g])`` per image and group (or None)
    ga : ndarray with a's shape, ``sum_n gy[n, g] @ col_g(u[n]).T`` (or None)
    """
    op = "conv_gemm_fold"
    if not need_a and isinstance(u, tuple):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{op}: a must be a numpy array, got {type(a).__name__}")
        u = np.empty(_ints(op, "u shape", u, 5, 0), a.dtype)  # only its shape is read
    u, a, k, s, p, d, o, rows, blk, threads = _conv_geometry(
        op, u, a, groups, kernel, stride, padding, dilation, out_spatial)
    gy = _float_array(op, "gy", gy, 3)
    _same_dtype(op, a, gy, ("a", "gy"))
    expected = (u.shape[0], a.shape[0], o[0] * o[1] * o[2])
    if gy.shape != expected:
        raise ValueError(f"{op}: gy has shape {gy.shape} but u {u.shape}, a {a.shape} and "
                         f"out_spatial {o} need {expected}")
    gu = np.empty(u.shape, u.dtype) if need_u else None
    nt = max(threads, 1)
    # per thread and group, the weight gradient transposed: (Kd, M) (see csrc/_conv.pyx)
    ga = np.zeros((nt, groups, a.shape[1], a.shape[0] // groups), a.dtype) if need_a else None
    if gy.size and u.size and (need_u or need_a):
        stand_in = np.empty((1, 1, 1, 1, 1), u.dtype)
        before = _blas_one_thread()
        try:
            _conv.gemm_fold(u, a, gy,
                            gu if need_u else stand_in,
                            ga.reshape(nt, -1, a.shape[0] // groups) if need_a
                            else stand_in.reshape(1, 1, 1),
                            bool(need_u), bool(need_a), *k, *s, *p, *d, *o, groups, rows, blk,
                            nt)
        finally:
            _blas_restore(before)
    elif need_u:
        gu[...] = 0
    if need_a:
        ga = np.ascontiguousarray(ga.sum(axis=0).transpose(0, 2, 1)).reshape(a.shape)
    return gu, ga


def _channelwise_args(op, x, w, kernel, stride, padding, dilation, out_spatial):
    x = _float_array(op, "x", x, 5)
    w = _float_array(op, "w", w, 2)
    _same_dtype(op, x, w, ("x", "w"))
    k, s, p, d = _params(op, kernel, stride, padding, dilation)
    o = _ints(op, "out_spatial", out_spatial, 3, 1)
    C = x.shape[1]
    if C < 1 or w.shape[0] % C or w.shape[1] != k[0] * k[1] * k[2]:
        raise ValueError(f"{op}: x {x.shape} and kernel {k} need w of shape (mult*{C}, "
                         f"{k[0] * k[1] * k[2]}), got {w.shape}")
    if min(x.shape[2:]) < 1:
        raise ValueError(f"{op}: x has an empty spatial dimension: shape {x.shape}")
    return x, w, k, s, p, d, o


def channelwise_conv(x, w, bias, kernel, stride, padding, dilation, out_spatial):
    """Convolution where every group has one input channel (depthwise, or C = 1), directly.

    Parameters
    ----------
    x : ndarray (N, C, D, H, W)
    w : ndarray (O, kd*kh*kw) with O a multiple of C; output channel o reads channel o // (O/C)
    bias : ndarray (O,) or None
    kernel, stride, padding, dilation, out_spatial : 3-tuples of ints

    Returns
    -------
    y : ndarray (N, O, oD*oH*oW)
    """
    op = "channelwise_conv"
    x, w, k, s, p, d, o = _channelwise_args(op, x, w, kernel, stride, padding, dilation,
                                            out_spatial)
    if bias is None:
        b, has_bias = _ONE[x.dtype], False
    else:
        b = _float_array(op, "bias", bias, 1)
        _same_dtype(op, x, b, ("x", "bias"))
        if b.shape != (w.shape[0],):
            raise ValueError(f"{op}: bias has shape {b.shape}, expected ({w.shape[0]},)")
        has_bias = True
    y = np.empty((x.shape[0], w.shape[0], o[0] * o[1] * o[2]), x.dtype)
    if y.size:
        _conv.channelwise_forward(x, w, b, has_bias, y, *k, *s, *p, *d, *o,
                                  _threads(y.size * w.shape[1]))
    return y


def channelwise_conv_backward(x, w, gy, kernel, stride, padding, dilation, out_spatial,
                              need_x=True, need_w=True):
    """Gradients ``(gx, gw)`` of :func:`channelwise_conv` (None where not needed)."""
    op = "channelwise_conv_backward"
    x, w, k, s, p, d, o = _channelwise_args(op, x, w, kernel, stride, padding, dilation,
                                            out_spatial)
    gy = _float_array(op, "gy", gy, 3)
    _same_dtype(op, x, gy, ("x", "gy"))
    expected = (x.shape[0], w.shape[0], o[0] * o[1] * o[2])
    if gy.shape != expected:
        raise ValueError(f"{op}: gy has shape {gy.shape}, expected {expected}")
    gx = np.empty(x.shape, x.dtype) if need_x else None
    gw = np.empty(w.shape, w.dtype) if need_w else None
    if gy.size and x.size and (need_x or need_w):
        stand_in = np.empty((1, 1, 1, 1, 1), x.dtype)
        _conv.channelwise_backward(x, w, gy, gx if need_x else stand_in,
                                   gw if need_w else stand_in.reshape(1, 1), bool(need_x),
                                   bool(need_w), *k, *s, *p, *d, *o,
                                   _threads(gy.size * w.shape[1]))
    else:
        if need_x:
            gx[...] = 0
        if need_w:
            gw[...] = 0
    return gx, gw


#: Multiply-adds below which a GEMM runs on one thread (DESIGN.md: threads hurt below ~128^3).
GEMM_PARALLEL_MIN = 1 << 21


def gemm(a, b, trans_a=False, trans_b=False, out=None, beta=0.0):
    """``op(a) @ op(b) (+ beta*out)`` for 2-D float arrays, ``op`` transposing when asked.

    Runs numpy's BLAS single-threaded on each of tinyconv's threads, one slab of output rows
    each (one thread for small products), so BLAS's own thread pool is never used. Falls back
    to ``numpy.matmul`` when the BLAS GEMM was not found.
    """
    op = "gemm"
    a = _float_array(op, "a", a, 2)
    b = _float_array(op, "b", b, 2)
    _same_dtype(op, a, b, ("a", "b"))
    m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
    k2, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if k != k2:
        raise ValueError(f"{op}: op(a) is {(m, k)} and op(b) is {(k2, n)}: inner sizes differ")
    if out is None:
        out = np.empty((m, n), a.dtype)
        beta = 0.0
    elif out.shape != (m, n) or out.dtype != a.dtype or not out.flags.c_contiguous:
        raise ValueError(f"{op}: out must be a C-contiguous {a.dtype} array of shape {(m, n)}")
    if not _conv.has_gemm():
        r = np.matmul(a.T if trans_a else a, b.T if trans_b else b)
        if beta:
            out *= beta
            out += r
        else:
            out[...] = r
        return out
    if m == 0 or n == 0:
        return out
    if k == 0:
        if beta:
            out *= beta
        else:
            out[...] = 0
        return out
    work = m * n * k
    threads = 1 if work < GEMM_PARALLEL_MIN else min(_parallel.get_num_threads(), m)
    before = _blas_one_thread()
    try:
        _conv.gemm_rows(a, b, out, bool(trans_a), bool(trans_b), beta, threads)
    finally:
        _blas_restore(before)
    return out


# ----------------------------------------------------------------------------- GEMM layout

def cols_to_nchw(src, bias=None, out=None):
    """Transpose the forward GEMM result (O, nb, L) to (nb, O, L), adding bias[o] if given."""
    op = "cols_to_nchw"
    src = _float_array(op, "src", src, 3)
    O, nb, L = src.shape
    if bias is None:
        b, has_bias = _ONE[src.dtype], False
    else:
        b = _float_array(op, "bias", bias, 1)
        _same_dtype(op, src, b, ("src", "bias"))
        if b.shape != (O,):
            raise ValueError(f"{op}: bias has shape {b.shape} but src {src.shape} needs ({O},)")
        has_bias = True
    dst = _out_buffer(op, out, (nb, O, L), src.dtype, src)
    if dst.size:
        _layout.cols_to_nchw(src, dst, b, has_bias, _threads(dst.size, True))
    return dst


def nchw_to_cols(src, out=None):
    """Transpose (nb, O, L) to (O, nb, L) (the layout of the GEMM result)."""
    op = "nchw_to_cols"
    src = _float_array(op, "src", src, 3)
    nb, O, L = src.shape
    dst = _out_buffer(op, out, (O, nb, L), src.dtype, src)
    if dst.size:
        _layout.nchw_to_cols(src, dst, _threads(dst.size, True))
    return dst


def bias_grad(g):
    """Sum g (N, O, L) over N and L -> (O,), accumulated in double, deterministic."""
    op = "bias_grad"
    g = _float_array(op, "g", g, 3)
    out = np.zeros(g.shape[1], g.dtype)
    if g.size:
        # every thread: it runs after tinyconv's own kernels, never beside a BLAS call
        # (measured 1M floats: 168 us on one thread)
        _layout.bias_grad(g, out, _threads(g.size))
    return out


def add_bias(x, bias):
    """``x[n, o, :] += bias[o]`` in place for x (N, O, L) contiguous; returns x."""
    op = "add_bias"
    if isinstance(x, np.ndarray) and not x.flags.c_contiguous:  # a copy would be changed
        raise ValueError(f"{op}: x must be C-contiguous (it is changed in place)")
    x = _float_array(op, "x", x, 3)
    b = _float_array(op, "bias", bias, 1)
    _same_dtype(op, x, b, ("x", "bias"))
    if b.shape != (x.shape[1],):
        raise ValueError(f"{op}: bias has shape {b.shape} but x {x.shape} needs ({x.shape[1]},)")
    if x.size:
        _layout.add_bias(x, b, _threads(x.size))
    return x


# ----------------------------------------------------------------------------- pooling

def _planes(op, name, a):
    """(N, C, D, H, W) float -> contiguous (N*C, D, H, W) view; spatial dims must be >= 1."""
    a = _float_array(op, name, a, 5)
    if min(a.shape[2:]) < 1:
        raise ValueError(f"{op}: {name} has an empty spatial dimension: shape {a.shape}")
    return a, a.reshape((a.shape[0] * a.shape[1],) + a.shape[2:])


def _grad_planes(op, grad_out, x_shape):
    """Check grad_out (N, C, o...) against x_shape (N, C, D, H, W); return both as planes."""
    g = _float_array(op, "grad_out", grad_out, 5)
    xs = _ints(op, "x_shape", x_shape, 5, 0)
    if g.shape[:2] != xs[:2]:
        raise ValueError(f"{op}: grad_out {g.shape} and x_shape {xs} differ in (N, C)")
    if min(xs[2:]) < 1:
        raise ValueError(f"{op}: x_shape has an empty spatial dimension: {xs}")
    return g, xs, g.reshape((xs[0] * xs[1],) + g.shape[2:])


def max_pool(x, kernel, stride, padding, dilation, out_size):
    """Max pooling over (D, H, W) windows with dilation.

    Parameters
    ----------
    x : ndarray (N, C, D, H, W)
    kernel, stride, padding, dilation : 3-tuples of ints
    out_size : 3 ints (oD, oH, oW), decided by the caller (floor or ceil mode)

    Returns
    -------
    out : ndarray (N, C, oD, oH, oW), x's dtype
    indices : ndarray (N, C, oD, oH, oW), int64
        Flat index ``(d*H + h)*W + w`` of the maximum within its input plane (PyTorch's
        ``return_indices``). NaN wins over numbers; ties keep the first element in (d, h, w)
        order. A window that covers no input element gives ``-inf`` and index -1.
    """
    op = "max_pool"
    x, xp = _planes(op, "x", x)
    k, s, p, d = _params(op, kernel, stride, padding, dilation)
    osz = _ints(op, "out_size", out_size, 3, 0)
    shape = x.shape[:2] + osz
    out = np.empty(shape, x.dtype)
    idx = np.empty(shape, np.int64)
    if out.size:
        _pool.max_pool_forward(xp, out.reshape((-1,) + osz), idx.reshape((-1,) + osz),
                               *k, *s, *p, *d, _threads(out.size * k[0] * k[1] * k[2]))
    return out, idx


def _scatter_error(op, indices, plane, gshape, xshape):
    bad = indices[(indices < 0) | (indices >= plane)]
    bad = bad[bad != -1] if op == "max_pool_backward" else bad
    return ValueError(
        f"{op}: {bad.size} indices lie outside [0, {plane}) (min {indices.min()}, max "
        f"{indices.max()}); shapes {gshape} -> {xshape}")


def max_pool_backward(grad_out, indices, x_shape):
    """Scatter grad_out (N, C, oD, oH, oW) to the argmax positions: grad_x (x_shape).

    Index -1 (an empty window) contributes nothing; any other index outside the input plane
    raises ValueError.
    """
    op = "max_pool_backward"
    g, xs, gp = _grad_planes(op, grad_out, x_shape)
    idx = _index_array(op, "indices", indices, g.shape)
    plane = xs[2] * xs[3] * xs[4]
    grad_in = np.empty(xs, g.dtype)
    P = xs[0] * xs[1]
    if grad_in.size and g.size == 0:
        grad_in.fill(0)
    elif grad_in.size:
        o = gp[0].size
        # 2-D planes that 2x2 windows could tile: the kernel checks the indices per plane
        tiles = ((xs[3], xs[4], g.shape[3], g.shape[4]) if xs[2] == 1 == g.shape[2]
                 else (0, 0, 0, 0))
        bad = _pool.max_pool_backward(gp.reshape(P, o), idx.reshape(P, o),
                                      grad_in.reshape(P, plane), _threads(grad_in.size + g.size),
                                      *tiles)
        if bad:
            raise _scatter_error(op, idx, plane, g.shape, xs)
    return grad_in


def _divisor(op, divisor_override):
    if divisor_override is None:
        return 0
    if isinstance(divisor_override, (bool, np.bool_)):
        raise TypeError(f"{op}: divisor_override must be an int or None")
    try:
        v = operator.index(divisor_override)
    except TypeError:
        raise TypeError(f"{op}: divisor_override must be an int or None, "
                        f"got {divisor_override!r}") from None
    if v == 0:
        raise ValueError(f"{op}: divisor_override must be non-zero")
    return v


def avg_pool(x, kernel, stride, padding, out_size, count_include_pad=True,
             divisor_override=None):
    """Average pooling with PyTorch's divisor rule (no dilation).

    Per dim: ``start = o*s - p``, ``end = min(start + k, I + p)``, padded size ``end - start``;
    then clip to ``[0, I)``. The divisor is ``divisor_override`` if given, else the product of
    padded sizes if ``count_include_pad``, else the product of clipped sizes. A window with no
    input element gives 0.

    Returns
    -------
    out : ndarray (N, C, *out_size), x's dtype
    """
    op = "avg_pool"
    x, xp = _planes(op, "x", x)
    k, s, p, _ = _params(op, kernel, stride, padding)
    osz = _ints(op, "out_size", out_size, 3, 0)
    div = _divisor(op, divisor_override)
    out = np.empty(x.shape[:2] + osz, x.dtype)
    if out.size:
        _pool.avg_pool_forward(xp, out.reshape((-1,) + osz), *k, *s, *p,
                               bool(count_include_pad), div,
                               _threads(out.size * k[0] * k[1] * k[2]))
    return out


def avg_pool_backward(grad_out, x_shape, kernel, stride, padding, count_include_pad=True,
                      divisor_override=None):
    """Adjoint of :func:`avg_pool`: grad_out (N, C, oD, oH, oW) -> grad_x (x_shape)."""
    op = "avg_pool_backward"
    g, xs, gp = _grad_planes(op, grad_out, x_shape)
    k, s, p, _ = _params(op, kernel, stride, padding)
    div = _divisor(op, divisor_override)
    grad_in = np.empty(xs, g.dtype)
    if grad_in.size and g.size == 0:
        grad_in.fill(0)
    elif grad_in.size:
        _pool.avg_pool_backward(gp, grad_in.reshape((-1,) + xs[2:]), *k, *s, *p,
                                bool(count_include_pad), div,
                                _threads(grad_in.size + g.size * k[0] * k[1] * k[2]))
    return grad_in


def adaptive_avg_pool(x, out_size):
    """Adaptive average pooling: output o along a dim averages input
    ``[floor(o*I/O), ceil((o+1)*I/O))``. Returns (N, C, *out_size)."""
    op = "adaptive_avg_pool"
    x, xp = _planes(op, "x", x)
    osz = _ints(op, "out_size", out_size, 3, 1)
    out = np.empty(x.shape[:2] + osz, x.dtype)
    if out.size:
        _pool.adaptive_avg_pool_forward(xp, out.reshape((-1,) + osz),
                                        _threads(x.size + out.size))
    return out


def adaptive_avg_pool_backward(grad_out, x_shape):
    """Adjoint of :func:`adaptive_avg_pool`: grad_out (N, C, *out_size) -> grad_x (x_shape)."""
    op = "adaptive_avg_pool_backward"
    g, xs, gp = _grad_planes(op, grad_out, x_shape)
    if min(g.shape[2:]) < 1:
        raise ValueError(f"{op}: grad_out has an empty spatial dimension: shape {g.shape}")
    grad_in = np.empty(xs, g.dtype)
    if grad_in.size:
        _pool.adaptive_avg_pool_backward(gp, grad_in.reshape((-1,) + xs[2:]),
                                         _threads(grad_in.size + g.size))
    return grad_in


def adaptive_max_pool(x, out_size):
    """Adaptive max pooling (windows as in :func:`adaptive_avg_pool`).

    Returns (out, indices) like :func:`max_pool`; the backward is :func:`max_pool_backward`.
    """
    op = "adaptive_max_pool"
    x, xp = _planes(op, "x", x)
    osz = _ints(op, "out_size", out_size, 3, 1)
    shape = x.shape[:2] + osz
    out = np.empty(shape, x.dtype)
    idx = np.empty(shape, np.int64)
    if out.size:
        _pool.adaptive_max_pool_forward(xp, out.reshape((-1,) + osz),
                                        idx.reshape((-1,) + osz), _threads(x.size + out.size))
    return out, idx


def max_unpool(x, indices, out_size):
    """Inverse of max pooling: out (N, C, *out_size) is zero except
    ``out[n, c].flat[indices[n, c].flat[i]] = x[n, c].flat[i]`` (later i wins on duplicates).

    Raises ValueError if an index lies outside the output plane.
    """
    op = "max_unpool"
    x = _float_array(op, "x", x, 5)
    idx = _index_array(op, "indices", indices, x.shape)
    osz = _ints(op, "out_size", out_size, 3, 0)
    shape = x.shape[:2] + osz
    out = np.empty(shape, x.dtype)
    P = x.shape[0] * x.shape[1]
    plane = osz[0] * osz[1] * osz[2]
    if out.size == 0:
        if idx.size:
            raise _scatter_error(op, idx, plane, x.shape, shape)
        return out
    if P:
        n = x[0, 0].size
        if n:
            bad = _pool.max_unpool_forward(x.reshape(P, n), idx.reshape(P, n),
                                           out.reshape(P, plane), _threads(out.size + x.size))
            if bad:
                raise _scatter_error(op, idx, plane, x.shape, shape)
        else:
            out.fill(0)
    return out


def max_unpool_backward(grad_out, indices, x_shape):
    """Adjoint of :func:`max_unpool`: ``grad_x[n, c].flat[i] = grad_out[n, c].flat[idx[i]]``."""
    op = "max_unpool_backward"
    g = _float_array(op, "grad_out", grad_out, 5)
    xs = _ints(op, "x_shape", x_shape, 5, 0)
    if g.shape[:2] != xs[:2]:
        raise ValueError(f"{op}: grad_out {g.shape} and x_shape {xs} differ in (N, C)")
    idx = _index_array(op, "indices", indices, xs)
    grad_in = np.empty(xs, g.dtype)
    if grad_in.size == 0:
        return grad_in
    P = xs[0] * xs[1]
    n = grad_in[0, 0].size
    plane = g[0, 0].size
    if plane == 0:
        raise _scatter_error(op, idx, plane, g.shape, xs)
    bad = _pool.max_unpool_backward(g.reshape(P, plane), idx.reshape(P, n),
                                    grad_in.reshape(P, n), _threads(grad_in.size))
    if bad:
        raise _scatter_error(op, idx, plane, g.shape, xs)
    return grad_in


# ----------------------------------------------------------------------------- deformable conv

_NO_MASK = {dt: np.zeros((1, 1, 1, 1), dt) for dt in _FLOATS}  # "no mask" (kernels want a buffer)


def _deform_check(op, x_shape, dtype, offset, mask, kernel, stride, padding, dilation):
    """Validate a deformable im2col geometry; return (offset, mask, has_mask, params, L)."""
    offset = _float_array(op, "offset", offset, 4)
    if offset.dtype != dtype:
        raise TypeError(f"{op}: x is {dtype} but offset is {offset.dtype}")
    k, s = _ints(op, "kernel", kernel, 2, 1), _ints(op, "stride", stride, 2, 1)
    p, d = _ints(op, "padding", padding, 2, 0), _ints(op, "dilation", dilation, 2, 1)
    N, C, H, W = x_shape
    K = k[0] * k[1]
    oH = conv_out_size(H, k[0], s[0], p[0], d[0])
    oW = conv_out_size(W, k[1], s[1], p[1], d[1])
    if oH < 1 or oW < 1:
        raise ValueError(f"{op}: the dilated kernel does not fit: x {tuple(x_shape)}, kernel {k}, "
                         f"stride {s}, padding {p}, dilation {d} give output ({oH}, {oW})")
    oc = offset.shape[1]
    if (offset.shape[0] != N or oc == 0 or oc % (2 * K) or C % (oc // (2 * K))
            or offset.shape[2:] != (oH, oW)):
        raise ValueError(f"{op}: offset has shape {offset.shape} but x {tuple(x_shape)} and "
                         f"kernel {k} need (N, 2*G*{K}, {oH}, {oW}) with G dividing {C}")
    if mask is None:
        m, has_mask = _NO_MASK[dtype], False
    else:
        m = _float_array(op, "mask", mask, 4)
        if m.dtype != dtype:
            raise TypeError(f"{op}: x is {dtype} but mask is {m.dtype}")
        if m.shape != (N, oc // 2, oH, oW):
            raise ValueError(f"{op}: mask has shape {m.shape} but offset {offset.shape} needs "
                             f"{(N, oc // 2, oH, oW)}")
        has_mask = True
    return offset, m, has_mask, k + s + p + d, oH * oW


def deform_im2col(x, offset, mask, kernel, stride, padding, dilation, out=None):
    """Columns of a deformable convolution: bilinear samples at the offset positions.

    Parameters
    ----------
    x : ndarray (N, C, H, W), float32 or float64
    offset : ndarray (N, 2*G*kh*kw, oH, oW), x's dtype
        ``(dy, dx)`` per offset group ``g`` (``C/G`` channels each) and tap ``t = i*kw + j`` in
        channels ``2*(g*kh*kw + t)`` and ``2*(g*kh*kw + t) + 1``.
    mask : ndarray (N, G*kh*kw, oH, oW) or None
        Modulation (DCNv2): multiplies each sample.
    kernel, stride, padding, dilation : pairs of ints (H, W)
    out : ndarray, optional
        Preallocated C-contiguous result (reused workspace).

    Returns
    -------
    col : ndarray (C*kh*kw, N*oH*oW)
        ``col[c*K + t, n*L + oy*oW + ox] = mask * bilinear(x[n, c], oy*sh - ph + i*dh + dy,
        ox*sw - pw + j*dw + dx)``; the sample is 0 unless ``-1 < y < H`` and ``-1 < x < W``
        (neighbours outside the image read as 0; NaN positions give 0), as in torchvision.
    """
    op = "deform_im2col"
    x = _float_array(op, "x", x, 4)
    offset, m, has_mask, prm, L = _deform_check(op, x.shape, x.dtype, offset, mask, kernel,
                                                stride, padding, dilation)
    N, C = x.shape[:2]
    col = _out_buffer(op, out, (C * prm[0] * prm[1], N * L), x.dtype, x, offset, m)
    if x.size == 0:
        col.fill(0)
    elif col.size:
        _deform.deform_im2col(x, offset, m, has_mask, col, *prm, _threads(col.size, True))
    return col


def deform_col2im(col, offset, mask, x_shape, kernel, stride, padding, dilation, out=None):
    """Gradient of :func:`deform_im2col` with respect to x (its adjoint in x).

    Parameters
    ----------
    col : ndarray (C*kh*kw, N*oH*oW), the gradient of the columns
    offset, mask : as for :func:`deform_im2col`
    x_shape : 4 ints (N, C, H, W)
    out : ndarray, optional
        Preallocated C-contiguous result (overwritten).

    Returns
    -------
    grad_x : ndarray (N, C, H, W) with col's dtype
    """
    op = "deform_col2im"
    col = _float_array(op, "col", col, 2)
    xs = _ints(op, "x_shape", x_shape, 4, 0)
    offset, m, has_mask, prm, L = _deform_check(op, xs, col.dtype, offset, mask, kernel,
                                                stride, padding, dilation)
    expected = (xs[1] * prm[0] * prm[1], xs[0] * L)
    if col.shape != expected:
        raise ValueError(f"{op}: col has shape {col.shape} but x_shape {xs} and offset "
                         f"{offset.shape} need {expected}")
    x = _out_buffer(op, out, xs, col.dtype, col, offset, m)
    if x.size:
        _deform.deform_col2im(col, offset, m, has_mask, x, *prm, _threads(col.size, True))
    return x


def deform_offset_grad(col, x, offset, mask, kernel, stride, padding, dilation):
    """Gradients of :func:`deform_im2col` with respect to offset and mask.

    Parameters
    ----------
    col : ndarray (C*kh*kw, N*oH*oW), the gradient of the columns
    x, offset, mask : as for :func:`deform_im2col`

    Returns
    -------
    grad_offset : ndarray, offset's shape
        ``sum_c col * mask * d bilinear / d(dy or dx)`` over the channels of each offset group
        (torchvision's coordinate weights; zero where the sample is outside ``[-1, H) x [-1, W)``).
    grad_mask : ndarray, mask's shape, or None without a mask
        ``sum_c col * bilinear``.
    """
    op = "deform_offset_grad"
    col = _float_array(op, "col", col, 2)
    x = _float_array(op, "x", x, 4)
    _same_dtype(op, col, x, ("col", "x"))
    offset, m, has_mask, prm, L = _deform_check(op, x.shape, x.dtype, offset, mask, kernel,
                                                stride, padding, dilation)
    expected = (x.shape[1] * prm[0] * prm[1], x.shape[0] * L)
    if col.shape != expected:
        raise ValueError(f"{op}: col has shape {col.shape} but x {x.shape} and offset "
                         f"{offset.shape} need {expected}")
    goff = np.zeros(offset.shape, x.dtype)
    gmask = np.zeros(m.shape, x.dtype) if has_mask else None
    if x.size and goff.size:
        _deform.deform_offset_grad(col, x, offset, m, has_mask, goff,
                                   gmask if has_mask else _NO_MASK[x.dtype].copy(), *prm,
                                   _threads(col.size, True))
    return goff, gmask


# ----------------------------------------------------------------------------- activations

#: Activations whose backward takes the forward's output (``saved``) instead of its input.
ACTIVATION_FROM_OUTPUT = _act.FROM_OUTPUT

#: Activations that have :func:`activation_masked` (float32): the backward needs one bit per
#: element instead of a saved tensor.
ACTIVATION_MASKED = _act.MASKED


def _elementwise(op, name, a):
    """A float array made C-contiguous, keeping its shape (np.ascontiguousarray turns 0-D
    arrays into 1-D)."""
    shape = np.shape(a)
    return _float_array(op, name, a).reshape(shape)


def _act_code(kind):
    try:
        return _act.KINDS[kind]
    except (KeyError, TypeError):
        raise ValueError(f"activation: unknown kind {kind!r}; expected one of "
                         f"{sorted(_act.KINDS)}") from None


def activation(kind, x, a=0.0, b=0.0, c=0.0):
    """Elementwise activation ``kind`` of x (any shape), in x's dtype.

    ``kind`` is a key of ``tinyconv._act.KINDS`` (its docstring lists the parameters a, b, c
    each kind reads, e.g. hardtanh: min, max). The work is split into fixed blocks, so the
    result does not depend on the thread count.
    """
    code = _act_code(kind)
    if kind == "mul":
        raise ValueError("activation: 'mul' exists only as a backward")
    x = _elementwise(kind, "x", x)
    y = np.empty(x.shape, x.dtype)
    if x.size:
        _act.forward(code, x.reshape(-1), y.reshape(-1), a, b, c, _threads(x.size))
    return y


def activation_backward(kind, grad_out, saved, a=0.0, b=0.0, c=0.0):
    """Input gradient of :func:`activation`: ``grad_out * f'``.

    ``saved`` is the forward's output for kinds in :data:`ACTIVATION_FROM_OUTPUT`, its input
    otherwise (for ``'mul'``: the factor); it must have grad_out's shape and dtype.
    """
    op = kind + "_backward" if isinstance(kind, str) else "activation_backward"
    code = _act_code(kind)
    g = _elementwise(op, "grad_out", grad_out)
    s = _elementwise(op, "saved", saved)
    _same_dtype(op, g, s, ("grad_out", "saved"))
    if g.shape != s.shape:
        raise ValueError(f"{op}: grad_out has shape {g.shape} but saved has shape {s.shape}")
    gx = np.empty(g.shape, g.dtype)
    if g.size:
        _act.backward(code, g.reshape(-1), s.reshape(-1), gx.reshape(-1), a, b, c,
                      _threads(g.size))
    return gx


def activation_masked(kind, x, a=0.0, b=0.0):
    """:func:`activation` of a float32 array for a kind in :data:`ACTIVATION_MASKED`, and the
    bit mask (uint8, ``ceil(x.size / 8)`` bytes) that :func:`activation_backward_masked` reads
    instead of a saved tensor: 1 where the gradient passes through."""
    code = _act_code(kind)
    if kind not in _act.MASKED:
        raise ValueError(f"activation_masked: {kind!r} has no derivative mask; those that do: "
                         f"{sorted(_act.MASKED)}")
    x = _elementwise(kind, "x", x)
    if x.dtype != np.float32:
        raise TypeError(f"activation_masked: x must be float32, got {x.dtype}")
    y = np.empty(x.shape, x.dtype)
    mask = np.empty((x.size + 7) // 8, np.uint8)
    if x.size:
        _act.forward_masked(code, x.reshape(-1), y.reshape(-1), mask, a, b, 0.0,
                            _threads(x.size))
    return y, mask


def activation_backward_masked(kind, grad_out, mask, a=0.0, b=0.0):
    """Input gradient of :func:`activation_masked` from its mask: ``grad_out`` where the bit
    is 1, else 0 (leaky_relu: ``grad_out * a``)."""
    op = f"{kind}_backward"
    code = _act_code(kind)
    g = _elementwise(op, "grad_out", grad_out)
    if g.dtype != np.float32:
        raise TypeError(f"{op}: grad_out must be float32 (as the forward), got {g.dtype}")
    if not (isinstance(mask, np.ndarray) and mask.dtype == np.uint8 and mask.ndim == 1
            and mask.flags.c_contiguous and mask.size == (g.size + 7) // 8):
        raise ValueError(f"{op}: mask must be a contiguous uint8 array of {(g.size + 7) // 8} "
                         f"bytes for grad_out of shape {g.shape}")
    gx = np.empty(g.shape, g.dtype)
    if g.size:
        _act.backward_masked(code, g.reshape(-1), mask, gx.reshape(-1), a, b, _threads(g.size))
    return gx


def _prelu_rows(op, x, w):
    """Elements per row for the prelu kernels: rows share one weight, w[row % len(w)]."""
    if w.shape[0] == 1:
        return _act.BLOCK  # one weight: fixed blocks (thread-count independent sums)
    if x.ndim < 2 or x.shape[1] != w.shape[0]:
        raise ValueError(f"{op}: weight has {w.shape[0]} entries but x {x.shape} has "
                         f"{x.shape[1] if x.ndim >= 2 else 1} channels (dim 1)")
    return max(1, int(np.prod(x.shape[2:], dtype=np.int64)))


def prelu(x, weight):
    """``x`` where ``x > 0``, else ``weight[c] * x``; weight (1,) or (C,), c the index along
    dim 1 of x (N, C, ...)."""
    op = "prelu"
    x = _elementwise(op, "x", x)
    w = _float_array(op, "weight", weight, 1)
    _same_dtype(op, x, w, ("x", "weight"))
    if w.shape[0] == 0:
        raise ValueError(f"{op}: weight is empty")
    inner = _prelu_rows(op, x, w)
    y = np.empty(x.shape, x.dtype)
    if x.size:
        _act.prelu_forward(x.reshape(-1), w, y.reshape(-1), inner, _threads(x.size))
    return y


def prelu_backward(grad_out, x, weight, need_input=True):
    """Gradients of :func:`prelu`: (grad_x or None, grad_weight).

    grad_weight[c] sums ``x * grad_out`` over the elements of channel c with ``x <= 0``, in
    double, in an order fixed by the shape alone (the same with any thread count).
    """
    op = "prelu_backward"
    g = _elementwise(op, "grad_out", grad_out)
    x = _elementwise(op, "x", x)
    w = _float_array(op, "weight", weight, 1)
    _same_dtype(op, g, x, ("grad_out", "x"))
    _same_dtype(op, x, w, ("x", "weight"))
    if g.shape != x.shape:
        raise ValueError(f"{op}: grad_out has shape {g.shape} but x has shape {x.shape}")
    if w.shape[0] == 0:
        raise ValueError(f"{op}: weight is empty")
    inner = _prelu_rows(op, x, w)
    rows = -(-x.size // inner)
    gx = np.empty(x.shape, x.dtype) if need_input else _ONE[x.dtype].copy()
    partial = np.empty(rows, np.float64)
    if x.size:
        _act.prelu_backward(g.reshape(-1), x.reshape(-1), w, gx.reshape(-1), partial, inner,
                            bool(need_input), _threads(x.size))
    gw = partial.reshape(-1, w.shape[0]).sum(axis=0).astype(x.dtype)
    return (gx if need_input else None), gw


def rrelu_train(x, u, lower, upper):
    """RReLU in training mode: ``(y, slopes)`` with slope ``lower + (upper - lower) * u`` (at
    most ``upper``) where ``x <= 0`` and 1 elsewhere, ``y = x * slope``.

    ``u`` holds uniform draws in [0, 1) of x's shape and dtype; the slopes are written into it
    when it is contiguous and writeable (the gradient is ``grad_out * slopes``).
    """
    op = "rrelu"
    x = _elementwise(op, "x", x)
    u = _elementwise(op, "u", u)
    _same_dtype(op, x, u, ("x", "u"))
    if u.shape != x.shape:
        raise ValueError(f"{op}: u has shape {u.shape} but x has shape {x.shape}")
    if not u.flags.writeable or np.may_share_memory(u, x):
        u = u.copy()
    lower, upper = float(lower), float(upper)
    if not lower <= upper:
        raise ValueError(f"{op}: lower ({lower}) must not exceed upper ({upper})")
    y = np.empty(x.shape, x.dtype)
    if x.size:
        _act.rrelu_forward(x.reshape(-1), u.reshape(-1), y.reshape(-1), lower, upper,
                           _threads(x.size))
    return y, u


# --------------------------------------------------------------------------- interpolate
__all__ += ["resample", "resample_backward"]


def _resample_args(op, a, n_in, i0, w0, i1, w1):
    """Validate the per-output-position tables of a 1-D resampling (see csrc/_interp.pyx)."""
    n_out = len(i0)
    i0 = _index_array(op, "i0", i0, (n_out,))
    i1 = _index_array(op, "i1", i1 if i1 is not None else i0, (n_out,))
    for name, idx in (("i0", i0), ("i1", i1)):
        if n_out and (idx.min() < 0 or idx.max() >= n_in):
            raise ValueError(f"{op}: {name} holds indices outside [0, {n_in})")
    two = w0 is not None
    if two:
        w0 = _float_array(op, "w0", w0, 1)
        w1 = _float_array(op, "w1", w1, 1)
        for name, w in (("w0", w0), ("w1", w1)):
            _same_dtype(op, a, w, ("array", name))
            if w.shape != (n_out,):
                raise ValueError(f"{op}: {name} has shape {w.shape} but ({n_out},) was expected")
    else:
        w0 = w1 = np.zeros(n_out, a.dtype)
    return i0, w0, i1, w1, two


def resample(x, i0, w0=None, i1=None, w1=None):
    """Resample axis 1 of x (A, n_in, B): ``y[:, o] = w0[o] x[:, i0[o]] + w1[o] x[:, i1[o]]``.

    Without weights it is the gather ``y[:, o] = x[:, i0[o]]`` (nearest). Returns (A, n_out, B).
    """
    op = "resample"
    x = _float_array(op, "x", x, 3)
    i0, w0, i1, w1, two = _resample_args(op, x, x.shape[1], i0, w0, i1, w1)
    y = np.empty((x.shape[0], len(i0), x.shape[2]), x.dtype)
    if y.size:
        _interp.resample(x, y, i0, w0, i1, w1, two, _threads(y.size))
    return y


def resample_backward(g, n_in, i0, w0=None, i1=None, w1=None):
    """The adjoint of :func:`resample`: g (A, n_out, B) -> (A, n_in, B), sums exact per index."""
    op = "resample_backward"
    g = _float_array(op, "g", g, 3)
    if g.shape[1] != len(i0):
        raise ValueError(f"{op}: g has {g.shape[1]} positions along axis 1 but the tables have "
                         f"{len(i0)}")
    i0, w0, i1, w1, two = _resample_args(op, g, n_in, i0, w0, i1, w1)
    gx = np.zeros((g.shape[0], n_in, g.shape[2]), g.dtype)
    if g.size:
        _interp.resample_backward(g, gx, i0, w0, i1, w1, two, _threads(g.size))
    return gx


# ----------------------------------------------------------------------------- batch norm
__all__ += ["batch_norm_affine", "batch_norm_backward", "batch_norm_train"]


#: Planes (L values per image and channel) shorter than this take the kernels' column path
#: (csrc/_norm.h) instead of the plane path. Training forward + backward, float32, one thread,
#: N = 64, against the plane path: L = 1 (BatchNorm1d, C = 4096) 0.27 ms against 11.8 ms;
#: L = 16 0.23 against 0.64; L = 64 0.24 against 0.35; L = 128 0.24 against 0.26; L = 256
#: 0.26 against 0.22.
BN_COLUMNS_BELOW = 256


def _bn_input(op, x):
    """x as a contiguous (N, C, L) float array; its thread count and whether to take the
    column path."""
    x = _float_array(op, "x", x, 3)
    return x, min(_threads(x.size), max(x.shape[1], 1)), x.shape[2] < BN_COLUMNS_BELOW


def _bn_vec(op, name, a, x, optional=False):
    """A (C,) array of x's dtype for x (N, C, L); None passes through when ``optional``."""
    if a is None and optional:
        return None
    a = _float_array(op, name, a, 1)
    _same_dtype(op, x, a, ("x", name))
    if a.shape != (x.shape[1],):
        raise ValueError(f"{op}: {name} has shape {a.shape} but x {x.shape} has "
                         f"{x.shape[1]} channels")
    return a


def batch_norm_train(x, weight=None, bias=None, eps=1e-5, out=None):
    """Training-mode batch normalisation of x (N, C, L) over N and L, per channel.

    ``out``: an optional preallocated C-contiguous result (e.g. a view of an array of the
    caller's shape).

    Returns
    -------
    y : ndarray (N, C, L), x's dtype
        ``(x - mean) / sqrt(var + eps) * weight + bias`` (weight, bias (C,) optional).
    mean, var : ndarray (C,), float64
        The batch mean and biased variance (two passes over each channel, in double).
    """
    op = "batch_norm_train"
    x, threads, cols = _bn_input(op, x)
    w = _bn_vec(op, "weight", weight, x, optional=True)
    b = _bn_vec(op, "bias", bias, x, optional=True)
    eps = float(eps)
    if not eps >= 0:
        raise ValueError(f"{op}: eps must be >= 0, got {eps}")
    if x.shape[0] * x.shape[2] == 0:
        raise ValueError(f"{op}: x {x.shape} has no values per channel")
    y = _out_buffer(op, out, x.shape, x.dtype, x)
    stats = np.empty((2, x.shape[1]), np.float64)
    if x.size:
        one = _ONE[x.dtype]
        _norm.forward_train(x, one if w is None else w, one if b is None else b,
                            w is not None, b is not None, eps, stats,
                            np.empty((3, x.shape[1]), x.dtype), y, cols, threads)
    return y, stats[0], stats[1]


def batch_norm_affine(x, mean, scale, bias=None, out=None):
    """``y = (x - mean[c]) * scale[c] + bias[c]`` for x (N, C, L) (evaluation-mode batch norm
    with the running statistics: ``scale = weight / sqrt(running_var + eps)``); ``out`` as
    :func:`batch_norm_train`."""
    op = "batch_norm_affine"
    x, threads, cols = _bn_input(op, x)
    mean = _bn_vec(op, "mean", mean, x)
    scale = _bn_vec(op, "scale", scale, x)
    b = _bn_vec(op, "bias", bias, x, optional=True)
    y = _out_buffer(op, out, x.shape, x.dtype, x)
    if x.size:
        _norm.forward_affine(x, mean, scale, np.zeros_like(mean) if b is None else b, y, cols,
                             threads)
    return y


def batch_norm_backward(x, grad_out, mean, invstd, scale, training, need_x=True, need_w=True,
                        need_b=True, out=None):
    """Gradients of ``y = (x - mean) * scale + bias`` with ``scale = invstd * weight``.

    Parameters
    ----------
    x, grad_out : ndarray (N, C, L)
    mean, invstd, scale : ndarray (C,), x's dtype
        The statistics the forward normalised with, and ``invstd * weight`` (or ``invstd``).
    training : bool
        True when mean and invstd were the batch's own (they then depend on x).
    need_x, need_w, need_b : bool
    out : ndarray (N, C, L), optional
        Preallocated C-contiguous grad_x (used when need_x).

    Returns
    -------
    (grad_x, grad_weight, grad_bias), each None unless asked for: with ``xhat = (x - mean) *
    invstd`` and M = N*L, ``grad_bias = sum g``, ``grad_weight = sum g * xhat`` (in double),
    ``grad_x = scale * (g - grad_bias / M - xhat * grad_weight / M)`` when training, else
    ``g * scale``.
    """
    op = "batch_norm_backward"
    x, threads, cols = _bn_input(op, x)
    g = _float_array(op, "grad_out", grad_out, 3)
    _same_dtype(op, x, g, ("x", "grad_out"))
    if g.shape != x.shape:
        raise ValueError(f"{op}: grad_out has shape {g.shape} but x has shape {x.shape}")
    mean, invstd, scale = (_bn_vec(op, name, a, x) for name, a in
                           (("mean", mean), ("invstd", invstd), ("scale", scale)))
    need_x, need_sums, training = bool(need_x), bool(need_w or need_b), bool(training)
    gx = _out_buffer(op, out, x.shape, x.dtype, x, g) if need_x else None
    sums = np.zeros((2, x.shape[1]), np.float64)
    if x.size and (need_x or need_sums):
        _norm.backward(x, g, mean, invstd, scale, gx if need_x else np.empty((1, 1, 1), x.dtype),
                       sums, np.empty((2, x.shape[1]), x.dtype), training, need_x, need_sums,
                       cols, threads)
    return (gx, sums[1].astype(x.dtype) if need_w else None,
            sums[0].astype(x.dtype) if need_b else None)
