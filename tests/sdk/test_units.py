"""The SDK's pieces that need no server: backoff, staleness and versions in the cache, the
queue's bookkeeping, fallbacks and option checks."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest
from allot_sdk import CACHED, FALLBACK
from allot_sdk._backoff import Backoff
from allot_sdk._engine import Engine, Options
from allot_sdk._queue import UsageQueue
from allot_sdk._state import CustomerState


def state(
    version: int,
    *,
    valid_until: str | None = None,
    usage: float = 1.0,
    usage_version: int | None = None,
    fetched_at: float | None = None,
) -> CustomerState:
    data: dict[str, Any] = {
        "customerId": "acme",
        "resourceId": None,
        "version": str(version),
        "denyReason": None,
        "hasActiveSubscription": True,
        "validUntil": valid_until,
        "computedAt": "2026-12-07T00:00:00+00:00",
        "usageVersions": []
        if usage_version is None
        else [{"featureId": "seats", "version": str(usage_version)}],
        "entitlements": [
            {
                "featureId": "seats",
                "featureType": "METERED",
                "hasAccess": usage < 3,
                "denyReason": None if usage < 3 else "USAGE_LIMIT_EXCEEDED",
                "isUnlimited": False,
                "isSoftLimit": False,
                "usageLimit": 3.0,
                "currentUsage": usage,
                "requestedUsage": None,
                "remaining": max(3.0 - usage, 0.0),
                "value": None,
                "enumValues": None,
                "resetPeriod": None,
                "usagePeriodStart": None,
                "usagePeriodEnd": None,
                "sources": [],
            }
        ],
    }
    at = time.monotonic() if fetched_at is None else fetched_at
    return CustomerState(data, fetched_at=at, epoch=0)


def engine(**options: Any) -> Engine:
    return Engine(Options(base_url="http://127.0.0.1:9", api_key="k", subscribe=False, **options))


def test_backoff_grows_to_its_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(base=0.1, cap=2.0)
    delays = [backoff.next_delay() for _ in range(12)]
    for n, delay in enumerate(delays):
        ceiling = min(2.0, 0.1 * 2**n)
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= 2.0 and delays[-1] >= 1.0
    assert len({round(d, 9) for d in delays[6:]}) > 1, "no jitter"
    backoff.reset()
    assert backoff.next_delay() <= 0.1
    with pytest.raises(ValueError):
        Backoff(base=0)


def test_a_state_older_than_max_staleness_is_not_used() -> None:
    sdk = engine(max_staleness=5.0)
    sdk.store(state(1, fetched_at=time.monotonic() - 4.0))
    found = sdk.lookup("acme", "seats", None, None, None)
    assert found is not None and found.reason == CACHED and found.has_access
    sdk.store(state(2, fetched_at=time.monotonic() - 6.0))
    assert sdk.lookup("acme", "seats", None, None, None) is None
    assert sdk.lookup("other", "seats", None, None, None) is None  # never loaded


def test_a_live_subscription_keeps_old_states_current() -> None:
    sdk = engine(max_staleness=5.0)
    sdk.store(state(1, fetched_at=time.monotonic() - 60.0))
    assert sdk.lookup("acme", "seats", None, None, None) is None
    sdk._live_epoch = 0  # the connection the state was fetched on is live
    sdk._live_at = time.monotonic()
    assert sdk.lookup("acme", "seats", None, None, None) is not None
    sdk._went_down()  # it drops: the state is as current as the connection's last sign
    assert sdk.lookup("acme", "seats", None, None, None) is not None
    sdk._states[("acme", None)].fetched_at -= 6.0
    assert sdk.lookup("acme", "seats", None, None, None) is None


def test_a_state_past_its_valid_until_is_not_used() -> None:
    sdk = engine()
    sdk.store(state(1, valid_until="2020-01-01T00:00:00+00:00"))
    assert sdk.lookup("acme", "seats", None, None, None) is None
    sdk.store(state(2, valid_until="2999-01-01T00:00:00Z"))
    assert sdk.lookup("acme", "seats", None, None, None) is not None


def test_an_older_version_never_replaces_a_newer_one() -> None:
    sdk = engine()
    assert sdk.store(state(5, usage=2.0))
    assert not sdk.store(state(4, usage=0.0))
    found = sdk.lookup("acme", "seats", None, None, None)
    assert found is not None and found.current_usage == 2.0
    assert sdk.store(state(5, usage=2.0))  # the same version again: harmless


def test_usage_events_apply_by_version() -> None:
    current = state(1, usage=1.0, usage_version=10)
    assert current.with_usage({"featureId": "seats", "currentUsage": 0.0, "version": "9"}) is None
    assert current.with_usage({"featureId": "seats", "currentUsage": 0.0, "version": "10"}) is None
    moved = current.with_usage({"featureId": "seats", "currentUsage": 3.0, "version": "11"})
    assert moved is not None
    seats = moved.entries["seats"]
    assert (seats.current, seats.raw["remaining"], seats.raw["denyReason"]) == (
        3.0,
        0.0,
        "USAGE_LIMIT_EXCEEDED",
    )
    assert current.entries["seats"].current == 1.0  # states are replaced, never edited
    assert moved.with_usage({"featureId": "nope", "currentUsage": 1, "version": "99"}) is None


def test_a_refetch_keeps_a_newer_usage_event() -> None:
    sdk = engine()
    sdk.store(state(1, usage=1.0, usage_version=3))
    moved = sdk._states[("acme", None)].with_usage(
        {"featureId": "seats", "currentUsage": 2.0, "version": "5"}
    )
    assert moved is not None
    sdk._states[("acme", None)] = moved
    sdk.store(state(2, usage=1.0, usage_version=4))  # fetched before the event's change
    assert sdk._states[("acme", None)].entries["seats"].current == 2.0
    sdk.store(state(3, usage=2.5, usage_version=6))
    assert sdk._states[("acme", None)].entries["seats"].current == 2.5


def test_the_cache_is_bounded() -> None:
    sdk = engine(max_customers=2)
    for n in range(3):
        data = state(1)
        data.customer_id = f"c{n}"
        sdk.store(data)
    assert sorted(key[0] for key in sdk._states) == ["c1", "c2"]


def test_fallbacks_by_kind() -> None:
    sdk = engine(
        fallbacks={
            "sso": True,
            "seats": 5,
            "tier": ["gold", "silver"],
            "raw": {"hasAccess": True, "usageLimit": 9},
        },
        default_fallback=False,
    )
    assert sdk.fallback("sso", None, None, "down").has_access
    assert sdk.fallback("seats", 5, None, "down").has_access
    assert not sdk.fallback("seats", 6, None, "down").has_access
    assert sdk.fallback("seats", None, None, "down").usage_limit == 5.0
    assert sdk.fallback("tier", None, ["gold"], "down").has_access
    assert not sdk.fallback("tier", None, ["bronze"], "down").has_access
    assert sdk.fallback("raw", None, None, "down").usage_limit == 9
    other = sdk.fallback("unknown", None, None, "down")
    assert (other.has_access, other.reason, other.error, other.deny_reason) == (
        False,
        FALLBACK,
        "down",
        None,
    )
    with pytest.raises(ValueError):
        engine(fallbacks={"x": object()})


def test_the_queue_is_bounded_and_acknowledges_in_order() -> None:
    queue = UsageQueue(capacity=3)
    assert [queue.put({"n": n}) for n in range(4)] == [1, 2, 3, None]
    batch = queue.take(2)
    assert [r.seq for r in batch] == [1, 2] and len(queue) == 3
    assert queue.put({"n": 9}) is None  # in flight still counts
    assert not queue.wait_for_room(0.01)
    queue.acknowledge(batch)
    assert queue.done_seq == 2 and len(queue) == 1
    assert queue.wait_for_room(0.01) and queue.put({"n": 4}) == 4
    queue.acknowledge(queue.take(10))
    assert queue.done_seq == 4 and len(queue) == 0


def test_bad_reports_are_refused_at_once() -> None:
    sdk = engine()
    cases: list[tuple[str, str, Any]] = [
        ("", "seats", 1.0),
        ("acme", "seats", float("nan")),
        ("acme", "seats", True),
        ("acme", "", 1),
    ]
    for customer, feature, value in cases:
        with pytest.raises(ValueError):
            sdk.usage.usage_item(customer, feature, value, "DELTA", None, None, None)
    with pytest.raises(ValueError):
        sdk.usage.usage_item("acme", "seats", 1, "ADD", None, None, None)
    one = sdk.usage.usage_item("acme", "seats", 1, "DELTA", None, None, None)
    two = sdk.usage.usage_item("acme", "seats", 1, "DELTA", None, None, None)
    assert one["idempotencyKey"] != two["idempotencyKey"] and "timestamp" in one
    with pytest.raises(ValueError):
        Options(base_url="http://x", api_key="k", batch_size=1001)


def test_the_sdk_does_not_import_the_service() -> None:
    """allot_sdk is a distribution of its own: it must work without allot's `app`."""
    code = (
        "import sys, allot_sdk, allot_sdk.openfeature\n"
        "leaked = sorted(m for m in sys.modules if m == 'app' or m.startswith('app.'))\n"
        "assert not leaked, leaked\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd="/", timeout=60)
