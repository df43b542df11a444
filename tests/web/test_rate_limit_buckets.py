"""The token bucket's arithmetic (app/web/rate_limits.py), by properties over any sequence of
requests and pauses, on a clock the test moves; and the rate-limit settings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.settings import ConfigError, Settings
from app.web.rate_limits import Buckets, Rate
from tests.support import Ticks

rates = st.builds(
    Rate,
    per_second=st.floats(min_value=0.01, max_value=10_000, allow_nan=False),
    burst=st.integers(min_value=1, max_value=50),
)
# (pause before the request in seconds, the request's cost in tokens)
steps = st.lists(
    st.tuples(st.floats(min_value=0, max_value=3, allow_nan=False), st.integers(1, 60)),
    max_size=80,
)


@given(rate=rates, requests=steps)
def test_never_more_than_burst_plus_rate_times_the_window(
    rate: Rate, requests: list[tuple[float, int]]
) -> None:
    ticks = Ticks(0.0)
    buckets = Buckets(rate, ticks)
    granted: list[tuple[float, float]] = []  # (when, tokens)
    for pause, cost in requests:
        ticks.now += pause
        if buckets.take("key", cost) == 0.0:
            granted.append((ticks.now, min(cost, rate.burst)))
    for i, (start, _) in enumerate(granted):
        taken = 0.0
        for end, tokens in granted[i:]:
            taken += tokens
            allowed = rate.burst + rate.per_second * (end - start)
            assert taken <= allowed * (1 + 1e-9) + 1e-9, (start, end, taken, allowed)


@given(rate=rates, requests=steps, then=st.integers(0, 3))
def test_the_wait_is_exactly_what_is_missing(
    rate: Rate, requests: list[tuple[float, int]], then: int
) -> None:
    """A refused request may retry after the wait it was given (plus the `then` tokens its
    retry takes first): not sooner, and no later is needed."""
    ticks = Ticks(0.0)
    buckets = Buckets(rate, ticks)
    for pause, cost in requests:
        ticks.now += pause
        wait = buckets.take("key", cost, then=then)
        assert wait >= 0.0
        if wait == 0.0:
            continue
        assert buckets.wait("key", 1) <= wait  # what `wait` says agrees
        if wait > 1e-6:
            ticks.now += wait * 0.99
            assert buckets.take("key", then + cost) > 0.0, "allowed before its wait"
            ticks.now += wait * 0.01
        else:
            ticks.now += wait
        ticks.now += 1e-9 * max(1.0, wait)
        if then:
            assert buckets.take("key", then) == 0.0
        assert buckets.take("key", cost, then=then) == 0.0, "still refused after its wait"


def test_a_key_never_seen_has_a_full_bucket_and_no_memory() -> None:
    ticks = Ticks(0.0)
    buckets = Buckets(Rate(1, 3), ticks)
    assert buckets.wait("new", 3) == 0.0
    assert len(buckets) == 0
    assert buckets.take("new", 3) == 0.0
    assert buckets.take("new", 1) == 1.0
    assert len(buckets) == 1


def test_a_zero_rate_is_off() -> None:
    buckets = Buckets(Rate(0, 1), Ticks(0.0))
    assert all(buckets.take(n, 100) == 0.0 for n in range(1_000))
    assert len(buckets) == 0


def test_memory_is_bounded_and_idle_full_buckets_go_first() -> None:
    ticks = Ticks(0.0)
    buckets = Buckets(Rate(1, 10), ticks, max_tracked=100)
    assert buckets.take("busy", 10) == 0.0  # empty, stays remembered
    for n in range(99):
        assert buckets.take(n, 1) == 0.0
    ticks.now += 1.0  # the 99 have refilled to full, "busy" has 1 of 10
    for n in range(1_000, 1_050):
        assert buckets.take(n, 1) == 0.0
        assert len(buckets) <= 100
    assert buckets.take("busy", 5) == 4.0  # not forgotten: still owes its tokens
    for n in range(10_000):  # more keys active at once than tracked: still bounded
        buckets.take(("flood", n), 1)
        assert len(buckets) <= 100


# --- settings ------------------------------------------------------------------------------


def test_defaults() -> None:
    settings = Settings()
    assert (settings.rate_limit_server, settings.rate_limit_server_burst) == (1_000, 2_000)
    assert (settings.rate_limit_client, settings.rate_limit_client_burst) == (100, 200)
    assert (settings.rate_limit_auth_failures, settings.rate_limit_auth_failures_burst) == (
        10,
        100,
    )


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOT_RATE_LIMIT_CLIENT", "2.5")
    monkeypatch.setenv("ALLOT_RATE_LIMIT_CLIENT_BURST", "7")
    monkeypatch.setenv("ALLOT_RATE_LIMIT_SERVER", "0")
    settings = Settings.from_env()
    assert (settings.rate_limit_client, settings.rate_limit_client_burst) == (2.5, 7)
    assert settings.rate_limit_server == 0
    assert settings.rate_limit_server_burst == 2_000


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ALLOT_RATE_LIMIT_SERVER", "-1"),
        ("ALLOT_RATE_LIMIT_CLIENT", "lots"),
        ("ALLOT_RATE_LIMIT_CLIENT", "inf"),
        ("ALLOT_RATE_LIMIT_CLIENT_BURST", "0"),
        ("ALLOT_RATE_LIMIT_SERVER_BURST", "1.5"),
        ("ALLOT_RATE_LIMIT_AUTH_FAILURES", "-0.5"),
        ("ALLOT_RATE_LIMIT_AUTH_FAILURES_BURST", "-3"),
    ],
)
def test_a_setting_that_cannot_be_used_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env()
