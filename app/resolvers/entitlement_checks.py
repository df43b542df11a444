"""The one answer to "may this customer use that feature?": the function every entry point
calls (the `entitlement`/`entitlements` resolvers, hence the fast path, and the REST routes)
and the one view they answer with (`entitlement_view`), so the three cannot drift."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.domain.checks import answers as checks
from app.domain.entitlement_sources import DenyReason
from app.schema.context import Context
from app.schema.entitlement_types import Entitlement, entitlement_view


async def check_entitlement(
    ctx: Context,
    customer_id: str,
    feature_id: str,
    requested_usage: float | None = None,
    requested_values: Sequence[str] | None = None,
    resource_id: str | None = None,
) -> Entitlement:
    result = await checks.check_one(
        ctx.db,
        ctx.environment_pk,
        customer_id,
        feature_id,
        ctx.now(),
        requested_usage,
        requested_values,
        resource_id,
    )
    return entitlement_view(result)


@dataclass(frozen=True)
class EntitlementList:
    """Every granted feature's answer; empty with the reason when the customer is unknown or
    archived (GraphQL answers the empty list, REST also says why)."""

    entitlements: list[Entitlement]
    deny_reason: DenyReason | None


async def check_entitlements(
    ctx: Context, customer_id: str, resource_id: str | None = None
) -> EntitlementList:
    results = await checks.check_all(
        ctx.db, ctx.environment_pk, customer_id, ctx.now(), resource_id
    )
    if isinstance(results, DenyReason):
        return EntitlementList([], results)
    return EntitlementList([entitlement_view(r) for r in results], None)
