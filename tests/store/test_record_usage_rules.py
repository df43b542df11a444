"""`allot_record_usage` (PL/pgSQL, migration 0008) does exactly what the Python reference of
the usage rules (app/domain/usage/rules.py) says, on the real database.

Random sequences of reports — DELTA and SET, small, fractional and huge values, consumes
under hard, soft, unlimited and missing limits, idempotency keys replayed with the same or
another payload, across environments, customers, resources and adjacent usage periods, with
random thresholds — are split into random batches and recorded through the store
(`record_usage`, the call in named notation the service makes). Every batch answers as the
reference does, and afterwards the counters, the stored keys and the thresholds reached are
the reference's ledger, row for row."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.db import Database
from app.domain import audit
from app.domain.audit import AuditActor
from app.domain.usage.rules import Crossing, Ledger, StoredKey, limits_of, record
from app.models.customers import Customer
from app.store import usage as store
from app.store.rows import CounterKey
from app.store.usage import NO_PERIOD, NO_PERIOD_END
from tests.support import make_tenant

NOW = datetime(2031, 2, 10, 12, 0, tzinfo=UTC)
# The usage periods a counter may be in: never resets, and two adjacent months.
PERIODS = [
    (NO_PERIOD, NO_PERIOD_END),
    (datetime(2031, 1, 1, tzinfo=UTC), datetime(2031, 2, 1, tzinfo=UTC)),
    (datetime(2031, 2, 1, tzinfo=UTC), datetime(2031, 3, 1, tzinfo=UTC)),
]
# Effective entitlements as app/domain/checks/answers.py gives them: hard, soft, unlimited, none.
ENTITLEMENTS: list[dict[str, Any] | None] = [
    *({"granted": True, "usage_limit": n, "is_soft_limit": False} for n in (0, 5, 10, 50)),
    *({"granted": True, "usage_limit": n, "is_soft_limit": True} for n in (0, 10)),
    {"granted": True, "is_unlimited": True},
    {"granted": False},
    None,
]
_examples = itertools.count()


@dataclass(frozen=True)
class Spec:
    """One report, by indices into the example's environments, customers and periods."""

    env: int
    customer: int
    resource: str
    period: int
    key: str | None
    digest: str
    set_: bool
    value: float
    consume: bool
    entitlement: int


values = st.integers(min_value=-20, max_value=40).map(float) | st.sampled_from(
    [0.5, 2.25, -0.75, 1e15, 1e308, 1.7e308]
)
# Most reports go to one counter, so that they meet: the others are there to show that keys
# belong to the environment and that counters and thresholds belong to a period.
specs = st.builds(
    Spec,
    env=st.sampled_from([0, 0, 0, 1]),
    customer=st.sampled_from([0, 0, 0, 1]),
    resource=st.sampled_from(["", "", "r"]),
    period=st.sampled_from([1, 1, 1, 2, 0]),
    key=st.none() | st.sampled_from(["a", "b", "c"]),
    digest=st.sampled_from(["x", "y"]),
    set_=st.booleans(),
    value=values,
    consume=st.booleans(),
    entitlement=st.integers(0, len(ENTITLEMENTS) - 1),
).filter(lambda s: not s.set_ or s.value >= 0)  # a negative SET is refused before


_HUGE = Spec(
    env=0,
    customer=0,
    resource="",
    period=1,
    key=None,
    digest="x",
    set_=False,
    value=1e308,
    consume=False,
    entitlement=6,
)


@st.composite
def batches(draw: st.DrawFn) -> list[list[Spec]]:
    reports = draw(st.lists(specs, min_size=1, max_size=30))
    cuts = sorted(draw(st.sets(st.integers(1, len(reports)), max_size=3)) | {len(reports)})
    return [reports[a:b] for a, b in itertools.pairwise([0, *cuts])]


@settings(max_examples=100, deadline=None)
@given(
    batches=batches(),
    thresholds=st.lists(
        st.sampled_from([20, 50, 80, 100, 150]) | st.integers(1, 200), max_size=3, unique=True
    ),
)
# Past the largest float: rare at random, so stated once.
@example(batches=[[_HUGE, _HUGE]], thresholds=[100])
async def test_the_function_records_as_the_python_rules(
    db: Database, batches: list[list[Spec]], thresholds: list[int]
) -> None:
    envs, customers = await _customers(db)
    reference = Ledger()
    pool = await db.pool()
    async with pool.acquire() as conn:
        for batch in batches:
            reports = [_report(s, envs, customers) for s in batch]
            expected, reference = record(reference, reports, thresholds)
            async with conn.transaction():
                answered = await store.record_usage(conn, reports, [], thresholds, NOW)
            assert answered == expected
    assert await _ledger(db, envs, customers) == reference_without_zeros(reference)


def reference_without_zeros(ledger: Ledger) -> Ledger:
    """The function creates a counter at zero for every report it is given, even one that
    records nothing: a zero counter and no counter are the same usage."""
    return Ledger(
        {k: v for k, v in ledger.counters.items() if v != 0}, ledger.keys, ledger.crossings
    )


def _report(
    s: Spec, envs: Sequence[uuid.UUID], customers: Sequence[Sequence[uuid.UUID]]
) -> store.UsageReport:
    start, end = PERIODS[s.period]
    consume_limit, limit = limits_of(ENTITLEMENTS[s.entitlement])
    return store.UsageReport(
        counter=(customers[s.env][s.customer], "f", s.resource, start, end),
        env=envs[s.env],
        key=s.key,
        digest=s.digest,
        set_=s.set_,
        value=s.value,
        consume=s.consume,
        consume_limit=consume_limit,
        threshold_limit=limit,
        base={
            "usageLimit": limit,
            "periodStart": None if s.period == 0 else start.isoformat(),
            "periodEnd": None if s.period == 0 else end.isoformat(),
        },
    )


async def _customers(db: Database) -> tuple[list[uuid.UUID], list[list[uuid.UUID]]]:
    """Two fresh environments with two fresh customers each."""
    tenant = await make_tenant(db)
    envs = [tenant.environments["development"], tenant.environments["production"]]
    n = next(_examples)
    customers = [[Customer(environment_pk=env, id=f"c{n}-{i}") for i in range(2)] for env in envs]
    async with audit.transaction(db, AuditActor.cli("tests: usage rules")) as session:
        session.add_all([c for pair in customers for c in pair])
    return envs, [[c.pk for c in pair] for pair in customers]


async def _ledger(db: Database, envs: list[uuid.UUID], customers: list[list[uuid.UUID]]) -> Ledger:
    """What the database holds for these environments and customers."""
    pks = [pk for pair in customers for pk in pair]
    pool = await db.pool()
    async with pool.acquire() as conn:
        counters = await conn.fetch(
            "SELECT customer_pk, feature_id, resource_key, period_start, period_end, value "
            "FROM usage_counters WHERE customer_pk = ANY($1::uuid[]) AND value <> 0",
            pks,
        )
        keys = await conn.fetch(
            "SELECT environment_pk, key, request_hash, response FROM usage_idempotency_keys "
            "WHERE environment_pk = ANY($1::uuid[])",
            envs,
        )
        crossings = await conn.fetch(
            "SELECT customer_pk, feature_id, resource_key, period_start, period_end, "
            "threshold, usage, usage_limit FROM usage_threshold_crossings "
            "WHERE customer_pk = ANY($1::uuid[])",
            pks,
        )

    def counter(r: Any) -> CounterKey:
        return (
            r["customer_pk"],
            r["feature_id"],
            r["resource_key"],
            r["period_start"],
            r["period_end"],
        )

    return Ledger(
        {counter(r): r["value"] for r in counters},
        {
            (r["environment_pk"], r["key"]): StoredKey(r["request_hash"], r["response"])
            for r in keys
        },
        {(counter(r), r["threshold"]): Crossing(r["usage"], r["usage_limit"]) for r in crossings},
    )
