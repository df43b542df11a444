"""Catalog features: create, update, archive (boolean, configuration and metered).

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
from app.domain.catalog.rules import PACKAGE_LABEL
from app.errors import DomainError, ErrorCode
from app.models import Feature, Package, PackageVersion
from app.store import catalog as store
from app.store import units


def feature_definition(feature: Feature) -> dict[str, Any]:
    """A feature row in canonical (document) form."""
    out: dict[str, Any] = {"id": feature.id, "name": feature.name, "type": feature.type}
    if feature.description:
        out["description"] = feature.description
    for key, value in (
        ("unit", feature.unit),
        ("unitPlural", feature.unit_plural),
        ("valueType", feature.value_type),
        ("enumValues", feature.enum_values),
        ("meter", feature.meter),
    ):
        if value is not None:
            out[key] = value
    return out


def _apply_feature(feature: Feature, canonical: Mapping[str, Any]) -> None:
    feature.name = canonical["name"]
    feature.description = canonical.get("description", "")
    feature.type = canonical["type"]
    feature.unit = canonical.get("unit")
    feature.unit_plural = canonical.get("unitPlural")
    feature.value_type = canonical.get("valueType")
    feature.enum_values = canonical.get("enumValues")
    feature.meter = canonical.get("meter")


# --- features -----------------------------------------------------------------------------


async def create_feature(
    session: AsyncSession, env: uuid.UUID, raw: Mapping[str, Any], now: datetime
) -> Feature:
    canonical = rules.canonical_feature(raw)
    if await store.get_feature(session, env, canonical["id"]) is not None:
        raise DomainError(
            ErrorCode.DUPLICATE_ID, f"feature {canonical['id']!r} already exists", ["id"]
        )
    feature = Feature(
        environment_pk=env,
        id=canonical["id"],
        name=canonical["name"],
        type=canonical["type"],
        created_at=now,
        updated_at=now,
    )
    _apply_feature(feature, canonical)
    await units.add(session, feature)
    return feature


async def require_feature(
    session: AsyncSession, env: uuid.UUID, feature_id: str, *, lock: bool = False
) -> Feature:
    feature = await store.get_feature(session, env, feature_id, lock=lock)
    if feature is None:
        raise DomainError(ErrorCode.FEATURE_NOT_FOUND, f"no feature {feature_id!r}", ["id"])
    return feature


async def update_feature(
    session: AsyncSession,
    env: uuid.UUID,
    feature_id: str,
    changes: Mapping[str, Any],
    now: datetime,
) -> Feature:
    """Change a feature's name, description, units, enum values or meter. Its type is fixed:
    entitlements were validated against it."""
    feature = await require_feature(session, env, feature_id, lock=True)
    merged = {**feature_definition(feature), **{k: v for k, v in changes.items() if k != "id"}}
    if merged["type"] != feature.type:
        raise DomainError(ErrorCode.INVALID_INPUT, "a feature's type cannot change", ["type"])
    canonical = rules.canonical_feature(merged)
    removed = set(feature.enum_values or []) - set(canonical.get("enumValues") or [])
    if removed:
        users = await _packages_using_feature(session, env, feature.id)
        for package, entitlement in users:
            if removed & set(entitlement.get("enumValues") or []):
                raise DomainError(
                    ErrorCode.INVALID_INPUT,
                    f"enum values {sorted(removed)} are used by "
                    f"{PACKAGE_LABEL[package.kind]} {package.id!r}",
                    ["enumValues"],
                )
    if canonical != feature_definition(feature):
        _apply_feature(feature, canonical)
        feature.archived_at = None if changes.get("unarchive") else feature.archived_at
        feature.updated_at = now
        await units.add(session, feature)
    return feature


async def _packages_using_feature(
    session: AsyncSession, env: uuid.UUID, feature_id: str
) -> list[tuple[Package, dict[str, Any]]]:
    """Live packages whose draft or latest version grants the feature or prices its usage,
    with the entitlement ({} for a price only). Older versions may keep the feature: they are
    frozen, and subscriptions on them keep working."""
    packages = [p for p in await store.all_packages(session, env) if p.archived_at is None]
    versions = await store.versions_by_package_pks(session, [p.pk for p in packages])
    found = []
    for package in packages:
        for version in draft_and_latest(package, versions.get(package.pk, [])):
            entitlement = version.content.get("entitlements", {}).get(feature_id)
            priced = any(
                p.get("featureId") == feature_id for p in version.content.get("prices", [])
            )
            if entitlement is not None or priced:
                found.append((package, entitlement or {}))
                break
    return found


def draft_and_latest(package: Package, versions: list[PackageVersion]) -> list[PackageVersion]:
    """The versions of a package that still matter for new subscriptions and edits."""
    return [v for v in versions if v.version is None or v.version == package.latest_version]


async def archive_feature(
    session: AsyncSession, env: uuid.UUID, feature_id: str, now: datetime
) -> Feature:
    """Archive a feature no live plan or add-on grants any more (old versions may keep it)."""
    feature = await require_feature(session, env, feature_id, lock=True)
    users = await _packages_using_feature(session, env, feature_id)
    if users:
        names = ", ".join(f"{PACKAGE_LABEL[p.kind]} {p.id!r}" for p, _ in users)
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"feature {feature_id!r} is still granted by {names}", ["id"]
        )
    if feature.archived_at is None:
        feature.archived_at = now
        feature.updated_at = now
        await units.add(session, feature)
    return feature
