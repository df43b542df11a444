"""The audit log: every change to an audited entity is recorded — who (the key, the CLI or a
background job), which operation, which entity, before and after under the API's field
names — in the transaction of the change. docs/audit.md states the rules.

How: every write goes through `audit.transaction(db, actor)`, which puts the actor on the
session. A `before_flush` listener turns every new, changed or deleted object of an audited
table (app.domain.audit_fields) into an entry. A change made by a bulk statement
(insert/update/delete on the table, not through the ORM) is recorded by its code with
`record_object`. The guard: writing an audited table in a session with no actor raises
`UnauditedWrite` at once, and a bulk write to an audited table with no entry for that table
raises at commit, so code that forgets to audit fails in its first test.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction
from sqlalchemy.sql.elements import TextClause

from app.domain.audit_fields import GUARDED, SPECS, Lookup, Spec
from app.models import Environment
from app.models.audit import AuditEntry

if TYPE_CHECKING:
    from app.db import Database

ACTOR_KINDS = ("server", "client", "system", "cli", "user")
SECRET, ROTATED = "[secret]", "[rotated]"
_ACTOR = "audit_actor"
_STATE = "audit_state"
_DML = re.compile(
    r"^\s*(?:WITH\b.*?\)\s*)?(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)",
    re.IGNORECASE | re.DOTALL,
)


class UnauditedWrite(RuntimeError):
    """A programming error: an audited table was written without an audit entry."""


@dataclass(frozen=True)
class AuditActor:
    """Who acts: an API key (`server`/`client`, with the key and request), a console user
    (`user`, with the user), the CLI (`cli`, the command) or a background job (`system`, the
    job's name as the operation). `environment_pk`: the environment whose log gets the
    entries of account-wide entities (users, invitations), which belong to no environment."""

    kind: str
    operation: str
    now: datetime
    key_pk: uuid.UUID | None = None
    request_id: str | None = None
    user_pk: uuid.UUID | None = None
    environment_pk: uuid.UUID | None = None

    def __post_init__(self) -> None:
        if self.kind not in ACTOR_KINDS:
            raise ValueError(f"actor kind must be one of {ACTOR_KINDS}")

    @classmethod
    def system(cls, job: str, now: datetime) -> AuditActor:
        return cls("system", job, now)

    @classmethod
    def cli(cls, command: str, now: datetime | None = None) -> AuditActor:
        return cls("cli", command, now or datetime.now(UTC))


@dataclass
class _State:
    dry_run: bool = False
    bulk_written: set[str] = field(default_factory=set)
    recorded: set[str] = field(default_factory=set)
    deferred: list[AuditEntry] = field(default_factory=list)


def _state(session: Session) -> _State:
    state = session.info.get(_STATE)
    if state is None:
        state = session.info[_STATE] = _State()
    return state


def _table(obj: Any) -> str:
    return str(type(obj).__tablename__)


def attach(session: AsyncSession | Session, actor: AuditActor) -> None:
    """Make `actor` the author of every change of this session's transaction."""
    session.info[_ACTOR] = actor


def log_account_changes_in(session: AsyncSession | Session, environment_pk: uuid.UUID) -> None:
    """Entries of account-wide entities (users, invitations) of this transaction go to
    `environment_pk`'s log, unless the actor already names an environment (a session's)."""
    actor: AuditActor | None = session.info.get(_ACTOR)
    if actor is not None and actor.environment_pk is None:
        session.info[_ACTOR] = dataclasses.replace(actor, environment_pk=environment_pk)


@asynccontextmanager
async def transaction(db: Database, actor: AuditActor) -> AsyncIterator[AsyncSession]:
    """The one way to write: a transaction (commit on success, rollback on error) whose every
    change to an audited table becomes an audit entry by `actor`."""
    async with db.transaction() as session:
        attach(session, actor)
        yield session


def dry_run(session: AsyncSession | Session) -> None:
    """This session's writes are rolled back (a preview): they need no entries, and it may
    not commit."""
    target = session.sync_session if isinstance(session, AsyncSession) else session
    _state(target).dry_run = True


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


def _lookup(session: Session) -> Lookup:
    def find(model: type, pk: Any) -> Any:
        if pk is None:
            return None
        for obj in session.new:
            if type(obj) is model and getattr(obj, "pk", None) == pk:
                return obj
        with session.no_autoflush:
            return session.get(model, pk)

    return find


def _value(state: Any, key: str, previous: bool) -> Any:
    history = state.attrs[key].history
    if previous and history.deleted:
        return history.deleted[0]
    if previous and history.added and not history.unchanged:
        return None
    return getattr(state.obj(), key)


def _snapshot(session: Session, obj: Any, previous: bool = False) -> dict[str, Any]:
    """The object under API field names, now or as loaded (previous=True)."""
    spec = SPECS[type(obj)]
    state = inspect(obj)
    lookup = _lookup(session)
    out: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        value = _value(state, key, previous)
        if spec.expand is not None and key == spec.expand[0]:
            renames = spec.expand[1]
            for name, item in sorted((value or {}).items()):
                out[renames.get(name, name)] = plain(item)
            continue
        name = spec.fields.get(key)
        if name is None:
            continue  # internal (audit_fields says why)
        if key in spec.secrets:
            value = None if value is None else SECRET
        elif key in spec.refs:
            target = lookup(spec.refs[key].model, value)
            value = None if target is None else getattr(target, spec.refs[key].attribute)
        elif key in spec.converters:
            value = spec.converters[key](value)
        out[name] = plain(value)
    return out


def _rotated(obj: Any, spec: Spec, after: dict[str, Any]) -> dict[str, Any]:
    """Mark secrets the change replaced, without their values."""
    state = inspect(obj)
    for key in spec.secrets:
        history = state.attrs[key].history
        old, new = (history.deleted or [None])[0], (history.added or [None])[0]
        if old is not None and new is not None and old != new:
            after = {**after, spec.fields[key]: ROTATED}
    return after


def _entry(
    session: Session,
    actor: AuditActor,
    obj: Any,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> AuditEntry:
    spec = SPECS[type(obj)]
    lookup = _lookup(session)
    _state(session).recorded.add(_table(obj))
    environment_pk = spec.environment_pk(lookup, obj) or actor.environment_pk
    if environment_pk is None:
        raise UnauditedWrite(
            f"{_table(obj)} belongs to no environment: the actor must name the environment "
            "whose log records it (AuditActor.environment_pk)"
        )
    return AuditEntry(
        environment_pk=environment_pk,
        occurred_at=actor.now,
        actor_key_pk=actor.key_pk,
        actor_user_pk=actor.user_pk,
        actor_kind=actor.kind,
        operation=actor.operation,
        request_id=actor.request_id,
        entity_type=spec.entity_type(lookup, obj),
        entity_id=spec.entity_id(lookup, obj),
        action=action,
        before=before,
        after=after,
    )


def _actor_for(session: Session, table: str) -> AuditActor | None:
    actor: AuditActor | None = session.info.get(_ACTOR)
    if actor is None and not _state(session).dry_run:
        raise UnauditedWrite(
            f"{table} written outside audit.transaction(): every change needs an actor"
        )
    return actor


@event.listens_for(Session, "before_flush")
def _record_changes(session: Session, flush: UOWTransaction, instances: Any) -> None:
    entries = []
    for obj in list(session.new):
        spec = SPECS.get(type(obj))
        if spec is not None and spec.automatic:
            actor = _actor_for(session, _table(obj))
            if actor is not None:
                entries.append(_entry(session, actor, obj, "CREATE", None, _snapshot(session, obj)))
    for obj in list(session.dirty):
        spec = SPECS.get(type(obj))
        if spec is None or not spec.automatic:
            continue
        if not session.is_modified(obj, include_collections=False):
            continue
        actor = _actor_for(session, _table(obj))
        if actor is None:
            continue
        _state(session).recorded.add(_table(obj))
        before = _snapshot(session, obj, previous=True)
        after = _rotated(obj, spec, _snapshot(session, obj))
        if before != after:
            entries.append(_entry(session, actor, obj, "UPDATE", before, after))
    for obj in list(session.deleted):
        spec = SPECS.get(type(obj))
        if spec is not None and spec.automatic:
            actor = _actor_for(session, _table(obj))
            if actor is not None:
                entries.append(
                    _entry(
                        session, actor, obj, "DELETE", _snapshot(session, obj, previous=True), None
                    )
                )
    # An entry in a new environment waits for the environment's row (the unit of work does
    # not order the two tables by their foreign key): it goes in the next flush.
    new_environments = {obj.pk for obj in session.new if isinstance(obj, Environment)}
    _state(session).deferred += [e for e in entries if e.environment_pk in new_environments]
    session.add_all([e for e in entries if e.environment_pk not in new_environments])


@event.listens_for(Session, "after_flush_postexec")
def _add_deferred(session: Session, flush: UOWTransaction) -> None:
    state = _state(session)
    if state.deferred:
        session.add_all(state.deferred)
        state.deferred = []


def _written_table(statement: Any) -> str | None:
    if isinstance(statement, TextClause):
        match = _DML.match(statement.text)
        return match.group(1).lower() if match else None
    if getattr(statement, "is_dml", False):
        table = getattr(statement, "table", None)
        return getattr(table, "name", None)
    return None


@event.listens_for(Session, "do_orm_execute")
def _guard_bulk_writes(state: ORMExecuteState) -> None:
    table = _written_table(state.statement)
    if table is None or table not in GUARDED:
        return
    _actor_for(state.session, table)
    _state(state.session).bulk_written.add(table)


@event.listens_for(Session, "before_commit")
def _guard_commit(session: Session) -> None:
    state = _state(session)
    if state.dry_run:
        raise UnauditedWrite("a dry-run session may not commit")
    session.flush()
    missing = state.bulk_written - state.recorded
    if missing:
        raise UnauditedWrite(
            f"bulk writes to {', '.join(sorted(missing))} without an audit entry: record "
            "them with audit.record_object()"
        )


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: Any) -> None:
    """A new transaction of the session starts clean (a savepoint's end changes nothing)."""
    state = session.info.get(_STATE)
    if state is not None and transaction.parent is None:
        state.bulk_written.clear()
        state.recorded.clear()
        state.deferred = []


async def snapshot(session: AsyncSession, obj: Any) -> dict[str, Any]:
    """`obj` under API field names as it is now: the `before` of a bulk change."""
    return await session.run_sync(lambda s: _snapshot(s, obj))


async def record_object(
    session: AsyncSession, obj: Any, action: str, before: dict[str, Any] | None = None
) -> None:
    """Record a change the ORM did not see (a bulk statement, or a table whose entries are
    not automatic): `obj` is the row as it is after the change (as before it, for DELETE);
    `before` is `await snapshot(session, obj)` taken before changing it."""

    def work(sync: Session) -> None:
        actor = _actor_for(sync, _table(obj))
        if actor is None:
            return
        after = None if action == "DELETE" else _snapshot(sync, obj)
        before_ = before
        if action == "DELETE" and before_ is None:
            before_ = _snapshot(sync, obj)
        if action == "UPDATE" and before_ == after:
            _state(sync).recorded.add(_table(obj))
            return
        sync.add(_entry(sync, actor, obj, action, before_, after))

    await session.run_sync(work)
