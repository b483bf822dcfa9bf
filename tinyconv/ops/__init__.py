"""Differentiable operations, one module per family (shape rule + forward + backward)."""

from .deform import deform_conv2d  # noqa: F401  (tinyconv.ops.deform_conv2d, as torchvision.ops)
