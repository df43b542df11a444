"""Exponential backoff with jitter, for reconnecting and retrying."""

from __future__ import annotations

import random


class Backoff:
    """Delay n (from 0) is ``min(cap, base * 2**n)``, of which the second half is random
    ("equal jitter"): clients that lost allot at the same instant do not come back together,
    and no delay is ever near zero."""

    def __init__(self, base: float = 0.25, cap: float = 30.0) -> None:
        if base <= 0 or cap < base:
            raise ValueError("backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** min(self.attempt, 60))
        self.attempt += 1
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempt = 0
