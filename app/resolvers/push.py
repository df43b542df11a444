"""Push: `entitlementsState` (a customer's whole state) and the subscriptions carrying its
changes (docs/push.md). The fan-out is the process's push hub (app/workers/push.py), handed in
through the context's services; this module only authorizes and streams."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any, Protocol

import strawberry
from strawberry.types import Info

from app.domain.checks.state import state_of
from app.resolvers.entitlement_checks import ensure_readable
from app.resolvers.usage import Usage
from app.schema.common import ClientError
from app.schema.context import Context
from app.schema.push_types import (
    CatalogPublication,
    EntitlementsChange,
    EntitlementsState,
    state_view,
)

OptionalCustomerArg = Annotated[
    str | None,
    strawberry.argument(
        description="One customer (a client key must name one); none: every customer of the "
        "environment (server keys)."
    ),
]


class Feed(Protocol):
    """What the resolvers need of the process's push hub."""

    def stream(
        self, kind: str, env: Any, customer_id: str | None, feature_id: str | None = None
    ) -> AsyncIterator[Any]: ...


def _authorize(ctx: Context, customer_id: str | None) -> None:
    principal = ctx.principal
    if customer_id is None:
        if not principal.is_server:
            raise ClientError("A client key must name the customer (customerId).", "FORBIDDEN")
        return
    ensure_readable(ctx, customer_id)  # the checks' own rule and refusal (customer tokens)


def _feed(ctx: Context) -> Feed:
    feed = getattr(ctx.services, "push", None)
    if feed is None:
        raise ClientError("Push is not available on this server.", "UNAVAILABLE")
    return feed  # type: ignore[no-any-return]


@strawberry.type
class PushQuery:
    @strawberry.field(
        description="Everything a local evaluator needs for one customer: an "
        "answer per feature, usage, a version, and until when it holds."
    )
    async def entitlements_state(
        self,
        info: Info[Context, None],
        customer_id: Annotated[str, strawberry.argument(description="The customerId.")],
        resource_id: Annotated[
            str | None,
            strawberry.argument(
                description="The resource, for per-resource subscriptions and usage."
            ),
        ] = None,
    ) -> EntitlementsState:
        ctx = info.context
        _authorize(ctx, customer_id)
        return state_view(
            await state_of(ctx.db, ctx.environment_pk, customer_id, ctx.now(), resource_id)
        )


@strawberry.type
class PushSubscription:
    @strawberry.subscription(
        description="Every change of a customer's effective "
        "entitlements, with its new state (one customer, or all of the "
        "environment for a server key)."
    )
    async def entitlements_changed(
        self,
        info: Info[Context, None],
        customer_id: OptionalCustomerArg = None,
    ) -> AsyncGenerator[EntitlementsChange, None]:
        ctx = info.context
        _authorize(ctx, customer_id)
        async for change in _feed(ctx).stream("entitlements", ctx.environment_pk, customer_id):
            yield change

    @strawberry.subscription(
        description="Usage counter changes, coalesced per customer, "
        "feature and resource (at most one event per 50 ms, always the "
        "latest value)."
    )
    async def usage_changed(
        self,
        info: Info[Context, None],
        customer_id: OptionalCustomerArg = None,
        feature_id: Annotated[
            str | None, strawberry.argument(description="One feature; none: every feature.")
        ] = None,
    ) -> AsyncGenerator[Usage, None]:
        ctx = info.context
        _authorize(ctx, customer_id)
        async for usage in _feed(ctx).stream("usage", ctx.environment_pk, customer_id, feature_id):
            yield usage

    @strawberry.subscription(
        description="Catalog publications of the environment: plan and "
        "add-on versions, applied catalogs."
    )
    async def catalog_published(
        self,
        info: Info[Context, None],
    ) -> AsyncGenerator[CatalogPublication, None]:
        ctx = info.context
        async for publication in _feed(ctx).stream("catalog", ctx.environment_pk, None):
            yield publication
