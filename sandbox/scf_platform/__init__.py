"""A supply-chain-finance platform simulator for tests and demos (see ``server.ScfPlatform``)."""

from .clock import SimClock
from .faults import Fault, Faults
from .filedrop import FileDropChannel
from .server import OPENAPI_PATH, ScfPlatform, ScfPlatformError
from .state import Party, PlatformState, ScfConfig
from .webhooks import sign

__all__ = [
    "OPENAPI_PATH",
    "Fault",
    "Faults",
    "FileDropChannel",
    "Party",
    "PlatformState",
    "ScfConfig",
    "ScfPlatform",
    "ScfPlatformError",
    "SimClock",
    "sign",
]
