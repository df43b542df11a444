"""SQL for the insights (app/domain/insights.py): counts across an environment's whole
customer base, each answered by one statement whatever the number of customers.

What each number means, and where it approximates, is in docs/console.md ("Insights"). Every
statement is scoped to one environment and leaves archived customers out, but revenue: an
archived customer's invoices were still earned.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import Customer, Package, Subscription
from app.store.rows import (
    FeatureUtilizationRow,
    PlanCount,
    PlanRevenueRow,
    StatusCount,
    UsageSpread,
)

# Archived customers are left out by their (few) primary keys, through the partial index
# ix_customers_archived, rather than by joining every customer of the environment.
NOT_ARCHIVED = (
    "NOT IN (SELECT pk FROM customers WHERE environment_pk = :env AND archived_at IS NOT NULL)"
)

# A subscription's status at :now from its dates, as app.domain.subscriptions.dates.status_at
# decides it (tests/graphql/test_insights.py compares the two).
STATUS_AT = """
CASE WHEN s.end_date IS NOT NULL AND CAST(:now AS timestamptz) >= s.end_date THEN
       CASE WHEN s.trial_end_date IS NOT NULL AND s.trial_end_behavior = 'CANCEL'
                 AND s.end_date = s.trial_end_date THEN 'EXPIRED' ELSE 'CANCELED' END
     WHEN CAST(:now AS timestamptz) < s.start_date THEN 'SCHEDULED'
     WHEN s.trial_end_date IS NOT NULL AND CAST(:now AS timestamptz) < s.trial_end_date
          THEN 'IN_TRIAL'
     ELSE 'ACTIVE' END
"""

# The plan in force at :now: an end-of-period change already due counts (as the checks and
# the subscription's own view count it).
PLAN_IN_FORCE = """
CASE WHEN s.scheduled_change IS NOT NULL
          AND CAST(s.scheduled_change->>'effectiveAt' AS timestamptz) <= CAST(:now AS timestamptz)
     THEN s.scheduled_change->>'planId' ELSE p.id END
"""

_PER_PLAN = f"""
WITH live AS (
  SELECT DISTINCT s.customer_pk, {PLAN_IN_FORCE} AS plan_id
  FROM subscriptions s
  JOIN packages p ON p.pk = s.plan_pk
  WHERE s.environment_pk = :env AND s.customer_pk {NOT_ARCHIVED}
    AND s.start_date <= CAST(:now AS timestamptz)
    AND (s.end_date IS NULL OR s.end_date > CAST(:now AS timestamptz))
), counts AS (
  SELECT plan_id, count(*) AS customers FROM live GROUP BY plan_id
)
SELECT pk.id AS plan_id, coalesce(counts.customers, 0) AS customers
FROM packages pk LEFT JOIN counts ON counts.plan_id = pk.id
WHERE pk.environment_pk = :env AND pk.kind = 'PLAN'
  AND (pk.archived_at IS NULL OR counts.customers > 0)
ORDER BY customers DESC, pk.id
"""

_PER_STATUS = f"""
SELECT status, count(DISTINCT customer_pk) AS customers
FROM (SELECT s.customer_pk, {STATUS_AT} AS status
      FROM subscriptions s
      WHERE s.environment_pk = :env AND s.customer_pk {NOT_ARCHIVED}) x
GROUP BY status
"""

# Per metered feature: the customers granted it with a limit (not unlimited), from the
# narrow columns of their stored effective entitlements (migration 0020: generated from the
# document), and their usage in the counter current at :now (the newest one when two periods
# overlap; the customer as a whole, not per resource). One feature at a time, both sides come
# from an index alone already in customer order (ix_customer_feature_entitlements_limits,
# ix_usage_counters_feature_current), so they are merged as they are read: no sort, no hash
# of 400,000 rows (twice as fast as hashing all features' rows at once, BENCHMARKS.md).
_UTILIZATION = f"""
SELECT f.feature_id, x.customers_with_limit, x.at_least_80, x.at_least_100
FROM unnest(CAST(:features AS text[])) AS f(feature_id)
CROSS JOIN LATERAL (
  SELECT count(*) AS customers_with_limit,
         count(*) FILTER (WHERE coalesce(u.value, 0) >= 0.8 * l.usage_limit) AS at_least_80,
         count(*) FILTER (WHERE coalesce(u.value, 0) >= l.usage_limit) AS at_least_100
  FROM (SELECT customer_pk, usage_limit
        FROM customer_feature_entitlements
        WHERE environment_pk = :env AND granted AND metered AND feature_id = f.feature_id
          AND usage_limit IS NOT NULL AND customer_pk {NOT_ARCHIVED}
        ORDER BY customer_pk) l
  LEFT JOIN (SELECT DISTINCT ON (customer_pk) customer_pk, value
             FROM usage_counters
             WHERE environment_pk = :env AND feature_id = f.feature_id AND resource_key = ''
               AND period_start <= CAST(:now AS timestamptz)
               AND period_end > CAST(:now AS timestamptz)
             ORDER BY customer_pk, period_start DESC) u ON u.customer_pk = l.customer_pk
) x
"""

_DISTRIBUTION = f"""
WITH granted AS (
  SELECT customer_pk
  FROM customer_feature_entitlements
  WHERE environment_pk = :env AND granted AND metered AND feature_id = :feature
    AND customer_pk {NOT_ARCHIVED}
  OFFSET 0
), current_usage AS (
  SELECT DISTINCT ON (customer_pk) customer_pk, value
  FROM usage_counters
  WHERE environment_pk = :env AND feature_id = :feature AND resource_key = ''
    AND period_start <= CAST(:now AS timestamptz) AND period_end > CAST(:now AS timestamptz)
  ORDER BY customer_pk, period_start DESC
  OFFSET 0
), vals AS (
  -- customers per usage value (a few hundred values, not 100,000 rows, for the two passes)
  SELECT coalesce(u.value, 0) AS v, count(*) AS n
  FROM granted g LEFT JOIN current_usage u ON u.customer_pk = g.customer_pk
  GROUP BY 1
), stats AS (
  SELECT least(0, min(v)) AS lo, max(v) AS hi FROM vals
)
SELECT s.lo, s.hi,
       CASE WHEN s.hi = s.lo THEN 0
            ELSE least(CAST(floor((x.v - s.lo) / (s.hi - s.lo) * :buckets) AS integer),
                       :buckets - 1) END AS bucket,
       coalesce(sum(x.n), 0) AS customers
FROM stats s LEFT JOIN vals x ON true
GROUP BY s.lo, s.hi, bucket
"""

# Invoices that count as revenue: issued and not voided (OPEN or PAID); there is no draft.
REVENUE_STATUSES = ("OPEN", "PAID")

_REVENUE = """
SELECT p.id AS plan_id, i.currency, sum(i.total) AS amount, count(*) AS invoices
FROM invoices i
JOIN subscriptions s ON s.pk = i.subscription_pk
JOIN packages p ON p.pk = s.plan_pk
WHERE i.environment_pk = :env AND i.status = ANY(CAST(:statuses AS text[]))
  AND (CAST(:from_ AS timestamptz) IS NULL OR i.issued_at >= CAST(:from_ AS timestamptz))
  AND (CAST(:to_ AS timestamptz) IS NULL OR i.issued_at < CAST(:to_ AS timestamptz))
GROUP BY p.id, i.currency
ORDER BY amount DESC, p.id, i.currency
"""


async def for_analytics(session: AsyncSession) -> None:
    """The session's transaction tuned for reading the whole customer base: no JIT (its
    compilation costs more than it saves on these plans), sorts and hashes in memory, and
    every statement planned for its own arguments (a prepared statement's generic plan,
    chosen after five runs, does not know how many rows an environment or a feature has;
    planning costs a few milliseconds against hundreds)."""
    await session.execute(
        text(
            "SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true), "
            "set_config('plan_cache_mode', 'force_custom_plan', true)"
        )
    )


async def customers_per_plan(
    session: AsyncSession, env: uuid.UUID, now: datetime
) -> list[PlanCount]:
    rows = await session.execute(text(_PER_PLAN), {"env": env, "now": now})
    return [PlanCount(r.plan_id, int(r.customers)) for r in rows]


async def customers_per_status(
    session: AsyncSession, env: uuid.UUID, now: datetime
) -> list[StatusCount]:
    rows = await session.execute(text(_PER_STATUS), {"env": env, "now": now})
    return [StatusCount(r.status, int(r.customers)) for r in rows]


async def trials_ending(
    session: AsyncSession, env: uuid.UUID, now: datetime, until: datetime, first: int
) -> list[tuple[Subscription, str, str]]:
    """Subscriptions in trial at `now` whose trial ends by `until`, soonest first, with their
    plan's id and their customer's id."""
    query = (
        select(Subscription, col(Package.id), col(Customer.id))
        .join(Package, col(Package.pk) == col(Subscription.plan_pk))
        .join(Customer, col(Customer.pk) == col(Subscription.customer_pk))
        .where(
            col(Subscription.environment_pk) == env,
            col(Customer.archived_at).is_(None),
            col(Subscription.trial_end_date) > now,
            col(Subscription.trial_end_date) <= until,
            col(Subscription.start_date) <= now,
            or_(col(Subscription.end_date).is_(None), col(Subscription.end_date) > now),
        )
        .order_by(col(Subscription.trial_end_date), col(Subscription.id))
        .limit(first)
    )
    return [
        (sub, plan_id, customer_id)
        for sub, plan_id, customer_id in (await session.execute(query)).all()
    ]


async def metered_features(session: AsyncSession, env: uuid.UUID) -> list[str]:
    rows = await session.execute(
        text(
            "SELECT id FROM features WHERE environment_pk = :env AND type = 'METERED' "
            "AND archived_at IS NULL ORDER BY id"
        ),
        {"env": env},
    )
    return [r.id for r in rows]


async def limit_utilization(
    session: AsyncSession, env: uuid.UUID, features: Sequence[str], now: datetime
) -> list[FeatureUtilizationRow]:
    rows = await session.execute(
        text(_UTILIZATION), {"env": env, "features": list(features), "now": now}
    )
    return [
        FeatureUtilizationRow(
            r.feature_id, int(r.customers_with_limit), int(r.at_least_80), int(r.at_least_100)
        )
        for r in rows
    ]


async def usage_spread(
    session: AsyncSession, env: uuid.UUID, feature_id: str, buckets: int, now: datetime
) -> UsageSpread:
    rows = list(
        await session.execute(
            text(_DISTRIBUTION), {"env": env, "feature": feature_id, "buckets": buckets, "now": now}
        )
    )
    if not rows or rows[0].lo is None or rows[0].hi is None:
        return UsageSpread(None, None, {})
    return UsageSpread(
        float(rows[0].lo),
        float(rows[0].hi),
        {int(r.bucket): int(r.customers) for r in rows if r.customers},
    )


async def revenue_by_plan(
    session: AsyncSession, env: uuid.UUID, start: datetime | None, end: datetime | None
) -> list[PlanRevenueRow]:
    rows = await session.execute(
        text(_REVENUE), {"env": env, "statuses": list(REVENUE_STATUSES), "from_": start, "to_": end}
    )
    return [PlanRevenueRow(r.plan_id, r.currency, Decimal(r.amount), int(r.invoices)) for r in rows]
