"""Webhook resolvers: endpoints (create, list, update, delete, rotate), the delivery log and
replay. Server keys only: endpoints carry secrets and the log carries customer data."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.domain.outbound import webhooks as domain
from app.domain.outbound.outbox import EVENT_TYPES
from app.domain.outbound.targets import TargetPolicy
from app.domain.outbound.webhooks import WebhookDeliveryStatus
from app.resolvers.catalog import in_transaction
from app.schema.common import (
    AfterArg,
    ClientError,
    Connection,
    FirstArg,
    ServerKeyOnly,
    connection,
    decode_cursor,
    page_size,
    wants_total,
)
from app.schema.context import Context
from app.schema.webhook_types import (
    CreateWebhookEndpointInput,
    CreateWebhookEndpointPayload,
    DeleteWebhookEndpointInput,
    DeleteWebhookEndpointPayload,
    ReplayWebhookDeliveryInput,
    ReplayWebhookDeliveryPayload,
    RotateWebhookSecretInput,
    RotateWebhookSecretPayload,
    UpdateWebhookEndpointInput,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointPayload,
    WebhookEventType,
    delivery_view,
    endpoint_view,
)
from app.store import webhooks as store
from app.store.webhooks import cursor_of

EndpointIdArg = Annotated[
    str | None, strawberry.argument(description="Only the deliveries of this endpoint.")
]
StatusArg = Annotated[
    WebhookDeliveryStatus | None, strawberry.argument(description="Only deliveries in this status.")
]
EventTypeArg = Annotated[
    str | None, strawberry.argument(description="Only deliveries of this event type.")
]
IdArg = Annotated[str, strawberry.argument(description="The id.")]


def _given(obj: Any, *names: str) -> dict[str, Any]:
    """The fields the client sent (UNSET left out), by their Python names."""
    return {n: getattr(obj, n) for n in names if getattr(obj, n) is not strawberry.UNSET}


def _pk(raw: str | None) -> uuid.UUID | None:
    """A UUID argument of a query; malformed is a client error, shown."""
    if raw is None:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ClientError(f"malformed id {raw!r}", "INVALID_INPUT") from None


def _policy(info: Info[Context, None]) -> TargetPolicy:
    """The operator's webhook target policy (ALLOT_WEBHOOK_ALLOW_PRIVATE, _ALLOWED_CIDRS)."""
    settings = info.context.settings
    return TargetPolicy.of(settings.webhook_allow_private, settings.webhook_allowed_cidrs)


def _lookup_pk(raw: str) -> uuid.UUID | None:
    """A looked-up id: a malformed one finds nothing."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


async def _delivery_views(
    session: AsyncSession, rows: list[store.DeliveryRow]
) -> list[WebhookDelivery]:
    attempts = await store.attempts_of(session, [r.pk for r in rows])
    return [delivery_view(r, attempts[r.pk]) for r in rows]


@strawberry.type
class WebhookQuery:
    @strawberry.field(
        description="The environment's webhook endpoints, oldest first.",
        permission_classes=[ServerKeyOnly],
    )
    async def webhook_endpoints(
        self, info: Info[Context, None], first: FirstArg = None, after: AfterArg = None
    ) -> Connection[WebhookEndpoint]:
        ctx = info.context
        size = page_size(first, ctx.settings.max_page_size)
        async with ctx.db.session() as session:
            page = await store.list_endpoints(
                session, ctx.environment_pk, size, decode_cursor(after), count=wants_total(info)
            )
        return connection(page.items, page.has_next, page.total, endpoint_view, cursor_of)

    @strawberry.field(description="One webhook endpoint.", permission_classes=[ServerKeyOnly])
    async def webhook_endpoint(
        self, info: Info[Context, None], id: IdArg
    ) -> WebhookEndpoint | None:
        ctx = info.context
        pk = _lookup_pk(id)
        if pk is None:
            return None
        async with ctx.db.session() as session:
            row = await store.get_endpoint(session, ctx.environment_pk, pk)
        return None if row is None else endpoint_view(row)

    @strawberry.field(
        description="The delivery log, newest first, with every attempt.",
        permission_classes=[ServerKeyOnly],
    )
    async def webhook_deliveries(
        self,
        info: Info[Context, None],
        endpoint_id: EndpointIdArg = None,
        status: StatusArg = None,
        event_type: EventTypeArg = None,
        first: FirstArg = None,
        after: AfterArg = None,
    ) -> Connection[WebhookDelivery]:
        ctx = info.context
        size = page_size(first, ctx.settings.max_page_size)
        endpoint_pk = _pk(endpoint_id)
        async with ctx.db.session() as session:
            page = await store.list_deliveries(
                session,
                ctx.environment_pk,
                size,
                decode_cursor(after),
                endpoint_pk,
                None if status is None else status.value,
                event_type,
                count=wants_total(info),
            )
            views = await _delivery_views(session, page.items)
        by_id = {v.id: v for v in views}
        return connection(
            page.items, page.has_next, page.total, lambda r: by_id[str(r.pk)], cursor_of
        )

    @strawberry.field(description="One webhook delivery.", permission_classes=[ServerKeyOnly])
    async def webhook_delivery(
        self, info: Info[Context, None], id: IdArg
    ) -> WebhookDelivery | None:
        ctx = info.context
        pk = _lookup_pk(id)
        if pk is None:
            return None
        async with ctx.db.session() as session:
            rows = await store.deliveries_by_pks(session, ctx.environment_pk, [pk])
            views = await _delivery_views(session, rows)
        return views[0] if views else None

    @strawberry.field(
        description="Every webhook event type an endpoint can subscribe to.",
        permission_classes=[ServerKeyOnly],
    )
    def webhook_event_types(self) -> list[WebhookEventType]:
        return [WebhookEventType(name=k, description=v) for k, v in EVENT_TYPES.items()]


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(
        description="Create a webhook endpoint; its signing secret is returned this once.",
        permission_classes=[ServerKeyOnly],
    )
    async def create_webhook_endpoint(
        self, info: Info[Context, None], input: CreateWebhookEndpointInput
    ) -> CreateWebhookEndpointPayload:
        raw = _given(input, "url", "event_types", "description", "enabled")

        async def work(session: AsyncSession, env: Any, now: datetime) -> Any:
            return await domain.create_endpoint(session, env, raw, now, _policy(info))

        result, errors = await in_transaction(info, work)
        if result is None:
            return CreateWebhookEndpointPayload(endpoint=None, secret=None, errors=errors)
        row, secret = result
        return CreateWebhookEndpointPayload(
            endpoint=endpoint_view(row), secret=secret, errors=errors
        )

    @strawberry.mutation(
        description="Change a webhook endpoint's URL, event types, description or state.",
        permission_classes=[ServerKeyOnly],
    )
    async def update_webhook_endpoint(
        self, info: Info[Context, None], input: UpdateWebhookEndpointInput
    ) -> WebhookEndpointPayload:
        raw = _given(input, "url", "event_types", "description", "enabled")

        async def work(session: AsyncSession, env: Any, now: datetime) -> Any:
            row = await domain.update_endpoint(
                session, env, input.endpoint_id, raw, now, _policy(info)
            )
            return endpoint_view(row)

        view, errors = await in_transaction(info, work)
        return WebhookEndpointPayload(endpoint=view, errors=errors)

    @strawberry.mutation(
        description="Delete a webhook endpoint and its delivery log.",
        permission_classes=[ServerKeyOnly],
    )
    async def delete_webhook_endpoint(
        self, info: Info[Context, None], input: DeleteWebhookEndpointInput
    ) -> DeleteWebhookEndpointPayload:
        async def work(session: AsyncSession, env: Any, now: datetime) -> Any:
            return await domain.delete_endpoint(session, env, input.endpoint_id)

        deleted, errors = await in_transaction(info, work)
        return DeleteWebhookEndpointPayload(endpoint_id=deleted, errors=errors)

    @strawberry.mutation(
        description="Replace an endpoint's signing secret; the new one is returned this once.",
        permission_classes=[ServerKeyOnly],
    )
    async def rotate_webhook_secret(
        self, info: Info[Context, None], input: RotateWebhookSecretInput
    ) -> RotateWebhookSecretPayload:
        async def work(session: AsyncSession, env: Any, now: datetime) -> Any:
            return await domain.rotate_secret(
                session, env, input.endpoint_id, input.grace_hours, now
            )

        result, errors = await in_transaction(info, work)
        if result is None:
            return RotateWebhookSecretPayload(endpoint=None, secret=None, errors=errors)
        row, secret = result
        return RotateWebhookSecretPayload(endpoint=endpoint_view(row), secret=secret, errors=errors)

    @strawberry.mutation(
        description="Send a delivery again, now, as a new sequence of attempts.",
        permission_classes=[ServerKeyOnly],
    )
    async def replay_webhook_delivery(
        self, info: Info[Context, None], input: ReplayWebhookDeliveryInput
    ) -> ReplayWebhookDeliveryPayload:
        async def work(session: AsyncSession, env: Any, now: datetime) -> Any:
            delivery = await domain.replay_delivery(
                session, env, input.delivery_id, now, _policy(info)
            )
            rows = await store.deliveries_by_pks(session, env, [delivery.pk])
            return (await _delivery_views(session, rows))[0]

        view, errors = await in_transaction(info, work)
        return ReplayWebhookDeliveryPayload(delivery=view, errors=errors)
