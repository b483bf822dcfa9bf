"""``linear``: y = x @ weight.T + bias over the last dimension."""

import numpy as np

from .. import _kernels as K
from ..autograd import Function
from ._util import check_float

__all__ = ["linear"]


class Linear(Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        x2 = x.reshape(-1, x.shape[-1])
        if bias is not None:
            y = np.empty((x2.shape[0], weight.shape[0]), x.dtype)
            y[...] = bias
            K.gemm(x2, weight, trans_b=True, out=y, beta=1.0)
        else:
            y = K.gemm(x2, weight, trans_b=True)
        ctx.save_for_backward(x2, weight)
        ctx.x_shape = x.shape
        return y.reshape(x.shape[:-1] + (weight.shape[0],))

    @staticmethod
    def backward(ctx, g):
        x2, weight = ctx.saved_tensors
        g2 = g.reshape(-1, weight.shape[0])
        need_x, need_w, need_b = ctx.needs_input_grad
        gx = K.gemm(g2, weight).reshape(ctx.x_shape) if need_x else None
        gw = K.gemm(g2, x2, trans_a=True) if need_w else None
        gb = g2.sum(axis=0, dtype=np.float64).astype(g.dtype) if need_b else None
        return gx, gw, gb


def linear(input, weight, bias=None):
    """Affine map over the last dimension: (*, in_features) -> (*, out_features).

    ``weight`` is (out_features, in_features), ``bias`` (out_features,) or None.
    """
    check_float(input, "input", "linear")
    check_float(weight, "weight", "linear")
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got "
                         f"{weight.shape}")
    if input.ndim < 1 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input has {input.shape[-1] if input.ndim else 0} features but "
                         f"weight expects {weight.shape[1]} (input {input.shape}, weight "
                         f"{weight.shape})")
    if input.dtype != weight.dtype:
        raise TypeError(f"linear: input is {input.dtype} but weight is {weight.dtype}")
    if bias is not None:
        check_float(bias, "bias", "linear")
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got "
                             f"{bias.shape}")
        if bias.dtype != input.dtype:
            raise TypeError(f"linear: input is {input.dtype} but bias is {bias.dtype}")
    return Linear.apply(input, weight, bias)
