"""``summary(model, input_size)``: a per-layer table of shapes, parameters, multiply-adds and
receptive fields, plus the size formulas people otherwise work out by hand.

Receptive-field arithmetic (Dumoulin & Visin 2016; Araujo et al. 2019), per spatial dimension,
for a window of size ``k``, stride ``s``, padding ``p`` and dilation ``d``::

    k_eff     = d * (k - 1) + 1
    r_out     = r_in + (k_eff - 1) * j_in              receptive field (input pixels)
    j_out     = j_in * s                                jump: input pixels between neighbours
    start_out = start_in + ((k_eff - 1) / 2 - p) * j_in centre of output 0's field

starting from ``r = 1, j = 1, start = 0`` on the input (start is a pixel index: 0 is the centre
of the first pixel, -0.5 its left edge). Where branches meet (a residual addition, a
concatenation) the branch with the largest receptive field is kept. Layers that flatten or pool
globally make the field cover their whole input. Upsampling layers divide the jump by their
factor; a transposed convolution's field counts the inputs that actually reach one output
(``ceil(k_eff / s)`` for ``d = 1``); for them ``start`` is the geometric position of output
pixel 0.
"""

import math
import sys
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from . import nn
from .autograd import enable_grad
from .nn.module import _check_size
from .ops.conv import conv_output_size, conv_transpose_output_size
from .ops.pool import pool_output_size
from .tensor import Tensor

__all__ = ["summary", "ModelSummary", "LayerSummary", "same_padding", "num_parameters",
           "conv_output_size", "conv_transpose_output_size", "pool_output_size"]


# ----------------------------------------------------------------------------- helpers
def same_padding(kernel_size, dilation=1):
    """The padding that keeps a stride-1 convolution's output the size of its input.

    ``padding = dilation * (kernel_size - 1) / 2``, which must be a whole number: an even
    ``kernel_size`` with odd ``dilation`` has no symmetric 'same' padding (use
    ``padding='same'``, which pads one more pixel on the right/bottom, as PyTorch does).

    Parameters
    ----------
    kernel_size : int or tuple of int
    dilation : int or tuple of int

    Returns
    -------
    int or tuple of int
        A tuple when either argument is a tuple.
    """
    as_tuple = isinstance(kernel_size, (tuple, list)) or isinstance(dilation, (tuple, list))
    ks = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size,)
    ds = tuple(dilation) if isinstance(dilation, (tuple, list)) else (dilation,)
    if len(ks) == 1 and len(ds) > 1:
        ks = ks * len(ds)
    if len(ds) == 1 and len(ks) > 1:
        ds = ds * len(ks)
    if len(ks) != len(ds):
        raise ValueError(f"same_padding: kernel_size {kernel_size} and dilation {dilation} have "
                         f"different lengths")
    out = []
    for k, d in zip(ks, ds):
        for name, v in (("kernel_size", k), ("dilation", d)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"same_padding: {name} must be an int or a tuple of ints, got "
                                f"{v!r}")
            if v < 1:
                raise ValueError(f"same_padding: {name} must be positive, got {v}")
        total = int(d) * (int(k) - 1)
        if total % 2:
            raise ValueError(f"same_padding: kernel_size {k} with dilation {d} needs {total} "
                             f"pixels of padding, which cannot be split evenly; use "
                             f"padding='same' (asymmetric) instead")
        out.append(total // 2)
    return tuple(out) if as_tuple else out[0]


def num_parameters(model, trainable_only=False):
    """The number of scalar parameters of ``model`` (shared parameters counted once).

    ``trainable_only`` counts only parameters with ``requires_grad``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"num_parameters: model must be a tinyconv.nn.Module, got "
                        f"{type(model).__name__}")
    return sum(int(p.data.size) for p in model.parameters()
               if p.requires_grad or not trainable_only)


# ------------------------------------------------------------------ receptive fields
@dataclass(frozen=True)
class _Field:
    """Receptive field, jump and start per spatial dimension."""

    r: tuple
    j: tuple
    start: tuple

    def window(self, k, s, p, d):
        """After a window (convolution or pooling) with per-dim k, s, p, d."""
        r, j, st = [], [], []
        for i in range(len(self.r)):
            keff = d[i] * (k[i] - 1) + 1
            r.append(self.r[i] + (keff - 1) * self.j[i])
            j.append(self.j[i] * s[i])
            st.append(self.start[i] + ((keff - 1) / 2 - p[i]) * self.j[i])
        return _Field(tuple(r), tuple(j), tuple(st))

    def transposed(self, k, s, p, d):
        """After a transposed convolution (see the module docstring)."""
        r, j, st = [], [], []
        for i in range(len(self.r)):
            keff = d[i] * (k[i] - 1) + 1
            # inputs reaching one output: taps t with t*d = (o + p) mod s, input (o+p-t*d)/s
            span = 0
            for c in range(s[i]):
                taps = [t for t in range(k[i]) if (t * d[i] - c) % s[i] == 0]
                if taps:
                    span = max(span, (taps[-1] - taps[0]) * d[i] // s[i])
            r.append(self.r[i] + span * self.j[i])
            j.append(self.j[i] / s[i])
            st.append(self.start[i] + (p[i] - (keff - 1) / 2) * self.j[i] / s[i])
        return _Field(tuple(r), tuple(j), tuple(st))

    def resize(self, in_sp, out_sp, extra=0):
        """After resampling ``in_sp`` -> ``out_sp`` (upsampling, unpooling), pixel centres
        aligned as with ``align_corners=False``; ``extra`` input pixels of interpolation."""
        r, j, st = [], [], []
        for i in range(len(self.r)):
            ratio = in_sp[i] / out_sp[i]
            r.append(self.r[i] + (extra if out_sp[i] > in_sp[i] else 0) * self.j[i])
            j.append(self.j[i] * ratio)
            st.append(self.start[i] + (ratio - 1) / 2 * self.j[i])
        return _Field(tuple(r), tuple(j), tuple(st))

    def whole(self, sp):
        """After a layer that sees all of its ``sp``-sized input (flatten, global pooling)."""
        return _Field(tuple(r + (n - 1) * j for r, j, n in zip(self.r, self.j, sp)),
                      tuple(j * n for j, n in zip(self.j, sp)),
                      tuple(s + (n - 1) / 2 * j for s, j, n in zip(self.start, self.j, sp)))

    def shift(self, left):
        """After padding ``left`` pixels before each dimension."""
        return _Field(self.r, self.j, tuple(s - p * j for s, p, j in
                                            zip(self.start, left, self.j)))


def _largest(fields):
    fields = [f for f in fields if f is not None]
    if not fields:
        return None
    return max(fields, key=lambda f: (math.prod(f.r), f.r))


def _tup(v, nd):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * nd


def _adaptive(field, in_sp, out_sp):
    """Adaptive pooling: windows [floor(i*n/m), ceil((i+1)*n/m)) of the input."""
    k = [max(-(-(i + 1) * n // m) - (i * n // m) for i in range(m))
         for n, m in zip(in_sp, out_sp)]
    first = [-(-n // m) for n, m in zip(in_sp, out_sp)]  # size of window 0
    return _Field(tuple(r + (kk - 1) * j for r, kk, j in zip(field.r, k, field.j)),
                  tuple(j * n / m for j, n, m in zip(field.j, in_sp, out_sp)),
                  tuple(s + (f - 1) / 2 * j for s, f, j in zip(field.start, first, field.j)))


_INTERP_EXTRA = {"linear": 1, "bilinear": 1, "trilinear": 1, "bicubic": 3}


def _leaf_field(m, field, x, y):
    """The field of leaf module ``m``'s output ``y`` given its input ``x`` and field."""
    nd = len(field.r)
    spatial_in = x.ndim == nd + 2
    spatial_out = y.ndim == nd + 2
    if not spatial_in:
        return field  # already global (after flatten): Linear, activations, dropout...
    in_sp, out_sp = x.shape[2:], y.shape[2:] if spatial_out else None
    if not spatial_out:
        return field.whole(in_sp)
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) and len(m.kernel_size) == nd:
        if m.padding == "same":
            pad = tuple(d * (k - 1) // 2 for k, d in zip(m.kernel_size, m.dilation))
        elif m.padding == "valid":
            pad = (0,) * nd
        else:
            pad = m.padding
        return field.window(m.kernel_size, m.stride, pad, m.dilation)
    if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)) \
            and len(m.kernel_size) == nd:
        return field.transposed(m.kernel_size, m.stride, m.padding, m.dilation)
    if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
        return field.window(_tup(m.kernel_size, nd), _tup(m.stride, nd), _tup(m.padding, nd),
                            _tup(m.dilation, nd))
    if isinstance(m, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        return field.window(_tup(m.kernel_size, nd), _tup(m.stride, nd), _tup(m.padding, nd),
                            (1,) * nd)
    if isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
                      nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)):
        return _adaptive(field, in_sp, out_sp)
    pad = getattr(m, "padding", None)
    if type(m).__name__.endswith(f"Pad{nd}d") and isinstance(pad, tuple) and len(pad) == 2 * nd:
        # F.pad order: (left, right) of the last dimension first
        return field.shift(tuple(pad[2 * (nd - 1 - i)] for i in range(nd)))
    if tuple(in_sp) == tuple(out_sp):
        return field  # elementwise or channel-wise (activations, norms, dropout, LRN, ...)
    mode = getattr(m, "mode", "nearest")
    return field.resize(in_sp, out_sp, _INTERP_EXTRA.get(mode, 0) if isinstance(mode, str) else 0)


# -------------------------------------------------------------------------- table
@dataclass
class LayerSummary:
    """One row of :class:`ModelSummary`: one call of a module during the forward pass.

    ``receptive_field``, ``jump`` and ``start`` hold one value per spatial dimension of the
    input (None where unknown). ``num_params`` counts the module's own parameters on its first
    call (0 on later calls of the same module, so the column adds up to the total).
    """

    name: str
    type: str
    output_shape: Tuple[int, ...]
    num_params: int
    trainable_params: int
    mult_adds: int
    receptive_field: Optional[Tuple[int, ...]]
    jump: Optional[Tuple[float, ...]]
    start: Optional[Tuple[float, ...]]


def _num(v):
    """A compact number: 13.5, 2, 0.25."""
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.4f}".rstrip("0").rstrip(".")


def _per_dim(values):
    if values is None:
        return "-"
    if all(v == values[0] for v in values):
        return _num(values[0])
    return "x".join(_num(v) for v in values)


def _mb(nbytes):
    return f"{nbytes / 2 ** 20:,.2f} MB"


class ModelSummary:
    """What :func:`summary` found; ``str()`` renders the table, ``layers`` holds its rows.

    Attributes
    ----------
    layers : list of LayerSummary
        The rows, in the order the modules finished their forward pass.
    input_shape, output_shape : tuple
        Of the batch that was run.
    total_params, trainable_params : int
        Over ``model.parameters()`` (shared parameters once).
    total_mult_adds : int
        Multiply-accumulate operations of convolutions, transposed convolutions and linear
        layers for the whole batch (FLOPs are about twice this).
    input_bytes, activation_bytes, param_bytes : int
        Memory of the input, of all layer outputs kept for the backward pass (each distinct
        output tensor once) and of the parameters.
    """

    def __init__(self, model_name, layers, input_shape, output_shape, total_params,
                 trainable_params, total_mult_adds, input_bytes, activation_bytes, param_bytes):
        self.model_name = model_name
        self.layers = layers
        self.input_shape = input_shape
        self.output_shape = output_shape
        self.total_params = total_params
        self.trainable_params = trainable_params
        self.total_mult_adds = total_mult_adds
        self.input_bytes = input_bytes
        self.activation_bytes = activation_bytes
        self.param_bytes = param_bytes

    def rows(self):
        """The table as a list of dicts (one per layer), e.g. for ``pandas.DataFrame``."""
        return [dict(vars(row)) for row in self.layers]

    def __repr__(self):
        return (f"ModelSummary({self.model_name}: {len(self.layers)} layers, "
                f"{self.total_params:,} parameters, {self.total_mult_adds:,} mult-adds)")

    def __str__(self):
        head = ("Layer (type)", "Output shape", "Param #", "Mult-adds", "RF", "Jump", "Start")
        body = [(f"{r.name} ({r.type})" if r.name else r.type, str(list(r.output_shape)),
                 f"{r.num_params:,}", f"{r.mult_adds:,}", _per_dim(r.receptive_field),
                 _per_dim(r.jump), _per_dim(r.start)) for r in self.layers]
        widths = [max(len(row[i]) for row in [head] + body) for i in range(len(head))]

        def line(cells):
            return "  ".join([cells[0].ljust(widths[0])]
                             + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])])

        rule = "=" * len(line(head))
        total = self.input_bytes + self.activation_bytes + self.param_bytes
        out = [rule, line(head), rule] + [line(b) for b in body] + [rule]
        out += [f"Input shape: {list(self.input_shape)} -> output shape: "
                f"{list(self.output_shape)}",
                f"Total params: {self.total_params:,}",
                f"Trainable params: {self.trainable_params:,}",
                f"Non-trainable params: {self.total_params - self.trainable_params:,}",
                f"Total mult-adds: {self.total_mult_adds:,} "
                f"({self.total_mult_adds / 1e6:,.2f} M)",
                f"Input size: {_mb(self.input_bytes)}",
                f"Forward activations: {_mb(self.activation_bytes)}",
                f"Params size: {_mb(self.param_bytes)}",
                f"Estimated total size: {_mb(total)}", rule]
        return "\n".join(out)


# ------------------------------------------------------------------------ summary
def _first_tensor(obj):
    if isinstance(obj, Tensor):
        return obj
    if isinstance(obj, (tuple, list)):
        for o in obj:
            t = _first_tensor(o)
            if t is not None:
                return t
    if isinstance(obj, dict):
        return _first_tensor(list(obj.values()))
    return None


def _tensors(args):
    out = []
    for a in args:
        if isinstance(a, Tensor):
            out.append(a)
        elif isinstance(a, (tuple, list)):
            out.extend(_tensors(a))
    return out


def _mult_adds(m, x, y):
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return int(y.data.size) * int(np.prod(m.weight.shape[1:]))
    if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        return int(x.data.size) * int(np.prod(m.weight.shape[1:])) if x is not None else 0
    if isinstance(m, nn.Linear):
        return int(y.data.size) * m.in_features
    return 0


class _Tracer:
    """Forward hooks that record one row per module call and track receptive fields."""

    def __init__(self, model, nd):
        self.names = {id(m): n for n, m in model.named_modules()}
        self.nd = nd
        self.fields = {}  # id(tensor) -> (tensor, _Field or None); holds the tensors alive
        self.rows = []
        self.counted = set()
        self.outputs = {}  # id(tensor) -> bytes, each distinct layer output once

    def field_of(self, t):
        """The field of tensor ``t``: recorded, or from its nearest recorded ancestors."""
        hit = self.fields.get(id(t))
        if hit is not None and hit[0] is t:
            return hit[1]
        found, stack, seen = [], [t], set()
        while stack:
            u = stack.pop()
            if id(u) in seen:
                continue
            seen.add(id(u))
            hit = self.fields.get(id(u))
            if hit is not None and hit[0] is u:
                f = hit[1]
                if f is not None and u.ndim == self.nd + 2 and t.ndim != self.nd + 2:
                    f = f.whole(u.shape[2:])  # flattened or pooled away by a functional op
                found.append(f)
                continue
            if u._node is not None:
                stack.extend(v for v in u._node.inputs if v is not None)
        return _largest(found)

    def hook(self, m, args, out):
        y = _first_tensor(out)
        if y is None:
            return None
        leaf = not any(True for _ in m.children())
        known = self.fields.get(id(y))
        recorded = known is not None and known[0] is y
        own = list(m.parameters(recurse=False))
        if not leaf and recorded and not own:
            return None  # a container whose output came from one of its layers
        xs = _tensors(args)
        x = xs[0] if xs else None
        in_field = _largest([self.field_of(t) for t in xs])
        if recorded:
            field = known[1]
        elif leaf and in_field is not None and x is not None:
            field = _leaf_field(m, in_field, x, y)
        else:
            field = self.field_of(y)  # a merge: residual addition, concatenation, ...
        self.fields[id(y)] = (y, field)
        first = id(m) not in self.counted
        self.counted.add(id(m))
        params = own if first else []
        self.outputs[id(y)] = int(y.data.nbytes)
        self.rows.append(LayerSummary(
            name=self.names.get(id(m), ""), type=type(m).__name__, output_shape=tuple(y.shape),
            num_params=sum(int(p.data.size) for p in params),
            trainable_params=sum(int(p.data.size) for p in params if p.requires_grad),
            mult_adds=_mult_adds(m, x, y) if leaf else 0,
            receptive_field=None if field is None else tuple(int(round(v)) for v in field.r),
            jump=None if field is None else field.j,
            start=None if field is None else field.start))
        return None


def summary(model, input_size=None, batch_size=1, dtype=None, *, input_data=None, verbose=True,
            file=None):
    """Run ``model`` once on zeros and tabulate every layer; print the table and return it.

    Per row (one per call of a leaf module, plus one where a module merges branches with a
    functional op, such as a residual addition or a concatenation): the module's dotted name
    and type, its output shape, its parameters, its multiply-adds, and the receptive field,
    jump and start offset of its output (formulas in the module docstring). At the bottom:
    total and trainable parameters, multiply-adds, and memory of input, activations and
    parameters.

    The model runs in eval mode (BatchNorm running statistics and dropout untouched) and gets
    its training flags back afterwards. Forward hooks are used and removed again.

    Parameters
    ----------
    model : tinyconv.nn.Module
        The model.
    input_size : tuple of int
        Shape of one input sample without the batch dimension, e.g. ``(1, 28, 28)``.
    batch_size : int
        Batch size of the zeros run (the counts of multiply-adds and activation memory are for
        the whole batch).
    dtype : numpy dtype, optional
        Input dtype; defaults to the dtype of the model's first parameter (else float32).
    input_data : Tensor or ndarray, optional
        A batch to run instead of zeros (then ``input_size`` and ``batch_size`` are ignored).
    verbose : bool
        Print the table.
    file : file-like, optional
        Where to print (default ``sys.stdout``).

    Returns
    -------
    ModelSummary
        The rows (``.layers``, ``.rows()``) and totals; ``str()`` gives the printed table.

    Examples
    --------
    >>> import tinyconv as tc
    >>> s = tc.summary(tc.models.lenet5(), (1, 28, 28), verbose=False)
    >>> s.total_params, s.layers[5].receptive_field
    (61706, (16, 16))
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"summary: model must be a tinyconv.nn.Module, got "
                        f"{type(model).__name__}")
    if input_data is not None:
        x = input_data if isinstance(input_data, Tensor) else Tensor(np.asarray(input_data))
        x = Tensor(x.data.copy())
    else:
        if not isinstance(input_size, (tuple, list)) or not input_size or any(
                isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in input_size):
            raise TypeError(f"summary: input_size must be a tuple of ints (one sample's shape "
                            f"without the batch dimension, e.g. (1, 28, 28)), got "
                            f"{input_size!r}")
        if any(v < 1 for v in input_size):
            raise ValueError(f"summary: input_size must be positive, got {tuple(input_size)}")
        batch_size = _check_size("summary", "batch_size", batch_size)
        if dtype is None:
            first = next(iter(model.parameters()), None)
            dtype = first.dtype if first is not None else np.float32
        x = Tensor(np.zeros((batch_size,) + tuple(int(v) for v in input_size), dtype=dtype))
    if x.ndim < 2 or x.dtype.kind != "f":
        raise ValueError(f"summary: the input must be a floating-point batch (N, C, ...), got "
                         f"shape {x.shape} and dtype {x.dtype}")
    x.requires_grad_(True)  # records the graph, through which functional ops are followed
    nd = x.ndim - 2
    tracer = _Tracer(model, nd)
    tracer.fields[id(x)] = (x, _Field((1,) * nd, (1,) * nd, (0.0,) * nd))
    modes = [(m, m.training) for m in model.modules()]
    handles = [m.register_forward_hook(tracer.hook) for m in model.modules()]
    try:
        model.eval()
        with enable_grad():
            out = model(x)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    y = _first_tensor(out)
    params = list(model.parameters())
    result = ModelSummary(
        model_name=type(model).__name__, layers=tracer.rows, input_shape=tuple(x.shape),
        output_shape=tuple(y.shape) if y is not None else (),
        total_params=sum(int(p.data.size) for p in params),
        trainable_params=sum(int(p.data.size) for p in params if p.requires_grad),
        total_mult_adds=sum(r.mult_adds for r in tracer.rows),
        input_bytes=int(x.data.nbytes), activation_bytes=sum(tracer.outputs.values()),
        param_bytes=sum(int(p.data.nbytes) for p in params))
    if verbose:
        print(result, file=sys.stdout if file is None else file)
    return result
