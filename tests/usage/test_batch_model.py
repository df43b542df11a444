"""Reports recorded in one batch answer exactly as the same reports one at a time, and both
follow a plain model of the rules in docs/usage.md (DELTA never below zero, SET replaces,
consume only under the hard limit, keys counted once, a reused key refused, a refused consume
stores no key, thresholds claimed once).

The batch is written by `allot_record_usage` in PostgreSQL (migration 0008); this model is the
independent reading of the rules it must match, on the real database."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db import Database
from tests.engine.catalog import new_customer
from tests.usage.conftest import Frozen
from tests.usage.helpers import BATCH, report, setup

HARD_LIMIT = 50.0  # `slots` on the usage catalog's basic plan: hard 50, never resets
_customers = itertools.count()
_catalogs: set[uuid.UUID] = set()


@dataclass(frozen=True)
class Item:
    mode: str
    value: int
    consume: bool
    key: str | None

    def payload(self, customer: str, key_prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {"customerId": customer, "featureId": "slots",
                               "value": self.value, "mode": self.mode,
                               "consume": self.consume}
        if self.key is not None:
            out["idempotencyKey"] = key_prefix + self.key
        return out


def model(items: list[Item]
          ) -> tuple[list[tuple[bool, float | None, str | None]], dict[int, float]]:
    """(accepted, currentUsage, error code) per report, and the thresholds crossed with the
    usage of the first report that reached each."""
    value = 0.0
    keys: dict[str, tuple[Item, float]] = {}
    answers: list[tuple[bool, float | None, str | None]] = []
    crossed: dict[int, float] = {}
    for item in items:
        if item.key is not None and item.key in keys:
            first, usage = keys[item.key]
            same = (first.mode, first.value, first.consume) == (
                item.mode, item.value, item.consume)
            answers.append((True, usage, None) if same
                           else (False, None, "IDEMPOTENCY_KEY_REUSED"))
            continue
        candidate = item.value if item.mode == "SET" else value + item.value
        if item.consume and item.value > 0 and candidate > HARD_LIMIT:
            answers.append((False, value, "USAGE_LIMIT_EXCEEDED"))
            continue
        value = max(candidate, 0.0)
        if item.key is not None:
            keys[item.key] = (item, value)
        for threshold in (80, 100):
            if value >= HARD_LIMIT * threshold / 100:
                crossed.setdefault(threshold, value)
        answers.append((True, value, None))
    return answers, crossed


def _answer(payload: dict[str, Any]) -> tuple[bool, float | None, str | None]:
    usage = payload["usage"]
    return (payload["accepted"], usage["currentUsage"] if usage else None,
            payload["errors"][0]["code"] if payload["errors"] else None)


items = st.lists(st.builds(
    Item,
    mode=st.sampled_from(["DELTA", "DELTA", "SET"]),
    value=st.integers(min_value=-20, max_value=40),
    consume=st.booleans(),
    key=st.none() | st.sampled_from(["a", "b", "c"]),
).filter(lambda i: i.mode == "DELTA" or i.value >= 0), min_size=1, max_size=25)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=items)
async def test_a_batch_answers_as_one_at_a_time_and_as_the_rules(
        frozen: Frozen, db: Database, items: list[Item]) -> None:
    gql, env = frozen.gql, frozen.env
    n = next(_customers)
    batched, single = f"batched-{n}", f"single-{n}"
    if env not in _catalogs:  # the fixture's tenant lives for all the examples
        await setup(gql)
        _catalogs.add(env)
    for customer in (batched, single):
        await new_customer(gql, customer)
    expected, expected_crossed = model(items)

    data = await gql.mutate(BATCH, {"i": {"usages": [
        item.payload(batched, f"{batched}-") for item in items]}})
    assert data["errors"] == []
    assert [_answer(p) for p in data["results"]] == expected

    one_by_one = []
    for item in items:
        payload = item.payload(single, f"{single}-")
        one_by_one.append(_answer(await report(
            gql, payload.pop("customerId"), payload.pop("featureId"), payload.pop("value"),
            **payload)))
    assert one_by_one == expected

    for customer in (batched, single):
        assert await _crossings(db, env, customer) == expected_crossed


async def _crossings(db: Database, env: uuid.UUID, customer_id: str) -> dict[int, float]:
    pool = await db.pool()
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT x.threshold, x.usage FROM usage_threshold_crossings x JOIN customers c "
            "ON c.pk = x.customer_pk WHERE c.environment_pk = $1 AND c.id = $2 "
            "AND x.feature_id = 'slots'", env, customer_id)
    return {r["threshold"]: r["usage"] for r in rows}

