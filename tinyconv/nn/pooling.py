"""Pooling layers: max, average, adaptive pooling and max unpooling in 1, 2 and 3 dimensions.

Output size per spatial dimension (see :mod:`tinyconv.ops.pool`)::

    out = floor_or_ceil((in + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1

``stride`` defaults to ``kernel_size``. The arguments are stored as given (an int stays an int),
as PyTorch does, so ``repr`` reads the same.
"""

import numpy as np

from .. import functional as F
from ..ops._util import ntuple
from .module import Module

__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
           "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "AdaptiveAvgPool1d",
           "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
           "AdaptiveMaxPool3d"]


def _check_window(layer, nd, kernel_size, stride, padding, dilation=1):
    """Check the window arguments once, at construction, with the layer's name."""
    k = ntuple(kernel_size, nd, "kernel_size", layer)
    s = k if stride is None else ntuple(stride, nd, "stride", layer)
    p = ntuple(padding, nd, "padding", layer)
    d = ntuple(dilation, nd, "dilation", layer)
    for what, vals in (("kernel_size", k), ("stride", s), ("dilation", d)):
        if any(v < 1 for v in vals):
            raise ValueError(f"{layer}: {what} must be positive, got {vals}")
    if any(v < 0 for v in p):
        raise ValueError(f"{layer}: padding must be non-negative, got {p}")
    if any(pi > ki // 2 for pi, ki in zip(p, k)):
        raise ValueError(f"{layer}: padding {p} should be at most half of the kernel size {k}")


class _MaxPoolNd(Module):
    _nd = 0
    _fn = None

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        _check_window(type(self).__name__, self._nd, kernel_size, stride, padding, dilation)
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input):
        return type(self)._fn(input, self.kernel_size, self.stride, self.padding, self.dilation,
                              ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """Max over windows of (N, C, L) input; ``return_indices`` also returns argmax positions."""

    _nd = 1
    _fn = staticmethod(F.max_pool1d)


class MaxPool2d(_MaxPoolNd):
    """Max over windows of (N, C, H, W) input; ``MaxPool2d(kernel_size, stride=None, padding=0,
    dilation=1, return_indices=False, ceil_mode=False)``."""

    _nd = 2
    _fn = staticmethod(F.max_pool2d)


class MaxPool3d(_MaxPoolNd):
    """Max over windows of (N, C, D, H, W) input."""

    _nd = 3
    _fn = staticmethod(F.max_pool3d)


class _AvgPoolNd(Module):
    _nd = 0

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        name = type(self).__name__
        _check_window(name, self._nd, kernel_size, stride, padding)
        if divisor_override is not None and (
                isinstance(divisor_override, bool)
                or not isinstance(divisor_override, (int, np.integer)) or divisor_override == 0):
            raise ValueError(f"{name}: divisor_override must be a non-zero int, got "
                             f"{divisor_override!r}")
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """Average over windows of (N, C, L) input; ``AvgPool1d(kernel_size, stride=None,
    padding=0, ceil_mode=False, count_include_pad=True)``."""

    _nd = 1

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)
        # PyTorch stores AvgPool1d's arguments as 1-tuples.
        self.kernel_size = ntuple(kernel_size, 1, "kernel_size", "AvgPool1d")
        self.stride = ntuple(self.stride, 1, "stride", "AvgPool1d")
        self.padding = ntuple(padding, 1, "padding", "AvgPool1d")

    def forward(self, input):
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """Average over windows of (N, C, H, W) input; divisor rules as
    :func:`tinyconv.functional.avg_pool2d`."""

    _nd = 2

    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class AvgPool3d(_AvgPoolNd):
    """Average over windows of (N, C, D, H, W) input."""

    _nd = 3

    def forward(self, input):
        return F.avg_pool3d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class _MaxUnpoolNd(Module):
    _nd = 0
    _fn = None

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name, nd = type(self).__name__, self._nd
        self.kernel_size = ntuple(kernel_size, nd, "kernel_size", name)
        self.stride = ntuple(stride if stride is not None else kernel_size, nd, "stride", name)
        self.padding = ntuple(padding, nd, "padding", name)
        for what, vals in (("kernel_size", self.kernel_size), ("stride", self.stride)):
            if any(v < 1 for v in vals):
                raise ValueError(f"{name}: {what} must be positive, got {vals}")
        if any(v < 0 for v in self.padding):
            raise ValueError(f"{name}: padding must be non-negative, got {self.padding}")

    def forward(self, input, indices, output_size=None):
        return type(self)._fn(input, indices, self.kernel_size, self.stride, self.padding,
                              output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """Partial inverse of MaxPool1d: ``forward(input, indices, output_size=None)``."""

    _nd = 1
    _fn = staticmethod(F.max_unpool1d)


class MaxUnpool2d(_MaxUnpoolNd):
    """Partial inverse of MaxPool2d: values go to ``indices``, zeros elsewhere."""

    _nd = 2
    _fn = staticmethod(F.max_unpool2d)


class MaxUnpool3d(_MaxUnpoolNd):
    """Partial inverse of MaxPool3d."""

    _nd = 3
    _fn = staticmethod(F.max_unpool3d)


def _check_output_size(layer, nd, output_size):
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * nd
    if len(sizes) != nd:
        raise ValueError(f"{layer}: output_size must be an int or a tuple of {nd}, got "
                         f"{output_size!r}")
    for s in sizes:
        if s is None:
            continue
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"{layer}: output_size must hold ints or None, got {output_size!r}")
        if s < 1:
            raise ValueError(f"{layer}: output_size must be positive, got {output_size!r}")


class _AdaptiveAvgPoolNd(Module):
    _nd = 0
    _fn = None

    def __init__(self, output_size):
        super().__init__()
        _check_output_size(type(self).__name__, self._nd, output_size)
        self.output_size = output_size

    def forward(self, input):
        return type(self)._fn(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Average (N, C, L) input down to (N, C, output_size) with adaptive windows."""

    _nd = 1
    _fn = staticmethod(F.adaptive_avg_pool1d)


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Average (N, C, H, W) input down to ``output_size`` (``None`` keeps that dimension)."""

    _nd = 2
    _fn = staticmethod(F.adaptive_avg_pool2d)


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """Average (N, C, D, H, W) input down to ``output_size``."""

    _nd = 3
    _fn = staticmethod(F.adaptive_avg_pool3d)


class _AdaptiveMaxPoolNd(Module):
    _nd = 0
    _fn = None

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        _check_output_size(type(self).__name__, self._nd, output_size)
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input):
        return type(self)._fn(input, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Max over adaptive windows of (N, C, L) input."""

    _nd = 1
    _fn = staticmethod(F.adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Max over adaptive windows of (N, C, H, W) input; ``return_indices`` as MaxPool2d."""

    _nd = 2
    _fn = staticmethod(F.adaptive_max_pool2d)


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """Max over adaptive windows of (N, C, D, H, W) input."""

    _nd = 3
    _fn = staticmethod(F.adaptive_max_pool3d)
