"""Reports recorded in one batch answer exactly as the same reports one at a time, and both
through the API as the rules in docs/usage.md (DELTA never below zero, SET replaces, consume
only under the hard limit, keys counted once, a reused key refused, a refused consume stores
no key, thresholds claimed once).

The rules are those of the Python reference (app/domain/usage/rules.py); the batch is
written by `allot_record_usage` in PostgreSQL (migration 0008), which
tests/store/test_record_usage_rules.py proves equal to it. Here the whole path is checked:
validation, the payload digest, the batcher and the answers."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db import Database
from app.domain.usage.reports import THRESHOLDS
from app.domain.usage.rules import Ledger, Outcome, limits_of, record
from app.store import usage as store
from app.store.usage import NO_PERIOD, NO_PERIOD_END
from tests.graphql.entitlements.catalog import new_customer
from tests.graphql.usage.conftest import Frozen
from tests.graphql.usage.helpers import BATCH, report, setup

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


# What the API answers for each outcome the rules give: (accepted, error code).
_ANSWERS = {
    Outcome.APPLIED: (True, None),
    Outcome.REPLAYED: (True, None),
    Outcome.REFUSED: (False, "USAGE_LIMIT_EXCEEDED"),
    Outcome.KEY_REUSED: (False, "IDEMPOTENCY_KEY_REUSED"),
    Outcome.OUT_OF_RANGE: (False, "INVALID_INPUT"),
}


def model(
    items: list[Item],
) -> tuple[list[tuple[bool, float | None, str | None]], dict[int, float]]:
    """(accepted, currentUsage, error code) per report, and the thresholds crossed with the
    usage of the first report that reached each, by the rules' reference
    (app/domain/usage/rules.py) on one counter under the hard limit."""
    counter = (uuid.UUID(int=0), "slots", "", NO_PERIOD, NO_PERIOD_END)
    consume_limit, limit = limits_of(
        {"granted": True, "usage_limit": HARD_LIMIT, "is_soft_limit": False})
    reports = [
        store.UsageReport(
            counter=counter, env=counter[0], key=item.key,
            digest=repr((item.mode, item.value, item.consume)), set_=item.mode == "SET",
            value=float(item.value), consume=item.consume, consume_limit=consume_limit,
            threshold_limit=limit, base={})
        for item in items]
    outcomes, ledger = record(Ledger(), reports, THRESHOLDS)
    answers: list[tuple[bool, float | None, str | None]] = []
    for outcome in outcomes:
        accepted, code = _ANSWERS[Outcome(outcome.outcome)]
        usage = outcome.response["currentUsage"] if outcome.response else outcome.usage
        answers.append((accepted, usage, code))
    return answers, {threshold: c.usage for (_, threshold), c in ledger.crossings.items()}


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

