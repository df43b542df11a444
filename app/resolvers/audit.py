"""The audit log query: who changed what, when, with before and after."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from app.models import User
from app.models.audit import AuditEntry as AuditRow
from app.schema.common import (
    ClientError,
    Connection,
    ServerKeyOnly,
    connection,
    decode_cursor,
    json_value,
    page_size,
    wants_total,
)
from app.schema.context import Context
from app.schema.user_types import AuditUser
from app.store import audit as store
from app.store import users as user_store


@strawberry.type(description="One change recorded by the audit log.")
class AuditEntry:
    id: strawberry.ID = strawberry.field(description="Sequence number of the entry.")
    occurred_at: datetime = strawberry.field(description="When the change was committed.")
    actor_key_id: strawberry.ID | None = strawberry.field(
        description="The API key that made the change (null for the CLI and the jobs)."
    )
    actor_kind: str | None = strawberry.field(
        description="server or client (an API key), user (a console user), cli (a command) "
        "or system (a job)."
    )
    actor_user: AuditUser | None = strawberry.field(
        description="The console user who made the change (actor kind user)."
    )
    operation: str = strawberry.field(
        description="The mutation, the CLI command or the job (jobs.*) that made it."
    )
    request_id: str | None = strawberry.field(description="The request id (X-Request-Id).")
    entity_type: str = strawberry.field(
        description="FEATURE, PRODUCT, PLAN, ADDON, PLAN_VERSION, CUSTOMER, SUBSCRIPTION, "
        "INVOICE, … (docs/audit.md)"
    )
    entity_id: str = strawberry.field(description="The entity's id.")
    action: str = strawberry.field(description="CREATE, UPDATE or DELETE.")
    before: JSON | None = strawberry.field(
        description="The entity before (null on CREATE), under the API's field names."
    )
    after: JSON | None = strawberry.field(
        description="The entity after (null on DELETE), under the API's field names."
    )


def entry_view(row: AuditRow, users: dict[uuid.UUID, User] | None = None) -> AuditEntry:
    user = (users or {}).get(row.actor_user_pk) if row.actor_user_pk else None
    return AuditEntry(
        id=strawberry.ID(str(row.seq)),
        occurred_at=row.occurred_at,
        actor_key_id=strawberry.ID(str(row.actor_key_pk)) if row.actor_key_pk else None,
        actor_kind=row.actor_kind,
        actor_user=AuditUser(id=strawberry.ID(str(user.pk)), email=user.email, name=user.name)
        if user is not None
        else None,
        operation=row.operation,
        request_id=row.request_id,
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        action=row.action,
        before=json_value(row.before),
        after=json_value(row.after),
    )


@strawberry.type
class AuditQuery:
    @strawberry.field(
        description="The environment's audit log, newest first, with filters.",
        permission_classes=[ServerKeyOnly],
    )
    async def audit_log(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description="Page size (≤ 100).")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
        entity_type: Annotated[
            str | None, strawberry.argument(description="Only this entity type.")
        ] = None,
        entity_id: Annotated[
            str | None, strawberry.argument(description="Only this entity id.")
        ] = None,
        operation: Annotated[
            str | None, strawberry.argument(description="Only this mutation.")
        ] = None,
        action: Annotated[
            str | None, strawberry.argument(description="CREATE, UPDATE or DELETE.")
        ] = None,
        actor_key_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only changes made with this key."),
        ] = None,
        actor_user_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only changes made by this console user."),
        ] = None,
        since: Annotated[
            datetime | None, strawberry.argument(description="From this instant.")
        ] = None,
        until: Annotated[
            datetime | None, strawberry.argument(description="Before this instant.")
        ] = None,
    ) -> Connection[AuditEntry]:
        ctx = info.context
        size = page_size(first, ctx.settings.max_page_size)
        cursor = decode_cursor(after)
        try:
            seq = int(cursor) if cursor is not None else None
            key = uuid.UUID(str(actor_key_id)) if actor_key_id is not None else None
            user = uuid.UUID(str(actor_user_id)) if actor_user_id is not None else None
        except ValueError:
            raise ClientError("malformed cursor, key id or user id", "INVALID_INPUT") from None
        filters: dict[str, Any] = {
            "entity_type": entity_type,
            "entity_id": entity_id,
            "operation": operation,
            "action": action,
            "actor_key_pk": key,
            "actor_user_pk": user,
            "since": since,
            "until": until,
        }
        async with ctx.db.session() as session:
            page = await store.list_entries(
                session, ctx.environment_pk, size, seq, filters, count=wants_total(info)
            )
            # The users of the page's entries, in one statement.
            users = await user_store.users_by_pk(
                session, {r.actor_user_pk for r in page.items if r.actor_user_pk is not None}
            )
        return connection(
            page.items,
            page.has_next,
            page.total,
            lambda row: entry_view(row, users),
            key=lambda r: str(r.seq),
        )
