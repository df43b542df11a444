"""Per-request dataloaders, scoped to the caller's environment. Each batch opens its own
session, so concurrently resolving fields never share one."""

from __future__ import annotations

import uuid
from typing import Any

from aiodataloader import DataLoader

from app.clock import Clock
from app.db import Database
from app.domain.checks import answers as checks
from app.models import Package
from app.store import catalog as catalog_store
from app.store import customers as customer_store
from app.store import invoices as invoice_store


class Loaders:
    def __init__(self, db: Database, environment_pk: uuid.UUID, clock: Clock | None = None) -> None:
        self.db = db
        self.environment_pk = environment_pk
        self.clock = clock or Clock()
        self.feature_by_id = DataLoader(self._features_by_id)
        self.package_view = DataLoader(self._package_views)
        self.customer_by_pk = DataLoader(self._customers_by_pk)
        self.subscriptions_by_customer = DataLoader(self._subscriptions_by_customer)
        self.promotions_by_customer = DataLoader(self._promotions_by_customer)
        self.entitlements_by_customer = DataLoader(self._entitlements_by_customer)
        self.invoices_by_subscription_id = DataLoader(self._invoices_by_subscription_id)
        self.invoices_by_customer = DataLoader(self._invoices_by_customer)
        self.subscription_view_by_pk = DataLoader(self._subscription_views_by_pk)
        self.billing_link_secret = DataLoader(self._billing_link_secrets)

    async def _features_by_id(self, ids: list[str]) -> list[Any]:
        async with self.db.session() as session:
            found = await catalog_store.features_by_ids(session, self.environment_pk, ids)
        return [found.get(i) for i in ids]

    async def _package_views(self, keys: list[tuple[str, str]]) -> list[Any]:
        """(kind, id) → the Plan/Addon GraphQL object, all kinds in three queries."""
        from app.schema.catalog_types import package_views

        async with self.db.session() as session:
            packages: list[Package] = []
            for kind in {k for k, _ in keys}:
                ids = [i for k, i in keys if k == kind]
                found = await catalog_store.packages_by_ids(session, self.environment_pk, kind, ids)
                packages.extend(found.values())
            views = await package_views(session, self.environment_pk, packages)
        by_key = {(p.kind, p.id): v for p, v in zip(packages, views, strict=True)}
        return [by_key.get(k) for k in keys]

    async def _customers_by_pk(self, pks: list[uuid.UUID]) -> list[Any]:
        async with self.db.session() as session:
            found = await customer_store.customers_by_pks(session, pks)
        return [
            found.get(pk)
            if found.get(pk) is not None and found[pk].environment_pk == self.environment_pk
            else None
            for pk in pks
        ]

    async def _subscriptions_by_customer(self, pks: list[uuid.UUID]) -> list[Any]:
        from app.schema.customer_types import subscription_view

        now = self.clock.now()
        async with self.db.session() as session:
            subs = await customer_store.subscriptions_of(session, pks)
            customers = await customer_store.customers_by_pks(session, pks)
            package_pks = list({s.plan_pk for rows in subs.values() for s in rows})
            plans = await catalog_store.packages_by_pks(session, package_pks)
        return [
            [
                subscription_view(s, plans[s.plan_pk].id, customers[pk].id, now)
                for s in subs.get(pk, [])
            ]
            for pk in pks
        ]

    async def _promotions_by_customer(self, pks: list[uuid.UUID]) -> list[Any]:
        async with self.db.session() as session:
            found = await customer_store.promotions_of(session, pks, self.clock.now())
        return [found.get(pk, []) for pk in pks]

    async def _entitlements_by_customer(self, pks: list[uuid.UUID]) -> list[Any]:
        found = await checks.results_for_customers(
            self.db, self.environment_pk, pks, self.clock.now()
        )
        return [found.get(pk, []) for pk in pks]

    async def _invoices_by_subscription_id(self, ids: list[str]) -> list[Any]:
        from app.schema.billing_types import invoice_view

        now = self.clock.now()
        async with self.db.session() as session:
            found = await invoice_store.invoices_of_subscriptions(session, self.environment_pk, ids)
        return [[invoice_view(r, now) for r in found.get(i, [])] for i in ids]

    async def _invoices_by_customer(self, pks: list[uuid.UUID]) -> list[Any]:
        from app.schema.billing_types import invoice_view

        now = self.clock.now()
        async with self.db.session() as session:
            found = await invoice_store.invoices_of_customers(session, pks)
        env = self.environment_pk
        return [[invoice_view(r, now) for r in found[pk] if r.environment_pk == env] for pk in pks]

    async def _subscription_views_by_pk(self, pks: list[uuid.UUID]) -> list[Any]:
        from app.schema.customer_types import subscription_view

        now = self.clock.now()
        async with self.db.session() as session:
            subs = await invoice_store.subscriptions_by_pks(session, pks)
            subs = {pk: s for pk, s in subs.items() if s.environment_pk == self.environment_pk}
            customers = await customer_store.customers_by_pks(
                session, list({s.customer_pk for s in subs.values()})
            )
            plans = await catalog_store.packages_by_pks(
                session, list({s.plan_pk for s in subs.values()})
            )
        return [
            subscription_view(s, plans[s.plan_pk].id, customers[s.customer_pk].id, now)
            if (s := subs.get(pk)) is not None
            else None
            for pk in pks
        ]

    async def _billing_link_secrets(self, envs: list[uuid.UUID]) -> list[Any]:
        async with self.db.session() as session:
            found = await invoice_store.link_secrets(session, envs)
        return [found.get(env) for env in envs]
