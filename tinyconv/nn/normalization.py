"""Normalisation layers without running statistics (see :mod:`tinyconv.ops.norm`).

``LocalResponseNorm`` has no state. Parameter names, shapes and initial values follow PyTorch,
so state_dicts load both ways.
"""

from .. import functional as F
from ..ops.norm import _check_number
from .module import Module, _check_size

__all__ = ["LocalResponseNorm"]


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
