"""The entitlement engine: merge rules, checks, and the properties the product relies on."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
)
from app.domain.entitlements import check_entitlement, denied, effective_entitlement

BOOLEAN = FeatureType.BOOLEAN
CONFIGURATION = FeatureType.CONFIGURATION
METERED = FeatureType.METERED
INCREMENT, OVERRIDE = AddonBehavior.INCREMENT, AddonBehavior.OVERRIDE
GRANTED = EntitlementConfig()  # a boolean grant


# --- Builders ---------------------------------------------------------------------------------


def limit(
    amount: float | None = None,
    *,
    unlimited: bool = False,
    soft: bool = False,
    period: str | None = "MONTH",
    anchor: str | None = "SUBSCRIPTION_START",
) -> EntitlementConfig:
    return EntitlementConfig(
        limit=amount,
        unlimited=unlimited,
        soft_limit=soft,
        reset_period=period,
        reset_anchor=anchor,
    )


def number(value: float) -> EntitlementConfig:
    return EntitlementConfig(value=value)


def options(*values: str) -> EntitlementConfig:
    return EntitlementConfig(enum_values=values)


def addon(
    addon_id: str,
    config: EntitlementConfig,
    quantity: int = 1,
    behavior: AddonBehavior = INCREMENT,
) -> AddonGrant:
    return AddonGrant(addon_id=addon_id, config=config, quantity=quantity, behavior=behavior)


def subscription(
    config: EntitlementConfig | None = None,
    *,
    sub_id: str = "sub-1",
    plan_id: str = "pro",
    ancestors: Sequence[tuple[str, EntitlementConfig | None]] = (),
    value: EntitlementConfig | None = None,
    addons: Sequence[AddonGrant] = (),
    trial: bool = False,
) -> SubscriptionGrants:
    plans = (PlanGrant(plan_id, config), *(PlanGrant(p, c, is_base=True) for p, c in ancestors))
    return SubscriptionGrants(
        subscription_id=sub_id,
        plan_id=plan_id,
        plans=plans,
        is_trial=trial,
        subscription_value=value,
        addons=tuple(addons),
    )


def promotion(config: EntitlementConfig, promo_id: str = "promo-1") -> PromotionGrant:
    return PromotionGrant(config=config, promotion_id=promo_id)


def merge(
    feature_type: FeatureType,
    subscriptions: Sequence[SubscriptionGrants] = (),
    promotions: Sequence[PromotionGrant] = (),
) -> EffectiveEntitlement:
    return effective_entitlement("feature-1", feature_type, subscriptions, promotions)


def who(source: Source) -> str:
    """A short name for a source: its plan, add-on or promotion id, or the kind."""
    if source.kind is SourceKind.ADDON:
        return f"addon:{source.addon_id}"
    if source.kind is SourceKind.PROMOTIONAL:
        return f"promo:{source.promotion_id}"
    if source.kind is SourceKind.SUBSCRIPTION_VALUE:
        return f"value:{source.subscription_id}"
    return f"{source.kind.value.lower()}:{source.plan_id}"


def effective(result: EffectiveEntitlement) -> set[str]:
    return {who(source) for source in result.sources if source.is_effective}


def listed(result: EffectiveEntitlement) -> set[str]:
    return {who(source) for source in result.sources}


# --- Merging: plans and ancestors -------------------------------------------------------------


def test_plan_only() -> None:
    result = merge(METERED, [subscription(limit(100))])
    assert result.granted and result.has_active_subscription
    assert (result.usage_limit, result.is_unlimited, result.is_soft_limit) == (100, False, False)
    assert (result.reset_period, result.reset_anchor) == ("MONTH", "SUBSCRIPTION_START")
    [source] = result.sources
    assert source == Source(
        kind=SourceKind.PLAN,
        subscription_id="sub-1",
        plan_id="pro",
        usage_limit=100,
        reset_period="MONTH",
        reset_anchor="SUBSCRIPTION_START",
        is_effective=True,
    )


@pytest.mark.parametrize(
    ("enterprise", "pro", "free", "expected", "winner"),
    [
        (limit(1000), limit(100), limit(10), 1000, "plan:enterprise"),
        (None, limit(100), limit(10), 100, "base_plan:pro"),
        (None, None, limit(10), 10, "base_plan:free"),
        (limit(5), limit(100), limit(10), 100, "base_plan:pro"),  # an ancestor can be larger
    ],
)
def test_plan_and_ancestors_most_generous_wins(
    enterprise: EntitlementConfig | None,
    pro: EntitlementConfig | None,
    free: EntitlementConfig | None,
    expected: float,
    winner: str,
) -> None:
    sub = subscription(enterprise, plan_id="enterprise", ancestors=[("pro", pro), ("free", free)])
    result = merge(METERED, [sub])
    assert result.usage_limit == expected
    assert effective(result) == {winner}


def test_plans_without_a_grant_are_not_sources() -> None:
    sub = subscription(None, plan_id="enterprise", ancestors=[("pro", None), ("free", GRANTED)])
    result = merge(BOOLEAN, [sub])
    assert result.granted
    assert listed(result) == effective(result) == {"base_plan:free"}


# --- Merging: per-subscription value and add-ons ----------------------------------------------


def test_subscription_value_replaces_the_plan_value_even_when_lower() -> None:
    sub = subscription(limit(100), ancestors=[("free", limit(200))], value=limit(40))
    result = merge(METERED, [sub])
    assert result.usage_limit == 40
    assert effective(result) == {"value:sub-1"}
    assert listed(result) == {"plan:pro", "base_plan:free", "value:sub-1"}


def test_increment_addon_adds_limit_times_quantity() -> None:
    sub = subscription(limit(10), addons=[addon("seats", limit(5), quantity=3)])
    result = merge(METERED, [sub])
    assert result.usage_limit == 25
    assert effective(result) == {"plan:pro", "addon:seats"}
    [seats] = [source for source in result.sources if source.kind is SourceKind.ADDON]
    assert (seats.usage_limit, seats.quantity, seats.addon_behavior) == (15, 3, INCREMENT)
    assert seats.plan_id == "pro" and seats.subscription_id == "sub-1"


def test_largest_override_replaces_then_increments_add() -> None:
    sub = subscription(
        limit(10),
        addons=[
            addon("big", limit(50), behavior=OVERRIDE, quantity=4),  # quantity ignored
            addon("small", limit(30), behavior=OVERRIDE),
            addon("extra", limit(5), quantity=2),
        ],
    )
    result = merge(METERED, [sub])
    assert result.usage_limit == 60
    assert effective(result) == {"addon:big", "addon:extra"}


def test_subscription_value_then_addons() -> None:
    sub = subscription(limit(100), value=limit(40), addons=[addon("extra", limit(10))])
    assert merge(METERED, [sub]).usage_limit == 50


@pytest.mark.parametrize(
    ("feature_type", "config", "check"),
    [
        (METERED, limit(5), lambda r: r.usage_limit == 10),
        (CONFIGURATION, number(3), lambda r: r.value == 6),
        (BOOLEAN, GRANTED, lambda r: r.granted),
    ],
)
def test_increment_with_nothing_underneath_is_the_increment_alone(
    feature_type: FeatureType,
    config: EntitlementConfig,
    check: Callable[[EffectiveEntitlement], bool],
) -> None:
    result = merge(feature_type, [subscription(None, addons=[addon("a", config, quantity=2)])])
    assert result.granted and check(result)
    assert effective(result) == {"addon:a"}


def test_increments_without_a_base_take_the_reset_period_of_the_best_increment() -> None:
    addons = [addon("a", limit(5, period="DAY")), addon("b", limit(8, period="YEAR"))]
    result = merge(METERED, [subscription(None, addons=addons)])
    assert (result.usage_limit, result.reset_period) == (13, "YEAR")


def test_override_replaces_even_when_lower() -> None:
    sub = subscription(limit(100), addons=[addon("trimmed", limit(20), behavior=OVERRIDE)])
    assert merge(METERED, [sub]).usage_limit == 20


def test_a_soft_increment_makes_the_subscription_limit_soft() -> None:
    sub = subscription(limit(10), addons=[addon("burst", limit(5, soft=True))])
    result = merge(METERED, [sub])
    assert (result.usage_limit, result.is_soft_limit) == (15, True)


@pytest.mark.parametrize(
    ("plan", "extra"),
    [(limit(unlimited=True), limit(10)), (limit(10), limit(unlimited=True))],
    ids=["unlimited plan", "unlimited add-on"],
)
def test_unlimited_anywhere_in_the_chain_stays_unlimited(
    plan: EntitlementConfig, extra: EntitlementConfig
) -> None:
    result = merge(METERED, [subscription(plan, addons=[addon("extra", extra)])])
    assert result.is_unlimited and result.usage_limit is None and not result.is_soft_limit


def test_configuration_increments_add_numbers_and_union_enum_values() -> None:
    plan = EntitlementConfig(value=2, enum_values=("eu",))
    extra = EntitlementConfig(value=1, enum_values=("us",))
    result = merge(CONFIGURATION, [subscription(plan, addons=[addon("x", extra, quantity=3)])])
    assert (result.value, result.enum_values) == (5, ("eu", "us"))


# --- Merging: across subscriptions and promotions ---------------------------------------------


def test_trial_subscription_is_a_source() -> None:
    result = merge(METERED, [subscription(limit(100), trial=True)])
    assert result.usage_limit == 100
    assert [source.is_trial for source in result.sources] == [True]


def test_promotion_alone() -> None:
    result = merge(METERED, promotions=[promotion(limit(500))])
    assert result.granted and not result.has_active_subscription
    assert result.usage_limit == 500
    [source] = result.sources
    assert (source.kind, source.promotion_id, source.is_effective) == (
        SourceKind.PROMOTIONAL,
        "promo-1",
        True,
    )


def test_promotion_more_generous_than_the_plan_wins() -> None:
    result = merge(METERED, [subscription(limit(100))], [promotion(limit(500))])
    assert result.usage_limit == 500
    assert effective(result) == {"promo:promo-1"}


def test_several_subscriptions_most_generous_wins() -> None:
    analytics = subscription(limit(100), sub_id="sub-a", plan_id="analytics")
    storage = subscription(limit(300), sub_id="sub-b", plan_id="storage")
    result = merge(METERED, [analytics, storage])
    assert result.usage_limit == 300
    assert effective(result) == {"plan:storage"}
    assert [source.subscription_id for source in result.sources] == ["sub-a", "sub-b"]


def test_unlimited_beats_any_limit() -> None:
    result = merge(METERED, [subscription(limit(1e12))], [promotion(limit(unlimited=True))])
    assert result.is_unlimited and result.usage_limit is None
    assert effective(result) == {"promo:promo-1"}
    check = check_entitlement(result, current_usage=1e15, requested_usage=1e15)
    assert check.has_access and check.remaining is None


def test_soft_winner_gives_softness_and_reset_period() -> None:
    hard = subscription(limit(100, period="DAY"))
    soft = promotion(limit(150, soft=True, period="YEAR"))
    result = merge(METERED, [hard], [soft])
    assert (result.usage_limit, result.is_soft_limit, result.reset_period) == (150, True, "YEAR")
    assert effective(result) == {"promo:promo-1"}


def test_hard_winner_with_a_smaller_soft_source_is_soft() -> None:
    # Documented decision: any soft source makes the limit soft; a soft limit never denies, so
    # adding the bigger hard limit must not take away the overage the soft one allowed.
    hard = subscription(limit(150, period="DAY"))
    soft = promotion(limit(100, soft=True, period="YEAR"))
    result = merge(METERED, [hard], [soft])
    assert (result.usage_limit, result.is_soft_limit, result.reset_period) == (150, True, "DAY")
    assert effective(result) == {"plan:pro", "promo:promo-1"}


def test_equal_limits_prefer_the_soft_source() -> None:
    hard = subscription(limit(100, period="DAY"))
    soft = promotion(limit(100, soft=True, period="YEAR"))
    result = merge(METERED, [hard], [soft])
    assert (result.is_soft_limit, result.reset_period) == (True, "YEAR")
    assert effective(result) == {"promo:promo-1"}


def test_equal_limits_reset_period_tie_break_is_stable() -> None:
    day = promotion(limit(100, period="DAY"), "p-day")
    never = promotion(limit(100, period=None, anchor=None), "p-never")
    month = promotion(limit(100, period="MONTH"), "p-month")
    for promotions in ([day, never, month], [month, never, day], [never, month, day]):
        result = merge(METERED, promotions=promotions)
        assert result.reset_period == "DAY"  # resetting before never; then by name
        assert effective(result) == {"promo:p-day"}


def test_identical_winners_are_all_effective() -> None:
    result = merge(METERED, promotions=[promotion(limit(100), "p1"), promotion(limit(100), "p2")])
    assert effective(result) == {"promo:p1", "promo:p2"}


def test_missing_limit_counts_as_zero() -> None:
    result = merge(METERED, [subscription(limit(None))])
    assert result.granted and result.usage_limit == 0
    assert not check_entitlement(result).has_access


def test_configuration_largest_number_wins() -> None:
    result = merge(CONFIGURATION, [subscription(number(5))], [promotion(number(10))])
    assert result.value == 10 and result.enum_values is None
    assert effective(result) == {"promo:promo-1"}


def test_enum_values_are_the_union_of_every_source() -> None:
    result = merge(
        CONFIGURATION,
        [subscription(options("gpt-small", "gpt-medium"), ancestors=[("free", options("tiny"))])],
        [promotion(options("gpt-large", "gpt-small"))],
    )
    assert result.enum_values == ("gpt-large", "gpt-medium", "gpt-small", "tiny")
    assert effective(result) == {"plan:pro", "base_plan:free", "promo:promo-1"}


def test_boolean_granted_if_any_source_grants_it() -> None:
    without = subscription(None, sub_id="sub-a", plan_id="basic")
    granting = subscription(GRANTED, sub_id="sub-b", plan_id="pro")
    result = merge(BOOLEAN, [without, granting], [promotion(GRANTED)])
    assert result.granted
    assert effective(result) == {"plan:pro", "promo:promo-1"}  # every granting source


def test_merged_fields_belong_to_the_feature_type() -> None:
    noisy = EntitlementConfig(limit=5, value=7, enum_values=("a",), reset_period="DAY")
    boolean = merge(BOOLEAN, [subscription(noisy)])
    assert (boolean.usage_limit, boolean.value, boolean.reset_period) == (None, None, None)
    metered = merge(METERED, [subscription(noisy)])
    assert (metered.usage_limit, metered.value, metered.enum_values) == (5, None, None)
    configuration = merge(CONFIGURATION, [subscription(noisy)])
    assert (configuration.usage_limit, configuration.value, configuration.reset_period) == (
        None,
        7,
        None,
    )


def test_sources_are_listed_subscription_by_subscription_in_rule_order() -> None:
    sub = subscription(
        limit(1),
        sub_id="sub-b",
        ancestors=[("free", limit(1))],
        value=limit(2),
        addons=[addon("x", limit(1))],
    )
    result = merge(METERED, [sub, subscription(limit(1), sub_id="sub-a")], [promotion(limit(1))])
    assert [(s.subscription_id, s.kind) for s in result.sources] == [
        ("sub-a", SourceKind.PLAN),
        ("sub-b", SourceKind.PLAN),
        ("sub-b", SourceKind.BASE_PLAN),
        ("sub-b", SourceKind.SUBSCRIPTION_VALUE),
        ("sub-b", SourceKind.ADDON),
        (None, SourceKind.PROMOTIONAL),
    ]


def test_invalid_grants_are_rejected() -> None:
    with pytest.raises(ValueError, match="limit"):
        EntitlementConfig(limit=-1)
    with pytest.raises(ValueError, match="finite"):
        EntitlementConfig(value=float("nan"))
    with pytest.raises(ValueError, match="quantity"):
        addon("x", limit(1), quantity=0)


# --- Checking ---------------------------------------------------------------------------------


def test_no_active_subscription() -> None:
    check = check_entitlement(merge(METERED))
    assert (check.has_access, check.deny_reason) == (False, DenyReason.NO_ACTIVE_SUBSCRIPTION)


def test_not_entitled() -> None:
    check = check_entitlement(merge(METERED, [subscription(None)]))
    assert (check.has_access, check.deny_reason) == (False, DenyReason.NOT_ENTITLED)
    assert check.usage_limit is None and check.remaining is None


@pytest.mark.parametrize(
    "reason",
    [DenyReason.CUSTOMER_NOT_FOUND, DenyReason.FEATURE_NOT_FOUND, DenyReason.CUSTOMER_ARCHIVED],
)
def test_denied_before_looking_at_entitlements(reason: DenyReason) -> None:
    assert denied("feature-1", reason) == EntitlementCheck(
        feature_id="feature-1", has_access=False, deny_reason=reason
    )


def test_boolean_check() -> None:
    check = check_entitlement(merge(BOOLEAN, [subscription(GRANTED)]))
    assert (check.has_access, check.deny_reason, check.remaining) == (True, None, None)


@pytest.mark.parametrize(
    ("current", "requested", "allowed"),
    [
        (7, 3, True),  # current + n == limit
        (7, 4, False),  # one more
        (10, 0, True),  # at the limit, asking for nothing more
        (10, -5, True),  # a negative request counts as 0
        (9, None, True),  # no request: is there room for some more?
        (10, None, False),
        (0, 11, False),
    ],
)
def test_hard_limit_boundary(current: float, requested: float | None, allowed: bool) -> None:
    check = check_entitlement(
        merge(METERED, [subscription(limit(10))]),
        current_usage=current,
        requested_usage=requested,
    )
    assert check.has_access is allowed
    assert check.deny_reason is (None if allowed else DenyReason.USAGE_LIMIT_EXCEEDED)
    assert (check.current_usage, check.requested_usage) == (current, requested)


def test_check_carries_the_answer() -> None:
    result = merge(METERED, [subscription(limit(10))])
    check = check_entitlement(result, current_usage=7, requested_usage=1)
    assert check.has_access
    assert (check.usage_limit, check.remaining, check.is_soft_limit) == (10, 3, False)
    assert (check.reset_period, check.reset_anchor) == ("MONTH", "SUBSCRIPTION_START")
    assert check.sources == result.sources and check.feature_type is METERED


def test_soft_limit_allows_overage_and_remaining_floors_at_zero() -> None:
    result = merge(METERED, [subscription(limit(10, soft=True))])
    check = check_entitlement(result, current_usage=50, requested_usage=5)
    assert check.has_access and check.is_soft_limit
    assert check.remaining == 0


def test_remaining_floors_at_zero_for_hard_limits() -> None:
    check = check_entitlement(merge(METERED, [subscription(limit(10))]), current_usage=15)
    assert (check.has_access, check.remaining) == (False, 0)


@pytest.mark.parametrize(
    ("requested", "allowed"),
    [(None, True), ([], True), (["eu"], True), (["eu", "us"], True), (["eu", "asia"], False)],
)
def test_requested_values(requested: list[str] | None, allowed: bool) -> None:
    result = merge(CONFIGURATION, [subscription(options("eu"))], [promotion(options("us"))])
    check = check_entitlement(result, requested_values=requested)
    assert check.has_access is allowed
    assert check.deny_reason is (None if allowed else DenyReason.VALUE_NOT_ALLOWED)
    assert check.enum_values == ("eu", "us")


def test_requested_values_with_no_enum_values_are_not_allowed() -> None:
    check = check_entitlement(
        merge(CONFIGURATION, [subscription(number(3))]), requested_values=["x"]
    )
    assert (check.deny_reason, check.value) == (DenyReason.VALUE_NOT_ALLOWED, 3)


# --- Properties -------------------------------------------------------------------------------

# Few distinct amounts, so that ties, equal sources and usage right at a limit are common.
amounts = st.sampled_from([0.0, 1.0, 5.0, 10.0, 100.0]) | st.floats(0, 1000, allow_nan=False)
configs = st.builds(
    EntitlementConfig,
    limit=st.none() | amounts,
    unlimited=st.integers(0, 9).map(lambda n: n == 0),  # rare: it hides every other rule
    soft_limit=st.booleans(),
    value=st.none() | amounts,
    enum_values=st.none() | st.lists(st.sampled_from("abcde"), max_size=3).map(tuple),
    reset_period=st.sampled_from([None, "DAY", "MONTH", "YEAR"]),
    reset_anchor=st.sampled_from([None, "CALENDAR", "SUBSCRIPTION_START"]),
)
ids = st.sampled_from(["a", "b", "c"])
addon_grants = st.builds(
    AddonGrant,
    addon_id=ids,
    config=configs,
    quantity=st.integers(1, 4),
    behavior=st.sampled_from(AddonBehavior),
)
increments = addon_grants.map(lambda grant: replace(grant, behavior=INCREMENT))
ancestor_grants = st.builds(PlanGrant, ids, st.none() | configs, is_base=st.just(True))


@st.composite
def subscription_grants(draw: st.DrawFn) -> SubscriptionGrants:
    own = draw(st.builds(PlanGrant, plan_id=ids, config=st.none() | configs))
    return SubscriptionGrants(
        subscription_id=draw(ids),
        plan_id=own.plan_id,
        plans=(own, *draw(st.lists(ancestor_grants, max_size=2))),
        is_trial=draw(st.booleans()),
        subscription_value=draw(st.none() | configs),
        addons=tuple(draw(st.lists(addon_grants, max_size=2))),
    )


promotion_grants = st.builds(PromotionGrant, config=configs, promotion_id=st.none() | ids)
worlds = st.tuples(
    st.sampled_from(FeatureType),
    st.lists(subscription_grants(), max_size=2),
    st.lists(promotion_grants, max_size=2),
)
usages = st.sampled_from([0.0, 1.0, 5.0, 10.0, 11.0, 100.0, 1e4]) | st.floats(0, 2000)
requested_usages = st.none() | st.sampled_from([-1.0, 0.0, 1.0, 5.0, 100.0]) | st.floats(0, 500)
requested_values = st.none() | st.lists(st.sampled_from("abcde"), max_size=3)
World = tuple[FeatureType, list[SubscriptionGrants], list[PromotionGrant]]


def shuffled(world: World, rng: random.Random) -> World:
    feature_type, subscriptions, promotions = world
    subscriptions = [
        replace(
            sub,
            plans=tuple(rng.sample(sub.plans, len(sub.plans))),
            addons=tuple(rng.sample(sub.addons, len(sub.addons))),
        )
        for sub in subscriptions
    ]
    return (
        feature_type,
        rng.sample(subscriptions, len(subscriptions)),
        rng.sample(promotions, len(promotions)),
    )


@settings(deadline=None)
@given(worlds, st.randoms(use_true_random=False))
def test_the_order_of_sources_never_matters(world: World, rng: random.Random) -> None:
    before = merge(*world)
    after = merge(*shuffled(world, rng))
    assert after == before
    assert after.to_dict() == before.to_dict()


@st.composite
def one_more_source(draw: st.DrawFn, world: World) -> World:
    """The same world with one more subscription, promotion, ancestor plan or increment add-on."""
    feature_type, subscriptions, promotions = world
    choices = ["subscription", "promotion"] + (["ancestor", "increment"] if subscriptions else [])
    choice = draw(st.sampled_from(choices))
    if choice == "subscription":
        return feature_type, [*subscriptions, draw(subscription_grants())], promotions
    if choice == "promotion":
        return feature_type, subscriptions, [*promotions, draw(promotion_grants)]
    index = draw(st.integers(0, len(subscriptions) - 1))
    sub = subscriptions[index]
    if choice == "ancestor":
        sub = replace(sub, plans=(*sub.plans, draw(ancestor_grants)))
    else:
        sub = replace(sub, addons=(*sub.addons, draw(increments)))
    return feature_type, [*subscriptions[:index], sub, *subscriptions[index + 1 :]], promotions


@settings(deadline=None, max_examples=200)
@given(st.data(), worlds, usages, requested_usages, requested_values)
def test_adding_a_source_never_reduces_access(
    data: st.DataObject,
    world: World,
    current: float,
    requested: float | None,
    values: list[str] | None,
) -> None:
    before = merge(*world)
    after = merge(*data.draw(one_more_source(world)))

    def check(result: EffectiveEntitlement) -> EntitlementCheck:
        return check_entitlement(
            result, current_usage=current, requested_usage=requested, requested_values=values
        )

    if check(before).has_access:
        assert check(after).has_access
    if not before.granted:
        return
    assert after.granted
    if before.is_unlimited:
        assert after.is_unlimited
    if before.usage_limit is not None and not after.is_unlimited:
        assert after.usage_limit is not None and after.usage_limit >= before.usage_limit
    if before.is_soft_limit:
        assert after.is_soft_limit or after.is_unlimited
    if before.value is not None:
        assert after.value is not None and after.value >= before.value
    assert set(before.enum_values or ()) <= set(after.enum_values or ())


@settings(deadline=None, max_examples=50)
@given(worlds, usages, requested_usages, requested_values)
def test_check_invariants(
    world: World, current: float, requested: float | None, values: list[str] | None
) -> None:
    result = merge(*world)
    check = check_entitlement(
        result, current_usage=current, requested_usage=requested, requested_values=values
    )
    assert check.has_access is (check.deny_reason is None)
    assert result.granted is any(source.is_effective for source in result.sources)
    if check.remaining is not None:
        assert check.remaining >= 0 and check.usage_limit is not None
    if result.granted and result.feature_type is METERED and not result.is_unlimited:
        assert check.remaining is not None


@settings(deadline=None, max_examples=50)
@given(worlds)
def test_dict_round_trip(world: World) -> None:
    result = merge(*world)
    plain = json.loads(json.dumps(result.to_dict()))
    assert EffectiveEntitlement.from_dict(plain) == result
    assert EffectiveEntitlement.from_dict(plain).to_dict() == result.to_dict()
