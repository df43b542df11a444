"""Catalog as code: export an environment's catalog as a document, and apply a document to an
environment declaratively (see docs/catalog-as-code.md for the rules users rely on).

`apply_catalog` runs in the caller's transaction and raises DomainError / DomainErrors on any
mistake, so the caller's rollback leaves the environment exactly as it was. The document is
checked completely (`catalog_diff.read_document`) before anything is written; errors found
while applying carry the document path of the element being applied.

Order of application: features → products (without defaultPlan) → plans (parents first) →
add-ons → default plans → archive what the document no longer has (add-ons, then plans
children first, then products) → finish enum-value removals → archive features.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.catalog import features as catalog_features
from app.domain.catalog import packages as domain
from app.domain.catalog import prices as catalog_prices
from app.domain.catalog import products as catalog_products
from app.domain.catalog import rules
from app.domain.catalog import versions as catalog_versions
from app.domain.catalog.diff import (
    ADDON,
    ARCHIVED,
    CREATED,
    DOCUMENT_VERSION,
    FEATURE,
    PLAN,
    PRODUCT,
    PUBLISHED,
    UPDATED,
    Change,
    DeclaredCatalog,
    DeclaredFeature,
    DeclaredPackage,
    DeclaredProduct,
    changed_keys,
    describe,
    read_document,
)
from app.errors import DomainError, DomainErrors, ErrorCode
from app.models import Feature, Package, PackageVersion, Product
from app.store import catalog as store
from app.store import locks, units
from app.store import push as push_store

__all__ = ["Change", "apply_catalog", "export_catalog"]

_PRICE_KEYS = catalog_prices.PRICE_KEYS
_CONTENT_ORDER = {PLAN: domain.PLAN_CONTENT_KEYS, ADDON: domain.ADDON_CONTENT_KEYS}


# --- export -------------------------------------------------------------------------------


def _ordered(data: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """`data` with `keys` first in that order (JSONB does not keep key order), then the rest."""
    out = {k: data[k] for k in keys if k in data}
    out.update({k: data[k] for k in sorted(data) if k not in out})
    return out


def _export_content(kind: str, content: Mapping[str, Any]) -> dict[str, Any]:
    out = _ordered(content, _CONTENT_ORDER[kind])
    if "trial" in out:
        out["trial"] = _ordered(out["trial"], ("days", "endBehavior"))
    if "entitlements" in out:
        out["entitlements"] = {
            fid: _ordered(options, rules.ENTITLEMENT_KEYS)
            for fid, options in sorted(out["entitlements"].items())
        }
    if "prices" in out:
        prices = []
        for price in out["prices"]:
            price = _ordered(price, _PRICE_KEYS)
            if "tiers" in price:
                price["tiers"] = [
                    _ordered(t, ("upTo", "unitAmount", "flatAmount")) for t in price["tiers"]
                ]
            prices.append(price)
        out["prices"] = prices
    return out


def _export_feature(feature: Feature) -> dict[str, Any]:
    out = _ordered(catalog_features.feature_definition(feature), rules.FEATURE_KEYS)
    if "meter" in out:
        out["meter"] = _ordered(out["meter"], ("eventName", "aggregation", "field", "filters"))
    return out


def _parents_first(plans: list[tuple[Package, dict[str, Any]]]) -> list[tuple[Package, Any]]:
    """Plans sorted by id, except that a parent always comes before its children."""
    by_id = {p.id: (p, c) for p, c in sorted(plans, key=lambda pc: pc[0].id)}
    order: list[tuple[Package, Any]] = []
    placed: set[str] = set()

    def place(plan_id: str, visiting: frozenset[str]) -> None:
        if plan_id in placed or plan_id not in by_id or plan_id in visiting:
            return
        parent = by_id[plan_id][1].get("parent")
        if isinstance(parent, str):
            place(parent, visiting | {plan_id})
        placed.add(plan_id)
        order.append(by_id[plan_id])

    for plan_id in by_id:
        place(plan_id, frozenset())
    return order


async def export_catalog(session: AsyncSession, environment_pk: uuid.UUID) -> dict[str, Any]:
    """The environment's live catalog as a document: archived things are left out, and each
    plan and add-on appears with its latest published version (never-published drafts are
    left out). Everything is ordered by id (parents before their child plans)."""
    features = [
        _export_feature(f)
        for f in (await store.all_features(session, environment_pk)).values()
        if f.archived_at is None
    ]
    products = [
        p for p in (await store.all_products(session, environment_pk)).values() if not p.archived_at
    ]
    packages = [
        p
        for p in await store.all_packages(session, environment_pk)
        if p.archived_at is None and p.latest_version is not None
    ]
    versions = await store.versions_by_package_pks(session, [p.pk for p in packages])
    published: dict[uuid.UUID, list[tuple[Package, dict[str, Any]]]] = {}
    for package in packages:
        latest = next(
            (v for v in versions.get(package.pk, []) if v.version == package.latest_version),
            None,
        )
        if latest is not None:
            published.setdefault(package.product_pk, []).append((package, latest.content))

    out_products = []
    for product in products:
        entry: dict[str, Any] = {"id": product.id, "name": product.name}
        if product.description:
            entry["description"] = product.description
        if product.multiple_subscriptions:
            entry["multipleSubscriptions"] = True
        if product.default_plan_id is not None:
            entry["defaultPlan"] = product.default_plan_id
        if not product.downgrade_to_default:
            entry["downgradeToDefaultPlan"] = False
        mine = published.get(product.pk, [])
        plans = _parents_first([(p, c) for p, c in mine if p.kind == PLAN])
        addons = sorted(((p, c) for p, c in mine if p.kind == ADDON), key=lambda pc: pc[0].id)
        for key, kind, items in (("plans", PLAN, plans), ("addons", ADDON, addons)):
            if items:
                entry[key] = [_export_package(kind, p, c) for p, c in items]
        out_products.append(entry)
    return {"version": DOCUMENT_VERSION, "features": features, "products": out_products}


def _export_package(kind: str, package: Package, content: Mapping[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": package.id, "name": package.name}
    if package.description:
        entry["description"] = package.description
    entry.update(_export_content(kind, content))
    return entry


# --- apply --------------------------------------------------------------------------------


@contextmanager
def _at(path: Sequence[str | int] | None, replace: bool = False) -> Iterator[None]:
    """Re-raise domain errors with their field under the document path being applied
    (`replace`: the path alone, for errors about an element the document does not name)."""
    try:
        yield
    except DomainError as error:
        raise _moved(error, path, replace) from None
    except DomainErrors as errors:
        raise DomainErrors([_moved(e, path, replace) for e in errors.errors]) from None


def _moved(error: DomainError, path: Sequence[str | int] | None, replace: bool) -> DomainError:
    if path is None:
        return error
    field = list(path) if replace else [*path, *(error.field or [])]
    return DomainError(error.code, error.message, field)


async def apply_catalog(
    session: AsyncSession,
    environment_pk: uuid.UUID,
    document: Any,
    now: datetime,
    dry_run: bool = False,
) -> list[Change]:
    """Make the environment's catalog what `document` declares; return what changed.

    With `dry_run` the same work is done inside a savepoint that is then rolled back, so the
    changes listed are exactly those a real apply would make, and nothing is written."""
    declared = read_document(document)
    # One apply at a time per environment (a second sees the first one's result).
    await locks.lock_catalog(session, environment_pk)
    if not dry_run:
        changes = await _Applier(session, environment_pk, now).run(declared)
        if changes:  # announced on commit (catalogPublished, docs/push.md)
            await push_store.announce_catalog(session, environment_pk, "CATALOG", None, None, now)
        return changes
    async with units.rolled_back(session):
        return await _Applier(session, environment_pk, now).run(declared)


class _Applier:
    def __init__(self, session: AsyncSession, env: uuid.UUID, now: datetime) -> None:
        self.session = session
        self.env = env
        self.now = now
        self.changes: list[Change] = []
        self.features: dict[str, Feature] = {}
        self.products: dict[str, Product] = {}
        self.packages: dict[tuple[str, str], Package] = {}
        self.pending_enum_values: list[DeclaredFeature] = []

    def record(self, kind: str, entity: str, item_id: str, detail: str | None = None) -> None:
        self.changes.append(Change(kind, entity, item_id, detail))

    async def run(self, declared: DeclaredCatalog) -> list[Change]:
        s, env = self.session, self.env
        self.features = await store.all_features(s, env)
        self.products = await store.all_products(s, env)
        self.packages = {(p.kind, p.id): p for p in await store.all_packages(s, env)}

        for feature in declared.features:
            with _at(feature.path):
                await self.apply_feature(feature)
        rows: dict[str, Product] = {}
        for product in declared.products:
            with _at(product.path):
                rows[product.id] = await self.apply_product(product)
        for product in declared.products:
            for package in [*product.plans, *product.addons]:
                with _at(package.path):
                    await self.apply_package(rows[product.id], package)
        # Plans below a republished parent that the document left as they were.
        for plan, number, parent_id, parent_version in await catalog_versions.rebind_stale(
            s, env, self.now
        ):
            self.record(
                PUBLISHED,
                PLAN,
                plan.id,
                f"version {number}; includes {parent_id} version {parent_version}",
            )
        for product in declared.products:
            if rows[product.id].default_plan_id != product.default_plan:
                with _at([*product.path, "defaultPlan"], replace=True):
                    await catalog_products.update_product(
                        s, env, product.id, {"defaultPlan": product.default_plan}, self.now
                    )
        await self.archive_packages(declared)
        for feature in self.pending_enum_values:
            with _at(feature.path):
                await catalog_features.update_feature(
                    s, env, feature.id, _all_keys(feature), self.now
                )
        await self.archive_features(declared)
        return self.changes

    # --- features --------------------------------------------------------------------

    async def apply_feature(self, declared: DeclaredFeature) -> None:
        s, env, now = self.session, self.env, self.now
        row = self.features.get(declared.id)
        if row is None:
            await catalog_features.create_feature(s, env, declared.definition, now)
            self.record(CREATED, FEATURE, declared.id)
            return
        restored = await self._restore(row)
        current = catalog_features.feature_definition(row)
        target = declared.definition
        changes = _all_keys(declared)
        removed = set(current.get("enumValues") or []) - set(target.get("enumValues") or [])
        if removed and target.get("enumValues"):
            # Packages may still grant the removed values until they are updated below:
            # keep them for now and remove them once the packages are applied.
            kept = [v for v in current["enumValues"] if v in removed]
            changes["enumValues"] = [*target["enumValues"], *kept]
            self.pending_enum_values.append(declared)
        changed = changed_keys(current, target)
        if changed:
            await catalog_features.update_feature(s, env, declared.id, changes, now)
        if changed or restored:
            self.record(UPDATED, FEATURE, declared.id, describe(changed, restored=restored))

    async def archive_features(self, declared: DeclaredCatalog) -> None:
        keep = {f.id for f in declared.features}
        for feature_id, row in self.features.items():
            if row.archived_at is None and feature_id not in keep:
                with _at(["features"], replace=True):
                    await catalog_features.archive_feature(
                        self.session, self.env, feature_id, self.now
                    )
                self.record(ARCHIVED, FEATURE, feature_id)

    # --- products --------------------------------------------------------------------

    async def apply_product(self, declared: DeclaredProduct) -> Product:
        s, env, now = self.session, self.env, self.now
        row = self.products.get(declared.id)
        if row is None:
            row = await catalog_products.create_product(
                s, env, {"id": declared.id, **declared.fields}, now
            )
            self.record(CREATED, PRODUCT, declared.id)
            return row
        restored = await self._restore(row)
        current = {
            "name": row.name,
            "description": row.description,
            "multipleSubscriptions": row.multiple_subscriptions,
            "downgradeToDefaultPlan": row.downgrade_to_default,
            "defaultPlan": row.default_plan_id,
        }
        changed = changed_keys(current, {**declared.fields, "defaultPlan": declared.default_plan})
        fields = {k: v for k, v in declared.fields.items() if k in changed}
        if fields:
            row = await catalog_products.update_product(s, env, declared.id, fields, now)
        if changed or restored:
            self.record(UPDATED, PRODUCT, declared.id, describe(changed, restored=restored))
        return row

    # --- plans and add-ons -----------------------------------------------------------

    async def apply_package(self, product: Product, declared: DeclaredPackage) -> None:
        s, env, now, kind = self.session, self.env, self.now, declared.kind
        row = self.packages.get((kind, declared.id))
        if row is None:
            raw = {
                "id": declared.id,
                "productId": product.id,
                "name": declared.name,
                "description": declared.description,
                **declared.content,
            }
            await domain.create_package(s, env, kind, raw, now)
            self.record(CREATED, kind, declared.id)
            await domain.publish_package(s, env, kind, declared.id, now, cascade=False)
            self.record(PUBLISHED, kind, declared.id, "version 1")
            return
        if row.product_pk != product.pk:
            raise DomainError(
                ErrorCode.INVALID_CATALOG,
                f"{kind.lower()} {declared.id!r} belongs to another product; a plan or add-on "
                "cannot move between products (give it a new id)",
                ["id"],
            )
        restored = await self._restore(row)
        target = await domain.canonical_content(s, env, row, declared.content)
        latest = await _published_content(s, row)
        changes: dict[str, Any] = {}
        renamed = changed_keys(
            {"name": row.name, "description": row.description},
            {"name": declared.name, "description": declared.description},
        )
        changes.update({k: getattr(declared, k) for k in renamed})
        if target != latest or renamed:
            changes.update(declared.content)
        if changes:
            await domain.update_package(s, env, kind, declared.id, changes, now)
        if restored:
            self.record(UPDATED, kind, declared.id, describe([], restored=restored))
        if target != latest or renamed:  # names are versioned: a rename is a new version
            version = await domain.publish_package(s, env, kind, declared.id, now, cascade=False)
            detail = f"version {version.version}"
            if latest is not None:
                detail += "; changed: " + ", ".join([*renamed, *changed_keys(latest, target)])
            self.record(PUBLISHED, kind, declared.id, detail)

    async def archive_packages(self, declared: DeclaredCatalog) -> None:
        """Archive live plans and add-ons the document no longer has (never-published drafts
        are left alone), then products it no longer has, with all their plans and add-ons."""
        s, env, now = self.session, self.env, self.now
        in_document = {p.id: p for p in declared.products}
        named = {(pkg.kind, pkg.id) for p in declared.products for pkg in [*p.plans, *p.addons]}
        for product_id, product in self.products.items():
            if product.archived_at is not None:
                continue
            own = [
                p for p in await store.packages_of_product(s, product.pk) if p.archived_at is None
            ]
            if product_id not in in_document:
                for package in await _children_first(s, own):
                    self.record(ARCHIVED, package.kind, package.id)
                with _at(["products"], replace=True):
                    await catalog_products.archive_product(s, env, product_id, now)
                self.record(ARCHIVED, PRODUCT, product_id)
                continue
            gone = [p for p in own if (p.kind, p.id) not in named and p.latest_version is not None]
            path = in_document[product_id].path
            for package in await _children_first(s, gone):
                key = "plans" if package.kind == PLAN else "addons"
                with _at([*path, key], replace=True):
                    await domain.archive_package(s, env, package.kind, package.id, now)
                self.record(ARCHIVED, package.kind, package.id)

    async def _restore(self, row: Feature | Product | Package) -> bool:
        """Un-archive a row the document names again."""
        if row.archived_at is None:
            return False
        row.archived_at = None
        row.updated_at = self.now
        await units.add(self.session, row)
        return True


def _all_keys(feature: DeclaredFeature) -> dict[str, Any]:
    """Every option of a feature, None where the document leaves it out, so an update
    replaces the stored definition instead of merging into it."""
    return {k: feature.definition.get(k) for k in rules.FEATURE_KEYS if k != "id"}


async def _published_content(session: AsyncSession, package: Package) -> dict[str, Any] | None:
    if package.latest_version is None:
        return None
    version: PackageVersion | None = await store.get_version(
        session, package.pk, package.latest_version
    )
    return None if version is None else dict(version.content)


async def _children_first(session: AsyncSession, packages: list[Package]) -> list[Package]:
    """Add-ons first, then plans so that no plan is archived before a child plan that is
    being archived too."""
    addons = sorted((p for p in packages if p.kind == ADDON), key=lambda p: p.id)
    plans = {p.id: p for p in packages if p.kind == PLAN}
    versions = await store.versions_by_package_pks(session, [p.pk for p in plans.values()])
    parent_of = {
        p.id: (versions[p.pk][0].content.get("parent") if versions.get(p.pk) else None)
        for p in plans.values()
    }
    order: list[Package] = []
    remaining = set(plans)
    while remaining:
        leaves = sorted(
            p for p in remaining if not any(parent_of[c] == p for c in remaining if c != p)
        )
        if not leaves:  # a cycle cannot be stored; archive the rest and let the domain say why
            leaves = sorted(remaining)
        order.extend(plans[p] for p in leaves)
        remaining -= set(leaves)
    return [*addons, *order]
