"""Webhook endpoints and deliveries: the rules of create, update, delete, rotate, replay.

Every function runs inside the mutation's transaction and raises DomainError(s) on bad input,
so a refused mutation changes nothing.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import audit
from app.domain.outbound.outbox import EVENT_TYPES
from app.domain.outbound.targets import MalformedTarget, TargetPolicy, TargetRefused, check_url
from app.errors import DomainError, DomainErrors, ErrorCode
from app.models import WebhookDelivery, WebhookEndpoint
from app.store import units
from app.store import webhooks as store

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the Standard Webhooks spec asks for 24 to 64 random bytes
MAX_URL_LENGTH = 2000
MAX_DESCRIPTION_LENGTH = 500
DEFAULT_GRACE_HOURS = 24
MAX_GRACE_HOURS = 7 * 24


class WebhookDeliveryStatus(StrEnum):
    """Where a delivery is (the GraphQL schema exposes this very class)."""

    PENDING = "PENDING"  # an attempt is due (now or at next_attempt_at)
    SUCCEEDED = "SUCCEEDED"  # the receiver answered 2xx
    FAILED = "FAILED"  # every attempt failed; a replay makes it PENDING again


def new_secret() -> str:
    """A signing secret as Standard Webhooks writes it: `whsec_` + base64 of random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def parse_pk(raw: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except (ValueError, AttributeError, TypeError):
        raise DomainError(ErrorCode.NOT_FOUND, f"no such id {raw!r}", [field]) from None


def url_problem(url: str) -> str | None:
    """Why `url` cannot receive webhooks, or None when it can (absolute http or https)."""
    if len(url) > MAX_URL_LENGTH:
        return f"the URL is longer than {MAX_URL_LENGTH} characters"
    if any(c.isspace() for c in url):
        return "the URL may not contain whitespace"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as error:
        return f"the URL is malformed: {error}"
    if parts.scheme.lower() not in ("http", "https"):
        return "the URL must start with http:// or https://"
    if not parts.hostname:
        return "the URL has no host"
    return None


def target_error(url: str, policy: TargetPolicy) -> DomainError | None:
    """The URL's problem as a client error: malformed (INVALID_INPUT), or a target the policy
    refuses (WEBHOOK_TARGET_NOT_ALLOWED); None when it may receive webhooks."""
    problem = url_problem(url)
    if problem:
        return DomainError(ErrorCode.INVALID_INPUT, problem, ["url"])
    try:
        check_url(url, policy)
    except MalformedTarget as error:
        return DomainError(ErrorCode.INVALID_INPUT, str(error), ["url"])
    except TargetRefused as error:
        return DomainError(
            ErrorCode.WEBHOOK_TARGET_NOT_ALLOWED,
            f"webhooks may not be sent there: {error} (see docs/webhooks.md, target policy)",
            ["url"],
        )
    return None


def _validate(raw: dict[str, Any], policy: TargetPolicy) -> dict[str, Any]:
    """The given fields, normalised; DomainErrors listing every problem."""
    errors: list[DomainError] = []
    clean: dict[str, Any] = {}
    if "url" in raw:
        url = (raw["url"] or "").strip()
        problem = target_error(url, policy)
        if problem:
            errors.append(problem)
        clean["url"] = url
    if "event_types" in raw:
        types: list[str] = []
        for i, name in enumerate(raw["event_types"] or []):
            if name not in EVENT_TYPES:
                known = ", ".join(EVENT_TYPES)
                errors.append(
                    DomainError(
                        ErrorCode.INVALID_INPUT,
                        f"unknown event type {name!r} (known: {known})",
                        ["eventTypes", i],
                    )
                )
            elif name not in types:
                types.append(name)
        clean["event_types"] = types
    if "description" in raw:
        description = raw["description"]
        if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
            errors.append(
                DomainError(
                    ErrorCode.INVALID_INPUT,
                    f"the description is longer than {MAX_DESCRIPTION_LENGTH} characters",
                    ["description"],
                )
            )
        clean["description"] = description
    if "enabled" in raw:
        if raw["enabled"] is None:
            errors.append(
                DomainError(ErrorCode.INVALID_INPUT, "enabled may not be null", ["enabled"])
            )
        clean["enabled"] = bool(raw["enabled"])
    if errors:
        raise DomainErrors(errors)
    return clean


async def create_endpoint(
    session: AsyncSession,
    env: uuid.UUID,
    raw: dict[str, Any],
    now: datetime,
    policy: TargetPolicy,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (shown to the caller this once)."""
    if raw.get("url") is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "url is required", ["url"])
    clean = _validate(raw, policy)
    secret = new_secret()
    endpoint = WebhookEndpoint(
        environment_pk=env,
        url=clean["url"],
        description=clean.get("description"),
        event_types=clean.get("event_types", []),
        enabled=clean.get("enabled", True),
        secret=secret,
        created_at=now,
        updated_at=now,
    )
    await units.add(session, endpoint)
    return endpoint, secret


async def _endpoint(
    session: AsyncSession, env: uuid.UUID, endpoint_id: str, field: str = "endpointId"
) -> WebhookEndpoint:
    endpoint = await store.get_endpoint(session, env, parse_pk(endpoint_id, field), lock=True)
    if endpoint is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no webhook endpoint {endpoint_id!r}", [field])
    return endpoint


async def update_endpoint(
    session: AsyncSession,
    env: uuid.UUID,
    endpoint_id: str,
    raw: dict[str, Any],
    now: datetime,
    policy: TargetPolicy,
) -> WebhookEndpoint:
    """Change the given fields; omitted fields keep their values."""
    endpoint = await _endpoint(session, env, endpoint_id)
    if "url" in raw and raw["url"] is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "url may not be null", ["url"])
    for name, value in _validate(raw, policy).items():
        setattr(endpoint, name, value)
    endpoint.updated_at = now
    await units.add(session, endpoint)
    return endpoint


async def delete_endpoint(session: AsyncSession, env: uuid.UUID, endpoint_id: str) -> str:
    """Delete an endpoint with its deliveries and their attempts; returns its id."""
    endpoint = await _endpoint(session, env, endpoint_id)
    await store.delete_endpoint(session, endpoint.pk)
    return endpoint_id


async def rotate_secret(
    session: AsyncSession,
    env: uuid.UUID,
    endpoint_id: str,
    grace_hours: int,
    now: datetime,
) -> tuple[WebhookEndpoint, str]:
    """A new secret; the old one keeps signing (a second signature) for `grace_hours`."""
    if not 0 <= grace_hours <= MAX_GRACE_HOURS:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"graceHours must be between 0 and {MAX_GRACE_HOURS}",
            ["graceHours"],
        )
    endpoint = await _endpoint(session, env, endpoint_id)
    secret = new_secret()
    if grace_hours > 0:
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = now + timedelta(hours=grace_hours)
    else:
        endpoint.previous_secret = None
        endpoint.previous_secret_expires_at = None
    endpoint.secret = secret
    endpoint.updated_at = now
    await units.add(session, endpoint)
    return endpoint, secret


async def replay_delivery(
    session: AsyncSession,
    env: uuid.UUID,
    delivery_id: str,
    now: datetime,
    policy: TargetPolicy,
) -> WebhookDelivery:
    """Queue a delivery again, due now, as a new sequence of attempts (earlier attempts stay in
    the log). The receiver sees the same `webhook-id`, as the spec asks for a resend. An
    endpoint whose URL the target policy refuses (one stored before the policy, or after the
    operator narrowed it) is not replayed."""
    pk = parse_pk(delivery_id, "deliveryId")
    delivery = await store.get_delivery(session, env, pk, lock=True)
    if delivery is None:
        raise DomainError(
            ErrorCode.NOT_FOUND, f"no webhook delivery {delivery_id!r}", ["deliveryId"]
        )
    endpoint = await store.get_endpoint(session, env, delivery.endpoint_pk)
    if endpoint is None or not endpoint.enabled:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "the delivery's endpoint is disabled: enable it first",
            ["deliveryId"],
        )
    refused = target_error(endpoint.url, policy)
    if refused is not None:
        raise DomainError(refused.code, refused.message, ["deliveryId"])
    before = await audit.snapshot(session, delivery)
    delivery.status = WebhookDeliveryStatus.PENDING
    delivery.sequence += 1
    delivery.attempt_count = 0
    delivery.next_attempt_at = now
    delivery.claim_token = None  # an attempt in flight now will not be recorded over this one
    delivery.updated_at = now
    await units.add(session, delivery)
    # Deliveries are not audited on every attempt (the delivery log is their record); a
    # replay is a user's decision, so it is.
    await audit.record_object(session, delivery, "UPDATE", before)
    return delivery


def iso_utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def message_id(event_pk: uuid.UUID) -> str:
    """The `webhook-id`: one per event, the same on every retry and replay."""
    return f"evt_{event_pk.hex}"
