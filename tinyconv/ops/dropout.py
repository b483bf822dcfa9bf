"""Dropout: zero elements (or whole channels) with probability ``p`` and scale the rest by
``1 / (1 - p)``, so that the expected value is unchanged; the identity when not training.

The mask comes from :data:`tinyconv.tensor.default_generator` (``tinyconv.manual_seed``), so runs
are reproducible; the masks differ from PyTorch's for the same seed.
"""

import warnings

import numpy as np

from ..autograd import Function
from ..tensor import default_generator
from ._util import check_float

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d"]


class Dropout(Function):
    @staticmethod
    def forward(ctx, x, mask):
        # mask holds 0 or 1/(1-p) in x's dtype, and may broadcast over spatial dimensions.
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved_tensors[0], None


def _mask(shape, p, dtype):
    if p == 1.0:
        return np.zeros(shape, dtype=dtype)
    keep = default_generator.rng.random(shape) >= p
    return keep.astype(dtype) * dtype.type(1.0 / (1.0 - p))


def _check_p(op, p):
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
        raise TypeError(f"{op}: p must be a float, got {type(p).__name__}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")
    return float(p)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element independently with probability ``p`` (when ``training``).

    ``inplace`` is accepted for compatibility; a new tensor is always returned.
    """
    p = _check_p("dropout", p)
    check_float(input, "input", "dropout")
    if not training or p == 0.0:
        return input
    return Dropout.apply(input, _mask(input.shape, p, input.dtype))


def _feature_dropout(op, nd, input, p, training):
    p = _check_p(op, p)
    check_float(input, "input", op)
    if input.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{op}: expected {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, "
                         f"got {input.ndim}-D input of shape {input.shape}")
    if not training or p == 0.0:
        return input
    # One draw per (sample, channel), broadcast over the spatial dimensions.
    lead = input.shape[:input.ndim - nd]
    mask = _mask(lead + (1,) * nd, p, input.dtype)
    return Dropout.apply(input, mask)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) or (C, L) input with probability ``p``."""
    return _feature_dropout("dropout1d", 1, input, p, training)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) or (C, H, W) input with probability ``p``.

    As PyTorch, a 3-D input is taken to be (N, C, L) (1-D channel dropout), with a warning.
    """
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
                      "1D dropout behavior is desired - input is interpreted as shape (N, C, L), "
                      "where C is the channel dim. This behavior will change in a future release "
                      "to interpret the input as one without a batch dimension, i.e. shape "
                      "(C, H, W). To maintain the 1D channel-wise dropout behavior, please "
                      "switch to using dropout1d instead.", stacklevel=2)
        return _feature_dropout("dropout2d", 1, input, p, training)
    return _feature_dropout("dropout2d", 2, input, p, training)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) input with probability ``p``."""
    return _feature_dropout("dropout3d", 3, input, p, training)
