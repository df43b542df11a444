"""Rate limits: a token bucket per API key (one rate for server keys, one for client keys) and
one per client address for failed authentications, kept in this process's memory.

Each bucket holds up to `burst` tokens and gains `per_second` tokens a second; a request takes
tokens or is refused with the seconds until they are there. Buckets live per process, so with
N workers a key may make N times the configured rate (docs/security.md#rate-limits).

Hand-written rather than a library: `limits` (the well-kept one) offers fixed, moving and
sliding windows but no token bucket, reads the wall clock, and takes a lock per hit; a bucket
is a dict lookup and a few float operations on the monotonic clock, and its arithmetic is
checked by a property test (tests/web/test_rate_limit_buckets.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from app.auth import KeyKind, Principal
from app.settings import Settings

# Buckets tracked per kind before idle ones are forgotten (a forgotten bucket was full, so
# forgetting it changes nothing; see `Buckets._make_room`).
MAX_TRACKED = 100_000


@dataclass(frozen=True)
class Rate:
    """`per_second` tokens a second, at most `burst` held; `per_second` 0 turns it off."""

    per_second: float
    burst: int

    @property
    def enabled(self) -> bool:
        return self.per_second > 0


class Buckets:
    """Token buckets of one rate, by key. A bucket is stored as [tokens, when] — its level
    when last taken from — and refilled lazily from the elapsed time when next looked at; a
    key never seen has a full bucket, so only keys that took tokens use memory."""

    def __init__(
        self, rate: Rate, ticks: Callable[[], float], max_tracked: int = MAX_TRACKED
    ) -> None:
        self.rate = rate
        self._ticks = ticks
        self._max_tracked = max_tracked
        self._levels: dict[Hashable, list[float]] = {}

    def __len__(self) -> int:
        return len(self._levels)

    def take(self, key: Hashable, cost: float = 1.0, *, then: float = 0.0) -> float:
        """Take `cost` tokens from `key`'s bucket: 0.0 when taken, else the seconds until
        `cost + then` tokens are there (nothing taken). `then`: tokens a retry takes first
        (a batch's first token is taken before its body is read). `cost + then` counts as at
        most the burst, so a request costing more than the burst waits for a full bucket."""
        per_second = self.rate.per_second
        if per_second <= 0:
            return 0.0
        capacity = float(self.rate.burst)
        now = self._ticks()
        level = self._levels.get(key)
        tokens = capacity if level is None else self._refilled(level, now)
        cost = max(0.0, min(cost, capacity - then))
        if tokens >= cost:
            if level is None:
                self._make_room(now)
                self._levels[key] = [tokens - cost, now]
            else:
                level[0] = tokens - cost
                level[1] = now
            return 0.0
        return (cost + then - tokens) / per_second

    def wait(self, key: Hashable, cost: float = 1.0) -> float:
        """The seconds until `key`'s bucket holds `cost` tokens (0.0: now); takes nothing."""
        per_second = self.rate.per_second
        if per_second <= 0:
            return 0.0
        level = self._levels.get(key)
        if level is None:
            return 0.0
        needed = min(cost, float(self.rate.burst)) - self._refilled(level, self._ticks())
        return max(0.0, needed / per_second)

    def give_back(self, key: Hashable, cost: float = 1.0) -> None:
        """Return tokens taken for something that turned out not to count (a login taken
        from before its password was checked, which succeeded)."""
        level = self._levels.get(key)
        if level is not None:
            now = self._ticks()
            level[0] = min(float(self.rate.burst), self._refilled(level, now) + cost)
            level[1] = now

    def _refilled(self, level: list[float], now: float) -> float:
        elapsed = max(0.0, now - level[1])
        return min(float(self.rate.burst), level[0] + elapsed * self.rate.per_second)

    def _make_room(self, now: float) -> None:
        """Keep memory bounded: past `max_tracked` buckets, forget the full ones (a new bucket
        starts full: nothing changes); if that is not enough (more keys or addresses active
        at once than that), forget the oldest down to half, handing those a fresh burst."""
        if len(self._levels) < self._max_tracked:
            return
        capacity = float(self.rate.burst)
        for key, level in list(self._levels.items()):
            if self._refilled(level, now) >= capacity:
                del self._levels[key]
        excess = len(self._levels) - self._max_tracked // 2
        if excess > 0:
            for key in list(self._levels)[:excess]:  # dicts keep insertion order
                del self._levels[key]


class RateLimits:
    """The buckets of one process: per API key by kind, per address for failed logins."""

    def __init__(
        self,
        server: Rate,
        client: Rate,
        auth_failures: Rate,
        ticks: Callable[[], float] = time.monotonic,
        login_failures: Rate | None = None,
    ) -> None:
        self.by_kind = {
            KeyKind.SERVER: Buckets(server, ticks),
            KeyKind.CLIENT: Buckets(client, ticks),
        }
        self.auth_failures = Buckets(auth_failures, ticks)
        # Failed console logins (app/web/console_auth.py): one bucket per email and one per
        # client address; `burst` failures, then one more every window/burst seconds.
        login = login_failures or Rate(5 / 300, 5)
        self.login_by_email = Buckets(login, ticks)
        self.login_by_address = Buckets(login, ticks)

    @classmethod
    def of(cls, settings: Settings, ticks: Callable[[], float] = time.monotonic) -> RateLimits:
        return cls(
            Rate(settings.rate_limit_server, settings.rate_limit_server_burst),
            Rate(settings.rate_limit_client, settings.rate_limit_client_burst),
            Rate(settings.rate_limit_auth_failures, settings.rate_limit_auth_failures_burst),
            ticks,
            Rate(settings.login_failures / settings.login_failure_window, settings.login_failures),
        )

    def take(self, principal: Principal, cost: float = 1.0, *, then: float = 0.0) -> float:
        """Tokens from the key's bucket: 0.0 when taken, else the seconds to wait."""
        return self.by_kind[principal.kind].take(principal.key_pk, cost, then=then)

    def rate_of(self, principal: Principal) -> Rate:
        return self.by_kind[principal.kind].rate
