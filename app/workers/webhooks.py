"""The webhook worker: sends due deliveries, signed as the Standard Webhooks spec says.

Runs as a background task of the server (`ALLOT_WEBHOOK_INTERVAL` seconds between passes,
0 = off). Each pass claims due deliveries (FOR UPDATE SKIP LOCKED with a lease, so several
workers and processes are safe), sends them concurrently outside any transaction (a slow
receiver holds no lock and no connection, and never blocks the API), and records every attempt.
A failed attempt is retried after an exponential backoff with jitter, up to `max_attempts`;
then the delivery is FAILED (it can be replayed).

Every attempt checks its target under the target policy after resolving the host, and connects
to the checked address (app.workers.webhook_pinning); redirects are never followed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from standardwebhooks import Webhook

from app.clock import Clock
from app.db import Database
from app.domain.outbound.targets import MalformedTarget, TargetPolicy, TargetRefused
from app.domain.outbound.webhooks import WebhookDeliveryStatus, iso_utc, message_id
from app.models import WebhookAttempt
from app.store import webhooks as store
from app.store.webhooks import Claimed
from app.workers.webhook_pinning import Resolver, pin, system_resolver

log = logging.getLogger("allot.webhooks")

# Delay before retry n (after n failed attempts), then ±20 % jitter; the last one repeats.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=4),
    timedelta(hours=12),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1  # the first try and 8 retries, over about 42 hours
JITTER = 0.2
DEFAULT_TIMEOUT = 10.0
EXCERPT_BYTES = 2048
LEASE_MARGIN = timedelta(seconds=60)
BATCH_SIZE = 50
MAX_ROUNDS = 20  # batches per pass; the next pass goes on
USER_AGENT = "allot-webhooks/1"


def retry_delay(failed_attempts: int, rng: random.Random | None = None) -> timedelta:
    """How long to wait after `failed_attempts` failures (1 = the first try failed)."""
    base = RETRY_SCHEDULE[min(max(failed_attempts, 1), len(RETRY_SCHEDULE)) - 1]
    factor = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    return base * factor


def body_of(claimed: Claimed) -> bytes:
    """The request body: `{type, timestamp, data}` (Standard Webhooks' payload shape)."""
    payload = {
        "type": claimed.event_type,
        "timestamp": iso_utc(claimed.occurred_at),
        "data": claimed.data,
    }
    return orjson.dumps(payload)


def signed_headers(claimed: Claimed, body: bytes, now: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers. After a secret rotation, the previous secret adds
    a second signature until it expires (receivers accept either)."""
    stamp = datetime.fromtimestamp(int(now.timestamp()), UTC)
    msg_id = message_id(claimed.event_pk)
    content = body.decode()
    secrets = [claimed.secret]
    expires = claimed.previous_secret_expires_at
    if claimed.previous_secret and expires is not None and expires > now:
        secrets.append(claimed.previous_secret)
    signatures = [Webhook(s).sign(msg_id, stamp, content) for s in secrets]
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


async def _excerpt(response: httpx.Response) -> str:
    """At most EXCERPT_BYTES of the response body; the rest is not even read."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= EXCERPT_BYTES:
            break
    return b"".join(chunks)[:EXCERPT_BYTES].decode("utf-8", errors="ignore")


async def send(
    http: httpx.AsyncClient,
    claimed: Claimed,
    now: datetime,
    request_timeout: float,
    policy: TargetPolicy | None = None,
    resolve: Resolver = system_resolver,
) -> WebhookAttempt:
    """One HTTP attempt; never raises: failures are recorded on the attempt. A target the
    policy refuses (after DNS) is a failed attempt that sends nothing."""
    body = body_of(claimed)
    headers = signed_headers(claimed, body, now)
    status_code: int | None = None
    excerpt: str | None = None
    error: str | None = None
    started = time.monotonic()
    try:
        async with asyncio.timeout(request_timeout):
            target = await pin(claimed.url, policy or TargetPolicy(), resolve)
            headers["host"] = target.host_header
            async with http.stream(
                "POST",
                target.url,
                content=body,
                headers=headers,
                timeout=request_timeout,
                extensions=target.extensions,
                follow_redirects=False,
            ) as response:
                status_code = response.status_code
                excerpt = await _excerpt(response)
    except (TimeoutError, httpx.TimeoutException):
        error = f"timed out after {request_timeout:g} s"
    except (TargetRefused, MalformedTarget) as exc:
        error = f"target not allowed: {exc}"[:500]
    except OSError as exc:  # the name did not resolve (socket.gaierror)
        error = f"cannot resolve the host: {exc}"[:500]
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    except Exception as exc:  # an unexpected failure is a failed attempt too, never a crash
        log.exception("webhook attempt to %s failed unexpectedly", claimed.url)
        error = f"{type(exc).__name__}: {exc}"[:500]
    duration_ms = int((time.monotonic() - started) * 1000)
    succeeded = status_code is not None and 200 <= status_code < 300
    if status_code is not None and not succeeded:
        error = f"receiver answered HTTP {status_code}"
    return WebhookAttempt(
        delivery_pk=claimed.pk,
        sequence=claimed.sequence,
        number=claimed.attempt_count + 1,
        attempted_at=now,
        succeeded=succeeded,
        status_code=status_code,
        response_body=excerpt,
        error=error,
        duration_ms=duration_ms,
    )


async def _deliver(
    db: Database,
    clock: Clock,
    http: httpx.AsyncClient,
    claimed: Claimed,
    request_timeout: float,
    max_attempts: int,
    rng: random.Random | None,
    policy: TargetPolicy,
    resolve: Resolver,
) -> None:
    attempt = await send(http, claimed, clock.now(), request_timeout, policy, resolve)
    next_at: datetime | None = None
    if attempt.succeeded:
        status = WebhookDeliveryStatus.SUCCEEDED
    elif attempt.number >= max_attempts:
        status = WebhookDeliveryStatus.FAILED
    else:
        status = WebhookDeliveryStatus.PENDING
        next_at = attempt.attempted_at + retry_delay(attempt.number, rng)
    async with db.transaction() as session:
        recorded = await store.record_attempt(session, claimed, attempt, status, next_at)
    if not recorded:
        log.info("webhook delivery %s changed while in flight; attempt dropped", claimed.pk)


async def deliver_once(
    db: Database,
    clock: Clock,
    http_client: httpx.AsyncClient,
    *,
    request_timeout: float = DEFAULT_TIMEOUT,
    max_attempts: int = MAX_ATTEMPTS,
    batch_size: int = BATCH_SIZE,
    environment_pk: uuid.UUID | None = None,
    rng: random.Random | None = None,
    policy: TargetPolicy | None = None,
    resolve: Resolver = system_resolver,
) -> int:
    """One pass: sends every due delivery (of one environment, if given); returns how many
    attempts it made. Deliveries that fail wait for their backoff: a later pass retries them.
    `policy` is the operator's target policy (default: the strict one)."""
    policy = policy or TargetPolicy()
    total = 0
    for _ in range(MAX_ROUNDS):
        now = clock.now()
        lease_until = now + timedelta(seconds=request_timeout) + LEASE_MARGIN
        async with db.transaction() as session:
            claimed = await store.claim_due(
                session, now, lease_until, batch_size, uuid.uuid4(), environment_pk
            )
        if not claimed:
            break
        sends = [
            _deliver(db, clock, http_client, c, request_timeout, max_attempts, rng, policy, resolve)
            for c in claimed
        ]
        results = await asyncio.gather(*sends, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.error("webhooks: recording an attempt failed", exc_info=result)
        total += len(claimed)
        if len(claimed) < batch_size:
            break
    return total


def new_http_client() -> httpx.AsyncClient:
    """The worker's client: no redirects (a 3xx is a failed attempt), modest pool limits.

    No kept-alive connections: requests name the checked address, not the host, so a pooled
    TLS connection verified for one name could otherwise carry a request for another name on
    the same address. No proxies or .netrc from the environment (`trust_env=False`): the
    checked address is the one connected to."""
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=0),
    )


async def run_forever(
    db: Database,
    clock: Clock,
    interval: float,
    request_timeout: float,
    policy: TargetPolicy | None = None,
) -> None:
    async with new_http_client() as http:
        while True:
            try:
                sent = await deliver_once(
                    db, clock, http, request_timeout=request_timeout, policy=policy
                )
                if sent:
                    log.info("webhooks: made %d delivery attempts", sent)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep the loop alive; the next pass retries
                log.exception("webhooks: pass failed")
            await asyncio.sleep(interval)
