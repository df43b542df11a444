"""Insights answers reused for ALLOT_INSIGHTS_MAX_AGE seconds (app/domain/insights.py
`reused`): fresh ones as they are, stale ones (however old) answered at once and recomputed
once in the background; only a key never computed makes its readers wait, for one
computation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from app.domain import insights


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    insights.forget()
    yield
    insights.forget()


class Source:
    def __init__(self) -> None:
        self.calls = 0

    async def compute(self) -> int:
        self.calls += 1
        return self.calls


async def test_no_max_age_computes_every_time() -> None:
    source = Source()
    assert [await insights.reused(("e", "f"), 0, source.compute) for _ in range(3)] == [1, 2, 3]


async def test_fresh_answers_are_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(insights.time, "monotonic", lambda: clock[0])
    source = Source()
    assert await insights.reused(("e", "f"), 60, source.compute) == 1
    clock[0] += 30
    assert await insights.reused(("e", "f"), 60, source.compute) == 1
    assert await insights.reused(("e", "other"), 60, source.compute) == 2  # its own key
    assert source.calls == 2


async def test_stale_answers_are_answered_and_recomputed_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(insights.time, "monotonic", lambda: clock[0])
    source = Source()
    await insights.reused(("e", "f"), 60, source.compute)
    clock[0] += 61
    answers = [await insights.reused(("e", "f"), 60, source.compute) for _ in range(3)]
    assert answers == [1, 1, 1]  # at once, the stale one
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert source.calls == 2  # one refresh for the three
    assert await insights.reused(("e", "f"), 60, source.compute) == 2


async def test_very_old_answers_are_answered_too(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(insights.time, "monotonic", lambda: clock[0])
    source = Source()
    await insights.reused(("e", "f"), 60, source.compute)
    clock[0] += 60 * 1000
    assert await insights.reused(("e", "f"), 60, source.compute) == 1  # never waits
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert await insights.reused(("e", "f"), 60, source.compute) == 2


async def test_readers_of_a_key_never_computed_share_one_computation() -> None:
    release = asyncio.Event()
    source = Source()

    async def slow() -> int:
        await release.wait()
        return await source.compute()

    readers = [asyncio.create_task(insights.reused(("e", "f"), 60, slow)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*readers) == [1, 1, 1]
    assert source.calls == 1


async def test_a_failed_first_computation_fails_its_readers_and_is_not_kept() -> None:
    release = asyncio.Event()

    async def refused() -> int:
        await release.wait()
        raise ValueError("bad argument")

    readers = [asyncio.create_task(insights.reused(("e", "f"), 60, refused)) for _ in range(2)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*readers, return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results), results
    assert await insights.reused(("e", "f"), 60, Source().compute) == 1


async def test_a_failed_refresh_keeps_the_stale_answer(monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    clock = [1000.0]
    monkeypatch.setattr(insights.time, "monotonic", lambda: clock[0])
    await insights.reused(("e", "f"), 60, Source().compute)

    async def broken() -> int:
        raise RuntimeError("database gone")

    clock[0] += 61
    assert await insights.reused(("e", "f"), 60, broken) == 1
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert "recomputing the insight" in caplog.text
    assert await insights.reused(("e", "f"), 60, Source().compute) == 1  # stale, refreshing


async def test_errors_are_not_kept() -> None:
    async def refused() -> int:
        raise ValueError("bad argument")

    with pytest.raises(ValueError):
        await insights.reused(("e", "f"), 60, refused)
    assert await insights.reused(("e", "f"), 60, Source().compute) == 1
