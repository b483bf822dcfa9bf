"""``Flatten`` and ``Unflatten``."""

import numpy as np

from ..ops import basic
from .module import Module

__all__ = ["Flatten", "Unflatten"]


def _int(layer, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{layer}: {name} must be an int, got {value!r}")
    return int(value)


class Flatten(Module):
    """Flatten dimensions ``start_dim..end_dim`` into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = _int("Flatten", "start_dim", start_dim)
        self.end_dim = _int("Flatten", "end_dim", end_dim)

    def forward(self, input):
        nd = max(input.ndim, 1)
        for d in (self.start_dim, self.end_dim):
            if not -nd <= d < nd:
                raise ValueError(f"Flatten: dimension {d} is out of range for input of shape "
                                 f"{input.shape}")
        return basic.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expand dimension ``dim`` into ``unflattened_size`` (one entry may be -1)."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        if isinstance(dim, str):
            raise TypeError("Unflatten: named dimensions are not supported; dim must be an int")
        self.dim = _int("Unflatten", "dim", dim)
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError(f"Unflatten: unflattened_size must be a tuple of ints, got "
                            f"{type(unflattened_size).__name__}")
        size = tuple(_int("Unflatten", "unflattened_size", s) for s in unflattened_size)
        if sum(s == -1 for s in size) > 1 or any(s < -1 for s in size):
            raise ValueError(f"Unflatten: unflattened_size may hold non-negative sizes and at most "
                             f"one -1, got {size}")
        self.unflattened_size = unflattened_size

    def forward(self, input):
        nd = input.ndim
        if not -nd <= self.dim < nd:
            raise ValueError(f"Unflatten: dim {self.dim} is out of range for input of shape "
                             f"{input.shape}")
        d = self.dim % nd
        size = tuple(int(s) for s in self.unflattened_size)
        n = input.shape[d]
        known = int(np.prod([s for s in size if s != -1]))
        if -1 in size:
            if known == 0 or n % known:
                raise ValueError(f"Unflatten: cannot unflatten dimension {d} of size {n} of "
                                 f"input {input.shape} into {size}")
            size = tuple(n // known if s == -1 else s for s in size)
        elif known != n:
            raise ValueError(f"Unflatten: unflattened_size {size} has {known} elements but "
                             f"dimension {d} of input {input.shape} has {n}")
        return basic.reshape(input, input.shape[:d] + size + input.shape[d + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
