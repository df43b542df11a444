"""The one answer to "may this customer use that feature?": the function every entry point
calls (the `entitlement`/`entitlements` resolvers, hence the fast path, and the REST routes)
and the one view they answer with (`entitlement_view`), so the three cannot drift. Whether the
caller may read that customer at all (`Principal.may_read_customer`: customer tokens) is asked
here too, first, for all of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.domain.checks import answers as checks
from app.domain.entitlement_sources import DenyReason
from app.schema.common import ClientError
from app.schema.context import Context
from app.schema.entitlement_types import Entitlement, entitlement_view


class CustomerNotReadable(ClientError):
    """The caller may not read this customer (a client key whose customer token names
    another customer, or without a token where the environment requires one): FORBIDDEN
    (a GraphQL error; HTTP 403 on the REST routes)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "FORBIDDEN")


def ensure_readable(ctx: Context, customer_id: str) -> None:
    refusal = ctx.principal.refusal_for_customer(customer_id)
    if refusal is not None:
        raise CustomerNotReadable(refusal)


async def check_entitlement(
    ctx: Context,
    customer_id: str,
    feature_id: str,
    requested_usage: float | None = None,
    requested_values: Sequence[str] | None = None,
    resource_id: str | None = None,
) -> Entitlement:
    ensure_readable(ctx, customer_id)
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
    ensure_readable(ctx, customer_id)
    results = await checks.check_all(
        ctx.db, ctx.environment_pk, customer_id, ctx.now(), resource_id
    )
    if isinstance(results, DenyReason):
        return EntitlementList([], results)
    return EntitlementList([entitlement_view(r) for r in results], None)
