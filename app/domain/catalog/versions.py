"""How a plan version binds its ancestors' versions (docs/catalog.md "Versions").

A published version is everything its subscribers get, ancestors included: each plan version
records the version of its parent it includes (`parent_version`, bound when it is published),
and the parent's version records its own parent's, and so on up the chain.

Publishing a parent therefore never changes what an existing child version includes. Instead
every child plan whose latest version names it gets a new version — the same content, bound
to the new parent version — and so on down to the grandchildren, so new subscriptions of the
children include the new parent. The new child versions carry the parent publish's
`migrateExistingSubscriptions`: with it, the children's subscribers move as well (everyone who
includes the parent gets its new version); without it, they keep what they have.

Catalog as code publishes many plans at once: it publishes without this cascade and then
rebinds, parents first, only the plans whose parent moved and that it did not publish itself
(`rebind_stale`), so a document that changes a parent and its child makes one version each.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.catalog.rules import PLAN
from app.models import Package, PackageVersion
from app.store import catalog as store
from app.store import units


async def bind_parent(session: AsyncSession, env: uuid.UUID, version: PackageVersion) -> None:
    """Bind a plan version being published to its parent's latest published version."""
    parent_id = version.content.get("parent")
    parent = None
    if parent_id is not None:
        parent = await store.get_package(session, env, PLAN, str(parent_id))
    version.parent_version = None if parent is None else parent.latest_version


async def plan_and_descendants(session: AsyncSession, plan: Package) -> list[Package]:
    """The plan and every plan below it (children, grandchildren …) in its product. A plan
    counts as a child when any of its versions names the parent: a subscription on an old
    version includes the parent too."""
    plans = await store.packages_of_product(session, plan.product_pk, PLAN)
    versions = await store.versions_by_package_pks(session, [p.pk for p in plans])
    parents = {
        p.pk: {v.content.get("parent") for v in versions.get(p.pk, [])} for p in plans
    }
    found, ids = [plan], {plan.id}
    grew = True
    while grew:
        grew = False
        for p in plans:
            if p.id not in ids and parents[p.pk] & ids:
                found.append(p)
                ids.add(p.id)
                grew = True
    return found


async def publish_children(
    session: AsyncSession,
    env: uuid.UUID,
    parent: Package,
    migrate: bool,
    now: datetime,
) -> list[tuple[Package, int]]:
    """New versions of the plans below `parent` (just published), bound to its new version;
    returns them (plan, version), parents before children. Archived children get one only
    when the publish migrates: they take no new subscriptions, only their existing ones move."""
    from app.store import customers as customer_store  # the customers store imports ours

    published: list[tuple[Package, int]] = []
    pending, seen = [parent], {parent.pk}
    while pending:
        current = pending.pop(0)
        plans = await store.packages_of_product(session, current.product_pk, PLAN)
        candidates = [p for p in plans if p.pk not in seen and p.latest_version is not None]
        versions = await store.versions_by_package_pks(session, [p.pk for p in candidates])
        for child in candidates:
            latest = next(
                (v for v in versions.get(child.pk, []) if v.version == child.latest_version), None
            )
            if latest is None or latest.content.get("parent") != current.id:
                continue
            if child.archived_at is not None and not migrate:
                continue
            # Locked (and read again) like any publish: its version numbers stay dense.
            locked = await store.get_package(session, env, PLAN, child.id, lock=True)
            if locked is None or locked.latest_version is None:
                continue
            source = await store.get_version(session, locked.pk, locked.latest_version)
            if source is None or source.content.get("parent") != current.id:
                continue
            _, number = await _republish(
                session, locked, source, current.latest_version, migrate, now
            )
            if migrate:
                await customer_store.move_to_version(
                    session, env, PLAN, locked.pk, locked.id, number, now
                )
            seen.add(locked.pk)
            pending.append(locked)
            published.append((locked, number))
    return published


async def rebind_stale(
    session: AsyncSession, env: uuid.UUID, now: datetime
) -> list[tuple[Package, int, str, int]]:
    """A new version (not migrating) of every live plan whose latest version binds an older
    version of its parent than the parent's latest, parents first. Returns (plan, its new
    version, parent id, the parent version it now includes)."""
    plans = {
        p.id: p
        for p in await store.all_packages(session, env)
        if p.kind == PLAN and p.archived_at is None and p.latest_version is not None
    }
    versions = await store.versions_by_package_pks(session, [p.pk for p in plans.values()])
    latest = {
        plan_id: next(v for v in versions[p.pk] if v.version == p.latest_version)
        for plan_id, p in plans.items()
    }
    done: set[str] = set()
    out: list[tuple[Package, int, str, int]] = []

    async def visit(plan_id: str, path: frozenset[str]) -> None:
        if plan_id in done or plan_id in path:
            return
        source = latest[plan_id]
        parent_id = source.content.get("parent")
        if parent_id in plans:
            await visit(parent_id, path | {plan_id})
        done.add(plan_id)
        parent = plans.get(parent_id) if parent_id is not None else None
        bound = None if parent is None else parent.latest_version
        if parent is None or bound is None or bound == source.parent_version:
            return
        # Locked (and read again) like any publish; a publish since our read may have bound it.
        plan = await store.get_package(session, env, PLAN, plan_id, lock=True)
        if plan is None or plan.latest_version is None:
            return
        if plan.latest_version != source.version:
            fresh = await store.get_version(session, plan.pk, plan.latest_version)
            if fresh is None or fresh.parent_version == bound:
                return
            source = fresh
        latest[plan_id], number = await _republish(session, plan, source, bound, False, now)
        out.append((plan, number, parent.id, bound))

    for plan_id in sorted(plans):
        await visit(plan_id, frozenset())
    return out


async def _republish(
    session: AsyncSession,
    plan: Package,
    source: PackageVersion,
    parent_version: int | None,
    migrate: bool,
    now: datetime,
) -> tuple[PackageVersion, int]:
    """Publish `source`'s content again as the plan's next version (returned with its
    number), now including `parent_version` of its parent. The caller has locked the plan."""
    assert plan.latest_version is not None
    number = plan.latest_version + 1
    version = PackageVersion(
        package_pk=plan.pk,
        version=number,
        content=dict(source.content),
        name=source.name,
        description=source.description,
        parent_version=parent_version,
        migrate_existing=migrate,
        published_at=now,
        created_at=now,
        updated_at=now,
    )
    plan.latest_version = number
    plan.updated_at = now
    await units.add(session, version, plan)
    return version, number
