"""Normalisation layers without running statistics (see :mod:`tinyconv.ops.norm`).

``LayerNorm`` holds ``weight`` (ones) and ``bias`` (zeros) of shape ``normalized_shape`` when
``elementwise_affine``; ``GroupNorm`` holds them with shape (num_channels,) when ``affine``;
``bias=False`` drops the bias. ``LocalResponseNorm`` has no state. Names, shapes and initial
values follow PyTorch, so state_dicts load both ways.
"""

import numpy as np

from .. import functional as F
from ..ops.norm import _check_eps, _check_number, _normalized_shape
from .module import Module, _check_size, _factory_dtype
from .parameter import Parameter

__all__ = ["LayerNorm", "GroupNorm", "LocalResponseNorm"]



def _affine_parameters(module, shape, affine, bias, dtype):
    """weight (ones) and bias (zeros) of ``shape``, or None where switched off."""
    module.register_parameter("weight", Parameter(np.ones(shape, dtype=dtype)) if affine
                              else None)
    module.register_parameter("bias", Parameter(np.zeros(shape, dtype=dtype))
                              if affine and bias else None)


def _reset_affine(module):
    if module.weight is not None:
        module.weight.data[...] = 1
    if module.bias is not None:
        module.bias.data[...] = 0

class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` of (*, *normalized_shape) input.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias`` with the mean and biased variance taken
    over the last ``len(normalized_shape)`` dimensions; see :func:`tinyconv.functional.layer_norm`.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        dt = _factory_dtype(device, dtype, name)
        self.normalized_shape = _normalized_shape(name, normalized_shape)
        _check_eps(name, eps)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _affine_parameters(self, self.normalized_shape, elementwise_affine, bias, dt)

    def reset_parameters(self):
        _reset_affine(self)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(Module):
    """Normalise (N, C, *d) input over groups of ``num_channels / num_groups`` channels.

    Per sample and group: ``y = (x - mean) / sqrt(var + eps) * weight[c] + bias[c]``; see
    :func:`tinyconv.functional.group_norm`. ``GroupNorm(1, C)`` normalises each sample over all of
    its values, ``GroupNorm(C, C)`` each channel separately (instance normalisation).
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None,
                 *, bias=True):
        super().__init__()
        name = type(self).__name__
        dt = _factory_dtype(device, dtype, name)
        self.num_groups = _check_size(name, "num_groups", num_groups)
        self.num_channels = _check_size(name, "num_channels", num_channels)
        if self.num_channels % self.num_groups:
            raise ValueError(f"{name}: num_channels ({self.num_channels}) must be divisible by "
                             f"num_groups ({self.num_groups})")
        _check_eps(name, eps)
        self.eps = eps
        self.affine = affine
        _affine_parameters(self, self.num_channels, affine, bias, dt)

    def reset_parameters(self):
        _reset_affine(self)

    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class LocalResponseNorm(Module):
    """Local response normalisation across channels of (N, C, *d) input (AlexNet).

    ``y_c = x_c / (k + alpha / size * sum_{j=c-size//2}^{c+(size-1)//2} x_j^2) ** beta``, with
    channels outside [0, C) counted as zeros; see :func:`tinyconv.functional.local_response_norm`.
    """

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        name = type(self).__name__
        self.size = _check_size(name, "size", size)
        for attr, value in (("alpha", alpha), ("beta", beta), ("k", k)):
            _check_number(name, attr, value)
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
