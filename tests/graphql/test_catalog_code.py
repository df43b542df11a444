"""Catalog as code over GraphQL: applyCatalog (declarative, idempotent, all or nothing, dry
run) and exportCatalog (the same format, so a catalog can be promoted between environments)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
import yaml

from tests.support import GraphQLClient, Tenant

# The example document of API.md ("Catalog as code"); two comments shortened.
EXAMPLE_YAML = """
features:
  - id: seats                       # METERED, usage reported by the app (calculated)
    name: Seats
    type: METERED
    unit: seat
  - id: api-calls                   # METERED from raw events
    type: METERED
    meter: { eventName: api_call, aggregation: COUNT }   # COUNT SUM MAX UNIQUE_COUNT LATEST
  - id: sso
    type: BOOLEAN
  - id: retention-days
    type: CONFIGURATION              # valueType NUMBER (default) or ENUM with enumValues
products:
  - id: app
    name: App
    multipleSubscriptions: false
    defaultPlan: free
    plans:
      - id: free
        pricingType: FREE
        entitlements:
          seats: { limit: 3 }
          api-calls: { limit: 1000, resetPeriod: MONTH }   # resetAnchor: ... | CALENDAR
          retention-days: { value: 7 }
      - id: pro
        parent: free
        pricingType: PAID
        trial: { days: 14, endBehavior: CONVERT_TO_PAID }  # or CANCEL
        prices: [ { model: FLAT_FEE, billingPeriod: MONTHLY, amount: "49.00", currency: USD } ]
        entitlements:
          seats: { limit: 10 }
          sso: {}                                           # boolean: granted
          retention-days: { value: 30 }
      - id: enterprise
        parent: pro
        pricingType: CUSTOM
        entitlements:
          seats: { variable: true }                         # value given per subscription
          api-calls: { unlimited: true }
    addons:
      - id: extra-seats
        maxQuantity: 50
        compatiblePlans: [pro, enterprise]
        prices: [ { model: FLAT_FEE, billingPeriod: MONTHLY, amount: "10.00", currency: USD } ]
        entitlements:
          seats: { limit: 5, behavior: INCREMENT }          # or OVERRIDE
"""

EXAMPLE_CHANGES = [
    ("CREATED", "FEATURE", "seats", None),
    ("CREATED", "FEATURE", "api-calls", None),
    ("CREATED", "FEATURE", "sso", None),
    ("CREATED", "FEATURE", "retention-days", None),
    ("CREATED", "PRODUCT", "app", None),
    ("CREATED", "PLAN", "free", None),
    ("PUBLISHED", "PLAN", "free", "version 1"),
    ("CREATED", "PLAN", "pro", None),
    ("PUBLISHED", "PLAN", "pro", "version 1"),
    ("CREATED", "PLAN", "enterprise", None),
    ("PUBLISHED", "PLAN", "enterprise", "version 1"),
    ("CREATED", "ADDON", "extra-seats", None),
    ("PUBLISHED", "ADDON", "extra-seats", "version 1"),
]

APPLY = """
mutation Apply($catalog: JSON!, $dryRun: Boolean) {
  applyCatalog(input: { catalog: $catalog, dryRun: $dryRun }) {
    changes { kind entity id detail }
    errors { code message field }
  }
}
"""
EXPORT = "{ exportCatalog }"
PLANS = """
{ plans(includeArchived: true) { edges { node { id version hasDraft isArchived } } } }
"""


def example() -> dict[str, Any]:
    document = yaml.safe_load(EXAMPLE_YAML)
    assert isinstance(document, dict)
    return document


def plan_doc(document: dict[str, Any], plan_id: str) -> dict[str, Any]:
    plans = document["products"][0]["plans"]
    found: dict[str, Any] = next(p for p in plans if p["id"] == plan_id)
    return found


async def apply(
    gql: GraphQLClient, document: Any, dry_run: bool | None = None
) -> tuple[list[tuple[str, str, str, str | None]], list[dict[str, Any]]]:
    payload = await gql.mutate(APPLY, {"catalog": document, "dryRun": dry_run})
    changes = [(c["kind"], c["entity"], c["id"], c["detail"]) for c in payload["changes"]]
    return changes, payload["errors"]


async def apply_ok(
    gql: GraphQLClient, document: Any, dry_run: bool | None = None
) -> list[tuple[str, str, str, str | None]]:
    changes, errors = await apply(gql, document, dry_run)
    assert errors == []
    return changes


async def export(gql: GraphQLClient) -> dict[str, Any]:
    document: dict[str, Any] = (await gql.execute(EXPORT))["exportCatalog"]
    return document


async def plan_states(gql: GraphQLClient) -> dict[str, tuple[int | None, bool, bool]]:
    edges = (await gql.execute(PLANS))["plans"]["edges"]
    return {
        e["node"]["id"]: (e["node"]["version"], e["node"]["hasDraft"], e["node"]["isArchived"])
        for e in edges
    }


EMPTY = {"version": 1, "features": [], "products": []}


# --- applying -----------------------------------------------------------------------------


async def test_apply_example_into_empty_environment_then_again_changes_nothing(
    gql: GraphQLClient,
) -> None:
    assert await apply_ok(gql, example()) == EXAMPLE_CHANGES
    assert await apply_ok(gql, example()) == []
    assert await plan_states(gql) == {
        "free": (1, False, False),
        "pro": (1, False, False),
        "enterprise": (1, False, False),
    }
    product = await gql.execute('{ product(id: "app") { defaultPlanId multipleSubscriptions } }')
    assert product == {"product": {"defaultPlanId": "free", "multipleSubscriptions": False}}


async def test_export_is_canonical_and_ordered(gql: GraphQLClient) -> None:
    await apply_ok(gql, example())
    document = await export(gql)
    assert [f["id"] for f in document["features"]] == [
        "api-calls",
        "retention-days",
        "seats",
        "sso",
    ]
    assert document["features"][1] == {
        "id": "retention-days",
        "name": "retention-days",
        "type": "CONFIGURATION",
        "valueType": "NUMBER",
    }
    (product,) = document["products"]
    assert [p["id"] for p in product["plans"]] == ["free", "pro", "enterprise"]
    assert "multipleSubscriptions" not in product  # defaults are left out
    assert product["defaultPlan"] == "free"
    assert product["plans"][1] == {
        "id": "pro",
        "name": "pro",
        "parent": "free",
        "pricingType": "PAID",
        "trial": {"days": 14, "endBehavior": "CONVERT_TO_PAID"},
        "entitlements": {
            "retention-days": {"value": 30},
            "seats": {"limit": 10},
            "sso": {},
        },
        "prices": [
            {"model": "FLAT_FEE", "billingPeriod": "MONTHLY", "amount": "49.00", "currency": "USD"}
        ],
    }
    assert product["addons"][0]["compatiblePlans"] == ["enterprise", "pro"]
    assert await apply_ok(gql, document) == []  # the export is what was applied


async def test_export_leaves_out_drafts_and_archived(gql: GraphQLClient) -> None:
    await apply_ok(gql, example())
    created = await gql.mutate(
        'mutation { createPlan(input: {id: "team", productId: "app", parentPlanId: "pro"}) '
        "{ errors { code } } }"
    )
    assert created == {"errors": []}
    document = await export(gql)
    assert [p["id"] for p in document["products"][0]["plans"]] == ["free", "pro", "enterprise"]
    # A never-published draft is not part of the catalog: applying leaves it alone.
    assert await apply_ok(gql, document) == []
    assert (await plan_states(gql))["team"] == (None, True, False)


async def test_dry_run_lists_the_changes_and_writes_nothing(gql: GraphQLClient) -> None:
    assert await apply_ok(gql, example(), dry_run=True) == EXAMPLE_CHANGES
    assert await export(gql) == EMPTY
    assert await plan_states(gql) == {}
    assert await apply_ok(gql, example(), dry_run=False) == EXAMPLE_CHANGES

    changed = example()
    plan_doc(changed, "free")["entitlements"]["seats"]["limit"] = 5
    del changed["features"][2]  # sso
    del plan_doc(changed, "pro")["entitlements"]["sso"]
    before = await export(gql)
    planned = await apply_ok(gql, changed, dry_run=True)
    assert planned == [
        ("PUBLISHED", "PLAN", "free", "version 2; changed: entitlements.seats"),
        ("PUBLISHED", "PLAN", "pro", "version 2; changed: entitlements.sso"),
        ("PUBLISHED", "PLAN", "enterprise", "version 2; includes pro version 2"),
        ("ARCHIVED", "FEATURE", "sso", None),
    ]
    assert await export(gql) == before
    assert await plan_states(gql) == {
        "free": (1, False, False),
        "pro": (1, False, False),
        "enterprise": (1, False, False),
    }
    assert await apply_ok(gql, changed) == planned
    assert await apply_ok(gql, changed) == []


async def test_all_or_nothing_when_the_last_plan_is_invalid(gql: GraphQLClient) -> None:
    await apply_ok(gql, example())
    before = await export(gql)
    states = await plan_states(gql)

    broken = example()
    broken["features"].append({"id": "audit-log", "type": "BOOLEAN"})
    plan_doc(broken, "free")["entitlements"]["seats"]["limit"] = 4
    plan_doc(broken, "enterprise")["entitlements"]["audit-log"] = {}
    # Valid in shape; refused only while applying (a FREE plan has no prices).
    broken["products"][0]["plans"].append(
        {
            "id": "starter",
            "parent": "enterprise",
            "pricingType": "FREE",
            "prices": [{"amount": "1.00", "currency": "USD"}],
        }
    )
    changes, errors = await apply(gql, broken)
    assert changes == []
    assert [(e["code"], e["field"]) for e in errors] == [
        ("INVALID_PRICE", ["products", "0", "plans", "3", "prices"])
    ]
    assert await export(gql) == before
    assert await plan_states(gql) == states
    features = await gql.execute("{ features(includeArchived: true) { totalCount } }")
    assert features["features"]["totalCount"] == 4


async def test_all_or_nothing_into_an_empty_environment(gql: GraphQLClient) -> None:
    broken = example()
    plan_doc(broken, "free")["trial"] = {"days": 7}  # a FREE plan has no trial
    broken["products"][0]["plans"].reverse()
    changes, errors = await apply(gql, broken)
    assert changes == []
    assert [(e["code"], e["field"]) for e in errors] == [
        ("INVALID_INPUT", ["products", "0", "plans", "2", "trial"])
    ]
    assert await export(gql) == EMPTY
    assert (await gql.execute("{ features(includeArchived: true) { totalCount } }")) == {
        "features": {"totalCount": 0}
    }


def _mutate(document: dict[str, Any], edit: str) -> dict[str, Any]:
    """Apply one named mistake to a copy of the example."""
    doc = copy.deepcopy(document)
    app = doc["products"][0]
    if edit == "unknown-top-key":
        doc["plans"] = []
    elif edit == "unknown-plan-key":
        app["plans"][1]["color"] = "blue"
    elif edit == "duplicate-feature":
        doc["features"].append({"id": "seats", "type": "BOOLEAN"})
    elif edit == "duplicate-plan-across-products":
        doc["products"].append({"id": "other", "plans": [{"id": "pro"}]})
    elif edit == "features-not-a-list":
        doc["features"] = {"seats": {"type": "METERED"}}
    elif edit == "limit-not-a-number":
        app["plans"][2]["entitlements"]["seats"] = {"limit": "ten"}
    elif edit == "unknown-feature":
        app["plans"][0]["entitlements"]["nope"] = {}
    elif edit == "cycle":
        app["plans"][0]["parent"] = "enterprise"
    elif edit == "parent-not-in-document":
        app["plans"][1]["parent"] = "basic"
    elif edit == "default-plan-not-in-document":
        app["defaultPlan"] = "basic"
    elif edit == "compatible-plan-not-in-document":
        app["addons"][0]["compatiblePlans"] = ["pro", "basic"]
    elif edit == "version":
        doc["version"] = 2
    elif edit == "bad-price":
        app["plans"][1]["prices"][0]["amount"] = 49.5
    elif edit == "parent-not-a-string":
        app["plans"][1]["parent"] = ["free"]
    elif edit == "plans-not-a-list":
        app["plans"] = {"free": {}}
        del app["defaultPlan"]
        del app["addons"]
    elif edit == "entitlements-not-a-map":
        app["plans"][0]["entitlements"] = ["seats"]
    elif edit == "max-quantity":
        app["addons"][0]["maxQuantity"] = True
    elif edit == "bad-feature-type":
        doc["features"][2]["type"] = "TOGGLE"
    return doc


@pytest.mark.parametrize(
    ("edit", "code", "field"),
    [
        ("unknown-top-key", "INVALID_CATALOG", ["plans"]),
        ("unknown-plan-key", "INVALID_CATALOG", ["products", "0", "plans", "1", "color"]),
        ("duplicate-feature", "DUPLICATE_ID", ["features", "4", "id"]),
        ("duplicate-plan-across-products", "DUPLICATE_ID", ["products", "1", "plans", "0", "id"]),
        ("features-not-a-list", "INVALID_CATALOG", ["features"]),
        (
            "limit-not-a-number",
            "INVALID_ENTITLEMENT",
            ["products", "0", "plans", "2", "entitlements", "seats", "limit"],
        ),
        (
            "unknown-feature",
            "FEATURE_NOT_FOUND",
            ["products", "0", "plans", "0", "entitlements", "nope"],
        ),
        ("cycle", "CIRCULAR_PLAN_PARENT", ["products", "0", "plans", "0", "parent"]),
        ("parent-not-in-document", "PLAN_NOT_FOUND", ["products", "0", "plans", "1", "parent"]),
        ("default-plan-not-in-document", "PLAN_NOT_FOUND", ["products", "0", "defaultPlan"]),
        (
            "compatible-plan-not-in-document",
            "PLAN_NOT_FOUND",
            ["products", "0", "addons", "0", "compatiblePlans", "1"],
        ),
        ("version", "INVALID_CATALOG", ["version"]),
        ("bad-price", "INVALID_PRICE", ["products", "0", "plans", "1", "prices", "0", "amount"]),
        ("bad-feature-type", "INVALID_INPUT", ["features", "2", "type"]),
        ("parent-not-a-string", "PLAN_NOT_FOUND", ["products", "0", "plans", "1", "parent"]),
        ("plans-not-a-list", "INVALID_CATALOG", ["products", "0", "plans"]),
        (
            "entitlements-not-a-map",
            "INVALID_CATALOG",
            ["products", "0", "plans", "0", "entitlements"],
        ),
        ("max-quantity", "INVALID_CATALOG", ["products", "0", "addons", "0", "maxQuantity"]),
    ],
)
async def test_malformed_documents_are_refused_with_their_path(
    gql: GraphQLClient, edit: str, code: str, field: list[str]
) -> None:
    changes, errors = await apply(gql, _mutate(example(), edit))
    assert changes == []
    assert [(e["code"], e["field"]) for e in errors] == [(code, field)], errors
    assert await export(gql) == EMPTY


async def test_every_mistake_is_reported_at_once(gql: GraphQLClient) -> None:
    doc = _mutate(_mutate(example(), "unknown-feature"), "limit-not-a-number")
    _, errors = await apply(gql, doc)
    assert sorted(e["code"] for e in errors) == ["FEATURE_NOT_FOUND", "INVALID_ENTITLEMENT"]


@pytest.mark.parametrize("document", [[], "features: []", 3])
async def test_a_document_must_be_an_object(gql: GraphQLClient, document: Any) -> None:
    changes, errors = await apply(gql, document)
    assert changes == []
    assert [(e["code"], e["field"]) for e in errors] == [("INVALID_CATALOG", [])]


async def test_errors_while_applying_carry_the_document_path(gql: GraphQLClient) -> None:
    await apply_ok(gql, example())
    doc = example()
    doc["features"][2]["type"] = "METERED"  # sso: a feature's type cannot change
    doc["features"][2]["unit"] = "x"
    del plan_doc(doc, "pro")["entitlements"]["sso"]
    _, errors = await apply(gql, doc)
    assert [(e["code"], e["field"]) for e in errors] == [
        ("INVALID_INPUT", ["features", "2", "type"])
    ]

    moved = example()
    moved["products"].append({"id": "other", "plans": [plan_doc(moved, "enterprise")]})
    moved["products"][1]["plans"][0]["parent"] = None
    moved["products"][0]["plans"].pop()
    moved["products"][0]["addons"][0]["compatiblePlans"] = ["pro"]
    _, errors = await apply(gql, moved)
    assert [(e["code"], e["field"]) for e in errors] == [
        ("INVALID_CATALOG", ["products", "1", "plans", "0", "id"])
    ]


# --- promotion, versions, archival ---------------------------------------------------------


async def test_export_then_apply_promotes_to_production(gql: GraphQLClient, tenant: Tenant) -> None:
    await apply_ok(gql, example())
    development = await export(gql)
    production = gql.with_key(tenant.server_keys["production"])
    assert await export(production) == EMPTY
    assert await apply_ok(production, development) == EXAMPLE_CHANGES_SORTED
    assert await export(production) == development
    assert await apply_ok(production, development) == []


# The export orders features and add-ons by id, so promoting it creates them in that order.
EXAMPLE_CHANGES_SORTED = [
    ("CREATED", "FEATURE", "api-calls", None),
    ("CREATED", "FEATURE", "retention-days", None),
    ("CREATED", "FEATURE", "seats", None),
    ("CREATED", "FEATURE", "sso", None),
    *EXAMPLE_CHANGES[4:],
]


async def test_changing_one_limit_publishes_a_new_version_of_that_plan_and_its_children(
    gql: GraphQLClient,
) -> None:
    await apply_ok(gql, example())
    changed = example()
    plan_doc(changed, "pro")["entitlements"]["seats"]["limit"] = 12
    # enterprise (child of pro) gets a version that includes pro v2 (docs/catalog.md).
    assert await apply_ok(gql, changed) == [
        ("PUBLISHED", "PLAN", "pro", "version 2; changed: entitlements.seats"),
        ("PUBLISHED", "PLAN", "enterprise", "version 2; includes pro version 2"),
    ]
    assert await plan_states(gql) == {
        "free": (1, False, False),
        "pro": (2, False, False),
        "enterprise": (2, False, False),
    }
    pro = plan_doc((await export(gql)), "pro")
    assert pro["entitlements"]["seats"] == {"limit": 12}
    assert await apply_ok(gql, changed) == []


async def test_renaming_a_plan_publishes_a_version_others_update(gql: GraphQLClient) -> None:
    await apply_ok(gql, example())
    changed = example()
    plan_doc(changed, "pro")["name"] = "Pro"
    changed["features"][0]["name"] = "Team seats"
    changed["products"][0]["multipleSubscriptions"] = True
    # Plan names are versioned (docs/catalog.md): the document declares the published one.
    assert await apply_ok(gql, changed) == [
        ("UPDATED", "FEATURE", "seats", "changed: name"),
        ("UPDATED", "PRODUCT", "app", "changed: multipleSubscriptions"),
        ("PUBLISHED", "PLAN", "pro", "version 2; changed: name"),
        ("PUBLISHED", "PLAN", "enterprise", "version 2; includes pro version 2"),
    ]
    assert (await plan_states(gql))["pro"] == (2, False, False)
    assert plan_doc(await export(gql), "pro")["name"] == "Pro"
    assert await apply_ok(gql, changed) == []


async def test_removing_a_plan_archives_it_and_bringing_it_back_restores_it(
    gql: GraphQLClient,
) -> None:
    await apply_ok(gql, example())
    without = example()
    without["products"][0]["plans"].pop()  # enterprise
    without["products"][0]["addons"][0]["compatiblePlans"] = ["pro"]
    assert await apply_ok(gql, without) == [
        ("PUBLISHED", "ADDON", "extra-seats", "version 2; changed: compatiblePlans"),
        ("ARCHIVED", "PLAN", "enterprise", None),
    ]
    assert (await plan_states(gql))["enterprise"] == (1, False, True)
    assert [p["id"] for p in (await export(gql))["products"][0]["plans"]] == ["free", "pro"]
    assert await apply_ok(gql, without) == []

    assert await apply_ok(gql, example()) == [
        ("UPDATED", "PLAN", "enterprise", "unarchived"),
        ("PUBLISHED", "ADDON", "extra-seats", "version 3; changed: compatiblePlans"),
    ]
    assert (await plan_states(gql))["enterprise"] == (1, False, False)


async def test_removing_a_parent_and_its_child_archives_children_first(
    gql: GraphQLClient,
) -> None:
    await apply_ok(gql, example())
    only_free = example()
    only_free["products"][0]["plans"] = [plan_doc(only_free, "free")]
    del only_free["products"][0]["addons"]
    assert await apply_ok(gql, only_free) == [
        ("ARCHIVED", "ADDON", "extra-seats", None),
        ("ARCHIVED", "PLAN", "enterprise", None),
        ("ARCHIVED", "PLAN", "pro", None),
    ]


async def test_removing_everything_archives_packages_before_features(
    gql: GraphQLClient,
) -> None:
    await apply_ok(gql, example())
    assert await apply_ok(gql, EMPTY) == [
        ("ARCHIVED", "ADDON", "extra-seats", None),
        ("ARCHIVED", "PLAN", "enterprise", None),
        ("ARCHIVED", "PLAN", "pro", None),
        ("ARCHIVED", "PLAN", "free", None),
        ("ARCHIVED", "PRODUCT", "app", None),
        ("ARCHIVED", "FEATURE", "api-calls", None),
        ("ARCHIVED", "FEATURE", "retention-days", None),
        ("ARCHIVED", "FEATURE", "seats", None),
        ("ARCHIVED", "FEATURE", "sso", None),
    ]
    assert await export(gql) == EMPTY
    restored = await apply_ok(gql, example())
    assert ("UPDATED", "PRODUCT", "app", "unarchived") in restored
    assert ("UPDATED", "FEATURE", "seats", "unarchived") in restored
    assert not [c for c in restored if c[0] in ("CREATED", "PUBLISHED")]
    assert await apply_ok(gql, example()) == []


async def test_enum_values_can_leave_a_feature_and_its_plans_in_one_document(
    gql: GraphQLClient,
) -> None:
    doc: dict[str, Any] = {
        "features": [
            {"id": "region", "type": "CONFIGURATION", "valueType": "ENUM",
             "enumValues": ["eu", "us", "apac"]},
        ],
        "products": [
            {"id": "app", "plans": [
                {"id": "basic", "entitlements": {"region": {"enumValues": ["eu", "apac"]}}},
            ]},
        ],
    }  # fmt: skip
    await apply_ok(gql, doc)
    doc["features"][0]["enumValues"] = ["eu", "us"]
    doc["products"][0]["plans"][0]["entitlements"]["region"]["enumValues"] = ["eu"]
    assert await apply_ok(gql, doc) == [
        ("UPDATED", "FEATURE", "region", "changed: enumValues"),
        ("PUBLISHED", "PLAN", "basic", "version 2; changed: entitlements.region"),
    ]
    exported = await export(gql)
    assert exported["features"][0]["enumValues"] == ["eu", "us"]
    assert await apply_ok(gql, doc) == []


async def test_client_key_is_forbidden(gql: GraphQLClient, tenant: Tenant) -> None:
    client = gql.with_key(tenant.client_key)
    for query, variables in ((EXPORT, None), (APPLY, {"catalog": example()})):
        body = (await client.post(query, variables)).json()
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
    assert await export(gql) == EMPTY


async def test_concurrent_applies_run_one_after_the_other(gql: GraphQLClient) -> None:
    first, second = await asyncio.gather(apply_ok(gql, example()), apply_ok(gql, example()))
    assert sorted([first, second], key=len) == [[], EXAMPLE_CHANGES]
