"""The audit log: every change a mutation makes to an audited entity is recorded — who (the
key), which operation, which entity, before and after — in the mutation's own transaction.

How: the mutation's unit of work puts an `AuditActor` in `session.info`; a `before_flush`
listener turns every new, changed or deleted audited object of that session into an audit
entry. Nothing is recorded for sessions without an actor (background jobs record their own
changes with the actor "system"). Usage reports and raw events are not audited: they are
data with their own idempotent records, and far too many.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, UOWTransaction

from app.models import (
    ApiKey,
    Customer,
    Feature,
    Package,
    PackageVersion,
    Product,
    PromotionalEntitlement,
    Subscription,
)
from app.models.audit import AuditEntry

# Entity type and the id users know it by, per audited table.
AUDITED: dict[type, Callable[[Any], tuple[str, str]]] = {
    Feature: lambda o: ("FEATURE", o.id),
    Product: lambda o: ("PRODUCT", o.id),
    Package: lambda o: (o.kind, o.id),
    PackageVersion: lambda o: ("PACKAGE_VERSION", f"{o.package_pk}:{o.version or 'draft'}"),
    Customer: lambda o: ("CUSTOMER", o.id),
    Subscription: lambda o: ("SUBSCRIPTION", o.id),
    PromotionalEntitlement: lambda o: ("PROMOTIONAL_ENTITLEMENT", f"{o.feature_id}:{o.pk}"),
    ApiKey: lambda o: ("API_KEY", str(o.pk)),
}
SECRET_FIELDS = {"key_hash"}


@dataclass(frozen=True)
class AuditActor:
    environment_pk: uuid.UUID
    key_pk: uuid.UUID | None
    kind: str  # "server", "client" or "system"
    operation: str
    request_id: str | None
    now: datetime


MAX_DEPTH = 64  # nesting kept in a snapshot: rows stored before JSON inputs were bounded


def plain(value: Any, depth: int = 0) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict | list | tuple) and depth >= MAX_DEPTH:
        return None  # deeper than any input may nest now: cut, so the snapshot can be stored
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, depth + 1) for v in value]
    return value


def snapshot(obj: Any, previous: bool = False) -> dict[str, Any]:
    """The object's columns now, or as they were loaded (previous=True)."""
    state = inspect(obj)
    out = {}
    for attr in state.mapper.column_attrs:
        if attr.key in SECRET_FIELDS:
            continue
        history = state.attrs[attr.key].history
        if previous and history.deleted:
            value = history.deleted[0]
        elif previous and history.added and not history.unchanged:
            value = None
        else:
            value = getattr(obj, attr.key)
        out[attr.key] = plain(value)
    return out


def _entry(actor: AuditActor, obj: Any, action: str, before: dict[str, Any] | None,
           after: dict[str, Any] | None) -> AuditEntry:
    entity_type, entity_id = AUDITED[type(obj)](obj)
    return AuditEntry(environment_pk=actor.environment_pk, occurred_at=actor.now,
                      actor_key_pk=actor.key_pk, actor_kind=actor.kind,
                      operation=actor.operation, request_id=actor.request_id,
                      entity_type=entity_type, entity_id=str(entity_id), action=action,
                      before=before, after=after)


@event.listens_for(Session, "before_flush")
def _record_changes(session: Session, flush: UOWTransaction, instances: Any) -> None:
    actor = session.info.get("audit_actor")
    if actor is None:
        return
    entries = []
    for obj in session.new:
        if type(obj) in AUDITED:
            entries.append(_entry(actor, obj, "CREATE", None, snapshot(obj)))
    for obj in session.dirty:
        if type(obj) in AUDITED and session.is_modified(obj, include_collections=False):
            before, after = snapshot(obj, previous=True), snapshot(obj)
            if before != after:
                entries.append(_entry(actor, obj, "UPDATE", before, after))
    for obj in session.deleted:
        if type(obj) in AUDITED:
            entries.append(_entry(actor, obj, "DELETE", snapshot(obj, previous=True), None))
    session.add_all(entries)


def record(session: Any, actor: AuditActor | None, entity_type: str, entity_id: str,
           action: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    """Record a change made without the ORM (bulk statements)."""
    if actor is None:
        return
    session.add(AuditEntry(environment_pk=actor.environment_pk, occurred_at=actor.now,
                           actor_key_pk=actor.key_pk, actor_kind=actor.kind,
                           operation=actor.operation, request_id=actor.request_id,
                           entity_type=entity_type, entity_id=entity_id, action=action,
                           before=plain(before), after=plain(after)))
