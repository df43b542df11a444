"""Demo data for `allot serve --demo`: a sample catalog (and, later, customers).

Idempotent: the catalog goes through the same code as `applyCatalog`, and applying the same
document twice changes nothing the second time, so `--demo` may be given on every start.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from importlib import resources
from typing import Any

import yaml

from app.db import Database
from app.domain import audit
from app.domain.audit import AuditActor
from app.domain.catalog_document import apply_catalog

DEMO_CATALOG = "demo_catalog.yaml"


def demo_catalog() -> Any:
    """The sample catalog document (app/demo_catalog.yaml), parsed."""
    text = resources.files("app").joinpath(DEMO_CATALOG).read_text(encoding="utf-8")
    return yaml.safe_load(text)


async def load_demo(db: Database, environment_pk: uuid.UUID, now: datetime) -> list[Any]:
    """Load the demo data into one environment, in one transaction; returns the catalog
    changes made (empty when it was loaded before)."""
    async with audit.transaction(db, AuditActor.cli("serve --demo", now)) as session:
        changes = await apply_catalog(session, environment_pk, demo_catalog(), now)
    return list(changes)
