"""`entitlementsState` answers, feature by feature, exactly what `entitlement` answers (no
requested usage or values): the Entitlement fields compared are read from the schema by
introspection, so a field added later is compared too."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.clock import FrozenClock
from tests.graphql.entitlements.catalog import CATALOG, apply_catalog, new_customer, provision
from tests.graphql.entitlements.conftest import grant
from tests.graphql.usage.helpers import report
from tests.support import GraphQLClient

FEATURES = [f["id"] for f in CATALOG["features"]]

TYPE = """query($name: String!) { __type(name: $name) { fields { name
  type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }"""


def _named(type_: dict[str, Any]) -> dict[str, Any]:
    while type_.get("ofType"):
        type_ = type_["ofType"]
    return type_


async def selection(gql: GraphQLClient, type_name: str, depth: int = 0) -> str:
    """Every field of a type, object fields expanded (two levels)."""
    data = await gql.execute(TYPE, {"name": type_name})
    parts = []
    for field in data["__type"]["fields"]:
        named = _named(field["type"])
        if named["kind"] in ("SCALAR", "ENUM"):
            parts.append(field["name"])
        elif depth < 1:
            parts.append(f"{field['name']} {{ {await selection(gql, named['name'], depth + 1)} }}")
    return " ".join(parts)


async def state_and_checks(
    gql: GraphQLClient, customer: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = await selection(gql, "Entitlement")
    state = (
        await gql.execute(
            "query($c: String!) { entitlementsState(customerId: $c) { customerId resourceId "
            "version denyReason hasActiveSubscription validUntil computedAt "
            f"entitlements {{ {fields} }} }} }}",
            {"c": customer},
        )
    )["entitlementsState"]
    checks = {}
    for feature in [*FEATURES, "no-such-feature"]:
        checks[feature] = (
            await gql.execute(
                f"query($c: String!, $f: String!) {{ entitlement(customerId: $c, featureId: $f) "
                f"{{ {fields} }} }}",
                {"c": customer, "f": feature},
            )
        )["entitlement"]
    return state, checks


async def test_the_state_is_the_checks_answers_field_for_field(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "free")  # the default plan
    assert (await report(gql, "free", "seats", 2))["accepted"]
    await new_customer(gql, "trial")
    trial = await provision(
        gql, customerId="trial", planId="pro", addons=[{"addonId": "extra-seats", "quantity": 2}]
    )
    assert trial["errors"] == [], trial
    assert trial["subscription"]["status"] == "IN_TRIAL"
    assert (await report(gql, "trial", "seats", 12, mode="SET"))["accepted"]
    await new_customer(gql, "promo")
    granted = await grant(
        gql,
        "promo",
        {"featureId": "sso", "duration": "ONE_MONTH"},
        {"featureId": "seats", "limit": 50, "duration": "ONE_WEEK"},
    )
    assert granted["errors"] == [], granted
    await new_customer(gql, "big")
    payload = await provision(
        gql,
        customerId="big",
        planId="enterprise",
        skipTrial=True,
        entitlements=[{"featureId": "seats", "limit": 100}],
    )
    assert payload["errors"] == [], payload

    for customer in ("free", "trial", "promo", "big"):
        state, checks = await state_and_checks(gql, customer)
        assert state["customerId"] == customer and state["denyReason"] is None
        assert int(state["version"]) > 0
        by_feature = {e["featureId"]: e for e in state["entitlements"]}
        assert sorted(by_feature) == sorted(FEATURES)  # one per feature, granted or not
        for feature in FEATURES:
            assert by_feature[feature] == checks[feature], (customer, feature)
        assert "no-such-feature" not in by_feature
        assert checks["no-such-feature"]["denyReason"] == "FEATURE_NOT_FOUND"
        assert checks["no-such-feature"]["featureType"] is None
        # validUntil: the earliest of the usage period ends and the entitlements' own end.
        ends = [
            datetime.fromisoformat(e["usagePeriodEnd"])
            for e in state["entitlements"]
            if e["usagePeriodEnd"]
        ]
        if state["validUntil"] is not None:
            until = datetime.fromisoformat(state["validUntil"])
            assert all(until <= end for end in ends)
        else:
            assert not ends

    state, checks = await state_and_checks(gql, "trial")
    seats = {e["featureId"]: e for e in state["entitlements"]}["seats"]
    assert seats["currentUsage"] == 12 and seats["usageLimit"] == 20  # pro 10 + 2 x 5
    assert seats["featureType"] == "METERED"
    trial_end = datetime.fromisoformat(trial["subscription"]["trialEndDate"])
    assert datetime.fromisoformat(state["validUntil"]) == trial_end  # seats never reset


async def test_unknown_and_archived_customers_are_denied_with_no_entitlements(
    gql: GraphQLClient,
) -> None:
    await apply_catalog(gql)
    query = (
        "query($c: String!) { entitlementsState(customerId: $c) { version denyReason "
        "hasActiveSubscription entitlements { featureId } } }"
    )
    state = (await gql.execute(query, {"c": "nobody"}))["entitlementsState"]
    assert state == {
        "version": "0",
        "denyReason": "CUSTOMER_NOT_FOUND",
        "hasActiveSubscription": False,
        "entitlements": [],
    }
    await new_customer(gql, "gone")
    before = (await gql.execute(query, {"c": "gone"}))["entitlementsState"]
    await gql.mutate(
        'mutation { archiveCustomer(input: {customerId: "gone"}) { errors { code } } }'
    )
    after = (await gql.execute(query, {"c": "gone"}))["entitlementsState"]
    assert after["denyReason"] == "CUSTOMER_ARCHIVED" and after["entitlements"] == []
    assert int(after["version"]) > int(before["version"])


async def test_every_rewrite_of_the_cached_entitlements_gives_a_greater_version(
    gql: GraphQLClient,
) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme")
    query = 'query { entitlementsState(customerId: "acme") { version } }'
    versions = [int((await gql.execute(query))["entitlementsState"]["version"])]
    for feature in ("sso", "audit-log"):
        assert (await grant(gql, "acme", {"featureId": feature, "duration": "ONE_WEEK"}))[
            "errors"
        ] == []
        versions.append(int((await gql.execute(query))["entitlementsState"]["version"]))
    assert versions == sorted(versions) and len(set(versions)) == 3


async def test_a_state_asked_again_is_never_behind_a_change(
    tgql: GraphQLClient, clock: FrozenClock
) -> None:
    """A state asked for again may be the one built before (same `computedAt`), but only
    while nothing it was made of changed: after usage, a grant, a new feature, its
    `validUntil` passing, or an archive, it is what the checks answer."""
    gql = tgql
    await apply_catalog(gql)
    await new_customer(gql, "acme")

    async def agreed() -> dict[str, Any]:
        state, checks = await state_and_checks(gql, "acme")
        by_feature = {e["featureId"]: e for e in state["entitlements"]}
        for feature in FEATURES:
            assert by_feature[feature] == checks[feature], feature
        return state

    first = await agreed()
    assert await agreed() == first  # nothing changed: the same state, built once

    assert (await report(gql, "acme", "seats", 2))["accepted"]
    used = await agreed()
    assert _entry(used, "seats")["currentUsage"] == 2

    assert (await grant(gql, "acme", {"featureId": "sso", "duration": "ONE_WEEK"}))["errors"] == []
    granted = await agreed()
    assert _entry(granted, "sso")["hasAccess"] and int(granted["version"]) > int(used["version"])

    created = await gql.mutate(
        'mutation { createFeature(input: {id: "new-flag", type: BOOLEAN}) { errors { code } } }'
    )
    assert created["errors"] == []
    with_feature = await agreed()
    assert _entry(with_feature, "new-flag")["hasAccess"] is False

    # The week's grant of sso ends first: at that instant the state no longer holds.
    clock.set(datetime.fromisoformat(with_feature["validUntil"]))
    later = await agreed()
    assert not _entry(later, "sso")["hasAccess"]
    assert later["computedAt"] != with_feature["computedAt"]

    await gql.mutate(
        'mutation { archiveCustomer(input: {customerId: "acme"}) { errors { code } } }'
    )
    archived = (await state_and_checks(gql, "acme"))[0]
    assert archived["denyReason"] == "CUSTOMER_ARCHIVED" and archived["entitlements"] == []


def _entry(state: dict[str, Any], feature_id: str) -> dict[str, Any]:
    return next(e for e in state["entitlements"] if e["featureId"] == feature_id)
