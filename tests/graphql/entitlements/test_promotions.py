"""Promotional entitlements: granted straight to a customer for a while, across all their
subscriptions; a new grant for a feature replaces the live one; revoking takes effect at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.clock import FrozenClock
from tests.graphql.entitlements.catalog import apply_catalog, check, new_customer
from tests.graphql.entitlements.conftest import (
    START,
    archive,
    codes,
    customer,
    grant,
    iso,
    revoke,
    subscribed,
    when,
)
from tests.support import GraphQLClient


@pytest.mark.parametrize(
    ("duration", "ends"),
    [
        ("ONE_WEEK", START + timedelta(days=7)),
        ("ONE_MONTH", datetime(2024, 2, 10, 12, tzinfo=UTC)),
        ("SIX_MONTHS", datetime(2024, 7, 10, 12, tzinfo=UTC)),
        ("ONE_YEAR", datetime(2025, 1, 10, 12, tzinfo=UTC)),
        ("LIFETIME", None),
        (None, None),  # no duration and no end date: lifetime
    ],
)
async def test_durations(
    tgql: GraphQLClient, clock: FrozenClock, duration: str | None, ends: datetime | None
) -> None:
    await apply_catalog(tgql)
    await new_customer(tgql, "acme")
    request = {"featureId": "sso"} | ({"duration": duration} if duration else {})
    payload = await grant(tgql, "acme", request)
    assert payload["errors"] == []
    (promo,) = payload["promotionalEntitlements"]
    assert (promo["duration"], when(promo["startsAt"]), when(promo["endsAt"])) == (
        duration or "LIFETIME",
        START,
        ends,
    )
    if ends is not None:
        clock.set(ends - timedelta(microseconds=1))
        assert (await check(tgql, "acme", "sso"))["hasAccess"]
        clock.set(ends)
    else:
        clock.set(START + timedelta(days=365 * 30))
    assert (await check(tgql, "acme", "sso"))["hasAccess"] is (ends is None)


async def test_end_date_at_a_month_end(tgql: GraphQLClient, clock: FrozenClock) -> None:
    await apply_catalog(tgql)
    clock.set(datetime(2024, 1, 31, tzinfo=UTC))
    await new_customer(tgql, "acme")
    payload = await grant(tgql, "acme", {"featureId": "sso", "duration": "ONE_MONTH"})
    (promo,) = payload["promotionalEntitlements"]
    assert when(promo["endsAt"]) == datetime(2024, 2, 29, tzinfo=UTC)
    until = datetime(2024, 3, 3, 8, tzinfo=UTC)
    payload = await grant(tgql, "acme", {"featureId": "seats", "limit": 7, "endDate": iso(until)})
    ends = {p["featureId"]: p for p in payload["promotionalEntitlements"]}
    assert ends["seats"]["duration"] is None and when(ends["seats"]["endsAt"]) == until


async def test_a_new_grant_replaces_the_live_one(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme")
    await grant(gql, "acme", {"featureId": "seats", "limit": 100, "duration": "ONE_YEAR"})
    payload = await grant(gql, "acme", {"featureId": "seats", "limit": 20})
    assert payload["errors"] == []
    assert [p["featureId"] for p in payload["promotionalEntitlements"]] == ["seats"]
    seats = await check(gql, "acme", "seats")
    assert seats["usageLimit"] == 20  # replaced, not the larger of the two
    assert [s["kind"] for s in seats["sources"]] == ["PLAN", "PROMOTIONAL"]
    found = await customer(gql, "acme")
    assert found is not None
    (promo,) = found["promotionalEntitlements"]
    assert promo["entitlement"]["usageLimit"] == 20 and promo["endsAt"] is None


async def test_revoke_takes_effect_at_once(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme")
    await grant(gql, "acme", {"featureId": "sso"}, {"featureId": "audit-log"})
    assert (await check(gql, "acme", "sso"))["hasAccess"]
    payload = await revoke(gql, "acme", "sso")
    assert payload["errors"] == []
    assert [p["featureId"] for p in payload["promotionalEntitlements"]] == ["audit-log"]
    sso = await check(gql, "acme", "sso")
    assert (sso["hasAccess"], sso["denyReason"]) == (False, "NOT_ENTITLED")
    assert (await check(gql, "acme", "audit-log"))["hasAccess"]
    assert codes(await revoke(gql, "acme", "sso")) == ["NOT_FOUND"]


async def test_promotions_apply_across_subscriptions(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme", subscription={"planId": "pro", "skipTrial": True})
    await subscribed(gql, customerId="acme", planId="analytics-basic", resourceId="ws1")
    await grant(gql, "acme", {"featureId": "retention-days", "value": 365})
    days = await check(gql, "acme", "retention-days")
    assert days["value"] == 365
    effective = [(s["kind"], s["isEffective"]) for s in days["sources"]]
    assert ("PROMOTIONAL", True) in effective and len(effective) == 4  # pro, free, analytics


async def test_promotion_without_any_subscription(gql: GraphQLClient) -> None:
    await apply_catalog(gql, {"features": [{"id": "sso", "type": "BOOLEAN"}], "products": []})
    await new_customer(gql, "acme")  # no product has a default plan: no subscription
    assert (await check(gql, "acme", "sso"))["denyReason"] == "NO_ACTIVE_SUBSCRIPTION"
    await grant(gql, "acme", {"featureId": "sso"})
    sso = await check(gql, "acme", "sso")
    assert sso["hasAccess"] and [s["kind"] for s in sso["sources"]] == ["PROMOTIONAL"]


async def test_metered_promotion_resets_from_its_start(
    tgql: GraphQLClient, clock: FrozenClock
) -> None:
    await apply_catalog(tgql)
    await new_customer(tgql, "acme")
    clock.advance(timedelta(days=3))
    await grant(tgql, "acme", {"featureId": "api-calls", "limit": 10**6, "resetPeriod": "WEEK"})
    calls = await check(tgql, "acme", "api-calls")
    assert calls["usageLimit"] == 10**6 and calls["resetPeriod"] == "WEEK"
    assert when(calls["usagePeriodStart"]) == START + timedelta(days=3)
    assert when(calls["usagePeriodEnd"]) == START + timedelta(days=10)


async def test_archived_customer_gets_no_promotion(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme")
    await archive(gql, "acme")
    assert codes(await grant(gql, "acme", {"featureId": "sso"})) == ["CUSTOMER_ARCHIVED"]


async def test_grant_must_fit_the_feature_type(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme")
    payload = await grant(gql, "acme", {"featureId": "sso", "limit": 5})
    assert payload["errors"] and payload["promotionalEntitlements"] == []
    payload = await grant(gql, "acme", {"featureId": "regions", "enumValues": ["mars"]})
    assert payload["errors"] and payload["promotionalEntitlements"] == []
    assert not (await check(gql, "acme", "sso"))["hasAccess"]
