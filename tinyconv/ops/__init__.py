"""Differentiable operations, one module per family (shape rule + forward + backward)."""
