"""Catalog products: create, update, archive.

Like every catalog operation, each runs inside the caller's transaction and raises DomainError
on a client mistake (app/domain/catalog/packages.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.catalog import rules
from app.domain.catalog.rules import PLAN
from app.errors import DomainError, ErrorCode
from app.models import Product
from app.store import catalog as store
from app.store import units

# --- products -----------------------------------------------------------------------------

PRODUCT_KEYS = (
    "id",
    "name",
    "description",
    "multipleSubscriptions",
    "defaultPlan",
    "downgradeToDefaultPlan",
)


async def require_product(
    session: AsyncSession,
    env: uuid.UUID,
    product_id: str,
    *,
    lock: bool = False,
    field: str = "productId",
) -> Product:
    product = await store.get_product(session, env, product_id, lock=lock)
    if product is None:
        raise DomainError(ErrorCode.PRODUCT_NOT_FOUND, f"no product {product_id!r}", [field])
    return product


async def _check_product_fields(
    session: AsyncSession, env: uuid.UUID, product: Product, raw: Mapping[str, Any]
) -> None:
    for key in raw:
        if key not in PRODUCT_KEYS:
            raise DomainError(ErrorCode.INVALID_INPUT, f"unknown option {key!r}", [key])
    if "name" in raw:
        product.name = rules.check_name(raw["name"], ["name"], product.id)
    if "description" in raw:
        product.description = rules.check_name(raw["description"], ["description"])
    for key, attr in (
        ("multipleSubscriptions", "multiple_subscriptions"),
        ("downgradeToDefaultPlan", "downgrade_to_default"),
    ):
        if raw.get(key) is not None:
            if not isinstance(raw[key], bool):
                raise DomainError(ErrorCode.INVALID_INPUT, "must be true or false", [key])
            setattr(product, attr, raw[key])
    if "defaultPlan" in raw:
        default_plan = raw["defaultPlan"]
        if default_plan is not None:
            plan = await store.get_package(session, env, PLAN, str(default_plan))
            if plan is None or plan.product_pk != product.pk or plan.archived_at is not None:
                raise DomainError(
                    ErrorCode.PLAN_NOT_FOUND,
                    f"no plan {default_plan!r} in product {product.id!r}",
                    ["defaultPlan"],
                )
        product.default_plan_id = default_plan


async def create_product(
    session: AsyncSession, env: uuid.UUID, raw: Mapping[str, Any], now: datetime
) -> Product:
    product_id = rules.check_id(raw.get("id"), ["id"], "productId")
    if await store.get_product(session, env, product_id) is not None:
        raise DomainError(ErrorCode.DUPLICATE_ID, f"product {product_id!r} already exists", ["id"])
    product = Product(
        environment_pk=env, id=product_id, name=product_id, created_at=now, updated_at=now
    )
    await _check_product_fields(session, env, product, raw)
    await units.add(session, product)
    return product


async def update_product(
    session: AsyncSession,
    env: uuid.UUID,
    product_id: str,
    changes: Mapping[str, Any],
    now: datetime,
) -> Product:
    product = await require_product(session, env, product_id, lock=True, field="id")
    await _check_product_fields(
        session, env, product, {k: v for k, v in changes.items() if k != "id"}
    )
    product.updated_at = now
    await units.add(session, product)
    return product


async def archive_product(
    session: AsyncSession, env: uuid.UUID, product_id: str, now: datetime
) -> Product:
    """Archive a product and, with it, its plans and add-ons."""
    product = await require_product(session, env, product_id, lock=True, field="id")
    if product.archived_at is None:
        product.archived_at = now
        product.updated_at = now
        for package in await store.packages_of_product(session, product.pk):
            if package.archived_at is None:
                package.archived_at = now
                package.updated_at = now
                units.stage(session, package)
        await units.add(session, product)
    return product
