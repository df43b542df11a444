"""Catalog queries and mutations: thin, input → domain call in one transaction → payload."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.domain import audit
from app.domain.audit import AuditActor
from app.domain.catalog import features as catalog_features
from app.domain.catalog import packages as domain
from app.domain.catalog import products as catalog_products
from app.errors import DomainError, DomainErrors
from app.models import Package
from app.schema.catalog_inputs import (
    AddonPayload,
    CreateAddonInput,
    CreateFeatureInput,
    CreatePlanInput,
    CreateProductInput,
    FeaturePayload,
    IdInput,
    PlanPayload,
    ProductPayload,
    PublishInput,
    UpdateAddonInput,
    UpdateFeatureInput,
    UpdatePlanInput,
    UpdateProductInput,
)
from app.schema.catalog_types import (
    Addon,
    Feature,
    Plan,
    Product,
    feature_view,
    package_view_of,
    package_views,
    product_view,
)
from app.schema.common import (
    AfterArg,
    ClientError,
    Connection,
    FirstArg,
    IncludeArchivedArg,
    ServerKeyOnly,
    UserError,
    connection,
    decode_cursor,
    page_size,
    user_errors,
    wants_total,
)
from app.schema.context import Context
from app.store import catalog as store

T = TypeVar("T")
Work = Callable[[AsyncSession, Any, datetime], Awaitable[T]]

FeatureIdArg = Annotated[str, strawberry.argument(description="The featureId.")]
ProductIdArg = Annotated[str, strawberry.argument(description="The productId.")]
PlanIdArg = Annotated[str, strawberry.argument(description="The planId.")]
AddonIdArg = Annotated[str, strawberry.argument(description="The addonId.")]
ProductFilterArg = Annotated[
    str | None, strawberry.argument(description="Only those of this product (its productId).")
]


async def in_transaction(
    info: Info[Context, None], work: Work[T]
) -> tuple[T | None, list[UserError]]:
    """Run `work` as the mutation's one transaction; a DomainError rolls it all back."""
    ctx = info.context
    now = ctx.now()
    try:
        async with audit.transaction(ctx.db, audit_actor(ctx, info.field_name, now)) as session:
            return await work(session, ctx.environment_pk, now), []
    except (DomainError, DomainErrors) as error:
        return None, user_errors(error)


def audit_actor(ctx: Context, operation: str, now: datetime) -> AuditActor:
    """Who is acting, for the audit entries this transaction writes."""
    if ctx.cli_command is not None:
        return AuditActor.cli(f"{ctx.cli_command}: {operation}", now)
    principal = ctx.principal
    if principal.user_pk is not None:  # a console session: the user, in its environment
        return AuditActor(
            kind="user",
            operation=operation,
            now=now,
            request_id=ctx.request_id,
            user_pk=principal.user_pk,
            environment_pk=principal.environment_pk,
        )
    return AuditActor(
        kind=principal.kind.value,
        operation=operation,
        now=now,
        key_pk=principal.key_pk,
        request_id=ctx.request_id,
        environment_pk=principal.environment_pk,
    )


def _cap(info: Info[Context, None]) -> int:
    return info.context.settings.max_page_size


def _published_only(info: Info[Context, None], include_archived: bool = False) -> bool:
    """Client (publishable) keys read the published catalog only: nothing archived, no
    drafts, no never-published plans or add-ons (docs/security.md). Asking for archived
    items needs a server key."""
    if info.context.principal.is_server:
        return False
    if include_archived:
        raise ClientError(
            "includeArchived needs a server key; client keys read the published catalog only.",
            "FORBIDDEN",
        )
    return True


def _visible(package: Package | None, published_only: bool) -> bool:
    if package is None:
        return False
    published = package.archived_at is None and package.latest_version is not None
    return published or not published_only


# Plan and add-on reads share these. Module-level: resolvers get no `self` (the root is None).
async def _packages(
    info: Info[Context, None],
    kind: str,
    first: int | None,
    after: str | None,
    product_id: str | None,
    include_archived: bool,
) -> Connection[Any]:
    ctx = info.context
    published_only = _published_only(info, include_archived)
    size = page_size(first, _cap(info))
    async with ctx.db.session() as session:
        product_pk = None
        if product_id is not None:
            product = await store.get_product(session, ctx.environment_pk, product_id)
            if product is None or (published_only and product.archived_at is not None):
                return connection([], False, 0, lambda r: r)
            product_pk = product.pk
        page = await store.list_packages(
            session,
            ctx.environment_pk,
            kind,
            size,
            decode_cursor(after),
            product_pk,
            include_archived,
            published_only,
            count=wants_total(info),
        )
        views = await package_views(session, ctx.environment_pk, page.items, published_only)
    by_id = {v.id: v for v in views}
    return connection(page.items, page.has_next, page.total, lambda r: by_id[r.id])


async def _package(info: Info[Context, None], kind: str, package_id: str) -> Any:
    ctx = info.context
    published_only = _published_only(info)
    async with ctx.db.session() as session:
        package = await store.get_package(session, ctx.environment_pk, kind, package_id)
        if package is None or not _visible(package, published_only):
            return None
        (view,) = await package_views(session, ctx.environment_pk, [package], published_only)
        return view


async def _visible_plans(session: AsyncSession, env: Any, published_only: bool) -> set[str] | None:
    """For a client key, the plans a product may name (its default plan); None: all."""
    return await store.published_plan_ids(session, env) if published_only else None


@strawberry.type
class CatalogQuery:
    @strawberry.field(description="Features of the environment, by id.")
    async def features(
        self,
        info: Info[Context, None],
        first: FirstArg = None,
        after: AfterArg = None,
        include_archived: IncludeArchivedArg = False,
    ) -> Connection[Feature]:
        ctx = info.context
        _published_only(info, include_archived)
        size = page_size(first, _cap(info))
        async with ctx.db.session() as session:
            page = await store.list_features(
                session,
                ctx.environment_pk,
                size,
                decode_cursor(after),
                include_archived,
                count=wants_total(info),
            )
        return connection(page.items, page.has_next, page.total, feature_view)

    @strawberry.field(description="One feature by its id.")
    async def feature(self, info: Info[Context, None], id: FeatureIdArg) -> Feature | None:
        row = await info.context.loaders.feature_by_id.load(id)
        if row is None or (row.archived_at is not None and _published_only(info)):
            return None
        return feature_view(row)

    @strawberry.field(description="Products of the environment, by id.")
    async def products(
        self,
        info: Info[Context, None],
        first: FirstArg = None,
        after: AfterArg = None,
        include_archived: IncludeArchivedArg = False,
    ) -> Connection[Product]:
        ctx = info.context
        published_only = _published_only(info, include_archived)
        size = page_size(first, _cap(info))
        async with ctx.db.session() as session:
            page = await store.list_products(
                session,
                ctx.environment_pk,
                size,
                decode_cursor(after),
                include_archived,
                count=wants_total(info),
            )
            visible = await _visible_plans(session, ctx.environment_pk, published_only)
        return connection(
            page.items, page.has_next, page.total, lambda row: product_view(row, visible)
        )

    @strawberry.field(description="One product by its id.")
    async def product(self, info: Info[Context, None], id: ProductIdArg) -> Product | None:
        ctx = info.context
        published_only = _published_only(info)
        async with ctx.db.session() as session:
            row = await store.get_product(session, ctx.environment_pk, id)
            if row is None or (published_only and row.archived_at is not None):
                return None
            visible = await _visible_plans(session, ctx.environment_pk, published_only)
        return product_view(row, visible)

    @strawberry.field(description="Plans of the environment (optionally of one product).")
    async def plans(
        self,
        info: Info[Context, None],
        first: FirstArg = None,
        after: AfterArg = None,
        product_id: ProductFilterArg = None,
        include_archived: IncludeArchivedArg = False,
    ) -> Connection[Plan]:
        return await _packages(info, domain.PLAN, first, after, product_id, include_archived)

    @strawberry.field(description="One plan by its id.")
    async def plan(self, info: Info[Context, None], id: PlanIdArg) -> Plan | None:
        return await _package(info, domain.PLAN, id)  # type: ignore[no-any-return]

    @strawberry.field(description="Add-ons of the environment (optionally of one product).")
    async def addons(
        self,
        info: Info[Context, None],
        first: FirstArg = None,
        after: AfterArg = None,
        product_id: ProductFilterArg = None,
        include_archived: IncludeArchivedArg = False,
    ) -> Connection[Addon]:
        return await _packages(info, domain.ADDON, first, after, product_id, include_archived)

    @strawberry.field(description="One add-on by its id.")
    async def addon(self, info: Info[Context, None], id: AddonIdArg) -> Addon | None:
        return await _package(info, domain.ADDON, id)  # type: ignore[no-any-return]


def _feature_payload(result: tuple[Any, list[UserError]]) -> FeaturePayload:
    row, errors = result
    return FeaturePayload(feature=feature_view(row) if row is not None else None, errors=errors)


def _product_payload(result: tuple[Any, list[UserError]]) -> ProductPayload:
    row, errors = result
    return ProductPayload(product=product_view(row) if row is not None else None, errors=errors)


@strawberry.type
class CatalogMutation:
    @strawberry.mutation(description="Create a feature.", permission_classes=[ServerKeyOnly])
    async def create_feature(
        self, info: Info[Context, None], input: CreateFeatureInput
    ) -> FeaturePayload:
        return _feature_payload(
            await in_transaction(
                info,
                lambda s, env, now: catalog_features.create_feature(s, env, input.to_dict(), now),
            )
        )

    @strawberry.mutation(
        description="Change a feature (its type is fixed).", permission_classes=[ServerKeyOnly]
    )
    async def update_feature(
        self, info: Info[Context, None], input: UpdateFeatureInput
    ) -> FeaturePayload:
        return _feature_payload(
            await in_transaction(
                info,
                lambda s, env, now: catalog_features.update_feature(
                    s, env, input.id, input.to_dict(), now
                ),
            )
        )

    @strawberry.mutation(
        description="Archive a feature no live plan or add-on grants.",
        permission_classes=[ServerKeyOnly],
    )
    async def archive_feature(self, info: Info[Context, None], input: IdInput) -> FeaturePayload:
        return _feature_payload(
            await in_transaction(
                info, lambda s, env, now: catalog_features.archive_feature(s, env, input.id, now)
            )
        )

    @strawberry.mutation(description="Create a product.", permission_classes=[ServerKeyOnly])
    async def create_product(
        self, info: Info[Context, None], input: CreateProductInput
    ) -> ProductPayload:
        return _product_payload(
            await in_transaction(
                info,
                lambda s, env, now: catalog_products.create_product(s, env, input.to_dict(), now),
            )
        )

    @strawberry.mutation(description="Change a product.", permission_classes=[ServerKeyOnly])
    async def update_product(
        self, info: Info[Context, None], input: UpdateProductInput
    ) -> ProductPayload:
        return _product_payload(
            await in_transaction(
                info,
                lambda s, env, now: catalog_products.update_product(
                    s, env, input.id, input.to_dict(), now
                ),
            )
        )

    @strawberry.mutation(
        description="Archive a product with its plans and add-ons.",
        permission_classes=[ServerKeyOnly],
    )
    async def archive_product(self, info: Info[Context, None], input: IdInput) -> ProductPayload:
        return _product_payload(
            await in_transaction(
                info, lambda s, env, now: catalog_products.archive_product(s, env, input.id, now)
            )
        )

    # --- plans and add-ons share their lifecycle ----------------------------------------

    @strawberry.mutation(
        description="Create a plan (a draft unless `publish` is true).",
        permission_classes=[ServerKeyOnly],
    )
    async def create_plan(self, info: Info[Context, None], input: CreatePlanInput) -> PlanPayload:
        plan, errors = await _create(info, domain.PLAN, input.to_dict, input.publish)
        return PlanPayload(plan=plan, errors=errors)

    @strawberry.mutation(
        description="Edit a plan: name now, versioned content in its draft.",
        permission_classes=[ServerKeyOnly],
    )
    async def update_plan(self, info: Info[Context, None], input: UpdatePlanInput) -> PlanPayload:
        plan, errors = await _lifecycle(info, domain.PLAN, input.id, "update", input.to_dict)
        return PlanPayload(plan=plan, errors=errors)

    @strawberry.mutation(
        description="Publish a plan's draft as its next version.",
        permission_classes=[ServerKeyOnly],
    )
    async def publish_plan(self, info: Info[Context, None], input: PublishInput) -> PlanPayload:
        plan, errors = await _lifecycle(
            info, domain.PLAN, input.id, "publish", input.migrate_existing_subscriptions
        )
        return PlanPayload(plan=plan, errors=errors)

    @strawberry.mutation(
        description="Throw away a plan's unpublished draft.", permission_classes=[ServerKeyOnly]
    )
    async def discard_plan_draft(self, info: Info[Context, None], input: IdInput) -> PlanPayload:
        plan, errors = await _lifecycle(info, domain.PLAN, input.id, "discard")
        return PlanPayload(plan=plan, errors=errors)

    @strawberry.mutation(
        description="Archive a plan: no new subscriptions.", permission_classes=[ServerKeyOnly]
    )
    async def archive_plan(self, info: Info[Context, None], input: IdInput) -> PlanPayload:
        plan, errors = await _lifecycle(info, domain.PLAN, input.id, "archive")
        return PlanPayload(plan=plan, errors=errors)

    @strawberry.mutation(
        description="Create an add-on (a draft unless `publish` is true).",
        permission_classes=[ServerKeyOnly],
    )
    async def create_addon(
        self, info: Info[Context, None], input: CreateAddonInput
    ) -> AddonPayload:
        addon, errors = await _create(info, domain.ADDON, input.to_dict, input.publish)
        return AddonPayload(addon=addon, errors=errors)

    @strawberry.mutation(
        description="Edit an add-on: name now, versioned content in its draft.",
        permission_classes=[ServerKeyOnly],
    )
    async def update_addon(
        self, info: Info[Context, None], input: UpdateAddonInput
    ) -> AddonPayload:
        addon, errors = await _lifecycle(info, domain.ADDON, input.id, "update", input.to_dict)
        return AddonPayload(addon=addon, errors=errors)

    @strawberry.mutation(
        description="Publish an add-on's draft as its next version.",
        permission_classes=[ServerKeyOnly],
    )
    async def publish_addon(self, info: Info[Context, None], input: PublishInput) -> AddonPayload:
        addon, errors = await _lifecycle(
            info, domain.ADDON, input.id, "publish", input.migrate_existing_subscriptions
        )
        return AddonPayload(addon=addon, errors=errors)

    @strawberry.mutation(
        description="Throw away an add-on's unpublished draft.", permission_classes=[ServerKeyOnly]
    )
    async def discard_addon_draft(self, info: Info[Context, None], input: IdInput) -> AddonPayload:
        addon, errors = await _lifecycle(info, domain.ADDON, input.id, "discard")
        return AddonPayload(addon=addon, errors=errors)

    @strawberry.mutation(
        description="Archive an add-on: it can no longer be added.",
        permission_classes=[ServerKeyOnly],
    )
    async def archive_addon(self, info: Info[Context, None], input: IdInput) -> AddonPayload:
        addon, errors = await _lifecycle(info, domain.ADDON, input.id, "archive")
        return AddonPayload(addon=addon, errors=errors)


# Domain paths use the catalog document's names; a GraphQL client sent these instead.
_INPUT_FIELDS = {
    "parent": "parentPlanId",
    "trial": "defaultTrial",
    "compatiblePlans": "compatiblePlanIds",
}


def _input_paths(result: tuple[Any, list[UserError]]) -> tuple[Any, list[UserError]]:
    """Point each error's `field` at the GraphQL input field the client sent."""
    for error in result[1]:
        if error.field:
            error.field = [_INPUT_FIELDS.get(error.field[0], error.field[0]), *error.field[1:]]
    return result


async def _create(
    info: Info[Context, None], kind: str, raw: Callable[[], dict[str, Any]], publish: bool
) -> tuple[Any, list[UserError]]:
    """`raw` converts the input inside the transaction: conversion errors become payload
    errors too."""

    async def work(session: AsyncSession, env: Any, now: datetime) -> Any:
        package = await domain.create_package(session, env, kind, raw(), now)
        if publish:
            await domain.publish_package(session, env, kind, package.id, now)
        return await package_view_of(session, env, package)

    return _input_paths(await in_transaction(info, work))


async def _lifecycle(
    info: Info[Context, None], kind: str, package_id: str, action: str, argument: Any = None
) -> tuple[Any, list[UserError]]:
    async def work(session: AsyncSession, env: Any, now: datetime) -> Any:
        if action == "update":
            await domain.update_package(session, env, kind, package_id, argument(), now)
        elif action == "publish":
            await domain.publish_package(session, env, kind, package_id, now, bool(argument))
        elif action == "discard":
            await domain.discard_draft(session, env, kind, package_id, now)
        else:
            await domain.archive_package(session, env, kind, package_id, now)
        package = await domain.require_package(session, env, kind, package_id)
        return await package_view_of(session, env, package)

    return _input_paths(await in_transaction(info, work))
