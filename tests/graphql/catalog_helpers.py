"""Helpers of the catalog GraphQL tests: fragments, a whole-catalog snapshot (to prove that a
refused mutation changed nothing), and short ways to build a catalog."""

from __future__ import annotations

from typing import Any

from tests.support import GraphQLClient

FEATURE_FIELDS = """
    id name description type unit unitPlural valueType enumValues isArchived createdAt updatedAt
    meter { eventName aggregation field filters { dimension operator values } }
"""
PRODUCT_FIELDS = """
    id name description multipleSubscriptions defaultPlanId downgradeToDefaultPlan isArchived
    createdAt
"""
ENTITLEMENT_FIELDS = """
    featureId usageLimit isUnlimited isSoftLimit resetPeriod resetAnchor value enumValues
    isVariable behavior
"""
PRICE_FIELDS = """
    model billingPeriod amount currency featureId tierMode tiers { upTo unitAmount flatAmount }
"""
VERSION_FIELDS = f"""
    version isDraft name description publishedAt migrateExistingSubscriptions parentPlanId
    parentPlanVersion pricingType
    defaultTrial {{ days endBehavior }} maxQuantity compatiblePlanIds
    entitlements {{ {ENTITLEMENT_FIELDS} }} prices {{ {PRICE_FIELDS} }}
"""
PACKAGE_FIELDS = f"""
    id name description productId version hasDraft isArchived
    entitlements {{ {ENTITLEMENT_FIELDS} }} prices {{ {PRICE_FIELDS} }}
    draft {{ {VERSION_FIELDS} }} versions {{ {VERSION_FIELDS} }}
"""
PLAN_FIELDS = f"{PACKAGE_FIELDS} parentPlanId pricingType defaultTrial {{ days endBehavior }}"
ADDON_FIELDS = f"{PACKAGE_FIELDS} maxQuantity compatiblePlanIds"

ERRORS = "errors { code message field }"

ALL = "first: 100, includeArchived: true"
# One query per list: the four together cost more than one request may (docs/security.md).
SNAPSHOTS = [
    f"{{ {root}({ALL}) {{ totalCount edges {{ node {{ {fields} }} }} }} }}"
    for root, fields in [
        ("features", FEATURE_FIELDS),
        ("products", PRODUCT_FIELDS),
        ("plans", PLAN_FIELDS),
        ("addons", ADDON_FIELDS),
    ]
]

# mutation name -> (input type, the payload's object field, that object's fields)
MUTATIONS: dict[str, tuple[str, str, str]] = {
    "createFeature": ("CreateFeatureInput", "feature", FEATURE_FIELDS),
    "updateFeature": ("UpdateFeatureInput", "feature", FEATURE_FIELDS),
    "archiveFeature": ("IdInput", "feature", FEATURE_FIELDS),
    "createProduct": ("CreateProductInput", "product", PRODUCT_FIELDS),
    "updateProduct": ("UpdateProductInput", "product", PRODUCT_FIELDS),
    "archiveProduct": ("IdInput", "product", PRODUCT_FIELDS),
    "createPlan": ("CreatePlanInput", "plan", PLAN_FIELDS),
    "updatePlan": ("UpdatePlanInput", "plan", PLAN_FIELDS),
    "publishPlan": ("PublishInput", "plan", PLAN_FIELDS),
    "discardPlanDraft": ("IdInput", "plan", PLAN_FIELDS),
    "archivePlan": ("IdInput", "plan", PLAN_FIELDS),
    "createAddon": ("CreateAddonInput", "addon", ADDON_FIELDS),
    "updateAddon": ("UpdateAddonInput", "addon", ADDON_FIELDS),
    "publishAddon": ("PublishInput", "addon", ADDON_FIELDS),
    "discardAddonDraft": ("IdInput", "addon", ADDON_FIELDS),
    "archiveAddon": ("IdInput", "addon", ADDON_FIELDS),
}


async def call(gql: GraphQLClient, mutation: str, input: dict[str, Any]) -> dict[str, Any]:
    """Run a catalog mutation with `input` as a variable; return its payload."""
    input_type, key, fields = MUTATIONS[mutation]
    query = (
        f"mutation($input: {input_type}!) {{ {mutation}(input: $input) "
        f"{{ {key} {{ {fields} }} {ERRORS} }} }}"
    )
    payload: dict[str, Any] = await gql.mutate(query, {"input": input})
    return payload


async def ok(gql: GraphQLClient, mutation: str, input: dict[str, Any]) -> dict[str, Any]:
    """Run a mutation that must succeed; return the changed object."""
    payload = await call(gql, mutation, input)
    assert payload["errors"] == [], payload["errors"]
    key = MUTATIONS[mutation][1]
    assert payload[key] is not None
    result: dict[str, Any] = payload[key]
    return result


async def snapshot(gql: GraphQLClient) -> dict[str, Any]:
    """Everything in the environment's catalog, archived included."""
    data: dict[str, Any] = {}
    for query in SNAPSHOTS:
        data.update(await gql.execute(query))
    return data


async def refused(
    gql: GraphQLClient,
    mutation: str,
    input: dict[str, Any],
    code: str,
    field: list[str] | None = None,
) -> dict[str, Any]:
    """Run a mutation that must fail with `code` (and `field`, when given) and change nothing
    at all in the catalog. Returns the error."""
    before = await snapshot(gql)
    payload = await call(gql, mutation, input)
    assert payload[MUTATIONS[mutation][1]] is None, payload
    assert len(payload["errors"]) >= 1, payload
    error: dict[str, Any] = payload["errors"][0]
    assert error["code"] == code, error
    assert error["message"], error
    if field is not None:
        assert error["field"] == field, error
    assert await snapshot(gql) == before
    return error


async def top_level_error(
    gql: GraphQLClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Post a request GraphQL itself must refuse (a top-level error, no data); return it."""
    response = await gql.post(query, variables)
    body = response.json()
    assert body.get("errors"), body
    data = body.get("data")
    assert data is None or all(v is None for v in data.values()), body
    error: dict[str, Any] = body["errors"][0]
    return error


# --- building blocks ------------------------------------------------------------------------

STANDARD_FEATURES: list[dict[str, Any]] = [
    {"id": "seats", "type": "METERED", "name": "Seats", "unit": "seat", "unitPlural": "seats"},
    {"id": "api-calls", "type": "METERED", "meter": {"eventName": "api_call"}},
    {"id": "sso", "type": "BOOLEAN", "name": "SSO"},
    {"id": "retention-days", "type": "CONFIGURATION"},
    {
        "id": "region",
        "type": "CONFIGURATION",
        "valueType": "ENUM",
        "enumValues": ["eu", "us", "apac"],
    },
]


async def standard_catalog(gql: GraphQLClient, *, product: str = "app") -> None:
    """The features above and one product."""
    for feature in STANDARD_FEATURES:
        await ok(gql, "createFeature", feature)
    await ok(gql, "createProduct", {"id": product, "name": product.title()})


async def plan(gql: GraphQLClient, plan_id: str, **fields: Any) -> dict[str, Any]:
    """Create a plan in product `app` (override with productId=...)."""
    return await ok(gql, "createPlan", {"id": plan_id, "productId": "app", **fields})


async def addon(gql: GraphQLClient, addon_id: str, **fields: Any) -> dict[str, Any]:
    """Create an add-on in product `app` (override with productId=...)."""
    return await ok(gql, "createAddon", {"id": addon_id, "productId": "app", **fields})


def by_feature(entitlements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["featureId"]: e for e in entitlements}


def ids(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]
