"""SQL for customers, subscriptions, promotional entitlements and the entitlement cache."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import RawConnection
from app.models import (
    Customer,
    CustomerEntitlements,
    CustomerFeatureEntitlement,
    CustomerTrial,
    PromotionalEntitlement,
    Subscription,
)
from app.models.customers import SEARCH_TEXT
from app.store import push
from app.store.catalog import Page, _page
from app.store.rows import (
    CachedEntitlements,
    EntitlementsState,
    FeatureState,
    cached_fields,
    json_of,
)


async def get_customer(
    session: AsyncSession, env: uuid.UUID, customer_id: str, *, lock: bool = False
) -> Customer | None:
    query = select(Customer).where(
        col(Customer.environment_pk) == env, col(Customer.id) == customer_id
    )
    if lock:
        # Every change to a customer's sources takes this lock first, so the precomputed
        # entitlements are always written from a consistent view of them.
        query = query.with_for_update()
    return (await session.execute(query)).scalars().first()


async def lock_customer(session: AsyncSession, customer_pk: uuid.UUID) -> Customer:
    query = select(Customer).where(col(Customer.pk) == customer_pk).with_for_update()
    return (await session.execute(query)).scalars().one()


async def customers_by_pks(
    session: AsyncSession, pks: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Customer]:
    query = select(Customer).where(col(Customer.pk).in_(list(pks)))
    return {c.pk: c for c in (await session.execute(query)).scalars()}


async def list_customers(
    session: AsyncSession,
    env: uuid.UUID,
    first: int,
    after: str | None,
    include_archived: bool = False,
    *,
    count: bool = True,
    search: str | None = None,
) -> Page[Customer]:
    """By id; `search` is a LIKE pattern matched case-insensitively against the id, name and
    email (app.domain.insights.search_pattern), through the trigram index (migration 0019)."""
    filters: list[Any] = [col(Customer.environment_pk) == env]
    if not include_archived:
        filters.append(col(Customer.archived_at).is_(None))
    if search is not None:
        filters.append(literal_column(SEARCH_TEXT).ilike(search, escape="\\"))
    return await _page(session, Customer, filters, first, after, count)


async def customer_by_pk(session: AsyncSession, pk: uuid.UUID) -> Customer | None:
    """By primary key, from the session's identity map when it holds the row already."""
    return await session.get(Customer, pk)


async def subscription_by_pk(session: AsyncSession, pk: uuid.UUID) -> Subscription | None:
    """By primary key, from the session's identity map when it holds the row already."""
    return await session.get(Subscription, pk)


async def reload(session: AsyncSession, row: Any) -> None:
    """Read the row again from the database (another transaction may have changed it)."""
    await session.refresh(row)


async def get_subscription(
    session: AsyncSession, env: uuid.UUID, subscription_id: str
) -> Subscription | None:
    query = select(Subscription).where(
        col(Subscription.environment_pk) == env, col(Subscription.id) == subscription_id
    )
    return (await session.execute(query)).scalars().first()


async def subscriptions_of(
    session: AsyncSession, customer_pks: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Subscription]]:
    query = (
        select(Subscription)
        .where(
            col(Subscription.customer_pk).in_(list(customer_pks))
        )
        .order_by(col(Subscription.created_at), col(Subscription.id))
    )
    found: dict[uuid.UUID, list[Subscription]] = {pk: [] for pk in customer_pks}
    for sub in (await session.execute(query)).scalars():
        found[sub.customer_pk].append(sub)
    return found


async def promotions_of(
    session: AsyncSession, customer_pks: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, list[PromotionalEntitlement]]:
    """Grants not revoked and not yet ended at `now` (including future-dated ones)."""
    query = (
        select(PromotionalEntitlement)
        .where(
            col(PromotionalEntitlement.customer_pk).in_(list(customer_pks)),
            col(PromotionalEntitlement.revoked_at).is_(None),
            or_(
                col(PromotionalEntitlement.ends_at).is_(None),
                col(PromotionalEntitlement.ends_at) > now,
            ),
        )
        .order_by(col(PromotionalEntitlement.feature_id))
    )
    found: dict[uuid.UUID, list[PromotionalEntitlement]] = {pk: [] for pk in customer_pks}
    for promo in (await session.execute(query)).scalars():
        found[promo.customer_pk].append(promo)
    return found


async def count_subscriptions(session: AsyncSession, env: uuid.UUID) -> int:
    query = (
        select(func.count())
        .select_from(Subscription)
        .where(col(Subscription.environment_pk) == env)
    )
    return int((await session.execute(query)).scalar_one())


async def save_entitlements(
    session: AsyncSession,
    customer_pk: uuid.UUID,
    env: uuid.UUID,
    entitlements: dict[str, Any],
    has_active: bool,
    valid_until: datetime | None,
    now: datetime,
) -> int:
    """Store a customer's computed entitlements: its state row (always rewritten: its xmin is
    what kept computations and usage batches compare, its version what clients order states
    by) and one row per feature (only those that changed are written); then announce the
    change (NOTIFY, delivered when the transaction commits: app/store/push.py). Returns the
    new version. The caller holds the customer's row lock, so versions follow commits."""
    values = dict(
        customer_pk=customer_pk,
        environment_pk=env,
        has_active_subscription=has_active,
        valid_until=valid_until,
        computed_at=now,
    )
    upsert = insert(CustomerEntitlements).values(**values, version=1)
    statement = upsert.on_conflict_do_update(
        index_elements=[col(CustomerEntitlements.customer_pk)],
        set_={
            **{k: v for k, v in values.items() if k != "customer_pk"},
            "version": col(CustomerEntitlements.version) + 1,
        },
    ).returning(col(CustomerEntitlements.version))
    version = int((await session.execute(statement)).scalar_one())
    await session.execute(delete(CustomerFeatureEntitlement).where(
        col(CustomerFeatureEntitlement.customer_pk) == customer_pk,
        col(CustomerFeatureEntitlement.feature_id).not_in(list(entitlements)),
    ))
    if entitlements:
        rows = insert(CustomerFeatureEntitlement).values([
            {"customer_pk": customer_pk, "feature_id": feature_id, "entitlement": entitlement,
             "environment_pk": env}
            for feature_id, entitlement in entitlements.items()
        ])
        await session.execute(rows.on_conflict_do_update(
            index_elements=[col(CustomerFeatureEntitlement.customer_pk),
                            col(CustomerFeatureEntitlement.feature_id)],
            set_={"entitlement": rows.excluded.entitlement},
            where=col(CustomerFeatureEntitlement.entitlement).is_distinct_from(
                rows.excluded.entitlement),
        ))
    await push.announce_entitlements(session, env, customer_pk, version)
    return version


async def cached_entitlements(
    session: AsyncSession, customer_pks: Sequence[uuid.UUID]
) -> dict[uuid.UUID, CachedEntitlements]:
    """The stored entitlements of customers that have them: {customer: its state and
    {featureId: effective entitlement}}."""
    by_feature = (
        select(func.jsonb_object_agg(col(CustomerFeatureEntitlement.feature_id),
                                     col(CustomerFeatureEntitlement.entitlement),
                                     type_=JSONB))
        .where(col(CustomerFeatureEntitlement.customer_pk) == col(CustomerEntitlements.customer_pk))
        .scalar_subquery()
    )
    query = select(
        col(CustomerEntitlements.customer_pk), col(CustomerEntitlements.has_active_subscription),
        col(CustomerEntitlements.valid_until), by_feature,
    ).where(col(CustomerEntitlements.customer_pk).in_(list(customer_pks)))
    return {pk: CachedEntitlements(pk, json_of(doc) or {}, has_active, valid_until)
            for pk, has_active, valid_until, doc in (await session.execute(query)).all()}


async def invalidate_subscribers(
    session: AsyncSession,
    env: uuid.UUID,
    now: datetime,
    *,
    plans: Sequence[tuple[uuid.UUID, str]] = (),
    addon_id: str | None = None,
) -> None:
    """After a catalog publish: the entitlements of the customers with a subscription on one
    of these plans (pk, id) or holding this add-on, now or in a scheduled change, are
    recomputed on their next read (whatever the subscription's status: cheap, and safe)."""
    scheduled = col(Subscription.scheduled_change)
    conditions: list[Any] = []
    if plans:
        conditions += [
            col(Subscription.plan_pk).in_([pk for pk, _ in plans]),
            scheduled["planId"].astext.in_([plan_id for _, plan_id in plans]),
        ]
    if addon_id is not None:
        conditions += [
            col(Subscription.addons).contains([{"addonId": addon_id}]),
            scheduled["addons"].contains([{"addonId": addon_id}]),
        ]
    if not conditions:
        return
    subscribers = select(col(Subscription.customer_pk)).where(
        col(Subscription.environment_pk) == env, or_(*conditions)
    )
    await session.execute(
        update(CustomerEntitlements)
        .where(
            col(CustomerEntitlements.environment_pk) == env,
            col(CustomerEntitlements.customer_pk).in_(subscribers),
        )
        .values(valid_until=now)
    )


async def subscriptions_due(
    session: AsyncSession, now: datetime, limit: int = 500
) -> list[Subscription]:
    """Subscriptions whose stored status or plan may be behind the clock (for the job)."""
    query = (
        select(Subscription)
        .where(
            or_(
                (col(Subscription.status) == "SCHEDULED") & (col(Subscription.start_date) <= now),
                col(Subscription.status).in_(["IN_TRIAL", "ACTIVE", "SCHEDULED"])
                & (col(Subscription.end_date) <= now),
                (col(Subscription.status) == "IN_TRIAL")
                & (col(Subscription.trial_end_date) <= now),
                col(Subscription.scheduled_change)["effectiveAt"].astext <= now.isoformat(),
            )
        )
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def try_lock_customer(session: AsyncSession, customer_pk: uuid.UUID) -> Customer | None:
    """The customer's row lock, or None when someone else holds it (the job skips it and
    comes back on its next pass, so it never waits on, or deadlocks with, a mutation)."""
    query = (select(Customer).where(col(Customer.pk) == customer_pk)
             .with_for_update(skip_locked=True).execution_options(populate_existing=True))
    return (await session.execute(query)).scalars().first()


async def fresh_subscriptions(session: AsyncSession, customer_pk: uuid.UUID
                              ) -> list[Subscription]:
    """The customer's subscriptions re-read from the database (after taking its lock)."""
    query = (select(Subscription).where(col(Subscription.customer_pk) == customer_pk)
             .order_by(col(Subscription.created_at), col(Subscription.id))
             .execution_options(populate_existing=True))
    return list((await session.execute(query)).scalars())


# --- the hot path: one round trip per check -------------------------------------------------

_CHECK_SQL = """
SELECT c.pk AS customer_pk,
       c.archived_at IS NOT NULL AS archived,
       fe.entitlement,
       ce.has_active_subscription,
       ce.valid_until,
       ce.customer_pk IS NOT NULL AS cached,
       f.type AS feature_type,
       f.meter IS NOT NULL AS event_fed,
       ce.xmin::text AS entitlements_version,
       coalesce(u.starts, '{}') AS usage_periods,
       coalesce(u.ends, '{}') AS usage_ends,
       coalesce(u.values_, '{}') AS usage_values
FROM (SELECT 1) one
LEFT JOIN customers c ON c.environment_pk = $1 AND c.id = $2
LEFT JOIN customer_entitlements ce ON ce.customer_pk = c.pk
LEFT JOIN customer_feature_entitlements fe ON fe.customer_pk = ce.customer_pk
                                           AND fe.feature_id = $3
LEFT JOIN features f ON f.environment_pk = $1 AND f.id = $3
-- the counters current at $5 (one per usage period definition that was ever counted in;
-- the three aggregates see the rows in the same order)
LEFT JOIN LATERAL (
  SELECT array_agg(period_start) AS starts, array_agg(period_end) AS ends,
         array_agg(value) AS values_
  FROM usage_counters
  WHERE customer_pk = c.pk AND feature_id = $3 AND resource_key = $4
    AND period_start <= $5 AND period_end > $5
) u ON true
"""

_ALL_SQL = """
SELECT c.pk AS customer_pk,
       c.archived_at IS NOT NULL AS archived,
       coalesce((SELECT jsonb_object_agg(fe.feature_id, fe.entitlement)
                 FROM customer_feature_entitlements fe
                 WHERE fe.customer_pk = ce.customer_pk), '{}') AS entitlements,
       ce.has_active_subscription,
       ce.valid_until,
       ce.customer_pk IS NOT NULL AS cached,
       ce.xmin::text AS entitlements_version,
       coalesce(ce.version, 0) AS state_version,
       ce.computed_at
FROM customers c
LEFT JOIN customer_entitlements ce ON ce.customer_pk = c.pk
WHERE c.environment_pk = $1 AND c.id = $2
"""


async def fetch_check_row(
    conn: RawConnection, env: uuid.UUID, customer_id: str, feature_id: str,
    resource_key: str, now: datetime,
) -> FeatureState | None:
    """Customer, its cached entitlement for the feature, the feature's type and its usage
    counters current at `now`, in one statement. None: no such customer."""
    row = await conn.fetchrow(_CHECK_SQL, env, customer_id, feature_id, resource_key, now)
    assert row is not None
    if row["customer_pk"] is None:
        return None
    return FeatureState(
        **cached_fields(row), entitlement=json_of(row["entitlement"]),
        feature_type=row["feature_type"], event_fed=bool(row["event_fed"]),
        counters=tuple(zip(row["usage_periods"], row["usage_ends"], row["usage_values"],
                           strict=True)))


async def fetch_all_row(
    conn: RawConnection, env: uuid.UUID, customer_id: str
) -> EntitlementsState | None:
    """The customer with all its cached entitlements. None: no such customer."""
    row = await conn.fetchrow(_ALL_SQL, env, customer_id)
    if row is None:
        return None
    return EntitlementsState(**cached_fields(row), entitlements=json_of(row["entitlements"]) or {},
                             state_version=int(row["state_version"]),
                             computed_at=row["computed_at"])


async def move_to_version(session: AsyncSession, env: uuid.UUID, kind: str,
                          package_pk: uuid.UUID, package_id: str, version: int,
                          now: datetime | None = None) -> int:
    """Pin every subscription of a plan (or holding an add-on) not yet ended at `now` (the
    service's clock; the database's when not given) to `version`, and so every pending
    end-of-period change to that plan (or with that add-on): a change scheduled before the
    publish must not bring the old version back. Returns the subscriptions moved."""
    at = func.now() if now is None else now
    live = col(Subscription.end_date).is_(None) | (col(Subscription.end_date) > at)
    scheduled = col(Subscription.scheduled_change)
    if kind == "PLAN":
        # Loaded and changed through the unit of work (not one UPDATE) so that the audit
        # log records each subscription moved.
        query = select(Subscription).where(
            col(Subscription.environment_pk) == env, live,
            (col(Subscription.plan_pk) == package_pk)
            | (scheduled["planId"].astext == package_id),
        )
        moved = 0
        for sub in (await session.execute(query)).scalars():
            if sub.plan_pk == package_pk:
                sub.plan_version = version
                moved += 1
            change = sub.scheduled_change
            if change is not None and change.get("planId") == package_id:
                sub.scheduled_change = {**change, "planVersion": version}
            session.add(sub)
        await session.flush()
        return moved
    query = select(Subscription).where(
        col(Subscription.environment_pk) == env, live,
        col(Subscription.addons).contains([{"addonId": package_id}])
        | scheduled["addons"].contains([{"addonId": package_id}]),
    )
    subs = list((await session.execute(query)).scalars())
    moved = 0
    for sub in subs:
        if any(a["addonId"] == package_id for a in sub.addons):
            sub.addons = _with_version(sub.addons, package_id, version)
            moved += 1
        change = sub.scheduled_change
        if change is not None and any(a["addonId"] == package_id
                                      for a in change.get("addons") or []):
            sub.scheduled_change = {
                **change, "addons": _with_version(change["addons"], package_id, version)}
        session.add(sub)
    await session.flush()
    return moved


def _with_version(addons: list[dict[str, Any]], addon_id: str, version: int
                  ) -> list[dict[str, Any]]:
    return [{**a, "version": version} if a["addonId"] == addon_id else a for a in addons]


async def latest_usage(conn: RawConnection, customer_pks: Sequence[uuid.UUID],
                       resource_key: str, now: datetime
                       ) -> dict[uuid.UUID, dict[str, list[tuple[datetime, datetime, float]]]]:
    """The usage counters current at `now` of each feature of each customer (one
    statement): {customer: {feature: [(period start, period end, value), ...]}}."""
    rows = await conn.fetch(
        "SELECT customer_pk, feature_id, period_start, period_end, value FROM usage_counters "
        "WHERE customer_pk = ANY($1::uuid[]) AND resource_key = $2 AND period_start <= $3 "
        "AND period_end > $3", list(customer_pks), resource_key, now)
    out: dict[uuid.UUID, dict[str, list[tuple[datetime, datetime, float]]]] = {}
    for r in rows:
        out.setdefault(r["customer_pk"], {}).setdefault(r["feature_id"], []).append(
            (r["period_start"], r["period_end"], float(r["value"])))
    return out


# --- trials a customer has had (one default trial per customer and plan) ---------------------


async def trialled_plans(session: AsyncSession, customer_pk: uuid.UUID) -> set[uuid.UUID]:
    query = select(col(CustomerTrial.plan_pk)).where(
        col(CustomerTrial.customer_pk) == customer_pk
    )
    return set((await session.execute(query)).scalars())


async def record_trial(
    session: AsyncSession, customer_pk: uuid.UUID, plan_pk: uuid.UUID, now: datetime
) -> None:
    """Remember that the customer trialled the plan (the first trial's start is kept)."""
    statement = (
        insert(CustomerTrial)
        .values(customer_pk=customer_pk, plan_pk=plan_pk, started_at=now)
        .on_conflict_do_nothing()
    )
    await session.execute(statement)
