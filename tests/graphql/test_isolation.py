"""Nothing in one environment is visible from, or changeable by, another.

Every query root is called from other environments (the same account's production, another
account's development) after the development environment got a catalog. The table of probes
must cover exactly the schema's query roots: a new root fails this test until it has a probe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from app.db import Database
from app.resolvers.root import build_schema
from tests.graphql.test_auth import snapshot
from tests.support import GraphQLClient, Tenant, make_tenant

FEATURE, PRODUCT, PLAN, ADDON = "seats", "app", "pro", "extra-seats"
CUSTOMER, SUBSCRIPTION = "acme", "sub-1"
DEV_IDS = frozenset({FEATURE, PRODUCT, PLAN, ADDON, CUSTOMER, SUBSCRIPTION})

CONNECTION = "totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor }"


@dataclass
class Dev:
    """What the development environment holds, to look for elsewhere."""

    environment_id: str
    key_ids: set[str]
    key_prefixes: set[str]


Check = Callable[[Any, Dev], None]


@dataclass
class Probe:
    query: str
    check: Check
    variables: dict[str, Any] = field(default_factory=dict)
    # Top-level error codes that also mean "nothing visible" (e.g. CUSTOMER_NOT_FOUND).
    allowed_errors: frozenset[str] = frozenset()

    async def run(self, client: GraphQLClient, root: str, dev: Dev) -> None:
        response = await client.post(self.query, self.variables)
        body = response.json()
        if body.get("errors"):
            codes = {e.get("extensions", {}).get("code") for e in body["errors"]}
            assert codes <= self.allowed_errors, (self.query, body)
            return
        assert response.status_code == 200, (self.query, body)
        self.check(body["data"][root], dev)


def is_null(value: Any, dev: Dev) -> None:
    assert value is None, value


def is_empty_list(value: Any, dev: Dev) -> None:
    assert value == [], value


def is_empty_connection(value: Any, dev: Dev) -> None:
    assert value == {
        "totalCount": 0,
        "edges": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }, value


def is_other_environment(value: Any, dev: Dev) -> None:
    assert value["id"] != dev.environment_id, value


def has_no_dev_key(value: Any, dev: Dev) -> None:
    assert value, "the caller's own environment has keys"
    assert not {k["id"] for k in value} & dev.key_ids, value
    assert not {k["prefix"] for k in value} & dev.key_prefixes, value


def has_no_dev_id(value: Any, dev: Dev) -> None:
    """No string anywhere in a JSON value is an id of development."""
    if isinstance(value, dict):
        for item in value.values():
            has_no_dev_id(item, dev)
    elif isinstance(value, list):
        for item in value:
            has_no_dev_id(item, dev)
    else:
        assert value not in DEV_IDS, value


def has_no_usage(value: Any, dev: Dev) -> None:
    assert all(period["usage"] == 0 for period in value), value


def is_unknown_customer(value: Any, dev: Dev) -> None:
    assert value["hasAccess"] is False, value
    assert value["denyReason"] == "CUSTOMER_NOT_FOUND", value
    assert value["sources"] == [] and value["usageLimit"] is None, value


def is_unknown_customer_state(value: Any, dev: Dev) -> None:
    assert value == {"version": "0", "denyReason": "CUSTOMER_NOT_FOUND", "entitlements": [],
                     "usageVersions": []}, value


def is_default_billing(value: Any, dev: Dev) -> None:
    assert value == {"companyName": "", "nextInvoiceNumber": 1}, value


def is_empty_insights(value: Any, dev: Dev) -> None:
    """Nothing of development counted (the observing environment has no data of its own)."""
    assert {row["customers"] for row in value.pop("customersPerStatus")} == {0}, value
    assert value == {
        "customersPerPlan": [], "trialsEndingSoon": [], "limitUtilization": [],
        "revenueByPlan": [],
    }, value


INSIGHTS = (
    "{ insights { customersPerPlan { plan { id } customers } customersPerStatus { status "
    "customers } trialsEndingSoon(withinDays: 366) { id customerId } limitUtilization { "
    "feature { id } customersWithLimit } revenueByPlan { plan { id } amount } } }"
)

ENTITLEMENT = "featureId hasAccess denyReason usageLimit sources { kind subscriptionId planId }"


def _list_probes(root: str, extra_args: str = "") -> list[Probe]:
    """A connection root: plain, with archived items, and with the dev ids as filters."""
    probes = [
        Probe(f"{{ {root} {{ {CONNECTION} }} }}", is_empty_connection),
        Probe(f"{{ {root}(includeArchived: true) {{ {CONNECTION} }} }}", is_empty_connection),
    ]
    if extra_args:
        probes.append(
            Probe(
                f"{{ {root}({extra_args}, includeArchived: true) {{ {CONNECTION} }} }}",
                is_empty_connection,
            )
        )
    return probes


def _lookup(root: str, entity_id: str) -> list[Probe]:
    return [Probe(f'{{ {root}(id: "{entity_id}") {{ id }} }}', is_null)]


# How to call each query root, and what "nothing of development" looks like for it.
PROBES: dict[str, list[Probe]] = {
    "environment": [Probe("{ environment { id slug } }", is_other_environment)],
    "apiKeys": [Probe("{ apiKeys { id prefix } }", has_no_dev_key)],
    # Keys are refused it (FORBIDDEN); an admin user sees only the account's users:
    # tests/web/test_console_sessions.py, test_admins_see_and_change_their_account_only.
    "users": [],
    "features": _list_probes("features"),
    "feature": _lookup("feature", FEATURE),
    "products": _list_probes("products"),
    "product": _lookup("product", PRODUCT),
    "plans": _list_probes("plans", f'productId: "{PRODUCT}"'),
    "plan": _lookup("plan", PLAN),
    "addons": _list_probes("addons", f'productId: "{PRODUCT}"'),
    "addon": _lookup("addon", ADDON),
    "exportCatalog": [Probe("{ exportCatalog }", has_no_dev_id)],
    "customers": _list_probes("customers", f'search: "{CUSTOMER}"'),
    "customer": _lookup("customer", CUSTOMER),
    "insights": [
        Probe(INSIGHTS, is_empty_insights),
        Probe(f'{{ insights {{ usageDistribution(featureId: "{FEATURE}") {{ customers }} }} }}',
              is_null, allowed_errors=frozenset({"FEATURE_NOT_FOUND"})),
    ],
    "subscription": _lookup("subscription", SUBSCRIPTION),
    "entitlement": [
        Probe(
            f'{{ entitlement(customerId: "{CUSTOMER}", featureId: "{FEATURE}") '
            f"{{ {ENTITLEMENT} }} }}",
            is_unknown_customer,
        )
    ],
    "entitlements": [
        Probe(f'{{ entitlements(customerId: "{CUSTOMER}") {{ {ENTITLEMENT} }} }}', is_empty_list)
    ],
    "entitlementsState": [
        Probe(
            f'{{ entitlementsState(customerId: "{CUSTOMER}") {{ version denyReason '
            f"entitlements {{ {ENTITLEMENT} }} usageVersions {{ featureId version }} }} }}",
            is_unknown_customer_state,
        )
    ],
    "usageHistory": [
        Probe(
            f'{{ usageHistory(customerId: "{CUSTOMER}", featureId: "{FEATURE}", '
            'from: "2020-01-01T00:00:00Z") { periodStart periodEnd usage } }',
            has_no_usage,
            allowed_errors=frozenset({"CUSTOMER_NOT_FOUND", "FEATURE_NOT_FOUND"}),
        )
    ],
    # Webhook ids are generated: tests/graphql/outbound/test_delivery.py probes the real ones.
    "webhookEndpoints": [Probe(f"{{ webhookEndpoints {{ {CONNECTION} }} }}", is_empty_connection)],
    "webhookEndpoint": _lookup("webhookEndpoint", "00000000-0000-4000-8000-000000000000"),
    "webhookDeliveries": [
        Probe(f"{{ webhookDeliveries {{ {CONNECTION} }} }}", is_empty_connection)
    ],
    "webhookDelivery": _lookup("webhookDelivery", "00000000-0000-4000-8000-000000000000"),
    "webhookEventTypes": [Probe("{ webhookEventTypes { name } }", has_no_dev_id)],
    # Development has no invoices here: tests/graphql/billing/test_isolation.py probes real ones.
    "invoice": _lookup("invoice", "INV-00001"),
    "invoices": [
        Probe(f"{{ invoices {{ {CONNECTION} }} }}", is_empty_connection),
        Probe(f'{{ invoices(customerId: "{CUSTOMER}") {{ {CONNECTION} }} }}', is_empty_connection),
    ],
    "billingSettings": [
        Probe("{ billingSettings { companyName nextInvoiceNumber } }", is_default_billing)
    ],
    "auditLog": [
        # An environment's log starts with its own creation and keys (the CLI's entries):
        # nothing the development data made may show.
        Probe(f'{{ auditLog(first: 100, entityType: "FEATURE") {{ {CONNECTION} }} }}',
              is_empty_connection),
        Probe(f'{{ auditLog(first: 100, entityType: "SUBSCRIPTION") {{ {CONNECTION} }} }}',
              is_empty_connection),
        Probe(f'{{ auditLog(entityType: "CUSTOMER", entityId: "{CUSTOMER}") '
              f"{{ {CONNECTION} }} }}", is_empty_connection),
    ],
}


def test_probes_cover_exactly_the_query_roots() -> None:
    query_type = build_schema()._schema.query_type
    assert query_type is not None
    roots = set(query_type.fields)
    missing, stale = sorted(roots - set(PROBES)), sorted(set(PROBES) - roots)
    assert not missing, (
        f"query roots without an isolation probe: {missing}; add them to PROBES in "
        "tests/graphql/test_isolation.py (and give development data they must not see)"
    )
    assert not stale, f"PROBES lists roots the schema no longer has: {stale}"


async def make_dev_data(gql: GraphQLClient) -> None:
    """A feature, a product, a published plan and add-on; a customer subscribed to the plan
    with the add-on and a promotional grant."""
    mutations = [
        'createWebhookEndpoint(input: {url: "http://127.0.0.1:9/dev-hooks"})',
        f'createFeature(input: {{id: "{FEATURE}", type: METERED, unit: "seat"}})',
        f'createProduct(input: {{id: "{PRODUCT}", name: "App"}})',
        f'createPlan(input: {{id: "{PLAN}", productId: "{PRODUCT}", pricingType: PAID, '
        f'entitlements: [{{featureId: "{FEATURE}", limit: 10}}], '
        'prices: [{currency: "USD", amount: "49.00"}], publish: true})',
        f'createAddon(input: {{id: "{ADDON}", productId: "{PRODUCT}", maxQuantity: 5, '
        f'compatiblePlanIds: ["{PLAN}"], '
        f'entitlements: [{{featureId: "{FEATURE}", limit: 5, behavior: INCREMENT}}], '
        'prices: [{currency: "USD", amount: "10.00"}], publish: true})',
        f'provisionCustomer(input: {{customerId: "{CUSTOMER}", subscription: '
        f'{{planId: "{PLAN}", subscriptionId: "{SUBSCRIPTION}", '
        f'addons: [{{addonId: "{ADDON}", quantity: 1}}]}}}})',
        f'grantPromotionalEntitlements(input: {{customerId: "{CUSTOMER}", '
        f'grants: [{{featureId: "{FEATURE}", limit: 3, duration: LIFETIME}}]}})',
        f'reportUsage(input: {{customerId: "{CUSTOMER}", featureId: "{FEATURE}", value: 2}})',
    ]
    for mutation in mutations:
        payload = await gql.mutate(f"mutation {{ {mutation} {{ errors {{ code message }} }} }}")
        assert payload["errors"] == [], (mutation, payload)


async def dev_state(gql: GraphQLClient) -> Dev:
    data = await gql.execute("{ environment { id } apiKeys { id prefix } }")
    return Dev(
        environment_id=data["environment"]["id"],
        key_ids={k["id"] for k in data["apiKeys"]},
        key_prefixes={k["prefix"] for k in data["apiKeys"]},
    )


async def _check_sanity_in_dev(gql: GraphQLClient) -> None:
    """The probes do find the data from development itself (so an empty answer elsewhere
    means isolation, not a broken probe)."""
    data = await gql.execute(
        f"{{ features {{ totalCount }} products {{ totalCount }} plans {{ totalCount }} "
        f'addons {{ totalCount }} feature(id: "{FEATURE}") {{ id }} '
        f'product(id: "{PRODUCT}") {{ id }} plan(id: "{PLAN}") {{ id version }} '
        f'addon(id: "{ADDON}") {{ id version }} customers {{ totalCount }} '
        f'customer(id: "{CUSTOMER}") {{ id }} subscription(id: "{SUBSCRIPTION}") {{ id }} '
        f'entitlement(customerId: "{CUSTOMER}", featureId: "{FEATURE}") '
        "{ hasAccess currentUsage } "
        f'usageHistory(customerId: "{CUSTOMER}", featureId: "{FEATURE}", '
        'from: "2020-01-01T00:00:00Z") { usage } }'
    )
    assert sum(period["usage"] for period in data.pop("usageHistory")) == 2
    assert data == {
        "features": {"totalCount": 1},
        "products": {"totalCount": 1},
        "plans": {"totalCount": 1},
        "addons": {"totalCount": 1},
        "feature": {"id": FEATURE},
        "product": {"id": PRODUCT},
        "plan": {"id": PLAN, "version": 1},
        "addon": {"id": ADDON, "version": 1},
        "customers": {"totalCount": 1},
        "customer": {"id": CUSTOMER},
        "subscription": {"id": SUBSCRIPTION},
        "entitlement": {"hasAccess": True, "currentUsage": 2.0},
    }
    exported = (await gql.execute("{ exportCatalog }"))["exportCatalog"]
    assert FEATURE in str(exported) and ADDON in str(exported)
    insights = (await gql.execute(INSIGHTS))["insights"]
    assert insights["customersPerPlan"] == [{"plan": {"id": PLAN}, "customers": 1}]
    assert insights["limitUtilization"] == [{"feature": {"id": FEATURE}, "customersWithLimit": 1}]
    found = await gql.execute(f'{{ customers(search: "{CUSTOMER}") {{ totalCount }} }}')
    assert found == {"customers": {"totalCount": 1}}


@pytest.mark.parametrize("observer", ["production", "other-account"])
async def test_every_query_root_hides_development(
    gql: GraphQLClient, tenant: Tenant, db: Database, observer: str
) -> None:
    await make_dev_data(gql)
    await _check_sanity_in_dev(gql)
    dev = await dev_state(gql)
    if observer == "production":
        key = tenant.server_keys["production"]
    else:
        key = (await make_tenant(db, "other")).server_keys["development"]
    other = gql.with_key(key)
    for root, probes in PROBES.items():
        for probe in probes:
            try:
                await probe.run(other, root, dev)
            except AssertionError as error:
                raise AssertionError(f"{observer} sees development via {probe.query}") from error


async def test_development_does_not_see_production(gql: GraphQLClient, tenant: Tenant) -> None:
    """The same ids may exist in both environments, each seeing only its own."""
    production = gql.with_key(tenant.server_keys["production"])
    await make_dev_data(production)
    dev = await dev_state(production)
    for root, probes in PROBES.items():
        for probe in probes:
            await probe.run(gql, root, dev)


NOT_FOUND_ELSEWHERE = [
    (f'updateFeature(input: {{id: "{FEATURE}", name: "hacked"}})', "FEATURE_NOT_FOUND"),
    (f'archiveFeature(input: {{id: "{FEATURE}"}})', "FEATURE_NOT_FOUND"),
    (f'updateProduct(input: {{id: "{PRODUCT}", name: "hacked"}})', "PRODUCT_NOT_FOUND"),
    (f'archiveProduct(input: {{id: "{PRODUCT}"}})', "PRODUCT_NOT_FOUND"),
    (f'createPlan(input: {{id: "p2", productId: "{PRODUCT}"}})', "PRODUCT_NOT_FOUND"),
    (f'updatePlan(input: {{id: "{PLAN}", name: "hacked"}})', "PLAN_NOT_FOUND"),
    (f'publishPlan(input: {{id: "{PLAN}"}})', "PLAN_NOT_FOUND"),
    (f'discardPlanDraft(input: {{id: "{PLAN}"}})', "PLAN_NOT_FOUND"),
    (f'archivePlan(input: {{id: "{PLAN}"}})', "PLAN_NOT_FOUND"),
    (f'updateAddon(input: {{id: "{ADDON}", name: "hacked"}})', "ADDON_NOT_FOUND"),
    (f'publishAddon(input: {{id: "{ADDON}"}})', "ADDON_NOT_FOUND"),
    (f'discardAddonDraft(input: {{id: "{ADDON}"}})', "ADDON_NOT_FOUND"),
    (f'archiveAddon(input: {{id: "{ADDON}"}})', "ADDON_NOT_FOUND"),
    (
        f'provisionSubscription(input: {{customerId: "{CUSTOMER}", planId: "{PLAN}"}})',
        "CUSTOMER_NOT_FOUND",
    ),
    (
        f'updateSubscription(input: {{subscriptionId: "{SUBSCRIPTION}", metadata: {{}}}})',
        "SUBSCRIPTION_NOT_FOUND",
    ),
    (f'cancelSubscription(input: {{subscriptionId: "{SUBSCRIPTION}"}})', "SUBSCRIPTION_NOT_FOUND"),
    (f'archiveCustomer(input: {{customerId: "{CUSTOMER}"}})', "CUSTOMER_NOT_FOUND"),
    (
        f'grantPromotionalEntitlements(input: {{customerId: "{CUSTOMER}", '
        f'grants: [{{featureId: "{FEATURE}", limit: 1}}]}})',
        "CUSTOMER_NOT_FOUND",
    ),
    (
        f'revokePromotionalEntitlement(input: {{customerId: "{CUSTOMER}", '
        f'featureId: "{FEATURE}"}})',
        "CUSTOMER_NOT_FOUND",
    ),
    (
        f'reportUsage(input: {{customerId: "{CUSTOMER}", featureId: "{FEATURE}", value: 1}})',
        "CUSTOMER_NOT_FOUND",
    ),
]


async def test_mutations_from_production_cannot_touch_development(
    gql: GraphQLClient, tenant: Tenant
) -> None:
    await make_dev_data(gql)
    dev = await dev_state(gql)
    before = await snapshot(gql)
    production = gql.with_key(tenant.server_keys["production"])

    for mutation, code in NOT_FOUND_ELSEWHERE:
        payload = await production.mutate(
            f"mutation {{ {mutation} {{ errors {{ code message field }} }} }}"
        )
        assert [e["code"] for e in payload["errors"]] == [code], (mutation, payload)

    for key_id in sorted(dev.key_ids):
        payload = await production.mutate(
            "mutation ($id: ID!) { revokeApiKey(input: {id: $id}) "
            "{ apiKey { id } errors { code } } }",
            {"id": key_id},
        )
        assert payload == {"apiKey": None, "errors": [{"code": "API_KEY_NOT_FOUND"}]}

    # The same id is free in production, and creating it there leaves development alone.
    created = await production.mutate(
        f'mutation {{ createFeature(input: {{id: "{FEATURE}", type: BOOLEAN}}) '
        "{ feature { id type } errors { code } } }"
    )
    assert created == {"feature": {"id": FEATURE, "type": "BOOLEAN"}, "errors": []}

    assert await snapshot(gql) == before
