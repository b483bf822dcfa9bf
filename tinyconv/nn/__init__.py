"""Neural-network building blocks; ``tinyconv.nn.functional`` is the functional API."""

from .. import functional  # noqa: F401
