"""GraphQL types, inputs and payloads of webhooks: endpoints, deliveries, attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from app.domain.outbound.webhooks import WebhookDeliveryStatus, iso_utc, message_id
from app.models import WebhookAttempt as AttemptRow
from app.models import WebhookEndpoint as EndpointRow
from app.schema.common import UserError
from app.store.webhooks import DeliveryRow

UNSET: Any = strawberry.UNSET


strawberry.enum(
    WebhookDeliveryStatus, name="WebhookDeliveryStatus", description="Where a webhook delivery is."
)


@strawberry.type(description="A URL that receives the environment's events, signed.")
class WebhookEndpoint:
    id: str = strawberry.field(description="The endpoint's id (generated).")
    url: str = strawberry.field(description="Where events are POSTed (http or https).")
    description: str | None = strawberry.field(description="What this endpoint is for.")
    event_types: list[str] = strawberry.field(
        description="The event types it receives; empty = every type."
    )
    enabled: bool = strawberry.field(description="False: nothing is sent to it for now.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")


@strawberry.type(description="One HTTP request of a delivery and what came of it.")
class WebhookAttempt:
    sequence: int = strawberry.field(
        description="Which run of attempts: 0 = the original, 1 = the first replay, …"
    )
    number: int = strawberry.field(description="1 for the first attempt of its sequence, …")
    attempted_at: datetime = strawberry.field(description="When the request was sent.")
    succeeded: bool = strawberry.field(description="True when the receiver answered 2xx.")
    status_code: int | None = strawberry.field(
        description="The receiver's HTTP status; null when no answer came."
    )
    response_body: str | None = strawberry.field(
        description="The start of the receiver's answer (at most 2 KB)."
    )
    error: str | None = strawberry.field(
        description="Why it failed (timeout, connection error, non-2xx status)."
    )
    duration_ms: int = strawberry.field(description="How long the request took, in ms.")


@strawberry.type(description="One event sent to one endpoint, with every attempt.")
class WebhookDelivery:
    id: str = strawberry.field(description="The delivery's id (for replayWebhookDelivery).")
    endpoint_id: str = strawberry.field(description="The endpoint it goes to.")
    event_id: str = strawberry.field(description="The event: the `webhook-id` header.")
    event_type: str = strawberry.field(description="The event type, e.g. invoice.paid.")
    payload: JSON = strawberry.field(description="The body sent: {type, timestamp, data}.")
    status: WebhookDeliveryStatus = strawberry.field(description="Where it is.")
    attempt_count: int = strawberry.field(description="Attempts in the current sequence.")
    replay_count: int = strawberry.field(description="How many times it was replayed.")
    next_attempt_at: datetime | None = strawberry.field(
        description="When the next attempt is due (PENDING only)."
    )
    last_attempt_at: datetime | None = strawberry.field(description="When it was last tried.")
    created_at: datetime = strawberry.field(description="When the event was emitted.")
    attempts: list[WebhookAttempt] = strawberry.field(
        description="Every attempt, oldest first, replays included."
    )


def endpoint_view(row: EndpointRow) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=str(row.pk),
        url=row.url,
        description=row.description,
        event_types=list(row.event_types or []),
        enabled=row.enabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def attempt_view(row: AttemptRow) -> WebhookAttempt:
    return WebhookAttempt(
        sequence=row.sequence,
        number=row.number,
        attempted_at=row.attempted_at,
        succeeded=row.succeeded,
        status_code=row.status_code,
        response_body=row.response_body,
        error=row.error,
        duration_ms=row.duration_ms,
    )


def delivery_view(row: DeliveryRow, attempts: list[AttemptRow]) -> WebhookDelivery:
    d, e = row.delivery, row.event
    payload: Any = {"type": e.type, "timestamp": iso_utc(e.occurred_at), "data": e.data}
    return WebhookDelivery(
        id=str(d.pk),
        endpoint_id=str(d.endpoint_pk),
        event_id=message_id(e.pk),
        event_type=e.type,
        payload=payload,
        status=WebhookDeliveryStatus(d.status),
        attempt_count=d.attempt_count,
        replay_count=d.sequence,
        next_attempt_at=d.next_attempt_at if d.status == WebhookDeliveryStatus.PENDING else None,
        last_attempt_at=d.last_attempt_at,
        created_at=d.created_at,
        attempts=[attempt_view(a) for a in attempts],
    )


# --- inputs and payloads ------------------------------------------------------------------


@strawberry.input(description="A new webhook endpoint.")
class CreateWebhookEndpointInput:
    url: str = strawberry.field(description="Where to POST events: an http(s) URL.")
    event_types: list[str] | None = strawberry.field(
        default=UNSET, description="Event types to send (see webhookEventTypes); none = all."
    )
    description: str | None = strawberry.field(default=UNSET, description="What it is for.")
    enabled: bool | None = strawberry.field(default=UNSET, description="Send to it (default true).")


@strawberry.input(description="Changes to a webhook endpoint; omitted fields stay.")
class UpdateWebhookEndpointInput:
    endpoint_id: str = strawberry.field(description="The endpoint.")
    url: str | None = strawberry.field(default=UNSET, description="A new http(s) URL.")
    event_types: list[str] | None = strawberry.field(
        default=UNSET, description="Replaces the list; empty = every type."
    )
    description: str | None = strawberry.field(default=UNSET, description="What it is for.")
    enabled: bool | None = strawberry.field(
        default=UNSET, description="False pauses it: deliveries wait until it is enabled."
    )


@strawberry.input(description="A webhook endpoint to delete, with its delivery log.")
class DeleteWebhookEndpointInput:
    endpoint_id: str = strawberry.field(description="The endpoint.")


@strawberry.input(description="A webhook endpoint whose signing secret to replace.")
class RotateWebhookSecretInput:
    endpoint_id: str = strawberry.field(description="The endpoint.")
    grace_hours: int = strawberry.field(
        default=24,
        description="Hours the old secret keeps signing too (0 … 168; 0 = stop it now).",
    )


@strawberry.input(description="A delivery to send again.")
class ReplayWebhookDeliveryInput:
    delivery_id: str = strawberry.field(description="The delivery.")


@strawberry.type(description="Result of createWebhookEndpoint.")
class CreateWebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = strawberry.field(description="The endpoint.")
    secret: str | None = strawberry.field(
        description="The signing secret (whsec_…): shown this once, store it now."
    )
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.type(description="Result of updateWebhookEndpoint.")
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = strawberry.field(description="The endpoint.")
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.type(description="Result of deleteWebhookEndpoint.")
class DeleteWebhookEndpointPayload:
    endpoint_id: str | None = strawberry.field(description="The deleted endpoint's id.")
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.type(description="Result of rotateWebhookSecret.")
class RotateWebhookSecretPayload:
    endpoint: WebhookEndpoint | None = strawberry.field(description="The endpoint.")
    secret: str | None = strawberry.field(
        description="The new signing secret (whsec_…): shown this once."
    )
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.type(description="Result of replayWebhookDelivery.")
class ReplayWebhookDeliveryPayload:
    delivery: WebhookDelivery | None = strawberry.field(description="The re-queued delivery.")
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.type(description="A webhook event type and what it means.")
class WebhookEventType:
    name: str = strawberry.field(description="The type, as in `type` of a payload.")
    description: str = strawberry.field(description="When it is sent.")
