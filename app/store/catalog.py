"""SQL for the catalog: features, products, packages (plans, add-ons) and their versions.

Every function takes the environment it is scoped to; nothing here reads across environments.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import Feature, Package, PackageVersion, Product

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    """One page of a list: the rows, whether more follow, and how many the whole list has
    (None: not counted, the caller did not ask)."""

    items: list[T]
    has_next: bool
    total: int | None


async def counted(session: AsyncSession, statement: Any, count: bool) -> int | None:
    """The `count(*)` statement's answer, or None without running it when not asked: counting
    a list reads all of it, a page only its first rows (docs/catalog.md, "Lists")."""
    return int((await session.execute(statement)).scalar_one()) if count else None


async def _page(
    session: AsyncSession,
    model: Any,
    filters: Sequence[Any],
    first: int,
    after: str | None,
    count: bool = True,
) -> Page[Any]:
    query = select(model).where(*filters)
    if after is not None:
        query = query.where(model.id > after)
    rows = list((await session.execute(query.order_by(model.id).limit(first + 1))).scalars())
    total = await counted(session, select(func.count()).select_from(model).where(*filters), count)
    return Page(items=rows[:first], has_next=len(rows) > first, total=total)


def _active(model: Any, include_archived: bool) -> list[Any]:
    return [] if include_archived else [model.archived_at.is_(None)]


# --- features and products: the same reads of two tables ------------------------------

# Features and products: environment-scoped, named by a user id, archivable.
Named = TypeVar("Named", Feature, Product)


async def _by_id(
    session: AsyncSession, model: type[Named], environment_pk: uuid.UUID, id_: str, lock: bool
) -> Named | None:
    query = select(model).where(col(model.environment_pk) == environment_pk, col(model.id) == id_)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalars().first()


async def _all_by_id(
    session: AsyncSession, model: type[Named], environment_pk: uuid.UUID
) -> dict[str, Named]:
    query = select(model).where(col(model.environment_pk) == environment_pk)
    return {r.id: r for r in (await session.execute(query.order_by(col(model.id)))).scalars()}


async def _list(
    session: AsyncSession, model: type[Named], environment_pk: uuid.UUID, first: int,
    after: str | None, include_archived: bool, count: bool,
) -> Page[Named]:
    filters = [col(model.environment_pk) == environment_pk, *_active(model, include_archived)]
    return await _page(session, model, filters, first, after, count)


async def get_feature(
    session: AsyncSession, environment_pk: uuid.UUID, feature_id: str, *, lock: bool = False
) -> Feature | None:
    return await _by_id(session, Feature, environment_pk, feature_id, lock)


async def features_by_ids(
    session: AsyncSession, environment_pk: uuid.UUID, ids: Sequence[str]
) -> dict[str, Feature]:
    query = select(Feature).where(
        col(Feature.environment_pk) == environment_pk, col(Feature.id).in_(list(ids))
    )
    return {f.id: f for f in (await session.execute(query)).scalars()}


async def all_features(session: AsyncSession, environment_pk: uuid.UUID) -> dict[str, Feature]:
    return await _all_by_id(session, Feature, environment_pk)


async def list_features(
    session: AsyncSession, environment_pk: uuid.UUID, first: int, after: str | None,
    include_archived: bool = False, *, count: bool = True,
) -> Page[Feature]:
    return await _list(session, Feature, environment_pk, first, after, include_archived, count)


async def get_product(
    session: AsyncSession, environment_pk: uuid.UUID, product_id: str, *, lock: bool = False
) -> Product | None:
    return await _by_id(session, Product, environment_pk, product_id, lock)


async def products_by_pks(
    session: AsyncSession, environment_pk: uuid.UUID, pks: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Product]:
    query = select(Product).where(
        col(Product.environment_pk) == environment_pk, col(Product.pk).in_(list(pks))
    )
    return {p.pk: p for p in (await session.execute(query)).scalars()}


async def all_products(session: AsyncSession, environment_pk: uuid.UUID) -> dict[str, Product]:
    return await _all_by_id(session, Product, environment_pk)


async def list_products(
    session: AsyncSession, environment_pk: uuid.UUID, first: int, after: str | None,
    include_archived: bool = False, *, count: bool = True,
) -> Page[Product]:
    return await _list(session, Product, environment_pk, first, after, include_archived, count)


# --- packages -----------------------------------------------------------------------------


async def get_package(
    session: AsyncSession,
    environment_pk: uuid.UUID,
    kind: str,
    package_id: str,
    *,
    lock: bool = False,
) -> Package | None:
    query = select(Package).where(
        col(Package.environment_pk) == environment_pk,
        col(Package.kind) == kind,
        col(Package.id) == package_id,
    )
    if lock:
        # Serialises concurrent edits/publishes of one package: version numbers stay dense.
        # populate_existing: a row already loaded in this session is read again once locked.
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalars().first()


async def package_by_pk(session: AsyncSession, pk: uuid.UUID) -> Package | None:
    """By primary key, from the session's identity map when it holds the row already."""
    return await session.get(Package, pk)


async def packages_by_ids(
    session: AsyncSession, environment_pk: uuid.UUID, kind: str, ids: Sequence[str]
) -> dict[str, Package]:
    query = select(Package).where(
        col(Package.environment_pk) == environment_pk,
        col(Package.kind) == kind,
        col(Package.id).in_(list(ids)),
    )
    return {p.id: p for p in (await session.execute(query)).scalars()}


async def packages_of_product(
    session: AsyncSession, product_pk: uuid.UUID, kind: str | None = None
) -> list[Package]:
    query = select(Package).where(col(Package.product_pk) == product_pk)
    if kind is not None:
        query = query.where(col(Package.kind) == kind)
    return list((await session.execute(query.order_by(col(Package.id)))).scalars())


async def all_packages(session: AsyncSession, environment_pk: uuid.UUID) -> list[Package]:
    query = select(Package).where(col(Package.environment_pk) == environment_pk)
    query = query.order_by(col(Package.kind), col(Package.id))
    return list((await session.execute(query)).scalars())


async def list_packages(
    session: AsyncSession,
    environment_pk: uuid.UUID,
    kind: str,
    first: int,
    after: str | None,
    product_pk: uuid.UUID | None = None,
    include_archived: bool = False,
    published_only: bool = False,
    *,
    count: bool = True,
) -> Page[Package]:
    filters = [
        col(Package.environment_pk) == environment_pk,
        col(Package.kind) == kind,
        *_active(Package, include_archived),
    ]
    if product_pk is not None:
        filters.append(col(Package.product_pk) == product_pk)
    if published_only:
        filters.append(col(Package.latest_version).is_not(None))
    return await _page(session, Package, filters, first, after, count)


async def published_plan_ids(session: AsyncSession, environment_pk: uuid.UUID) -> set[str]:
    """Ids of the live plans with a published version: the plans a client key may see."""
    query = select(col(Package.id)).where(
        col(Package.environment_pk) == environment_pk,
        col(Package.kind) == "PLAN",
        col(Package.archived_at).is_(None),
        col(Package.latest_version).is_not(None),
    )
    return set((await session.execute(query)).scalars())


# --- versions -----------------------------------------------------------------------------


async def get_draft(session: AsyncSession, package_pk: uuid.UUID) -> PackageVersion | None:
    query = select(PackageVersion).where(
        col(PackageVersion.package_pk) == package_pk, col(PackageVersion.version).is_(None)
    )
    return (await session.execute(query)).scalars().first()


async def get_version(
    session: AsyncSession, package_pk: uuid.UUID, version: int
) -> PackageVersion | None:
    query = select(PackageVersion).where(
        col(PackageVersion.package_pk) == package_pk, col(PackageVersion.version) == version
    )
    return (await session.execute(query)).scalars().first()


async def versions_by_package_pks(
    session: AsyncSession, package_pks: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[PackageVersion]]:
    """Every version of each package, newest first, the draft (if any) before them."""
    query = select(PackageVersion).where(
        col(PackageVersion.package_pk).in_(list(package_pks))
    )
    found: dict[uuid.UUID, list[PackageVersion]] = {}
    for v in (await session.execute(query)).scalars():
        found.setdefault(v.package_pk, []).append(v)
    for versions in found.values():
        versions.sort(key=lambda v: -1 if v.version is None else -v.version - 1)
        versions.sort(key=lambda v: v.version is not None)
    return found


async def delete_version(session: AsyncSession, version: PackageVersion) -> None:
    """Through the unit of work, so the audit log records the deletion."""
    await session.delete(version)
    await session.flush()


async def packages_by_pks(
    session: AsyncSession, pks: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Package]:
    query = select(Package).where(col(Package.pk).in_(list(pks)))
    return {p.pk: p for p in (await session.execute(query)).scalars()}
