"""Package versions through GraphQL: drafts, publishing, immutability of published versions,
discarding, archiving."""

from __future__ import annotations

import pytest

from tests.graphql.catalog_helpers import PLAN_FIELDS, ids, ok, plan, refused, standard_catalog
from tests.support import GraphQLClient


@pytest.fixture
async def catalog(gql: GraphQLClient) -> GraphQLClient:
    await standard_catalog(gql)
    await plan(gql, "free", pricingType="FREE", publish=True)
    return gql


async def read_plan(gql: GraphQLClient, plan_id: str) -> dict[str, object]:
    data = await gql.execute(f'{{ plan(id: "{plan_id}") {{ {PLAN_FIELDS} }} }}')
    assert data["plan"] is not None
    result: dict[str, object] = data["plan"]
    return result


async def test_version_lifecycle(catalog: GraphQLClient) -> None:
    created = await plan(
        catalog,
        "pro",
        name="Pro",
        parentPlanId="free",
        defaultTrial={"days": 14},
        entitlements=[{"featureId": "seats", "limit": 10}, {"featureId": "sso"}],
        prices=[{"amount": "49", "currency": "USD"}],
    )
    assert (created["version"], created["hasDraft"], created["versions"]) == (None, True, [])

    v1_plan = await ok(catalog, "publishPlan", {"id": "pro"})
    assert (v1_plan["version"], v1_plan["hasDraft"], v1_plan["draft"]) == (1, False, None)
    (v1,) = v1_plan["versions"]
    assert (v1["version"], v1["isDraft"], v1["migrateExistingSubscriptions"]) == (1, False, False)
    assert v1["entitlements"] == v1_plan["entitlements"]
    assert v1["prices"] == v1_plan["prices"]

    # An edit goes to a draft: what the plan shows (its latest version) does not move.
    edited = await ok(
        catalog,
        "updatePlan",
        {
            "id": "pro",
            "entitlements": [{"featureId": "seats", "limit": 20}],
            "defaultTrial": {"days": 30, "endBehavior": "CANCEL"},
        },
    )
    assert (edited["version"], edited["hasDraft"]) == (1, True)
    for key in ("entitlements", "prices", "defaultTrial", "parentPlanId", "pricingType"):
        assert edited[key] == v1_plan[key], key
    assert edited["versions"] == [v1]  # v1 itself is frozen
    draft = edited["draft"]
    assert (draft["version"], draft["isDraft"], draft["publishedAt"]) == (None, True, None)
    assert [(e["featureId"], e["usageLimit"]) for e in draft["entitlements"]] == [("seats", 20.0)]
    assert draft["defaultTrial"] == {"days": 30, "endBehavior": "CANCEL"}
    assert draft["prices"] == v1["prices"]  # untouched fields come from v1
    assert draft["parentPlanId"] == "free"

    # A second edit changes the same draft.
    again = await ok(catalog, "updatePlan", {"id": "pro", "prices": []})
    assert again["draft"]["prices"] == []
    assert again["draft"]["entitlements"] == draft["entitlements"]
    assert again["versions"] == [v1]

    v2_plan = await ok(catalog, "publishPlan", {"id": "pro", "migrateExistingSubscriptions": True})
    assert (v2_plan["version"], v2_plan["hasDraft"]) == (2, False)
    v2, still_v1 = v2_plan["versions"]
    assert still_v1 == v1
    assert (v2["version"], v2["migrateExistingSubscriptions"]) == (2, True)
    assert v2["publishedAt"] >= v1["publishedAt"]
    assert v2_plan["entitlements"] == v2["entitlements"] == again["draft"]["entitlements"]
    assert v2_plan["prices"] == []
    assert v2_plan["defaultTrial"] == {"days": 30, "endBehavior": "CANCEL"}
    assert v2_plan["name"] == "Pro"

    await refused(catalog, "publishPlan", {"id": "pro"}, "NOTHING_TO_PUBLISH", ["id"])
    assert await read_plan(catalog, "pro") == v2_plan


async def test_unchanged_update_creates_no_draft(catalog: GraphQLClient) -> None:
    published = await plan(
        catalog,
        "pro",
        entitlements=[{"featureId": "seats", "limit": 10}],
        prices=[{"amount": "49.00", "currency": "USD"}],
        publish=True,
    )
    # The same content, spelled differently ("49" is "49.00", "usd" is "USD", 10.0 is 10).
    same = await ok(
        catalog,
        "updatePlan",
        {
            "id": "pro",
            "pricingType": "PAID",
            "entitlements": [{"featureId": "seats", "limit": 10.0, "softLimit": False}],
            "prices": [{"amount": "49", "currency": "usd"}],
        },
    )
    assert (same["hasDraft"], same["draft"]) == (False, None)
    assert same == published
    await refused(catalog, "publishPlan", {"id": "pro"}, "NOTHING_TO_PUBLISH", ["id"])


async def test_editing_back_to_the_published_content_drops_the_draft(
    catalog: GraphQLClient,
) -> None:
    await plan(catalog, "pro", entitlements=[{"featureId": "seats", "limit": 10}], publish=True)
    changed = await ok(
        catalog, "updatePlan", {"id": "pro", "entitlements": [{"featureId": "seats", "limit": 11}]}
    )
    assert changed["hasDraft"] is True
    back = await ok(
        catalog, "updatePlan", {"id": "pro", "entitlements": [{"featureId": "seats", "limit": 10}]}
    )
    assert (back["hasDraft"], back["draft"]) == (False, None)
    await refused(catalog, "publishPlan", {"id": "pro"}, "NOTHING_TO_PUBLISH", ["id"])


NAMES = "name description version hasDraft draft { name description } versions { version name }"


async def test_names_and_descriptions_follow_versioning(catalog: GraphQLClient) -> None:
    await plan(catalog, "pro", name="Pro", description="v1", publish=True)
    renamed = await ok(catalog, "updatePlan", {"id": "pro", "name": "Professional"})
    # The edit is a draft: the plan (its latest version) keeps its published name.
    assert (renamed["name"], renamed["description"]) == ("Pro", "v1")
    assert (renamed["hasDraft"], renamed["version"]) == (True, 1)
    assert renamed["draft"]["name"] == "Professional"
    assert renamed["draft"]["description"] == "v1"
    assert [(v["version"], v["name"]) for v in renamed["versions"]] == [(1, "Pro")]
    data = await catalog.execute(f'{{ plan(id: "pro") {{ {NAMES} }} }}')
    assert (data["plan"]["name"], data["plan"]["description"]) == ("Pro", "v1")
    listed = await catalog.execute("{ plans(first: 100) { edges { node { id name } } } }")
    assert {"id": "pro", "name": "Pro"} in [e["node"] for e in listed["plans"]["edges"]]

    described = await ok(catalog, "updatePlan", {"id": "pro", "description": "For teams"})
    assert described["description"] == "v1"
    assert (described["draft"]["name"], described["draft"]["description"]) == (
        "Professional",
        "For teams",
    )

    published = await ok(catalog, "publishPlan", {"id": "pro"})
    assert (published["name"], published["description"]) == ("Professional", "For teams")
    assert [(v["version"], v["name"]) for v in published["versions"]] == [
        (2, "Professional"),
        (1, "Pro"),
    ]


async def test_a_name_edited_back_leaves_no_draft(catalog: GraphQLClient) -> None:
    await plan(catalog, "pro", name="Pro", publish=True)
    await ok(catalog, "updatePlan", {"id": "pro", "name": "Professional"})
    back = await ok(catalog, "updatePlan", {"id": "pro", "name": "Pro"})
    assert (back["hasDraft"], back["draft"]) == (False, None)
    await refused(catalog, "publishPlan", {"id": "pro"}, "NOTHING_TO_PUBLISH", ["id"])


async def test_a_never_published_plan_shows_its_draft_name(catalog: GraphQLClient) -> None:
    await plan(catalog, "pro", name="Pro")
    renamed = await ok(catalog, "updatePlan", {"id": "pro", "name": "Professional"})
    assert (renamed["name"], renamed["draft"]["name"]) == ("Professional", "Professional")


async def test_addon_names_follow_versioning(catalog: GraphQLClient) -> None:
    created = await ok(
        catalog,
        "createAddon",
        {"id": "extra", "productId": "app", "name": "Extra", "publish": True},
    )
    assert created["version"] == 1
    renamed = await ok(catalog, "updateAddon", {"id": "extra", "name": "More"})
    assert (renamed["name"], renamed["hasDraft"], renamed["draft"]["name"]) == (
        "Extra",
        True,
        "More",
    )
    published = await ok(catalog, "publishAddon", {"id": "extra"})
    assert published["name"] == "More"


async def test_discard_draft(catalog: GraphQLClient) -> None:
    published = await plan(
        catalog, "pro", entitlements=[{"featureId": "seats", "limit": 10}], publish=True
    )
    await ok(
        catalog, "updatePlan", {"id": "pro", "entitlements": [{"featureId": "seats", "limit": 99}]}
    )
    discarded = await ok(catalog, "discardPlanDraft", {"id": "pro"})
    assert discarded == published
    # No draft left to discard, nothing to publish.
    await refused(catalog, "discardPlanDraft", {"id": "pro"}, "NOTHING_TO_PUBLISH", ["id"])
    await refused(catalog, "publishPlan", {"id": "pro"}, "NOTHING_TO_PUBLISH", ["id"])


async def test_a_never_published_plan_keeps_its_draft(catalog: GraphQLClient) -> None:
    await plan(catalog, "pro")
    await refused(catalog, "discardPlanDraft", {"id": "pro"}, "NOTHING_TO_PUBLISH", ["id"])


async def test_versions_are_numbered_densely(catalog: GraphQLClient) -> None:
    await plan(catalog, "pro", entitlements=[{"featureId": "seats", "limit": 1}], publish=True)
    for limit in (2, 3, 4):
        entitlements = [{"featureId": "seats", "limit": limit}]
        await ok(catalog, "updatePlan", {"id": "pro", "entitlements": entitlements})
        await ok(catalog, "publishPlan", {"id": "pro"})
    final = await read_plan(catalog, "pro")
    assert final["version"] == 4
    versions = final["versions"]
    assert isinstance(versions, list)
    assert [v["version"] for v in versions] == [4, 3, 2, 1]
    assert [v["entitlements"][0]["usageLimit"] for v in versions] == [4.0, 3.0, 2.0, 1.0]


async def test_archived_plan(catalog: GraphQLClient) -> None:
    await plan(catalog, "pro", publish=True)
    await ok(catalog, "updatePlan", {"id": "pro", "entitlements": [{"featureId": "sso"}]})
    archived = await ok(catalog, "archivePlan", {"id": "pro"})
    assert archived["isArchived"] is True
    await refused(catalog, "updatePlan", {"id": "pro", "name": "x"}, "ARCHIVED", ["id"])
    await refused(catalog, "publishPlan", {"id": "pro"}, "ARCHIVED", ["id"])
    # Hidden from lists unless asked for; still readable by id.
    listed = (await catalog.execute("{ plans { totalCount edges { node { id } } } }"))["plans"]
    assert (ids(listed), listed["totalCount"]) == (["free"], 1)
    every = await catalog.execute(
        "{ plans(includeArchived: true) { totalCount edges { node { id } } } }"
    )
    assert ids(every["plans"]) == ["free", "pro"]
    assert await read_plan(catalog, "pro") == archived
    # Archiving again changes nothing; the id stays taken.
    assert await ok(catalog, "archivePlan", {"id": "pro"}) == archived
    await refused(catalog, "createPlan", {"id": "pro", "productId": "app"}, "DUPLICATE_ID", ["id"])


async def test_a_plan_cannot_become_a_child_of_an_archived_plan(catalog: GraphQLClient) -> None:
    await plan(catalog, "legacy", publish=True)
    await ok(catalog, "archivePlan", {"id": "legacy"})
    await refused(
        catalog,
        "updatePlan",
        {"id": "free", "parentPlanId": "legacy"},
        "PLAN_NOT_FOUND",
        ["parentPlanId"],
    )


async def test_a_parent_in_a_draft_blocks_archiving(catalog: GraphQLClient) -> None:
    await plan(catalog, "pro", publish=True)
    await ok(catalog, "updatePlan", {"id": "pro", "parentPlanId": "free"})
    await refused(catalog, "archivePlan", {"id": "free"}, "INVALID_INPUT", ["id"])


async def test_a_parent_only_in_the_published_version_blocks_archiving(
    catalog: GraphQLClient,
) -> None:
    await plan(catalog, "pro", parentPlanId="free", publish=True)
    await ok(catalog, "updatePlan", {"id": "pro", "parentPlanId": None})
    # pro v1 (what customers subscribe to until the draft is published) still names free.
    await refused(catalog, "archivePlan", {"id": "free"}, "INVALID_INPUT", ["id"])
    await ok(catalog, "publishPlan", {"id": "pro"})
    assert (await ok(catalog, "archivePlan", {"id": "free"}))["isArchived"] is True
