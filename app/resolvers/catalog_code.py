"""Catalog as code over GraphQL: `exportCatalog` and `applyCatalog` (server keys only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.domain.catalog.document import Change, apply_catalog, export_catalog
from app.resolvers.catalog import in_transaction
from app.schema.common import JSON, ServerKeyOnly, UserError
from app.schema.context import Context


@strawberry.type(
    description="One thing applyCatalog created, changed, published or archived "
    "(or, in a dry run, would have)."
)
class CatalogChange:
    kind: str = strawberry.field(description="CREATED, UPDATED, PUBLISHED or ARCHIVED.")
    entity: str = strawberry.field(description="FEATURE, PRODUCT, PLAN or ADDON.")
    id: str = strawberry.field(description="The id of the feature, product, plan or add-on.")
    detail: str | None = strawberry.field(
        description='More about the change, e.g. "version 2; changed: entitlements.seats".'
    )


@strawberry.input(description="A catalog document to apply to the key's environment.")
class ApplyCatalogInput:
    catalog: JSON = strawberry.field(
        description="The whole catalog: { features: [...], products: [...] }, the format "
        "exportCatalog returns. What it leaves out is archived."
    )
    dry_run: bool | None = strawberry.field(
        default=False,
        description="List the changes applying would make, and write nothing.",
    )


@strawberry.type(description="The result of applyCatalog.")
class ApplyCatalogPayload:
    changes: list[CatalogChange] = strawberry.field(
        description="What was (or, with dryRun, would be) changed, in the order applied; "
        "empty when the environment already matches the document or on errors."
    )
    errors: list[UserError] = strawberry.field(
        description="Why nothing was applied; `field` is the path in the document."
    )


def _view(change: Change) -> CatalogChange:
    return CatalogChange(kind=change.kind, entity=change.entity, id=change.id, detail=change.detail)


@strawberry.type
class CatalogCodeQuery:
    @strawberry.field(
        description="The environment's live catalog as a document (features, products with "
        "their plans and add-ons at their latest published version), ready for applyCatalog "
        "in another environment.",
        permission_classes=[ServerKeyOnly],
    )
    async def export_catalog(self, info: Info[Context, None]) -> JSON:
        ctx = info.context
        async with ctx.db.session() as session:
            document: Any = await export_catalog(session, ctx.environment_pk)
        return document  # type: ignore[no-any-return]


@strawberry.type
class CatalogCodeMutation:
    @strawberry.mutation(
        description="Make the environment's catalog what the document declares: create what "
        "is missing, update what differs, publish a new version of each changed plan and "
        "add-on, archive what the document leaves out. All or nothing; applying the same "
        "document again changes nothing.",
        permission_classes=[ServerKeyOnly],
    )
    async def apply_catalog(
        self, info: Info[Context, None], input: ApplyCatalogInput
    ) -> ApplyCatalogPayload:
        async def work(session: AsyncSession, env: Any, now: datetime) -> list[Change]:
            return await apply_catalog(
                session, env, input.catalog, now, dry_run=bool(input.dry_run)
            )

        changes, errors = await in_transaction(info, work)
        return ApplyCatalogPayload(changes=[_view(c) for c in changes or []], errors=errors)
