"""The insights' columns on `customer_feature_entitlements` (migration 0020) always agree with
the stored entitlement document: `environment_pk` is the customer's environment, and
`granted`, `metered` and `usage_limit` (the effective limit: none when not granted,
unlimited or without a limit) are what the document says, after every kind of rewrite that
`save_entitlements` makes (a new feature, a changed one, an unchanged one, one taken away,
all taken away) and after the rewrites the API makes (provisioning, a plan change, a
promotion, a cancellation)."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.db import Database
from app.domain import audit
from app.domain.audit import AuditActor
from app.domain.entitlement_sources import EffectiveEntitlement, FeatureType
from app.models.customers import Customer
from app.store import customers as store
from tests.graphql.entitlements.catalog import apply_catalog, new_customer
from tests.graphql.usage.helpers import customer_pk
from tests.support import GraphQLClient, Tenant, make_tenant

NOW = datetime(2031, 1, 10, 12, 0, tzinfo=UTC)
FEATURES = ["seats", "api-calls", "sso", "retention"]
_examples = itertools.count()

limits = (
    st.none()
    | st.sampled_from([0.0, 0.5, 1.0, 80.0, 1e308])
    | st.floats(min_value=-1e6, max_value=1e12, allow_nan=False)
)


@st.composite
def entitlements(draw: st.DrawFn, feature_id: str) -> dict[str, Any]:
    unlimited = draw(st.booleans())
    return EffectiveEntitlement(
        feature_id=feature_id,
        feature_type=draw(st.sampled_from(list(FeatureType))),
        granted=draw(st.booleans()),
        has_active_subscription=draw(st.booleans()),
        # The domain leaves the limit out when unlimited; a document that holds both is
        # still read as unlimited.
        usage_limit=draw(limits),
        is_unlimited=unlimited,
        is_soft_limit=draw(st.booleans()),
    ).to_dict()


@st.composite
def documents(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    chosen = draw(st.lists(st.sampled_from(FEATURES), unique=True, max_size=len(FEATURES)))
    return {f: draw(entitlements(f)) for f in chosen}


def expected(env: uuid.UUID, doc: dict[str, Any]) -> tuple[uuid.UUID, bool, bool, float | None]:
    """What the columns must hold, from the document as the domain reads it."""
    e = EffectiveEntitlement.from_dict(doc)
    limit = None if not e.granted or e.is_unlimited else e.usage_limit
    return env, e.granted, e.feature_type is FeatureType.METERED, limit


async def stored(db: Database, pks: list[uuid.UUID]) -> dict[tuple[uuid.UUID, str], Any]:
    pool = await db.pool()
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT customer_pk, feature_id, entitlement, environment_pk, granted, metered, "
            "usage_limit FROM customer_feature_entitlements WHERE customer_pk = ANY($1::uuid[])",
            pks,
        )
    return {
        (r["customer_pk"], r["feature_id"]): (
            r["entitlement"],
            (r["environment_pk"], r["granted"], r["metered"], r["usage_limit"]),
        )
        for r in rows
    }


def agree(rows: dict[tuple[uuid.UUID, str], Any], envs: dict[uuid.UUID, uuid.UUID]) -> None:
    for (pk, feature), (doc, columns) in rows.items():
        assert columns == expected(envs[pk], doc), (feature, doc, columns)


@settings(max_examples=60, deadline=None)
@given(rewrites=st.lists(st.tuples(st.integers(0, 1), documents()), min_size=1, max_size=8))
async def test_the_columns_follow_every_rewrite(
    db: Database, rewrites: list[tuple[int, dict[str, dict[str, Any]]]]
) -> None:
    tenant = await make_tenant(db)
    env = tenant.environments["development"]
    n = next(_examples)
    customers = [Customer(environment_pk=env, id=f"cols{n}-{i}") for i in range(2)]
    async with audit.transaction(db, AuditActor.cli("tests: insight columns")) as session:
        session.add_all(customers)
    pks = [c.pk for c in customers]
    last: dict[uuid.UUID, dict[str, Any]] = {pk: {} for pk in pks}
    for which, doc in rewrites:
        pk = pks[which]
        async with db.transaction() as session:
            await store.save_entitlements(session, pk, env, doc, True, None, NOW)
        last[pk] = doc
        rows = await stored(db, pks)
        assert {k: v[0] for k, v in rows.items()} == {
            (p, f): e for p, d in last.items() for f, e in d.items()
        }
        agree(rows, {p: env for p in pks})


async def test_the_columns_follow_the_api(gql: GraphQLClient, tenant: Tenant, db: Database) -> None:
    await apply_catalog(gql)
    env = tenant.environments["development"]
    made = await new_customer(gql, "cols-api", subscription={"planId": "pro", "skipTrial": True})
    sub = made["subscription"]["id"]
    pk = await customer_pk(db, env, "cols-api")
    seen = await stored(db, [pk])
    assert any(columns[2] and columns[3] is not None for _, columns in seen.values())
    agree(seen, {pk: env})

    steps = [
        (
            "updateSubscription",
            "UpdateSubscriptionInput",
            {
                "subscriptionId": sub,
                "entitlements": [
                    {"featureId": "seats", "limit": 42},
                    {"featureId": "api-calls", "unlimited": True},
                ],
            },
        ),
        (
            "grantPromotionalEntitlements",
            "GrantPromotionalEntitlementsInput",
            {
                "customerId": "cols-api",
                "grants": [{"featureId": "seats", "limit": 700, "duration": "ONE_MONTH"}],
            },
        ),
        ("cancelSubscription", "CancelSubscriptionInput", {"subscriptionId": sub}),
    ]
    for name, input_type, arguments in steps:
        payload = await gql.mutate(
            f"mutation($i: {input_type}!) {{ {name}(input: $i) {{ errors {{ code }} }} }}",
            {"i": arguments},
        )
        assert payload["errors"] == [], (name, payload)
        # A check reads (and so rewrites, when due) the stored entitlements.
        await gql.execute('query { entitlements(customerId: "cols-api") { featureId usageLimit } }')
        seen = await stored(db, [pk])
        assert seen, name
        agree(seen, {pk: env})
