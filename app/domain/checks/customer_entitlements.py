"""A customer's effective entitlements: collected from every source, merged by the rules of
`app.domain.entitlements`, precomputed on change and read by every check.

Freshness rules:
* every mutation that changes a customer's sources recomputes them in its own transaction,
  holding the customer's row lock (so two writers never interleave);
* `valid_until` is the next instant a date changes them (trial end, scheduled plan change,
  cancellation date, future start, promotion end); a read at or after it recomputes;
* publishing a catalog version marks stale (recomputed on read) the cache of the customers
  it may change: subscribed, or scheduled to be, to the plan or a plan below it, or holding
  the add-on (app.domain.catalog.packages `_after_publish`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.entitlement_sources import (
    AddonBehavior,
    AddonGrant,
    EntitlementConfig,
    FeatureType,
    PlanGrant,
    PromotionGrant,
    SourceKind,
    SubscriptionGrants,
)
from app.domain.entitlements import effective_entitlement
from app.domain.subscriptions.dates import (
    LIVE,
    Dates,
    SubscriptionStatus,
    change_due,
    next_boundary,
)
from app.domain.subscriptions.dates import status_at as subscription_status
from app.models import Package, PromotionalEntitlement, Subscription
from app.store import catalog as catalog_store
from app.store import customers as store

MAX_PLAN_DEPTH = 32  # parent chains are acyclic (checked at publish); this is a safety net


@dataclass
class CatalogView:
    """The parts of an environment's catalog the engine reads, loaded once per computation."""

    feature_types: dict[str, str]
    plans_by_id: dict[str, Package]
    addons_by_id: dict[str, Package]
    versions: dict[tuple[uuid.UUID, int], dict[str, Any]] = field(default_factory=dict)
    # The parent version each plan version binds (absent: none bound, the latest counts).
    parent_versions: dict[tuple[uuid.UUID, int], int] = field(default_factory=dict)

    def content(self, package_pk: uuid.UUID, version: int | None) -> dict[str, Any]:
        if version is None:
            return {}
        return self.versions.get((package_pk, version), {})

    def __post_init__(self) -> None:
        self._plans_by_pk = {p.pk: p for p in self.plans_by_id.values()}

    def plan_by_pk(self, pk: uuid.UUID) -> Package:
        """A plan by its primary key (subscriptions reference plans by pk)."""
        return self._plans_by_pk[pk]

    def latest(self, package: Package) -> dict[str, Any]:
        return self.content(package.pk, package.latest_version)

    def ancestors(
        self, plan_pk: uuid.UUID, version: int | None
    ) -> list[tuple[Package, dict[str, Any]]]:
        """A plan version's ancestors, parent first, each with the content of the version
        its child binds: publishing a parent never changes what a child version includes."""
        chain: list[tuple[Package, dict[str, Any]]] = []
        child_pk, at, parent_id = plan_pk, version, self.content(plan_pk, version).get("parent")
        while parent_id is not None and len(chain) < MAX_PLAN_DEPTH - 1:
            parent = self.plans_by_id.get(parent_id)
            if parent is None:
                break
            bound = None if at is None else self.parent_versions.get((child_pk, at))
            child_pk, at = parent.pk, bound if bound is not None else parent.latest_version
            content = self.content(parent.pk, at)
            chain.append((parent, content))
            parent_id = content.get("parent")
        return chain


async def load_catalog_view(session: AsyncSession, env: uuid.UUID) -> CatalogView:
    features = await catalog_store.all_features(session, env)
    packages = await catalog_store.all_packages(session, env)
    versions = await catalog_store.versions_by_package_pks(session, [p.pk for p in packages])
    view = CatalogView(
        feature_types={f.id: f.type for f in features.values()},
        plans_by_id={p.id: p for p in packages if p.kind == "PLAN"},
        addons_by_id={p.id: p for p in packages if p.kind == "ADDON"},
    )
    for package_versions in versions.values():
        for v in package_versions:
            if v.version is not None:
                view.versions[(v.package_pk, v.version)] = v.content
                if v.parent_version is not None:
                    view.parent_versions[(v.package_pk, v.version)] = v.parent_version
    return view


def has_value(options: Mapping[str, Any]) -> bool:
    """Whether a catalog entitlement carries a value. A variable one that does uses it as its
    default: a subscription provisioned without its own value gets this one."""
    return any(k in options for k in ("limit", "unlimited", "value", "enumValues"))


def config_of(options: Mapping[str, Any] | None) -> EntitlementConfig | None:
    """A canonical entitlement (catalog form) as the engine's config; None = not granted.
    A variable entitlement without a value (no default) grants nothing by itself."""
    if options is None:
        return None
    if options.get("variable") and not has_value(options):
        return None
    enum_values = options.get("enumValues")
    period = options.get("resetPeriod")
    return EntitlementConfig(
        limit=options.get("limit"),
        unlimited=bool(options.get("unlimited")),
        soft_limit=bool(options.get("softLimit")),
        value=options.get("value"),
        enum_values=tuple(enum_values) if enum_values is not None else None,
        reset_period=period,
        reset_anchor=(options.get("resetAnchor") or "SUBSCRIPTION_START") if period else None,
    )


@dataclass(frozen=True)
class InForce:
    """What a live subscription grants at an instant: plan chain, add-ons, own values."""

    subscription: Subscription
    is_trial: bool
    plan_chain: tuple[tuple[str, dict[str, Any]], ...]  # (planId, entitlements), plan first
    addons: tuple[tuple[str, int, dict[str, Any]], ...]  # (addonId, quantity, entitlements)
    values: dict[str, Any]


def in_force(sub: Subscription, view: CatalogView, now: datetime) -> InForce | None:
    dates = Dates.of(sub)
    status = subscription_status(dates, now)
    if status not in LIVE:
        return None
    plan_pk, version, addons, values = sub.plan_pk, sub.plan_version, sub.addons, sub.entitlements
    if change_due(dates, now):
        change = sub.scheduled_change or {}
        plan = view.plans_by_id.get(change.get("planId", ""))
        if plan is not None:
            plan_pk, version = plan.pk, change["planVersion"]
            addons = change.get("addons", [])
            values = change.get("entitlements", values)
    content = view.content(plan_pk, version)
    plan_id = view.plan_by_pk(plan_pk).id
    chain = [(plan_id, content.get("entitlements", {}))]
    # Ancestors count at the versions this plan version binds (docs/catalog.md "Versions").
    chain += [(p.id, c.get("entitlements", {})) for p, c in view.ancestors(plan_pk, version)]
    addon_grants = []
    for item in addons:
        addon = view.addons_by_id.get(item["addonId"])
        if addon is not None:
            addon_content = view.content(addon.pk, item.get("version") or addon.latest_version)
            addon_grants.append(
                (addon.id, int(item.get("quantity", 1)), addon_content.get("entitlements", {}))
            )
    return InForce(
        sub,
        status is SubscriptionStatus.IN_TRIAL,
        tuple(chain),
        tuple(addon_grants),
        dict(values or {}),
    )


def _grants_for(feature_id: str, live: Iterable[InForce]) -> list[SubscriptionGrants]:
    grants = []
    for item in live:
        addons = []
        for addon_id, quantity, entitlements in item.addons:
            config = config_of(entitlements.get(feature_id))
            if config is not None:
                behavior = AddonBehavior(entitlements[feature_id].get("behavior", "INCREMENT"))
                addons.append(
                    AddonGrant(
                        addon_id=addon_id, config=config, quantity=quantity, behavior=behavior
                    )
                )
        grants.append(
            SubscriptionGrants(
                subscription_id=item.subscription.id,
                plan_id=item.plan_chain[0][0],
                plans=tuple(
                    PlanGrant(plan_id=pid, config=config_of(ents.get(feature_id)), is_base=i > 0)
                    for i, (pid, ents) in enumerate(item.plan_chain)
                ),
                is_trial=item.is_trial,
                subscription_value=config_of(item.values.get(feature_id)),
                addons=tuple(addons),
            )
        )
    return grants


@dataclass
class Computed:
    entitlements: dict[str, dict[str, Any]]
    has_active_subscription: bool
    valid_until: datetime | None


def compute(
    subscriptions: Sequence[Subscription],
    promotions: Sequence[PromotionalEntitlement],
    view: CatalogView,
    now: datetime,
) -> Computed:
    """Every feature any live source mentions → its effective entitlement (as a dict, plus
    the `anchor` its usage periods count from)."""
    live = [f for s in subscriptions if (f := in_force(s, view, now)) is not None]
    current_promos = [p for p in promotions if p.starts_at <= now]
    feature_ids: set[str] = set(p.feature_id for p in current_promos)
    for item in live:
        for _, ents in item.plan_chain:
            feature_ids.update(ents)
        for _, _, ents in item.addons:
            feature_ids.update(ents)
        feature_ids.update(item.values)
    starts = {item.subscription.id: item.subscription.start_date for item in live}
    out: dict[str, dict[str, Any]] = {}
    for feature_id in sorted(feature_ids):
        ftype = view.feature_types.get(feature_id)
        if ftype is None:
            continue
        promos = [
            PromotionGrant(config=c, promotion_id=str(p.pk))
            for p in current_promos
            if p.feature_id == feature_id and (c := config_of(p.config)) is not None
        ]
        effective = effective_entitlement(
            feature_id, FeatureType(ftype), _grants_for(feature_id, live), promos
        )
        data = effective.to_dict()
        data["anchor"] = _usage_anchor(effective.sources, starts, current_promos)
        out[feature_id] = data
    boundaries = [b for s in subscriptions if (b := next_boundary(Dates.of(s), now)) is not None]
    boundaries += [
        t for p in promotions for t in (p.starts_at, p.ends_at) if t is not None and t > now
    ]
    return Computed(out, bool(live), min(boundaries) if boundaries else None)


def _usage_anchor(
    sources: Sequence[Any], starts: Mapping[str, datetime], promos: Sequence[PromotionalEntitlement]
) -> str | None:
    """Usage periods anchored to SUBSCRIPTION_START count from the start of the subscription
    whose source won (a promotion's own start for a promotion)."""
    for source in sources:
        if not source.is_effective:
            continue
        if source.kind is SourceKind.PROMOTIONAL:
            promo = next((p for p in promos if str(p.pk) == source.promotion_id), None)
            if promo is not None:
                return promo.starts_at.isoformat()
        elif source.subscription_id in starts:
            return starts[source.subscription_id].isoformat()
    return None


async def compute_for_resource(
    session: AsyncSession,
    env: uuid.UUID,
    customer_pk: uuid.UUID,
    resource_id: str,
    now: datetime,
) -> Computed:
    """A customer's entitlements for one resource, computed on read (not cached). A
    subscription of a multi-subscription product counts only for its own resource (one
    without a resource counts for all); every other source counts as for the customer."""
    view = await load_catalog_view(session, env)
    products = await catalog_store.all_products(session, env)
    per_resource = {p.pk for p in products.values() if p.multiple_subscriptions}
    subs = [
        s
        for s in (await store.subscriptions_of(session, [customer_pk]))[customer_pk]
        if s.product_pk not in per_resource or s.resource_id in (None, resource_id)
    ]
    promos = (await store.promotions_of(session, [customer_pk], now))[customer_pk]
    return compute(subs, promos, view, now)


async def refresh(
    session: AsyncSession,
    env: uuid.UUID,
    customer_pks: Sequence[uuid.UUID],
    now: datetime,
    view: CatalogView | None = None,
) -> dict[uuid.UUID, Computed]:
    """Recompute and store the entitlements of customers (caller holds their row locks)."""
    if not customer_pks:
        return {}
    from app.domain.outbound import notifications

    view = view or await load_catalog_view(session, env)
    subs = await store.subscriptions_of(session, customer_pks)
    promos = await store.promotions_of(session, customer_pks, now)
    previous = await store.cached_entitlements(session, customer_pks)
    customers = await store.customers_by_pks(session, customer_pks)
    results = {}
    for pk in customer_pks:
        computed = compute(subs.get(pk, []), promos.get(pk, []), view, now)
        before = previous[pk].entitlements if pk in previous else {}
        await notifications.entitlements_changed(session, env, customers[pk].id, before,
                                                 computed.entitlements, now)
        await store.save_entitlements(
            session,
            pk,
            env,
            computed.entitlements,
            computed.has_active_subscription,
            computed.valid_until,
            now,
        )
        results[pk] = computed
    return results
