"""Convolution layers: ``Conv1d/2d/3d`` and ``ConvTranspose1d/2d/3d``.

Weights are (out_channels, in_channels/groups, *kernel_size) for convolutions and
(in_channels, out_channels/groups, *kernel_size) for transposed convolutions, as in PyTorch, and
start as ``kaiming_uniform_(a=sqrt(5))``: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
``fan_in = weight.shape[1] * prod(kernel_size)``; the bias uses the same bound.
"""

import math

import numpy as np

from .. import functional as F
from ..ops._util import ntuple
from . import init
from .module import Module, _check_size, _factory_dtype
from .parameter import Parameter

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
           "ConvTranspose3d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    _nd = 0
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 output_padding, groups, bias, padding_mode, device, dtype):
        super().__init__()
        name = type(self).__name__
        nd = self._nd
        dt = _factory_dtype(device, dtype, name)
        self.in_channels = _check_size(name, "in_channels", in_channels)
        self.out_channels = _check_size(name, "out_channels", out_channels)
        self.groups = _check_size(name, "groups", groups)
        if self.in_channels % self.groups:
            raise ValueError(f"{name}: in_channels ({self.in_channels}) must be divisible by "
                             f"groups ({self.groups})")
        if self.out_channels % self.groups:
            raise ValueError(f"{name}: out_channels ({self.out_channels}) must be divisible by "
                             f"groups ({self.groups})")
        self.kernel_size = ntuple(kernel_size, nd, "kernel_size", name)
        self.stride = ntuple(stride, nd, "stride", name)
        self.dilation = ntuple(dilation, nd, "dilation", name)
        for what, vals in (("kernel_size", self.kernel_size), ("stride", self.stride),
                           ("dilation", self.dilation)):
            if any(v < 1 for v in vals):
                raise ValueError(f"{name}: {what} must be positive, got {vals}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of 'zeros', 'reflect', "
                             f"'replicate' or 'circular', but got padding_mode={padding_mode!r}")
        if self._transposed and padding_mode != "zeros":
            raise ValueError(f"{name}: only 'zeros' padding mode is supported, got "
                             f"padding_mode={padding_mode!r}")
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            if self._transposed or padding not in ("same", "valid", "full"):
                allowed = "an int or a tuple" if self._transposed else \
                    "an int, a tuple, 'same', 'valid' or 'full'"
                raise ValueError(f"{name}: padding must be {allowed}, got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 f"convolutions (stride {self.stride})")
            self.padding = padding
        else:
            self.padding = ntuple(padding, nd, "padding", name)
            if any(p < 0 for p in self.padding):
                raise ValueError(f"{name}: padding must be non-negative, got {self.padding}")
        self.output_padding = ntuple(output_padding, nd, "output_padding", name)
        if any(p < 0 for p in self.output_padding):
            raise ValueError(f"{name}: output_padding must be non-negative, got "
                             f"{self.output_padding}")
        if self._transposed and any(o >= max(s, d) for o, s, d in
                                    zip(self.output_padding, self.stride, self.dilation)):
            raise ValueError(f"{name}: output_padding {self.output_padding} must be smaller than "
                             f"either stride {self.stride} or dilation {self.dilation}")
        self._reversed_padding_repeated_twice = self._pad_pairs()
        if self._transposed:
            shape = (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        else:
            shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.transposed = self._transposed
        self.weight = Parameter(np.empty(shape, dtype=dt))
        if bias:
            self.bias = Parameter(np.empty((self.out_channels,), dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _pad_pairs(self):
        """F.pad's argument (last dimension first) for non-zero padding modes."""
        pairs = []
        for i in reversed(range(self._nd)):
            if self.padding == "same":
                total = self.dilation[i] * (self.kernel_size[i] - 1)
                pairs += [total // 2, total - total // 2]
            elif self.padding == "valid":
                pairs += [0, 0]
            elif self.padding == "full":
                pairs += [self.dilation[i] * (self.kernel_size[i] - 1)] * 2
            else:
                pairs += [self.padding[i], self.padding[i]]
        return tuple(pairs)

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        nd = self._nd
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    _fn = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, 0,
                         groups, bias, padding_mode, device, dtype)

    def _conv_forward(self, input, weight, bias):
        fn = type(self)._fn
        if self.padding_mode != "zeros":
            padded = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return fn(padded, weight, bias, self.stride, 0, self.dilation, self.groups)
        return fn(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input):
        return self._conv_forward(input, self.weight, self.bias)


class Conv1d(_Conv):
    """1-D convolution over (N, C_in, L) or (C_in, L) input; see :func:`tinyconv.functional.conv1d`.

    ``Conv1d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
    bias=True, padding_mode='zeros')``; ``padding`` may be ``'same'``, ``'valid'`` or ``'full'``
    (``dilation*(kernel_size-1)`` on each side, a tinyconv extension: PyTorch has no
    ``'full'``), ``padding_mode`` ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
    ``L_out = floor((L + 2*padding - dilation*(kernel_size-1) - 1)/stride) + 1``.
    """

    _nd = 1
    _fn = staticmethod(F.conv1d)


class Conv2d(_Conv):
    """2-D convolution over (N, C_in, H, W) or (C_in, H, W) input.

    Arguments as :class:`Conv1d`, with ints or pairs. Weight (C_out, C_in/groups, kH, kW).
    ``H_out = floor((H + 2*padding[0] - dilation[0]*(kH-1) - 1)/stride[0]) + 1``, same for W.
    """

    _nd = 2
    _fn = staticmethod(F.conv2d)


class Conv3d(_Conv):
    """3-D convolution over (N, C_in, D, H, W) or (C_in, D, H, W) input; see :class:`Conv2d`."""

    _nd = 3
    _fn = staticmethod(F.conv3d)


class _ConvTranspose(_ConvNd):
    _transposed = True
    _fn = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         output_padding, groups, bias, padding_mode, device, dtype)

    def _output_padding(self, input, output_size):
        """The output_padding that makes the output ``output_size`` (PyTorch's rule)."""
        if output_size is None:
            return self.output_padding
        nd = self._nd
        name = type(self).__name__
        if hasattr(output_size, "shape") and not isinstance(output_size, (tuple, list)):
            raise TypeError(f"{name}: output_size must be a tuple of ints, got "
                            f"{type(output_size).__name__}")
        output_size = tuple(int(s) for s in output_size)
        non_spatial = 2 if input.ndim == nd + 2 else 1
        if len(output_size) == non_spatial + nd:
            output_size = output_size[non_spatial:]
        if len(output_size) != nd:
            raise ValueError(f"{name}: output_size must have {nd} or {nd + non_spatial} "
                             f"elements (got {len(output_size)})")
        spatial = input.shape[non_spatial:]
        mins = [(spatial[d] - 1) * self.stride[d] - 2 * self.padding[d]
                + self.dilation[d] * (self.kernel_size[d] - 1) + 1 for d in range(nd)]
        maxs = [m + self.stride[d] - 1 for d, m in enumerate(mins)]
        for size, lo, hi in zip(output_size, mins, maxs):
            if not lo <= size <= hi:
                raise ValueError(f"{name}: requested an output size of {output_size}, but valid "
                                 f"sizes range from {tuple(mins)} to {tuple(maxs)} (for an "
                                 f"input of {tuple(spatial)})")
        return tuple(s - m for s, m in zip(output_size, mins))

    def forward(self, input, output_size=None):
        op = self._output_padding(input, output_size)
        return type(self)._fn(input, self.weight, self.bias, self.stride, self.padding, op,
                              self.groups, self.dilation)


class ConvTranspose1d(_ConvTranspose):
    """1-D transposed convolution (the gradient of Conv1d), (N, C_in, L) -> (N, C_out, L_out).

    ``ConvTranspose1d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    output_padding=0, groups=1, bias=True, dilation=1, padding_mode='zeros')``.
    ``L_out = (L-1)*stride - 2*padding + dilation*(kernel_size-1) + output_padding + 1``;
    ``forward(input, output_size)`` picks ``output_padding`` to reach ``output_size``.
    """

    _nd = 1
    _fn = staticmethod(F.conv_transpose1d)


class ConvTranspose2d(_ConvTranspose):
    """2-D transposed convolution; arguments and sizes as :class:`ConvTranspose1d` per dim."""

    _nd = 2
    _fn = staticmethod(F.conv_transpose2d)


class ConvTranspose3d(_ConvTranspose):
    """3-D transposed convolution; arguments and sizes as :class:`ConvTranspose1d` per dim."""

    _nd = 3
    _fn = staticmethod(F.conv_transpose3d)
