"""Catalog operations on plans and add-ons (packages): create, update, publish, discard,
archive. Features and products are in catalog_features.py and catalog_products.py.

Each function runs inside the caller's transaction (it never commits) and raises DomainError
on a client mistake, so the whole mutation rolls back and nothing is half-written.

Versions: a package's published versions are frozen. Edits go to its draft (created from the
latest published version on the first edit); `publish_package` turns the draft into version
n+1 and records whether existing subscriptions should move to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.catalog import prices as catalog_prices
from app.domain.catalog import rules
from app.domain.catalog import versions as catalog_versions
from app.domain.catalog.features import draft_and_latest, feature_definition
from app.domain.catalog.products import require_product
from app.domain.catalog.rules import ADDON as ADDON
from app.domain.catalog.rules import PACKAGE_LABEL
from app.domain.catalog.rules import PLAN as PLAN
from app.errors import DomainError, ErrorCode
from app.models import Package, PackageVersion
from app.store import catalog as store
from app.store import push as push_store
from app.store import units

_NOT_FOUND = {PLAN: ErrorCode.PLAN_NOT_FOUND, ADDON: ErrorCode.ADDON_NOT_FOUND}
_LABEL = PACKAGE_LABEL


# --- packages (plans and add-ons) ---------------------------------------------------------

PLAN_CONTENT_KEYS = ("parent", "pricingType", "trial", "entitlements", "prices")
ADDON_CONTENT_KEYS = ("maxQuantity", "compatiblePlans", "entitlements", "prices")
PACKAGE_KEYS = ("id", "productId", "name", "description")


def content_keys(kind: str) -> tuple[str, ...]:
    return PLAN_CONTENT_KEYS if kind == PLAN else ADDON_CONTENT_KEYS


async def require_package(
    session: AsyncSession, env: uuid.UUID, kind: str, package_id: str, *, lock: bool = False
) -> Package:
    package = await store.get_package(session, env, kind, package_id, lock=lock)
    if package is None:
        raise DomainError(_NOT_FOUND[kind], f"no {_LABEL[kind]} {package_id!r}", ["id"])
    return package


async def _latest_version(session: AsyncSession, package: Package) -> PackageVersion | None:
    if package.latest_version is None:
        return None
    return await store.get_version(session, package.pk, package.latest_version)


def _same(version: PackageVersion, content: Mapping[str, Any], name: str, description: str) -> bool:
    """Whether a version has this content, name and description (nothing to publish)."""
    return (dict(version.content), version.name, version.description) == (
        dict(content),
        name,
        description,
    )


async def _plan_parents(session: AsyncSession, product_pk: uuid.UUID) -> dict[str, str | None]:
    """Each live plan of a product and its parent as it would be after publishing drafts."""
    plans = [
        p
        for p in await store.packages_of_product(session, product_pk, PLAN)
        if p.archived_at is None
    ]
    versions = await store.versions_by_package_pks(session, [p.pk for p in plans])
    return {
        p.id: (versions[p.pk][0].content.get("parent") if versions.get(p.pk) else None)
        for p in plans
    }


async def _children_of(session: AsyncSession, plan: Package) -> list[str]:
    """Live plans whose draft or latest version names `plan` as parent."""
    plans = [
        p
        for p in await store.packages_of_product(session, plan.product_pk, PLAN)
        if p.archived_at is None and p.pk != plan.pk
    ]
    versions = await store.versions_by_package_pks(session, [p.pk for p in plans])
    return sorted(
        p.id
        for p in plans
        if any(
            v.content.get("parent") == plan.id for v in draft_and_latest(p, versions.get(p.pk, []))
        )
    )


async def canonical_content(
    session: AsyncSession, env: uuid.UUID, package: Package, raw: Mapping[str, Any]
) -> dict[str, Any]:
    """Check a package's versioned content against the catalog; return it canonical."""
    for key in raw:
        if key not in content_keys(package.kind):
            raise DomainError(ErrorCode.INVALID_INPUT, f"unknown option {key!r}", [key])
    features = {
        f.id: feature_definition(f)
        for f in (await store.all_features(session, env)).values()
        if f.archived_at is None
    }
    parents = await _plan_parents(session, package.product_pk)
    out: dict[str, Any] = {}
    custom = False
    if package.kind == PLAN:
        pricing = rules.check_choice(
            raw.get("pricingType") or "PAID", rules.PRICING_TYPES, ["pricingType"]
        )
        out["pricingType"] = pricing
        custom = pricing == "CUSTOM"
        parent = raw.get("parent")
        if parent is not None:
            if parent == package.id:
                raise DomainError(
                    ErrorCode.CIRCULAR_PLAN_PARENT, "a plan cannot be its own parent", ["parent"]
                )
            if parent not in parents:
                raise DomainError(
                    ErrorCode.PLAN_NOT_FOUND,
                    f"no plan {parent!r} in this plan's product",
                    ["parent"],
                )
            parents[package.id] = str(parent)
            cycle = rules.find_parent_cycle(package.id, parents.get)
            if cycle is not None:
                raise DomainError(
                    ErrorCode.CIRCULAR_PLAN_PARENT,
                    "parent plans form a cycle: " + " -> ".join(cycle),
                    ["parent"],
                )
            out["parent"] = parent
        trial = rules.canonical_trial(raw.get("trial"), ["trial"])
        if trial is not None:
            if pricing == "FREE":
                raise DomainError(ErrorCode.INVALID_INPUT, "a FREE plan has no trial", ["trial"])
            out["trial"] = trial
    else:
        quantity = raw.get("maxQuantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "maxQuantity must be a whole number >= 1", ["maxQuantity"]
            )
        out["maxQuantity"] = quantity
        compatible = raw.get("compatiblePlans") or []
        if not isinstance(compatible, list):
            raise DomainError(
                ErrorCode.INVALID_INPUT, "must be a list of plan ids", ["compatiblePlans"]
            )
        for i, plan_id in enumerate(compatible):
            if plan_id not in parents:
                raise DomainError(
                    ErrorCode.PLAN_NOT_FOUND,
                    f"no plan {plan_id!r} in this add-on's product",
                    ["compatiblePlans", i],
                )
        if compatible:
            out["compatiblePlans"] = sorted(set(compatible))

    entitlements = raw.get("entitlements") or {}
    if not isinstance(entitlements, Mapping):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "entitlements must map featureId to options", ["entitlements"]
        )
    canonical_entitlements = {}
    for feature_id in sorted(entitlements):
        feature = features.get(feature_id)
        if feature is None:
            raise DomainError(
                ErrorCode.FEATURE_NOT_FOUND,
                f"no feature {feature_id!r}",
                ["entitlements", feature_id],
            )
        canonical_entitlements[feature_id] = rules.canonical_entitlement(
            entitlements[feature_id],
            feature,
            ["entitlements", feature_id],
            on_addon=package.kind == ADDON,
            custom_plan=custom,
        )
    if canonical_entitlements:
        out["entitlements"] = canonical_entitlements

    prices = raw.get("prices") or []
    if not isinstance(prices, list):
        raise DomainError(ErrorCode.INVALID_INPUT, "prices must be a list", ["prices"])
    if prices and out.get("pricingType") == "FREE":
        raise DomainError(ErrorCode.INVALID_PRICE, "a FREE plan has no prices", ["prices"])
    canonical_prices = []
    seen = set()
    for i, raw_price in enumerate(prices):
        price = catalog_prices.canonical_price(
            raw_price, ["prices", i], lambda fid: features.get(fid, {}).get("type")
        )
        identity = (
            price["model"],
            price["billingPeriod"],
            price["currency"],
            price.get("featureId"),
        )
        if identity in seen:
            raise DomainError(
                ErrorCode.INVALID_PRICE,
                "two prices for the same model, period, currency and feature",
                ["prices", i],
            )
        seen.add(identity)
        canonical_prices.append(price)
    if canonical_prices:
        out["prices"] = canonical_prices
    return out


async def create_package(
    session: AsyncSession, env: uuid.UUID, kind: str, raw: Mapping[str, Any], now: datetime
) -> Package:
    """Create a plan or add-on with its first draft (publish it to make version 1)."""
    package_id = rules.check_id(raw.get("id"), ["id"], f"{_LABEL[kind]} id")
    if await store.get_package(session, env, kind, package_id) is not None:
        raise DomainError(
            ErrorCode.DUPLICATE_ID, f"{_LABEL[kind]} {package_id!r} already exists", ["id"]
        )
    product_id = raw.get("productId")
    if not isinstance(product_id, str):
        raise DomainError(ErrorCode.INVALID_INPUT, "productId is required", ["productId"])
    product = await require_product(session, env, product_id)
    if product.archived_at is not None:
        raise DomainError(ErrorCode.ARCHIVED, f"product {product_id!r} is archived", ["productId"])
    package = Package(
        environment_pk=env,
        kind=kind,
        id=package_id,
        product_pk=product.pk,
        name=rules.check_name(raw.get("name"), ["name"], package_id),
        description=rules.check_name(raw.get("description"), ["description"]),
        created_at=now,
        updated_at=now,
    )
    await units.add(session, package)
    content = await canonical_content(
        session, env, package, {k: v for k, v in raw.items() if k not in PACKAGE_KEYS}
    )
    draft = PackageVersion(
        package_pk=package.pk,
        content=content,
        name=package.name,
        description=package.description,
        created_at=now,
        updated_at=now,
    )
    await units.add(session, draft)
    return package


async def update_package(
    session: AsyncSession,
    env: uuid.UUID,
    kind: str,
    package_id: str,
    changes: Mapping[str, Any],
    now: datetime,
) -> Package:
    """Edit the package's draft (created from the latest version): its versioned content,
    and its name and description, which are versioned too (a published version keeps the
    name it was published with; the package shows its latest version's)."""
    package = await require_package(session, env, kind, package_id, lock=True)
    if package.archived_at is not None:
        raise DomainError(ErrorCode.ARCHIVED, f"{_LABEL[kind]} {package_id!r} is archived", ["id"])
    names = {
        key: rules.check_name(changes[key], [key])
        for key in ("name", "description")
        if changes.get(key) is not None
    }
    edits = {k: v for k, v in changes.items() if k not in PACKAGE_KEYS}
    if edits or names:
        draft = await store.get_draft(session, package.pk)
        latest = await _latest_version(session, package)
        start = draft or latest  # edits start from the draft, else from the latest version
        base = dict(start.content) if start is not None else {}
        content = base
        if edits:
            content = await canonical_content(session, env, package, {**base, **edits})
        name = names.get("name", start.name if start is not None else package.name)
        description = names.get(
            "description", start.description if start is not None else package.description
        )
        if latest is not None and _same(latest, content, name, description):
            # Same as the published version: no draft needed (an edit back drops the draft).
            if draft is not None:
                await store.delete_version(session, draft)
        else:
            if draft is None:
                draft = PackageVersion(
                    package_pk=package.pk, content=content, name=name, created_at=now
                )
            draft.content, draft.name, draft.description = content, name, description
            draft.updated_at = now
            await units.add(session, draft)
        if package.latest_version is None:  # never published: the package shows its draft
            package.name, package.description = name, description
    package.updated_at = now
    await units.add(session, package)
    return package


async def publish_package(
    session: AsyncSession,
    env: uuid.UUID,
    kind: str,
    package_id: str,
    now: datetime,
    migrate_existing: bool = False,
    *,
    cascade: bool = True,
) -> PackageVersion:
    """Freeze the draft as version n+1. Its content is re-checked against today's catalog.
    A plan's child plans get new versions that include it (`cascade`; catalog as code
    rebinds them itself once everything is applied: catalog_versions)."""
    package = await require_package(session, env, kind, package_id, lock=True)
    if package.archived_at is not None:
        raise DomainError(ErrorCode.ARCHIVED, f"{_LABEL[kind]} {package_id!r} is archived", ["id"])
    draft = await store.get_draft(session, package.pk)
    if draft is None:
        raise DomainError(
            ErrorCode.NOTHING_TO_PUBLISH,
            f"{_LABEL[kind]} {package_id!r} has no draft to publish",
            ["id"],
        )
    draft.content = await canonical_content(session, env, package, draft.content)
    latest = await _latest_version(session, package)
    if latest is not None and _same(latest, draft.content, draft.name, draft.description):
        raise DomainError(
            ErrorCode.NOTHING_TO_PUBLISH, "the draft is the same as the latest version", ["id"]
        )
    if kind == PLAN:
        await catalog_versions.bind_parent(session, env, draft)
    number = (package.latest_version or 0) + 1
    draft.version = number
    draft.migrate_existing = migrate_existing
    draft.published_at = now
    draft.updated_at = now
    package.latest_version = number
    package.name, package.description = draft.name, draft.description
    package.updated_at = now
    await units.add(session, draft, package)
    await _after_publish(session, env, package, number, migrate_existing, now)
    # Announced on commit (catalogPublished, docs/push.md).
    await push_store.announce_catalog(session, env, kind, package.id, number, now)
    if kind == PLAN and cascade:  # the plans below it get versions that include the new one
        await catalog_versions.publish_children(session, env, package, migrate_existing, now)
    return draft


async def _after_publish(
    session: AsyncSession,
    env: uuid.UUID,
    package: Package,
    version: int,
    migrate: bool,
    now: datetime,
) -> None:
    """Move existing subscriptions to the new version when asked; either way the precomputed
    entitlements of the customers the publish may change are recomputed on their next read:
    those with a subscription (or a scheduled change) on the plan or on a plan below it (a
    migrating publish of a parent moves the subscribers of its child plans too:
    catalog_versions), or holding the add-on. Nobody else's entitlements depend on the package,
    so at 100,000 customers a publish no longer makes every check recompute."""
    from app.store import customers as customer_store

    if migrate:
        await customer_store.move_to_version(
            session, env, package.kind, package.pk, package.id, version, now
        )
    if package.kind == PLAN:
        plans = await catalog_versions.plan_and_descendants(session, package)
        await customer_store.invalidate_subscribers(
            session, env, now, plans=[(p.pk, p.id) for p in plans]
        )
    else:
        await customer_store.invalidate_subscribers(session, env, now, addon_id=package.id)


async def discard_draft(
    session: AsyncSession, env: uuid.UUID, kind: str, package_id: str, now: datetime
) -> Package:
    package = await require_package(session, env, kind, package_id, lock=True)
    draft = await store.get_draft(session, package.pk)
    if draft is None or package.latest_version is None:
        raise DomainError(
            ErrorCode.NOTHING_TO_PUBLISH,
            "no draft to discard (a never-published package keeps its draft)",
            ["id"],
        )
    await store.delete_version(session, draft)
    package.updated_at = now
    await units.add(session, package)
    return package


async def archive_package(
    session: AsyncSession, env: uuid.UUID, kind: str, package_id: str, now: datetime
) -> Package:
    """Archive a plan or add-on: no new subscriptions; existing ones keep their version.
    A plan that is a product's default or another live plan's parent cannot be archived."""
    package = await require_package(session, env, kind, package_id, lock=True)
    if package.archived_at is not None:
        return package
    if kind == PLAN:
        children = await _children_of(session, package)
        if children:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"plan {package_id!r} is the parent of {', '.join(children)}",
                ["id"],
            )
        products = await store.products_by_pks(session, env, [package.product_pk])
        product = products[package.product_pk]
        if product.default_plan_id == package_id:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"plan {package_id!r} is the default plan of product {product.id!r}",
                ["id"],
            )
    package.archived_at = now
    package.updated_at = now
    await units.add(session, package)
    return package
