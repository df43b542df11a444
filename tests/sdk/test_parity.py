"""Parity: the SDK's local check answers as the server does, on every field of `Entitlement`.

Random effective entitlements, usage and requests. The server's answer is
`check_entitlement` seen through `entitlement_view` and serialised by strawberry with the API's
own types and scalars; the SDK's answer comes from the server's *no-request* answer (what
`entitlementsState` carries), projected onto the fields the SDK selects, optionally after a
`usageChanged` event moved the usage. The fields compared are read from the API schema by
introspection, so a field added to `Entitlement` joins the comparison by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import strawberry
from allot_sdk._engine import Engine
from allot_sdk._rules import CACHED, ENTITLEMENT_FIELDS, SOURCE_FIELDS
from allot_sdk._state import CustomerState
from graphql import GraphQLSchema, get_named_type, is_object_type
from graphql.utilities import introspection_from_schema
from hypothesis import example, given, settings
from hypothesis import strategies as st
from strawberry.schema.config import StrawberryConfig

from app.domain.checks.answers import CheckResult
from app.domain.entitlement_sources import (
    AddonBehavior,
    DenyReason,
    EffectiveEntitlement,
    FeatureType,
    Source,
    SourceKind,
)
from app.domain.entitlements import check_entitlement, denied
from app.domain.periods import Period, ResetAnchor, ResetPeriod
from app.resolvers.root import build_schema
from app.schema.entitlement_types import Entitlement, entitlement_view
from app.schema.input_boundary import DATETIME

# Fields of Entitlement whose value no check rule decides: `feature` is the catalog's Feature
# object, looked up by id; the SDK does not carry it.
NOT_DECIDED_BY_THE_RULE = {"feature"}


def _api_schema() -> GraphQLSchema:
    return build_schema()._schema


def _fields_by_introspection() -> dict[str, list[str]]:
    """{type name: its field names} for Entitlement and the object types under it."""
    introspected: Any = introspection_from_schema(_api_schema())
    types: dict[str, Any] = {t["name"]: t for t in introspected["__schema"]["types"]}
    out: dict[str, list[str]] = {}

    def walk(name: str) -> None:
        if name in out:
            return
        out[name] = [f["name"] for f in types[name]["fields"]]
        for f in types[name]["fields"]:
            if f["name"] in NOT_DECIDED_BY_THE_RULE and name == "Entitlement":
                continue
            kind = f["type"]
            while kind["ofType"] is not None:
                kind = kind["ofType"]
            if kind["kind"] == "OBJECT":
                walk(kind["name"])

    walk("Entitlement")
    return out


FIELDS = _fields_by_introspection()
COMPARED = [f for f in FIELDS["Entitlement"] if f not in NOT_DECIDED_BY_THE_RULE]


def _selection() -> str:
    graphql_type = _api_schema().type_map["Entitlement"]
    assert is_object_type(graphql_type)
    parts = []
    for name in COMPARED:
        inner = get_named_type(graphql_type.fields[name].type)
        if is_object_type(inner):
            parts.append(f"{name} {{ {' '.join(FIELDS[inner.name])} }}")
        else:
            parts.append(name)
    return " ".join(parts)


class _Holder:
    answer: Entitlement | None = None


@strawberry.type
class _Query:
    @strawberry.field
    def answer(self) -> Entitlement:
        assert _Holder.answer is not None
        return _Holder.answer


VIEW_SCHEMA = strawberry.Schema(
    query=_Query,
    config=StrawberryConfig(auto_camel_case=True),
    scalar_overrides={datetime: DATETIME},
)
QUERY = "{ answer { " + _selection() + " } }"


def server_json(result: CheckResult) -> dict[str, Any]:
    """The server's answer as a client receives it: the view, serialised by strawberry."""
    _Holder.answer = entitlement_view(result)
    executed = VIEW_SCHEMA.execute_sync(QUERY)
    assert executed.errors is None, executed.errors
    assert executed.data is not None
    return executed.data["answer"]  # type: ignore[no-any-return]


def sdk_entry(no_request: dict[str, Any], feature_type: FeatureType) -> dict[str, Any]:
    """What `entitlementsState` carries for the feature: the no-request answer, with exactly
    the fields the SDK selects."""
    entry = {name: no_request.get(name) for name in ENTITLEMENT_FIELDS}
    # Entitlement.featureType is part of the push contract (issue 12, item 2); until that
    # branch lands the API does not serve it, and the state carries the feature's type.
    entry.setdefault("featureType", None)
    if "featureType" not in no_request:
        entry["featureType"] = feature_type.value
    entry["sources"] = [
        {name: source[name] for name in SOURCE_FIELDS} for source in no_request["sources"]
    ]
    return entry


# --- strategies ------------------------------------------------------------------------------

ENUMS = ["a", "b", "c", "d"]
numbers = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
small = st.integers(min_value=0, max_value=12).map(float)
amounts = st.one_of(small, numbers)
optional_text = st.none() | st.sampled_from(["s1", "s2", "p", "x"])


@st.composite
def sources(draw: st.DrawFn) -> Source:
    return Source(
        kind=draw(st.sampled_from(list(SourceKind))),
        subscription_id=draw(optional_text),
        plan_id=draw(optional_text),
        addon_id=draw(optional_text),
        addon_behavior=draw(st.none() | st.sampled_from(list(AddonBehavior))),
        quantity=draw(st.none() | st.integers(1, 5)),
        is_trial=draw(st.booleans()),
        usage_limit=draw(st.none() | amounts),
        is_unlimited=draw(st.booleans()),
        is_soft_limit=draw(st.booleans()),
        value=draw(st.none() | amounts),
        enum_values=draw(st.none() | st.lists(st.sampled_from(ENUMS), max_size=3).map(tuple)),
        is_effective=draw(st.booleans()),
    )


@st.composite
def effective_entitlements(draw: st.DrawFn) -> EffectiveEntitlement:
    unlimited = draw(st.booleans())
    return EffectiveEntitlement(
        feature_id=draw(st.sampled_from(["seats", "sso", "tier", "f.x"])),
        feature_type=draw(st.sampled_from(list(FeatureType))),
        granted=draw(st.booleans()),
        has_active_subscription=draw(st.booleans()),
        usage_limit=None if unlimited and draw(st.booleans()) else draw(st.none() | amounts),
        is_unlimited=unlimited,
        is_soft_limit=draw(st.booleans()),
        value=draw(st.none() | amounts),
        enum_values=draw(
            st.none() | st.sets(st.sampled_from(ENUMS)).map(lambda s: tuple(sorted(s)))
        ),
        reset_period=draw(st.none() | st.sampled_from([p.value for p in ResetPeriod])),
        reset_anchor=draw(st.none() | st.sampled_from([a.value for a in ResetAnchor])),
        sources=tuple(draw(st.lists(sources(), max_size=3))),
    )


periods = st.none() | st.builds(
    lambda start, hours: Period(start, start + timedelta(hours=hours)),
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    st.integers(1, 24 * 400),
)
requested_usages = (
    st.none()
    | st.none()
    | st.floats(-100, 1e6, allow_nan=False)
    | small
    | st.integers(-5, 0).map(float)
)
requested_values = st.none() | st.lists(st.sampled_from([*ENUMS, "z"]), max_size=3)


def sdk_answer(
    state: dict[str, Any],
    feature_id: str,
    usage: float | None,
    requested: float | None,
    values: Sequence[str] | None,
) -> dict[str, Any]:
    cached = CustomerState(state, fetched_at=0.0, epoch=0)
    if usage is not None:
        moved = cached.with_usage({"featureId": feature_id, "currentUsage": usage, "version": "1"})
        cached = moved if moved is not None else cached
    return Engine._answer(cached, feature_id, requested, values, CACHED).to_dict()


def assert_same(server: dict[str, Any], sdk: dict[str, Any]) -> None:
    for name in COMPARED:
        assert name in sdk, f"the SDK's answer has no {name}"
        assert sdk[name] == server[name], (name, sdk[name], server[name])


def state_of(
    entries: list[dict[str, Any]], has_active: bool = True, deny: str | None = None
) -> dict[str, Any]:
    return {
        "customerId": "acme",
        "resourceId": None,
        "version": "7",
        "denyReason": deny,
        "hasActiveSubscription": has_active,
        "entitlements": entries,
        "validUntil": None,
        "computedAt": "2026-12-07T00:00:00+00:00",
    }


# --- the properties --------------------------------------------------------------------------


def test_the_compared_fields_come_from_the_schema() -> None:
    assert {"hasAccess", "denyReason", "remaining", "sources"} <= set(COMPARED)
    assert set(FIELDS["Entitlement"]) - set(COMPARED) == NOT_DECIDED_BY_THE_RULE


HARD_SEATS = EffectiveEntitlement(
    feature_id="seats",
    feature_type=FeatureType.METERED,
    granted=True,
    has_active_subscription=True,
    usage_limit=3.0,
)


@settings(max_examples=500, deadline=None)
@example(
    effective=HARD_SEATS,
    period=None,
    usage_then=3.0,
    usage_now=None,
    requested=None,
    values=None,
    near_limit=False,
)
@example(
    effective=HARD_SEATS,
    period=None,
    usage_then=1.0,
    usage_now=2.0,
    requested=1.0,
    values=None,
    near_limit=False,
)
@example(
    effective=HARD_SEATS,
    period=None,
    usage_then=1.0,
    usage_now=3.0,
    requested=0.0,
    values=None,
    near_limit=False,
)
@example(
    effective=HARD_SEATS,
    period=None,
    usage_then=5.0,
    usage_now=None,
    requested=-3.0,
    values=None,
    near_limit=False,
)
@given(
    effective=effective_entitlements(),
    period=periods,
    usage_then=amounts,
    usage_now=st.none() | amounts,
    requested=requested_usages,
    values=requested_values,
    near_limit=st.booleans(),
)
def test_sdk_answers_as_the_server(
    effective: EffectiveEntitlement,
    period: Period | None,
    usage_then: float,
    usage_now: float | None,
    requested: float | None,
    values: list[str] | None,
    near_limit: bool,
) -> None:
    if near_limit and effective.usage_limit is not None:  # the boundary: current == limit
        usage_then = effective.usage_limit
        usage_now = None if usage_now is None else effective.usage_limit
    current = usage_then if usage_now is None else usage_now
    # The state: the server's no-request answer at the usage of the last fetch.
    no_request = server_json(
        CheckResult(check_entitlement(effective, current_usage=usage_then), period)
    )
    state = state_of(
        [sdk_entry(no_request, effective.feature_type)], effective.has_active_subscription
    )
    # The request, at the usage now (after a usageChanged event, when one came).
    # (Usage events move only metered features: the others ignore them, as their answers
    # never show usage.)
    metered = effective.feature_type is FeatureType.METERED
    check = check_entitlement(
        effective,
        current_usage=current if metered else usage_then,
        requested_usage=requested,
        requested_values=values,
    )
    server = server_json(CheckResult(check, period))
    assert_same(server, sdk_answer(state, effective.feature_id, usage_now, requested, values))


@settings(max_examples=60, deadline=None)
@given(
    feature=st.sampled_from(["seats", "sso", "nope"]),
    requested=requested_usages,
    values=requested_values,
    reason=st.sampled_from([DenyReason.CUSTOMER_NOT_FOUND, DenyReason.CUSTOMER_ARCHIVED]),
)
def test_customer_denials_answer_as_the_server(
    feature: str, requested: float | None, values: list[str] | None, reason: DenyReason
) -> None:
    server = server_json(CheckResult(denied(feature, reason), None))
    state = state_of([], has_active=False, deny=reason.value)
    assert_same(server, sdk_answer(state, feature, None, requested, values))


@settings(max_examples=60, deadline=None)
@given(effective=effective_entitlements(), requested=requested_usages, values=requested_values)
def test_unknown_feature_answers_as_the_server(
    effective: EffectiveEntitlement, requested: float | None, values: list[str] | None
) -> None:
    no_request = server_json(CheckResult(check_entitlement(effective), None))
    state = state_of([sdk_entry(no_request, effective.feature_type)])
    server = server_json(CheckResult(denied("missing", DenyReason.FEATURE_NOT_FOUND), None))
    assert_same(server, sdk_answer(state, "missing", None, requested, values))
