"""Time, injectable: the service asks a Clock for "now" so tests can travel in time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """The real clock. `FrozenClock` replaces it in tests."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock(Clock):
    """A clock that only moves when told to (time-travel tests)."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._at = at

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at

    def advance(self, delta: timedelta) -> None:
        self._at += delta

