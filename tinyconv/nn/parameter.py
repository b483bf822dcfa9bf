"""``Parameter``: a Tensor that a Module registers as one of its learnable parameters."""

import numpy as np

from ..tensor import Tensor, _as_array

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A leaf Tensor that requires grad by default and is registered when assigned to a Module.

    Parameters
    ----------
    data : Tensor or array_like, optional
        A Tensor's array is shared, not copied (as ``torch.nn.Parameter(t)`` shares storage);
        anything else is converted like :func:`tinyconv.tensor`. ``None`` gives an empty float32
        tensor.
    requires_grad : bool
        Default True.
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            array = np.empty((0,), dtype=np.float32)
        elif isinstance(data, Tensor):
            array = data.data
        else:
            array = _as_array(data)
        self.data = array
        self._node = None
        self._out_index = 0
        self._retain = False
        self.grad = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        # Rebuild through __init__ so that pickling/deepcopy give a Parameter with its own array.
        return (_rebuild_parameter, (self.data, self.requires_grad, self.grad))


def _rebuild_parameter(data, requires_grad, grad):
    p = Parameter(Tensor._wrap(data), requires_grad=False)
    p.requires_grad = requires_grad
    p.grad = grad
    return p
