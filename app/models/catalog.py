"""The catalog: features, products and versioned packages (plans and add-ons).

A package's versioned content (parent plan, pricing type, trial, entitlements, prices,
max quantity, compatible plans) lives in `package_versions.content` as one JSON document:
a published version is a frozen snapshot, which makes immutability and catalog diffs simple.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from app.models.base import jsonb, timestamp, uuid_pk


class Feature(SQLModel, table=True):
    __tablename__ = "features"
    __table_args__ = (UniqueConstraint("environment_pk", "id"),)

    pk: uuid.UUID = uuid_pk()
    environment_pk: uuid.UUID = Field(foreign_key="environments.pk", index=True)
    id: str
    name: str
    description: str = ""
    type: str  # BOOLEAN | CONFIGURATION | METERED
    unit: str | None = None
    unit_plural: str | None = None
    value_type: str | None = None  # NUMBER | ENUM (configuration features)
    enum_values: list[str] | None = jsonb(nullable=True)
    meter: dict[str, Any] | None = jsonb(nullable=True)
    metadata_: dict[str, Any] | None = jsonb(nullable=True)
    archived_at: datetime | None = timestamp(nullable=True)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class Product(SQLModel, table=True):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("environment_pk", "id"),)

    pk: uuid.UUID = uuid_pk()
    environment_pk: uuid.UUID = Field(foreign_key="environments.pk", index=True)
    id: str
    name: str
    description: str = ""
    multiple_subscriptions: bool = False
    default_plan_id: str | None = None
    downgrade_to_default: bool = True
    archived_at: datetime | None = timestamp(nullable=True)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class Package(SQLModel, table=True):
    """A plan or an add-on; its versioned content is in `PackageVersion`."""

    __tablename__ = "packages"
    __table_args__ = (UniqueConstraint("environment_pk", "kind", "id"),)

    pk: uuid.UUID = uuid_pk()
    environment_pk: uuid.UUID = Field(foreign_key="environments.pk", index=True)
    kind: str  # PLAN | ADDON
    id: str
    product_pk: uuid.UUID = Field(foreign_key="products.pk", index=True)
    name: str
    description: str = ""
    latest_version: int | None = None  # newest published version number
    archived_at: datetime | None = timestamp(nullable=True)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class PackageVersion(SQLModel, table=True):
    """A version of a package. `version` is None while it is the draft; publishing numbers it
    and freezes it. At most one draft per package (partial unique index)."""

    __tablename__ = "package_versions"
    __table_args__ = (
        UniqueConstraint("package_pk", "version"),
        Index(
            "one_draft_per_package",
            "package_pk",
            unique=True,
            postgresql_where=text("version IS NULL"),
        ),
    )

    pk: uuid.UUID = uuid_pk()
    package_pk: uuid.UUID = Field(foreign_key="packages.pk", index=True)
    version: int | None = None
    content: dict[str, Any] = jsonb(default=dict)
    # Names are versioned too: a draft's name shows only once published. The package's own
    # `name`/`description` are those of its latest version (the draft's if never published).
    name: str
    description: str = ""
    # A plan version's parent counts at this version of it (bound at publish, see
    # docs/catalog.md "Versions"); None: the parent had no published version then.
    parent_version: int | None = None
    migrate_existing: bool = False
    published_at: datetime | None = timestamp(nullable=True)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()
