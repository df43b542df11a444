"""What the SDK raises."""

from __future__ import annotations


class AllotError(Exception):
    """allot answered with an error (``code`` is its ``extensions.code`` or UserError code)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class AllotUnavailable(AllotError):
    """allot could not be reached, or did not answer in time (or answered 5xx / 429)."""


class UsageQueueFull(AllotError):
    """``report_usage`` waited ``enqueue_timeout`` for room in the full usage queue."""
