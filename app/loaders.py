"""Per-request dataloaders, scoped to the caller's environment. Each batch opens its own
session, so concurrently resolving fields never share one."""

from __future__ import annotations

import uuid
from typing import Any

from aiodataloader import DataLoader

from app.db import Database
from app.store import catalog as catalog_store


class Loaders:
    def __init__(self, db: Database, environment_pk: uuid.UUID) -> None:
        self.db = db
        self.environment_pk = environment_pk
        self.feature_by_id = DataLoader(self._features_by_id)
        self.product_by_pk = DataLoader(self._products_by_pk)
        self.plan_by_id = DataLoader(self._plans_by_id)
        self.versions_by_package_pk = DataLoader(self._versions_by_package_pk)

    async def _features_by_id(self, ids: list[str]) -> list[Any]:
        async with self.db.session() as session:
            found = await catalog_store.features_by_ids(session, self.environment_pk, ids)
        return [found.get(i) for i in ids]

    async def _products_by_pk(self, pks: list[uuid.UUID]) -> list[Any]:
        async with self.db.session() as session:
            found = await catalog_store.products_by_pks(session, self.environment_pk, pks)
        return [found.get(pk) for pk in pks]

    async def _plans_by_id(self, ids: list[str]) -> list[Any]:
        async with self.db.session() as session:
            found = await catalog_store.packages_by_ids(session, self.environment_pk, "PLAN", ids)
        return [found.get(i) for i in ids]

    async def _versions_by_package_pk(self, pks: list[uuid.UUID]) -> list[Any]:
        async with self.db.session() as session:
            found = await catalog_store.versions_by_package_pks(session, pks)
        return [found.get(pk, []) for pk in pks]
