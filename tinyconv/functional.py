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

# Activations, losses, normalisation and dropout (nn slice). relu/sigmoid/tanh are re-imported
# from ops.activation, which adds PyTorch's signatures (inplace=) and input checks.
from .ops.activation import (celu, elu, gelu, hardsigmoid, hardswish, hardtanh,  # noqa: E402,F811
                             leaky_relu, log_softmax, mish, prelu, relu, relu6, rrelu, selu,
                             sigmoid, silu, softmax, softplus, softsign, tanh, threshold)
from .ops.dropout import dropout, dropout1d, dropout2d, dropout3d  # noqa: E402
from .ops.loss import cross_entropy, l1_loss, mse_loss, nll_loss  # noqa: E402
from .ops.norm import batch_norm  # noqa: E402

__all__ += [
    "elu", "gelu", "hardtanh", "leaky_relu", "log_softmax", "relu6", "silu", "softmax",
    "celu", "hardsigmoid", "hardswish", "mish", "prelu", "rrelu", "selu", "softplus", "softsign",
    "threshold",
    "dropout", "dropout1d", "dropout2d", "dropout3d", "cross_entropy", "l1_loss", "mse_loss",
    "nll_loss", "batch_norm",
]

# Layer, group and local response normalisation, interpolation, more losses (layers slice).
from .ops.interp import interpolate  # noqa: E402
from .ops.loss import (binary_cross_entropy, binary_cross_entropy_with_logits,  # noqa: E402
                       huber_loss, kl_div, one_hot, smooth_l1_loss)
from .ops.norm import group_norm, layer_norm, local_response_norm  # noqa: E402

__all__ += ["layer_norm", "group_norm", "local_response_norm", "interpolate", "smooth_l1_loss",
            "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
            "one_hot"]
