"""A catalog for the engine tests, in the catalog-as-code format (applied via applyCatalog)."""

from __future__ import annotations

from typing import Any

from tests.support import GraphQLClient

CATALOG: dict[str, Any] = {
    "features": [
        {"id": "seats", "name": "Seats", "type": "METERED", "unit": "seat"},
        {
            "id": "api-calls",
            "type": "METERED",
            "meter": {"eventName": "api_call", "aggregation": "COUNT"},
        },
        {"id": "sso", "type": "BOOLEAN"},
        {"id": "retention-days", "type": "CONFIGURATION"},
        {
            "id": "regions",
            "type": "CONFIGURATION",
            "valueType": "ENUM",
            "enumValues": ["eu", "us", "ap"],
        },
        {"id": "audit-log", "type": "BOOLEAN"},
    ],
    "products": [
        {
            "id": "app",
            "name": "App",
            "multipleSubscriptions": False,
            "defaultPlan": "free",
            "plans": [
                {
                    "id": "free",
                    "pricingType": "FREE",
                    "entitlements": {
                        "seats": {"limit": 3},
                        "api-calls": {"limit": 1000, "resetPeriod": "MONTH"},
                        "retention-days": {"value": 7},
                        "regions": {"enumValues": ["eu"]},
                    },
                },
                {
                    "id": "pro",
                    "parent": "free",
                    "pricingType": "PAID",
                    "trial": {"days": 14, "endBehavior": "CONVERT_TO_PAID"},
                    "prices": [
                        {
                            "model": "FLAT_FEE",
                            "billingPeriod": "MONTHLY",
                            "amount": "49.00",
                            "currency": "USD",
                        }
                    ],
                    "entitlements": {
                        "seats": {"limit": 10},
                        "sso": {},
                        "retention-days": {"value": 30},
                        "regions": {"enumValues": ["us"]},
                    },
                },
                {
                    "id": "enterprise",
                    "parent": "pro",
                    "pricingType": "CUSTOM",
                    "entitlements": {"seats": {"variable": True}, "api-calls": {"unlimited": True}},
                },
            ],
            "addons": [
                {
                    "id": "extra-seats",
                    "maxQuantity": 50,
                    "compatiblePlans": ["pro", "enterprise"],
                    "prices": [
                        {
                            "model": "FLAT_FEE",
                            "billingPeriod": "MONTHLY",
                            "amount": "10.00",
                            "currency": "USD",
                        }
                    ],
                    "entitlements": {"seats": {"limit": 5, "behavior": "INCREMENT"}},
                },
                {
                    "id": "audit",
                    "maxQuantity": 1,
                    "compatiblePlans": ["pro"],
                    "entitlements": {"audit-log": {}},
                },
            ],
        },
        {
            "id": "analytics",
            "name": "Analytics",
            "multipleSubscriptions": True,
            "plans": [
                {
                    "id": "analytics-basic",
                    "pricingType": "PAID",
                    "prices": [
                        {
                            "model": "FLAT_FEE",
                            "billingPeriod": "MONTHLY",
                            "amount": "5.00",
                            "currency": "USD",
                        }
                    ],
                    "entitlements": {"seats": {"limit": 2}, "retention-days": {"value": 90}},
                },
            ],
        },
    ],
}

APPLY = """mutation($doc: JSON!) { applyCatalog(input: {catalog: $doc}) {
  changes { kind entity id } errors { code message field } } }"""


async def apply_catalog(gql: GraphQLClient, doc: dict[str, Any] | None = None) -> None:
    payload = await gql.mutate(APPLY, {"doc": doc or CATALOG})
    assert payload["errors"] == [], payload["errors"]


ENTITLEMENT = """query($c: String!, $f: String!, $n: Float, $v: [String!]) {
  entitlement(customerId: $c, featureId: $f, requestedUsage: $n, requestedValues: $v) {
    featureId hasAccess denyReason isUnlimited isSoftLimit usageLimit currentUsage
    requestedUsage remaining value enumValues resetPeriod usagePeriodStart usagePeriodEnd
    sources { kind subscriptionId planId addonId quantity usageLimit isUnlimited value
              enumValues isTrial isEffective }
  } }"""


async def check(
    gql: GraphQLClient,
    customer: str,
    feature: str,
    requested: float | None = None,
    values: list[str] | None = None,
) -> dict[str, Any]:
    data = await gql.execute(
        ENTITLEMENT, {"c": customer, "f": feature, "n": requested, "v": values}
    )
    return data["entitlement"]  # type: ignore[no-any-return]


PROVISION_CUSTOMER = """mutation($input: ProvisionCustomerInput!) {
  provisionCustomer(input: $input) {
    customer { id } subscription { id planId status trialEndDate }
    errors { code message field } } }"""

PROVISION = """mutation($input: ProvisionSubscriptionInput!) {
  provisionSubscription(input: $input) {
    subscription { id planId planVersion status startDate endDate trialEndDate
      currentPeriodStart currentPeriodEnd isParallelTrial
      addons { addonId quantity } scheduledChange { planId effectiveAt } }
    errors { code message field } } }"""


async def provision(gql: GraphQLClient, **fields: Any) -> dict[str, Any]:
    return await gql.mutate(PROVISION, {"input": fields})  # type: ignore[no-any-return]


async def new_customer(gql: GraphQLClient, customer_id: str, **extra: Any) -> dict[str, Any]:
    payload = await gql.mutate(PROVISION_CUSTOMER, {"input": {"customerId": customer_id, **extra}})
    assert payload["errors"] == [], payload["errors"]
    return payload  # type: ignore[no-any-return]
