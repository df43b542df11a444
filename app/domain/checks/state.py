"""A customer's whole entitlements state, for local evaluators (SDKs) and push events.

One answer per question: every entry is built by the very function a check uses
(`answers._answer`, from the same cached entitlements and the same usage counters), so the
state's entry for a feature is exactly what `entitlement(customerId, featureId)` answers with
no requested usage or values. The state lists every feature of the environment (granted or
not); a feature id it does not list answers FEATURE_NOT_FOUND.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from app.db import Database
from app.domain.checks import answers
from app.domain.entitlement_sources import DenyReason
from app.store import customers as store
from app.store import push as push_store
from app.store.rows import StateToken


@dataclass(frozen=True)
class CustomerState:
    customer_id: str
    resource_id: str | None
    version: int  # the cached entitlements' version (bumped by every rewrite); 0: none yet
    deny_reason: DenyReason | None  # CUSTOMER_NOT_FOUND / CUSTOMER_ARCHIVED: every check
    has_active_subscription: bool
    computed_at: datetime  # when it was built (a kept state keeps its own)
    results: list[answers.CheckResult] = field(default_factory=list)  # by feature id
    valid_until: datetime | None = None
    # The greatest usage counter version per feature listed (usage changes carry theirs).
    usage_versions: dict[str, int] = field(default_factory=dict)


def valid_until_of(
    cached_until: datetime | None, results: list[answers.CheckResult]
) -> datetime | None:
    """The earliest of the cached entitlements' `valid_until` and every usage period end:
    until then the state holds unless an event says otherwise."""
    ends = [r.period.end for r in results if r.period is not None]
    if cached_until is not None:
        ends.append(cached_until)
    return min(ends) if ends else None


# The states read lately, with what each was made of: {(environment, customer id): (token,
# state)}. An SDK loads a customer's state at start and again after every reconnection or
# push, so the same states are asked for over and over; building one (every feature's answer)
# and writing it cost three checks. A kept state is handed out again only while its token is
# the one just read (same customer row, cached entitlements, current counters and features)
# and before its `valid_until`: then every answer in it is what a fresh read would give.
_KEPT: dict[tuple[uuid.UUID, str], tuple[StateToken, CustomerState]] = {}
MAX_KEPT = 2_048


def still_holds(kept: tuple[StateToken, CustomerState] | None, token: StateToken,
                now: datetime) -> bool:
    """Whether a kept state answers for `token` read at `now`."""
    if kept is None or kept[0] != token:
        return False
    valid_until = kept[1].valid_until
    return valid_until is None or now < valid_until


async def state_of(
    db: Database, env: uuid.UUID, customer_id: str, now: datetime, resource_id: str | None = None
) -> CustomerState:
    """The customer's whole state at `now` (one answer per feature of the environment). A
    state scoped to a resource is built on every read (its entitlements are not stored)."""
    if resource_id:
        return await _built(db, env, customer_id, now, resource_id)
    async with db.read() as conn:
        token = await push_store.state_token(conn, env, customer_id, now)
    if token is None:
        return CustomerState(customer_id, None, 0, DenyReason.CUSTOMER_NOT_FOUND, False, now)
    key = (env, customer_id)
    kept = _KEPT.get(key)
    if kept is not None and still_holds(kept, token, now):
        return kept[1]
    state = await _built(db, env, customer_id, now, None)
    # Kept under the token read before it was built: a change committed in between makes the
    # next token differ, and the state is built again (never an older state kept as newer).
    if len(_KEPT) >= MAX_KEPT:
        _KEPT.clear()
    _KEPT[key] = (token, state)
    return state


async def _built(
    db: Database, env: uuid.UUID, customer_id: str, now: datetime, resource_id: str | None
) -> CustomerState:
    async with db.read() as conn:
        row = await store.fetch_all_row(conn, env, customer_id)
    if row is None:
        return CustomerState(customer_id, resource_id, 0, DenyReason.CUSTOMER_NOT_FOUND, False, now)
    if row.archived:
        return CustomerState(
            customer_id, resource_id, row.state_version, DenyReason.CUSTOMER_ARCHIVED, False, now
        )
    if answers.is_stale(row, now):
        # Recomputed as a check would, then read again: the version is the rewrite's.
        await answers._recompute(db, env, row.customer_pk, now)
        async with db.read() as conn:
            fresh = await store.fetch_all_row(conn, env, customer_id)
        if fresh is None:  # deleted meanwhile
            return CustomerState(
                customer_id, resource_id, 0, DenyReason.CUSTOMER_NOT_FOUND, False, now
            )
        row = fresh
    if resource_id:
        computed = await answers.for_resource(db, env, row, resource_id, now)
        entitlements, has_active = computed.entitlements, computed.has_active_subscription
        cached_until = computed.valid_until
    else:
        entitlements, has_active = row.entitlements, row.has_active_subscription
        cached_until = row.valid_until
    async with db.read() as conn:
        features, usage, usage_versions = await push_store.features_and_usage(
            conn, env, row.customer_pk, resource_id or "", now
        )
    # The stored row as it is (not scoped to a resource): each entitlement's parse may be
    # kept from an earlier read of the same version (answers.parsed).
    as_stored = not resource_id
    results = [
        answers._answer(
            fid, ftype, entitlements.get(fid), has_active, now, None, None, usage.get(fid, ()),
            answers.parsed(row, fid, entitlements[fid])
            if as_stored and entitlements.get(fid) is not None else None,
        )
        for fid, ftype in features
    ]
    return CustomerState(
        customer_id,
        resource_id,
        row.state_version,
        None,
        has_active,
        now,
        results,
        valid_until_of(cached_until, results),
        usage_versions,
    )
