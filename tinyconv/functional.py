"""The functional API (also importable as ``tinyconv.nn.functional``), with PyTorch's names."""

from .ops.basic import (abs, cat, clamp, exp, flatten, log, matmul, mean, relu, sigmoid, sqrt,
                        stack, sum, tanh, where)
from .ops.conv import (conv1d, conv2d, conv3d, conv_output_size, conv_transpose1d,
                       conv_transpose2d, conv_transpose3d, conv_transpose_output_size)
from .ops.linear import linear
from .ops.pad import pad
from .ops.pool import (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d,
                       adaptive_max_pool1d, adaptive_max_pool2d, adaptive_max_pool3d, avg_pool1d,
                       avg_pool2d, avg_pool3d, max_pool1d, max_pool2d, max_pool3d, max_unpool1d,
                       max_unpool2d, max_unpool3d, pool_output_size)

__all__ = [
    "abs", "cat", "clamp", "exp", "flatten", "log", "matmul", "mean", "relu", "sigmoid", "sqrt",
    "stack", "sum", "tanh", "where",
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "conv_output_size", "conv_transpose_output_size", "linear", "pad",
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "max_unpool1d", "max_unpool2d", "max_unpool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "pool_output_size",
]
