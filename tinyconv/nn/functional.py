"""``tinyconv.nn.functional`` is ``tinyconv.functional`` (one module, two names, as in PyTorch)."""

import sys

from .. import functional as _functional

sys.modules[__name__] = _functional
