"""Optimizers (``tinyconv.optim``) and learning-rate schedules (``tinyconv.optim.lr_scheduler``).

Names, arguments, defaults and update rules are PyTorch's (``torch.optim``), plus :class:`Ftrl`
(FTRL-Proximal as in TensorFlow). Updates are written into the parameters' numpy arrays in
place, with numpy ufuncs, and record no autograd graph.
"""

from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .ftrl import Ftrl
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta", "Ftrl",
           "lr_scheduler"]
