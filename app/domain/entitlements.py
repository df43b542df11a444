"""The entitlement engine: may customer C use feature F, and how much of it?

Pure rules, no framework, no database. The service collects every *source* of C's entitlement
for F (see ``app.domain.entitlement_sources``), ``effective_entitlement`` merges them into the
effective entitlement, and ``check_entitlement`` answers "may the customer use it?".

Merging, per subscription (each active or in-trial subscription):

1. The plan value is the most generous of the plan (PLAN) and its ancestors (BASE_PLAN).
2. A per-subscription value (SUBSCRIPTION_VALUE) replaces it.
3. If any OVERRIDE add-on grants F, the most generous override replaces it (quantity ignored).
4. Every INCREMENT add-on adds its limit (or number) x quantity. With nothing underneath, the
   increments start from 0 / not granted. Unlimited anywhere in the chain stays unlimited.

Then, across subscriptions and promotional entitlements (PROMOTIONAL), the most generous wins.

"Most generous", per feature type:

* BOOLEAN: granted if any source grants it.
* METERED: unlimited if any source is unlimited, else the largest limit. The winner gives the reset
  period and anchor. The limit is soft if *any* source counting towards it is soft: a soft limit
  never denies, so taking the softness from the winner alone would let a bigger hard limit take
  access away. Ties on the limit prefer the soft source, then one with a reset period, then reset
  period and anchor by name (arbitrary, but stable).
* CONFIGURATION: the largest number; the union of enum values (sorted by name).

So the result never depends on the order of the sources, and adding a subscription, a promotion,
an ancestor plan or an INCREMENT add-on never reduces access. (A SUBSCRIPTION_VALUE or an OVERRIDE
add-on *replaces* what is underneath, so it may lower it: that is what they are for.)

A source is *effective* (``Source.is_effective``) when it decided the answer: it built the winning
value and was not replaced within its subscription. Ties mark every tied source, so for a boolean
feature every granting source that was not replaced is effective. For a metered feature whose
winner is hard but the limit soft, the soft sources are marked too; when unlimited, only unlimited
sources. For a configuration feature: the sources giving the largest number and every source
contributing enum values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from app.domain.entitlement_sources import (
    AddonBehavior,
    AddonGrant,
    DenyReason,
    EffectiveEntitlement,
    EntitlementCheck,
    EntitlementConfig,
    FeatureType,
    PlanGrant,
    PromotionGrant,
    Source,
    SourceKind,
    SubscriptionGrants,
    canonical_source_order,
)

# --- Merging ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    """A value competing in a merge, and the ids of the sources it was built from."""

    config: EntitlementConfig
    source_ids: frozenset[int]


def _source_ids(candidates: Iterable[_Candidate]) -> frozenset[int]:
    return frozenset().union(*(candidate.source_ids for candidate in candidates))


def _limit(config: EntitlementConfig) -> float:
    """A metered grant's limit: 0 when unlimited (the flag decides) or when no limit is set."""
    return 0.0 if config.unlimited or config.limit is None else config.limit


def _enum_union(configs: Iterable[EntitlementConfig]) -> tuple[str, ...] | None:
    enum_sets = [set(config.enum_values) for config in configs if config.enum_values is not None]
    return tuple(sorted(set().union(*enum_sets))) if enum_sets else None


def _metered_preference(config: EntitlementConfig) -> tuple[object, ...]:
    """Sort key of a metered grant: the most generous sorts first."""
    return (
        not config.unlimited,  # unlimited first,
        -_limit(config),  # then the largest limit;
        not config.soft_limit,  # ties: the soft one,
        config.reset_period is None,  # then one whose usage resets,
        config.reset_period or "",  # then by reset period and anchor name.
        config.reset_anchor is None,
        config.reset_anchor or "",
    )


def _most_generous_metered(candidates: Sequence[_Candidate]) -> _Candidate:
    best = min(candidates, key=lambda candidate: _metered_preference(candidate.config))
    best_preference = _metered_preference(best.config)
    winners = [c for c in candidates if _metered_preference(c.config) == best_preference]
    unlimited = best.config.unlimited
    soft = not unlimited and any(candidate.config.soft_limit for candidate in candidates)
    deciders = list(winners)
    if soft and not best.config.soft_limit:  # the softness comes from the other sources
        deciders += [candidate for candidate in candidates if candidate.config.soft_limit]
    config = EntitlementConfig(
        limit=None if unlimited else _limit(best.config),
        unlimited=unlimited,
        soft_limit=soft,
        reset_period=best.config.reset_period,
        reset_anchor=best.config.reset_anchor,
    )
    return _Candidate(config, _source_ids(deciders))


def _most_generous_configuration(candidates: Sequence[_Candidate]) -> _Candidate:
    numbers = [c.config.value for c in candidates if c.config.value is not None]
    largest = max(numbers, default=None)
    deciders = [
        candidate
        for candidate in candidates
        if (largest is not None and candidate.config.value == largest)
        or candidate.config.enum_values
    ]
    config = EntitlementConfig(
        value=largest, enum_values=_enum_union(candidate.config for candidate in candidates)
    )
    return _Candidate(config, _source_ids(deciders or candidates))


def _most_generous(kind: FeatureType, candidates: Sequence[_Candidate]) -> _Candidate | None:
    """The most generous of the candidates (None when there are none)."""
    if not candidates:
        return None
    if kind is FeatureType.METERED:
        return _most_generous_metered(candidates)
    if kind is FeatureType.CONFIGURATION:
        return _most_generous_configuration(candidates)
    return _Candidate(EntitlementConfig(), _source_ids(candidates))  # BOOLEAN: any grant grants


def _add_increments(
    feature_type: FeatureType, base: _Candidate | None, increments: Sequence[_Candidate]
) -> _Candidate:
    """``base`` plus every INCREMENT add-on (already multiplied by its quantity)."""
    parts = [*([base] if base is not None else []), *increments]
    if feature_type is FeatureType.BOOLEAN:
        return _Candidate(EntitlementConfig(), _source_ids(parts))
    if feature_type is FeatureType.CONFIGURATION:
        numbers = [part.config.value for part in parts if part.config.value is not None]
        config = EntitlementConfig(
            value=math.fsum(numbers) if numbers else None,  # fsum: exact, whatever the order
            enum_values=_enum_union(part.config for part in parts),
        )
        return _Candidate(config, _source_ids(parts))
    # METERED: the reset period comes from what is underneath, else from the best increment.
    shape = base if base is not None else _most_generous_metered(increments)
    unlimited_parts = [part for part in parts if part.config.unlimited]
    if unlimited_parts:
        config = replace(shape.config, limit=None, unlimited=True, soft_limit=False)
        return _Candidate(config, _source_ids(unlimited_parts))
    config = replace(
        shape.config,
        limit=math.fsum(_limit(part.config) for part in parts),
        soft_limit=any(part.config.soft_limit for part in parts),
    )
    return _Candidate(config, _source_ids(parts))


class _SourceBook:
    """Records every source once and hands out the candidate standing for it."""

    def __init__(self) -> None:
        self._sources: list[Source] = []

    def record(self, where: Source, config: EntitlementConfig) -> _Candidate:
        """Record the source ``where`` (who grants) with its own ``config`` (what it grants)."""
        self._sources.append(
            replace(
                where,
                usage_limit=config.limit,
                is_unlimited=config.unlimited,
                is_soft_limit=config.soft_limit,
                value=config.value,
                enum_values=config.enum_values,
                reset_period=config.reset_period,
                reset_anchor=config.reset_anchor,
            )
        )
        return _Candidate(config, frozenset({len(self._sources) - 1}))

    def listing(self, effective_ids: frozenset[int]) -> tuple[Source, ...]:
        marked = (
            replace(source, is_effective=index in effective_ids)
            for index, source in enumerate(self._sources)
        )
        return tuple(sorted(marked, key=canonical_source_order))


def _times(config: EntitlementConfig, quantity: int) -> EntitlementConfig:
    return replace(
        config,
        limit=None if config.limit is None else config.limit * quantity,
        value=None if config.value is None else config.value * quantity,
    )


def _subscription_value(
    feature_type: FeatureType, subscription: SubscriptionGrants, book: _SourceBook
) -> _Candidate | None:
    """What one subscription grants (None: nothing), following rules 1 to 4 above."""
    sub = subscription
    subscription_source = Source(
        kind=SourceKind.SUBSCRIPTION_VALUE,
        subscription_id=sub.subscription_id,
        plan_id=sub.plan_id,
        is_trial=sub.is_trial,
    )

    def plan_source(plan: PlanGrant, config: EntitlementConfig) -> _Candidate:
        kind = SourceKind.BASE_PLAN if plan.is_base else SourceKind.PLAN
        return book.record(replace(subscription_source, kind=kind, plan_id=plan.plan_id), config)

    def addon_source(addon: AddonGrant, config: EntitlementConfig) -> _Candidate:
        where = replace(
            subscription_source,
            kind=SourceKind.ADDON,
            addon_id=addon.addon_id,
            addon_behavior=addon.behavior,
            quantity=addon.quantity,
        )
        return book.record(where, config)

    # 1. The most generous of the plan and its ancestors.
    plans = [plan_source(plan, plan.config) for plan in sub.plans if plan.config is not None]
    value = _most_generous(feature_type, plans)
    # 2. A per-subscription value replaces it.
    if sub.subscription_value is not None:
        value = book.record(subscription_source, sub.subscription_value)
    # 3. The most generous OVERRIDE add-on replaces it.
    overrides = [
        addon_source(addon, addon.config)
        for addon in sub.addons
        if addon.behavior is AddonBehavior.OVERRIDE
    ]
    if overrides:
        value = _most_generous(feature_type, overrides)
    # 4. Every INCREMENT add-on adds its limit (or number) x quantity.
    increments = [
        addon_source(addon, _times(addon.config, addon.quantity))
        for addon in sub.addons
        if addon.behavior is AddonBehavior.INCREMENT
    ]
    return _add_increments(feature_type, value, increments) if increments else value


def effective_entitlement(
    feature_id: str,
    feature_type: FeatureType,
    subscriptions: Sequence[SubscriptionGrants],
    promotions: Sequence[PromotionGrant],
) -> EffectiveEntitlement:
    """Merge every source of the customer's entitlement for the feature (see module docs)."""
    book = _SourceBook()
    candidates = [
        candidate
        for subscription in subscriptions
        if (candidate := _subscription_value(feature_type, subscription, book)) is not None
    ]
    candidates += [
        book.record(
            Source(kind=SourceKind.PROMOTIONAL, promotion_id=promo.promotion_id), promo.config
        )
        for promo in promotions
    ]
    winner = _most_generous(feature_type, candidates)
    sources = book.listing(winner.source_ids if winner is not None else frozenset())
    if winner is None:
        return EffectiveEntitlement(
            feature_id=feature_id,
            feature_type=feature_type,
            granted=False,
            has_active_subscription=bool(subscriptions),
            sources=sources,
        )
    config = winner.config  # already reduced to the fields of the feature type by the merge
    return EffectiveEntitlement(
        feature_id=feature_id,
        feature_type=feature_type,
        granted=True,
        has_active_subscription=bool(subscriptions),
        usage_limit=config.limit,
        is_unlimited=config.unlimited,
        is_soft_limit=config.soft_limit,
        value=config.value,
        enum_values=config.enum_values,
        reset_period=config.reset_period,
        reset_anchor=config.reset_anchor,
        sources=sources,
    )


# --- Checking --------------------------------------------------------------------------------


def _fits_the_limit(
    effective: EffectiveEntitlement, current_usage: float, requested_usage: float | None
) -> bool:
    """The metered rule. Soft and unlimited never deny. For a hard limit:

    * asked for n more (``requested_usage``): allowed iff current + n <= limit (n < 0 counts as 0);
    * asked nothing: allowed iff current < limit, i.e. there is room for at least some more.
    """
    if effective.is_unlimited or effective.is_soft_limit:
        return True
    limit = effective.usage_limit or 0.0
    if requested_usage is None:
        return current_usage < limit
    return current_usage + max(requested_usage, 0.0) <= limit


def _remaining(effective: EffectiveEntitlement, current_usage: float) -> float | None:
    """How much usage is left: limit - current usage, at least 0. None when there is no limit."""
    metered = effective.granted and effective.feature_type is FeatureType.METERED
    if not metered or effective.is_unlimited:
        return None
    return max((effective.usage_limit or 0.0) - current_usage, 0.0)


def _deny_reason(
    effective: EffectiveEntitlement,
    current_usage: float,
    requested_usage: float | None,
    requested_values: Sequence[str] | None,
) -> DenyReason | None:
    if not effective.granted:
        if effective.has_active_subscription:
            return DenyReason.NOT_ENTITLED
        return DenyReason.NO_ACTIVE_SUBSCRIPTION
    if effective.feature_type is FeatureType.METERED:
        if not _fits_the_limit(effective, current_usage, requested_usage):
            return DenyReason.USAGE_LIMIT_EXCEEDED
    if effective.feature_type is FeatureType.CONFIGURATION and requested_values is not None:
        if not set(requested_values) <= set(effective.enum_values or ()):
            return DenyReason.VALUE_NOT_ALLOWED
    return None


def check_entitlement(
    effective: EffectiveEntitlement,
    *,
    current_usage: float = 0.0,
    requested_usage: float | None = None,
    requested_values: Sequence[str] | None = None,
) -> EntitlementCheck:
    """May the customer use the feature (that much, with these values)?

    ``current_usage`` and ``requested_usage`` matter for METERED features only,
    ``requested_values`` for CONFIGURATION features only: allowed iff every requested value is one
    of the effective enum values.
    """
    reason = _deny_reason(effective, current_usage, requested_usage, requested_values)
    return EntitlementCheck(
        feature_id=effective.feature_id,
        has_access=reason is None,
        deny_reason=reason,
        feature_type=effective.feature_type,
        usage_limit=effective.usage_limit,
        is_unlimited=effective.is_unlimited,
        is_soft_limit=effective.is_soft_limit,
        current_usage=current_usage,
        requested_usage=requested_usage,
        remaining=_remaining(effective, current_usage),
        value=effective.value,
        enum_values=effective.enum_values,
        reset_period=effective.reset_period,
        reset_anchor=effective.reset_anchor,
        sources=effective.sources,
    )


def denied(feature_id: str, reason: DenyReason) -> EntitlementCheck:
    """A denial decided before any entitlement is looked at: customer or feature not found,
    customer archived, no active subscription."""
    return EntitlementCheck(feature_id=feature_id, has_access=False, deny_reason=reason)
