"""Where each report of a batch goes: its counter (the usage period of the customer's
effective entitlement) and its limits, or the error that stops it.

The context of a (customer, feature) — the customer, its cached entitlement for the feature,
the feature's kind — is read from the database once and then kept in the process, together
with the versions of the three rows it came from. A later batch that uses a kept context sends
those versions along, and `allot_record_usage` refuses the whole batch (STALE) if any of the
rows changed since: the context is then read again and the batch recorded again. So a kept
context is exactly as good as one read just before the batch, and a steady load of reports
costs one statement a batch.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.db import Database, RawConnection
from app.domain.checks import answers as checks
from app.domain.usage.reports import Report
from app.domain.usage.rules import limits_of
from app.errors import DomainError, ErrorCode
from app.store import usage as store
from app.store.rows import CounterKey, FeatureState

MAX_KEPT = 10_000  # contexts kept per process (least recently used go first)

# environment, customer id, feature id, resource id ("": the customer as a whole)
Asked = tuple[uuid.UUID, str, str, str]


@dataclass(frozen=True)
class Target:
    """Where a report goes, from the customer's effective entitlement."""

    counter: CounterKey
    consume_limit: float | None  # None: no hard limit to respect
    threshold_limit: float | None  # thresholds are measured against it; None: no thresholds
    base: dict[str, Any]  # the answer's usageLimit and period, as stored with a key


@dataclass(frozen=True)
class Context:
    """A customer's entitlement for a feature, as a batch needs it."""

    customer_pk: uuid.UUID
    entitlement: dict[str, Any] | None
    valid_until: datetime | None  # the cached entitlement changes then
    version: str | None  # the rows' versions (None: recomputed on read, not kept)

    def usable_at(self, now: datetime) -> bool:
        return self.valid_until is None or self.valid_until > now


@dataclass(frozen=True)
class Guard:
    """A kept context a batch relies on: `allot_record_usage` checks its rows' versions."""

    asked: Asked
    customer_pk: uuid.UUID
    version: str

    def row(self) -> tuple[uuid.UUID, uuid.UUID, str, str]:
        """(customer pk, environment, feature id, version), as the store sends it."""
        return self.customer_pk, self.asked[0], self.asked[2], self.version


class Contexts:
    """The contexts kept by one process."""

    def __init__(self, max_kept: int = MAX_KEPT) -> None:
        self._kept: OrderedDict[Asked, Context] = OrderedDict()
        self._max_kept = max_kept

    def forget(self, asked: Sequence[Asked]) -> None:
        for key in asked:
            self._kept.pop(key, None)

    async def targets(self, db: Database, conn: RawConnection, reports: Sequence[Report]
                      ) -> tuple[list[Target | DomainError], list[Guard]]:
        """Each report's target or error, and the guards for the kept contexts used."""
        now = max(r.now for r in reports)
        found: dict[Asked, Context | DomainError] = {}
        guards: list[Guard] = []
        asked_all = {_asked(r) for r in reports}
        for asked in asked_all:
            kept = self._kept.get(asked)
            if kept is not None and kept.version is not None and kept.usable_at(now):
                self._kept.move_to_end(asked)
                found[asked] = kept
                guards.append(Guard(asked, kept.customer_pk, kept.version))
        missing = sorted(asked_all - found.keys())
        if missing:
            triples = sorted({asked[:3] for asked in missing})
            rows = dict(zip(triples, await store.report_contexts(conn, triples), strict=True))
            for asked in missing:
                found[asked] = await self._read(db, asked, rows[asked[:3]], now)
        return [_target(r, found[_asked(r)]) for r in reports], guards

    async def _read(self, db: Database, asked: Asked, row: FeatureState | None, now: datetime
                    ) -> Context | DomainError:
        error = _context_error(asked, row)
        if error is not None:
            return error
        assert row is not None  # no customer is an error
        env, _, feature_id, resource_id = asked
        if resource_id:
            # As an entitlement check for the resource counts them: of the products that
            # allow several subscriptions, only this resource's (app/domain/checks/answers.py).
            computed = await checks.for_resource(db, env, row, resource_id, now)
            entitlement = computed.entitlements.get(feature_id)
        else:
            entitlement, _ = await checks.entitlement_of(db, env, row, feature_id, now)
        # The customer's cached entitlements change whenever any of its sources does (and
        # expire at the next date that changes them): their version guards the resource's
        # entitlement too.
        if checks.is_stale(row, now):  # recomputed just now: its rows changed, keep nothing
            return Context(row.customer_pk, entitlement, None, None)
        context = Context(row.customer_pk, entitlement, row.valid_until, row.version)
        self._kept[asked] = context
        if len(self._kept) > self._max_kept:
            self._kept.popitem(last=False)
        return context


def _asked(r: Report) -> Asked:
    return r.env, r.customer_id, r.feature_id, r.resource_key


def _target(r: Report, context: Context | DomainError) -> Target | DomainError:
    if isinstance(context, DomainError):
        return context
    entitlement = context.entitlement
    since = checks.granted_since(entitlement)
    if since is not None and r.at < since:
        return before_start(since, ["timestamp"])
    period = checks.usage_period(entitlement, r.at)
    consume_limit, limit = limits_of(entitlement)
    return Target(
        counter=(context.customer_pk, r.feature_id, r.resource_key, *checks.period_key(period)),
        consume_limit=consume_limit,
        threshold_limit=limit,
        base={"usageLimit": limit,
              "periodStart": period.start.isoformat() if period else None,
              "periodEnd": period.end.isoformat() if period else None})


def before_start(since: datetime, path: list[str | int]) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT,
                       f"timestamp is before the subscription started ({since.isoformat()})",
                       path)


def _context_error(asked: Asked, row: FeatureState | None) -> DomainError | None:
    _, customer_id, feature_id, _ = asked
    if row is None:
        return DomainError(ErrorCode.CUSTOMER_NOT_FOUND, f"no customer {customer_id!r}",
                           ["customerId"])
    if row.archived:
        return DomainError(ErrorCode.CUSTOMER_ARCHIVED,
                           f"customer {customer_id!r} is archived", ["customerId"])
    if row.feature_type is None:
        return DomainError(ErrorCode.FEATURE_NOT_FOUND, f"no feature {feature_id!r}",
                           ["featureId"])
    if row.feature_type != "METERED":
        return DomainError(ErrorCode.INVALID_INPUT, f"feature {feature_id!r} is not metered",
                           ["featureId"])
    if row.event_fed:
        return DomainError(ErrorCode.INVALID_INPUT,
                           f"feature {feature_id!r} is fed by raw events: use reportEvents",
                           ["featureId"])
    return None
