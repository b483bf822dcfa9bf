"""Argument checks and size arithmetic shared by the model definitions.

Models compute their flattened feature sizes from ``input_size`` with the layers' output-size
formulas (no dummy forward pass), and refuse an input that some layer would shrink to nothing
with a sentence that names the model, the input size and the layer.
"""

import math

import numpy as np

from ..nn.module import _check_size
from ..ops.conv import conv_output_size

__all__ = ["check_common", "input_hw", "choose_layout", "scaled", "shrink"]

LAYOUTS = ("cifar", "imagenet")

# ``layout=None`` picks the ImageNet layout from this many pixels (smaller side) up.
IMAGENET_MIN_SIZE = 128


def check_common(model, num_classes, in_channels):
    """``num_classes`` and ``in_channels`` as positive ints (TypeError/ValueError otherwise)."""
    return _check_size(model, "num_classes", num_classes), \
        _check_size(model, "in_channels", in_channels)


def input_hw(model, input_size):
    """``input_size`` (an int or an (H, W) pair of positive ints) as an (H, W) tuple."""
    if isinstance(input_size, (int, np.integer)) and not isinstance(input_size, bool):
        hw = (int(input_size),) * 2
    elif isinstance(input_size, (tuple, list)) and len(input_size) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in input_size):
        hw = tuple(int(v) for v in input_size)
    else:
        raise TypeError(f"{model}: input_size must be an int or a pair of ints (H, W), got "
                        f"{input_size!r}")
    if min(hw) < 1:
        raise ValueError(f"{model}: input_size must be positive, got {hw}")
    return hw


def choose_layout(model, layout, hw):
    """``'cifar'`` or ``'imagenet'``; ``None`` picks ImageNet from IMAGENET_MIN_SIZE pixels."""
    if layout is None:
        return "imagenet" if min(hw) >= IMAGENET_MIN_SIZE else "cifar"
    if layout not in LAYOUTS:
        raise ValueError(f"{model}: layout must be 'cifar', 'imagenet' or None, got {layout!r}")
    return layout


def scaled(model, width, width_mult):
    """``round(width * width_mult)``, at least 1: the channel count of a thinner model."""
    if isinstance(width_mult, bool) or not isinstance(width_mult, (int, float)) \
            or not math.isfinite(width_mult) or width_mult <= 0:
        raise ValueError(f"{model}: width_mult must be a positive number, got {width_mult!r}")
    return max(1, int(round(width * width_mult)))


def shrink(model, hw, input_hw_, layer, kernel_size, stride=1, padding=0, dilation=1):
    """(H, W) after a convolution or pooling window; ValueError if a side drops below 1."""
    k, s, p = (_pair(v) for v in (kernel_size, stride, padding))
    out = tuple(conv_output_size(n, k[i], s[i], p[i], dilation) for i, n in enumerate(hw))
    if min(out) < 1:
        raise ValueError(f"{model}: input_size {input_hw_} is too small: {layer} (kernel_size "
                         f"{kernel_size}, stride {stride}, padding {padding}) gets a "
                         f"{hw[0]}x{hw[1]} input and would output {out[0]}x{out[1]}")
    return out


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)
