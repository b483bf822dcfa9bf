"""``DeformConv2d``: deformable convolution as a layer (torchvision.ops.DeformConv2d).

The layer holds only the convolution's weight (C_out, C_in/groups, kH, kW) and bias; the offsets
(and the DCNv2 mask) are inputs of ``forward``, usually predicted by an ordinary ``Conv2d`` from
the same feature map. Parameters start like ``Conv2d``'s: ``kaiming_uniform_(a=sqrt(5))`` for
the weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias.
"""

import math

import numpy as np

from ..ops._util import ntuple
from ..ops.deform import deform_conv2d
from . import init
from .module import Module, _check_size
from .parameter import Parameter

__all__ = ["DeformConv2d"]


class DeformConv2d(Module):
    """Deformable 2-D convolution, ``forward(input, offset, mask=None)``.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size, stride, padding, dilation : int or pair of ints
    groups : int
        Weight groups; both channel counts must be divisible by it.
    bias : bool

    ``input`` is (N, C_in, H, W); ``offset`` (N, 2*offset_groups*kH*kW, H_out, W_out) and
    ``mask`` (N, offset_groups*kH*kW, H_out, W_out) as in :func:`tinyconv.ops.deform_conv2d`;
    ``H_out = floor((H + 2*padding[0] - dilation[0]*(kH-1) - 1)/stride[0]) + 1``, same for W.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True):
        super().__init__()
        name = type(self).__name__
        self.in_channels = _check_size(name, "in_channels", in_channels)
        self.out_channels = _check_size(name, "out_channels", out_channels)
        self.groups = _check_size(name, "groups", groups)
        if self.in_channels % self.groups:
            raise ValueError(f"{name}: in_channels ({self.in_channels}) must be divisible by "
                             f"groups ({self.groups})")
        if self.out_channels % self.groups:
            raise ValueError(f"{name}: out_channels ({self.out_channels}) must be divisible by "
                             f"groups ({self.groups})")
        self.kernel_size = ntuple(kernel_size, 2, "kernel_size", name)
        self.stride = ntuple(stride, 2, "stride", name)
        self.padding = ntuple(padding, 2, "padding", name)
        self.dilation = ntuple(dilation, 2, "dilation", name)
        for what, vals in (("kernel_size", self.kernel_size), ("stride", self.stride),
                           ("dilation", self.dilation)):
            if any(v < 1 for v in vals):
                raise ValueError(f"{name}: {what} must be positive, got {vals}")
        if any(v < 0 for v in self.padding):
            raise ValueError(f"{name}: padding must be non-negative, got {self.padding}")
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dtype=np.float32))
        if bias:
            self.bias = Parameter(np.empty((self.out_channels,), dtype=np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input, offset, mask=None):
        return deform_conv2d(input, offset, self.weight, self.bias, stride=self.stride,
                             padding=self.padding, dilation=self.dilation, mask=mask)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
