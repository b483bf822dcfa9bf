"""Padding layers: constant (and zero), reflection, replication and circular, in 1, 2 and 3-D.

Each wraps :func:`tinyconv.functional.pad`. ``padding`` is an int (the same on every side) or a
tuple ``(left, right)`` / ``(left, right, top, bottom)`` / ``(left, right, top, bottom, front,
back)``: pairs for the last dimension first, as in PyTorch. Output size along a padded
dimension: ``in + before + after``. Constant (and zero) padding may be negative, which crops.
"""

from .. import functional as F
from ..ops._util import ntuple
from .module import Module

__all__ = ["ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d",
           "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
           "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d",
           "CircularPad2d", "CircularPad3d"]


class _PadNd(Module):
    """Reflection, replication and circular padding of (C, *d) or (N, C, *d) input."""

    _nd = 0
    _mode = None

    def __init__(self, padding):
        super().__init__()
        self.padding = ntuple(padding, 2 * self._nd, "padding", type(self).__name__)

    def _check_input_dim(self, input):
        nd = self._nd
        if input.ndim not in (nd + 1, nd + 2):
            raise ValueError(f"{type(self).__name__}: expected {nd + 1}D or {nd + 2}D input (got "
                             f"{input.ndim}D input of shape {input.shape})")

    def forward(self, input):
        self._check_input_dim(input)
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    """Pad with ``value``; like PyTorch, any input with enough dimensions is accepted."""

    _mode = "constant"

    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dimension with ``value``: ``ConstantPad1d(padding, value)``."""

    _nd = 1


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dimensions with ``value``: ``ConstantPad2d(padding, value)``."""

    _nd = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three dimensions with ``value``: ``ConstantPad3d(padding, value)``."""

    _nd = 3


class ZeroPad1d(ConstantPad1d):
    """Pad the last dimension with zeros."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pad the last two dimensions with zeros."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    """Pad the last three dimensions with zeros."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ReflectionPad1d(_PadNd):
    """Reflect (C, L) or (N, C, L) input at its borders (padding < L, edge not repeated)."""

    _nd, _mode = 1, "reflect"


class ReflectionPad2d(_PadNd):
    """Reflect (C, H, W) or (N, C, H, W) input at its borders."""

    _nd, _mode = 2, "reflect"


class ReflectionPad3d(_PadNd):
    """Reflect (C, D, H, W) or (N, C, D, H, W) input at its borders."""

    _nd, _mode = 3, "reflect"


class ReplicationPad1d(_PadNd):
    """Repeat the edge values of (C, L) or (N, C, L) input."""

    _nd, _mode = 1, "replicate"


class ReplicationPad2d(_PadNd):
    """Repeat the edge values of (C, H, W) or (N, C, H, W) input."""

    _nd, _mode = 2, "replicate"


class ReplicationPad3d(_PadNd):
    """Repeat the edge values of (C, D, H, W) or (N, C, D, H, W) input."""

    _nd, _mode = 3, "replicate"


class CircularPad1d(_PadNd):
    """Wrap (C, L) or (N, C, L) input around (periodic boundary)."""

    _nd, _mode = 1, "circular"


class CircularPad2d(_PadNd):
    """Wrap (C, H, W) or (N, C, H, W) input around (periodic boundary)."""

    _nd, _mode = 2, "circular"


class CircularPad3d(_PadNd):
    """Wrap (C, D, H, W) or (N, C, D, H, W) input around (periodic boundary)."""

    _nd, _mode = 3, "circular"
