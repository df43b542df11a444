"""allot's Python SDK: checks answered in-process, kept fresh by push (docs/sdk.md)."""

from allot_sdk._fallbacks import Fallback
from allot_sdk._rules import CACHED, FALLBACK, SERVER, Entitlement
from allot_sdk.client import AllotClient, AsyncAllotClient, ConsumeResult
from allot_sdk.errors import AllotError, AllotUnavailable, UsageQueueFull

__all__ = [
    "CACHED",
    "FALLBACK",
    "SERVER",
    "AllotClient",
    "AllotError",
    "AllotUnavailable",
    "AsyncAllotClient",
    "ConsumeResult",
    "Entitlement",
    "Fallback",
    "UsageQueueFull",
]
