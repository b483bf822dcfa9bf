"""tinyconv: train small convolutional networks fast on CPU, with PyTorch's names.

Hot loops are compiled (Cython + OpenMP) and reached through :mod:`tinyconv._kernels`.
"""

import sys as _sys

# Before any compiled module loads the OpenMP runtime: how its workers wait (see _parallel).
from . import _parallel  # noqa: E402
_parallel.default_wait_policy()

from . import _kernels  # noqa: E402  (fails with a readable message if the build is missing)
from ._kernels import empty_cache  # noqa: E402
from ._parallel import get_num_threads, set_num_threads, show_config  # noqa: E402
from .autograd import enable_grad, gradcheck, is_grad_enabled, no_grad, set_grad_enabled  # noqa
from .ops.basic import (argmax, cat, exp, flatten, log, matmul, max, mean, min, permute,  # noqa
                        reshape, sqrt, stack, sum, transpose, where)
from .ops.pad import pad  # noqa: E402
from .serialization import load, save  # noqa: E402
from .tensor import (Tensor, arange, default_generator, float32, float64, from_numpy,  # noqa
                     full, int64, manual_seed, ones, ones_like, rand, randint, randn, tensor,
                     zeros, zeros_like)
from . import functional, nn  # noqa: E402,F401
from . import signal  # noqa: E402,F401  (convolve/correlate, numpy's and scipy's modes)
from . import optim  # noqa: E402,F401
from . import models  # noqa: E402,F401
# tinyconv.summary is the function; the module's helpers: from tinyconv.summary import ...
from .summary import num_parameters, same_padding, summary  # noqa: E402
# the training loop (tinyconv.train is the module; python -m tinyconv train the command line)
from .train import Trainer, evaluate, fit  # noqa: E402

__version__ = "0.1.0"
del _sys
