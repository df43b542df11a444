"""Promotional entitlements: granted straight to a customer for a while, across all their
subscriptions. A new grant for a feature replaces the customer's live grant for it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.catalog import rules
from app.domain.catalog.features import feature_definition
from app.domain.checks import customer_entitlements
from app.domain.subscriptions.provisioning import require_customer
from app.errors import DomainError, ErrorCode
from app.models import Customer, PromotionalEntitlement
from app.store import catalog as catalog_store
from app.store import customers as store
from app.store import units


class PromotionDuration(StrEnum):
    """How long a promotional entitlement lasts (or an end date is given instead)."""

    ONE_WEEK = "ONE_WEEK"
    ONE_MONTH = "ONE_MONTH"
    SIX_MONTHS = "SIX_MONTHS"
    ONE_YEAR = "ONE_YEAR"
    LIFETIME = "LIFETIME"


DURATIONS: dict[str, relativedelta | None] = {
    PromotionDuration.ONE_WEEK: relativedelta(weeks=1),
    PromotionDuration.ONE_MONTH: relativedelta(months=1),
    PromotionDuration.SIX_MONTHS: relativedelta(months=6),
    PromotionDuration.ONE_YEAR: relativedelta(years=1),
    PromotionDuration.LIFETIME: None,
}


def _end_of(grant: Mapping[str, Any], now: datetime, path: list[str | int]) -> datetime | None:
    duration, end = grant.get("duration"), grant.get("endDate")
    if duration is not None and end is not None:
        raise DomainError(ErrorCode.INVALID_INPUT, "give a duration or an endDate, not both", path)
    if end is not None:
        if not isinstance(end, datetime) or end.tzinfo is None or end <= now:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "endDate must be in the future", [*path, "endDate"]
            )
        return end
    rules.check_choice(duration or "LIFETIME", tuple(DURATIONS), [*path, "duration"])
    step = DURATIONS[duration or "LIFETIME"]
    return None if step is None else now + step


async def grant(
    session: AsyncSession,
    env: uuid.UUID,
    customer_id: str,
    grants: Sequence[Mapping[str, Any]],
    now: datetime,
) -> Customer:
    customer = await require_customer(session, env, customer_id)
    if customer.archived_at is not None:
        raise DomainError(
            ErrorCode.CUSTOMER_ARCHIVED, f"customer {customer_id!r} is archived", ["customerId"]
        )
    if not grants:
        raise DomainError(ErrorCode.INVALID_INPUT, "grants must not be empty", ["grants"])
    features = await catalog_store.all_features(session, env)
    live = (await store.promotions_of(session, [customer.pk], now))[customer.pk]
    seen: set[str] = set()
    for i, item in enumerate(grants):
        path: list[str | int] = ["grants", i]
        feature_id = item.get("featureId")
        feature = features.get(feature_id) if isinstance(feature_id, str) else None
        if feature is None or feature.archived_at is not None:
            raise DomainError(
                ErrorCode.FEATURE_NOT_FOUND, f"no feature {feature_id!r}", [*path, "featureId"]
            )
        if feature.id in seen:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"feature {feature.id!r} granted twice",
                [*path, "featureId"],
            )
        seen.add(feature.id)
        options = {
            k: v
            for k, v in item.items()
            if k not in ("featureId", "duration", "endDate") and v is not None
        }
        config = rules.canonical_entitlement(options, feature_definition(feature), path)
        ends_at = _end_of(item, now, path)
        for old in live:
            if old.feature_id == feature.id:
                old.revoked_at = now
                units.stage(session, old)
        units.stage(
            session,
            PromotionalEntitlement(
                environment_pk=env,
                customer_pk=customer.pk,
                feature_id=feature.id,
                config=config,
                duration=item.get("duration") or ("LIFETIME" if ends_at is None else None),
                starts_at=now,
                ends_at=ends_at,
                created_at=now,
            ),
        )
    await units.flush(session)
    await customer_entitlements.refresh(session, env, [customer.pk], now)
    return customer


async def revoke(
    session: AsyncSession, env: uuid.UUID, customer_id: str, feature_id: str, now: datetime
) -> Customer:
    customer = await require_customer(session, env, customer_id)
    live = [
        p
        for p in (await store.promotions_of(session, [customer.pk], now))[customer.pk]
        if p.feature_id == feature_id
    ]
    if not live:
        raise DomainError(
            ErrorCode.NOT_FOUND,
            f"customer {customer_id!r} has no promotional {feature_id!r}",
            ["featureId"],
        )
    for promo in live:
        promo.revoked_at = now
        units.stage(session, promo)
    await units.flush(session)
    await customer_entitlements.refresh(session, env, [customer.pk], now)
    return customer
