"""Gradient clipping: ``torch.nn.utils.clip_grad_norm_`` and ``clip_grad_value_``.

Both work on the parameters' ``.grad`` arrays in place (no autograd graph is recorded) and skip
parameters whose grad is None.
"""

import math
import types
import warnings

import numpy as np

from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]


def _as_list(parameters):
    if isinstance(parameters, Tensor):
        return [parameters]
    is_generator = isinstance(parameters, types.GeneratorType)
    parameters = list(parameters)
    if is_generator and not parameters:
        warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.",
                      stacklevel=3)
    return parameters


def _grad_arrays(parameters):
    grads = []
    for p in parameters:
        g = p.grad
        if g is not None:
            grads.append(g.data if isinstance(g, Tensor) else g)
    return grads


def _norm(x, norm_type):
    """The vector norm of the flattened array ``x`` (``torch.linalg.vector_norm``)."""
    if norm_type == 2.0:
        flat = x.reshape(-1)
        return np.sqrt(np.dot(flat, flat))
    a = np.abs(x)
    if norm_type == math.inf:
        return a.max(initial=0) if a.size else x.dtype.type(0)
    if norm_type == -math.inf:
        return a.min() if a.size else x.dtype.type(math.inf)
    if norm_type == 0.0:
        return x.dtype.type(np.count_nonzero(x))
    if norm_type == 1.0:
        return a.sum(dtype=x.dtype)
    return np.sum(a ** norm_type, dtype=x.dtype) ** (1.0 / norm_type)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False):
    """The norm of the norms of ``tensors``: as if they were concatenated into one vector.

    Parameters
    ----------
    tensors : Tensor, array or iterable of them
        Usually gradients.
    norm_type : float or 'inf'
        Order of the norm. Default 2.
    error_if_nonfinite : bool
        Raise if the total norm is NaN or infinite. Default False.

    Returns
    -------
    Tensor
        0-d, in the tensors' (promoted) dtype; float32 0 if there are none.
    """
    if isinstance(tensors, (Tensor, np.ndarray)):
        tensors = [tensors]
    arrays = [t.data if isinstance(t, Tensor) else np.asarray(t) for t in tensors]
    try:
        norm_type = float(norm_type)
    except (TypeError, ValueError):
        raise TypeError(f"clip_grad_norm_: norm_type must be a number or 'inf', got "
                        f"{norm_type!r}") from None
    if not arrays:
        return Tensor._wrap(np.array(0.0, dtype=np.float32))
    dtype = np.result_type(*arrays)
    norms = np.array([_norm(a, norm_type) for a in arrays], dtype=dtype)
    total = np.asarray(_norm(norms, norm_type), dtype=dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                           f"gradients is {float(total)}, so it cannot be clipped; to scale the "
                           "gradients by the non-finite norm anyway, set error_if_nonfinite=False")
    return Tensor._wrap(total)


def clip_grads_with_norm_(parameters, max_norm, total_norm):
    """Scale the gradients by ``min(1, max_norm / (total_norm + 1e-6))`` in place."""
    grads = _grad_arrays(_as_list(parameters))
    if not grads:
        return
    total = total_norm.data if isinstance(total_norm, Tensor) else np.asarray(total_norm)
    coef = float(max_norm) / (total + 1e-6)  # in the norm's dtype, as PyTorch
    coef = np.minimum(coef, 1.0)
    for g in grads:
        np.multiply(g, coef, out=g, casting="same_kind")


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Rescale gradients in place so that their total norm is at most ``max_norm``.

    The total norm is computed over all gradients together, as if concatenated into one vector;
    each gradient is then multiplied by ``min(1, max_norm / (total_norm + 1e-6))``.

    Parameters
    ----------
    parameters : Tensor or iterable of Tensors
        Tensors whose ``.grad`` is clipped (those with grad None are skipped).
    max_norm : float
        Largest allowed norm.
    norm_type : float or 'inf'
        Order of the norm. Default 2.
    error_if_nonfinite : bool
        Raise RuntimeError if the total norm is NaN or infinite (the gradients are then left
        unchanged). Default False.

    Returns
    -------
    Tensor
        The total norm before clipping (0-d).
    """
    parameters = _as_list(parameters)
    total = get_total_norm(_grad_arrays(parameters), norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total)
    return total


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient in place to ``[-clip_value, clip_value]``.

    Parameters
    ----------
    parameters : Tensor or iterable of Tensors
        Tensors whose ``.grad`` is clipped (those with grad None are skipped).
    clip_value : float
        Largest allowed magnitude of a gradient element.
    """
    clip_value = float(clip_value)
    for g in _grad_arrays(_as_list(parameters)):
        np.clip(g, -clip_value, clip_value, out=g)
