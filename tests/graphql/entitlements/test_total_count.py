"""`totalCount` is counted only when the query selects it: counting a connection reads the
whole list (100,000 customers: bench/scale.py), a page only its first rows."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from tests.graphql.entitlements.catalog import apply_catalog, new_customer
from tests.graphql.entitlements.test_query_count import count_statements
from tests.support import GraphQLClient

# Every connection root of the schema, with the arguments it needs.
ROOTS = [
    "customers",
    "features",
    "products",
    "plans",
    "addons",
    "webhookEndpoints",
    "webhookDeliveries",
    "auditLog",
    "invoices",
]


def _counts(statements: list[str]) -> list[str]:
    return [s for s in statements if "count(*)" in s.lower()]


@pytest.mark.parametrize("root", ROOTS)
async def test_total_count_only_when_selected(
    gql: GraphQLClient, app: Starlette, root: str
) -> None:
    await apply_catalog(gql)
    for i in range(3):
        await new_customer(gql, f"c{i}", subscription={"planId": "pro", "skipTrial": True})
    page = f"{{ {root}(first: 1) {{ edges {{ cursor }} pageInfo {{ hasNextPage }} }} }}"
    with count_statements(app) as without:
        plain = await gql.execute(page)
    assert _counts(without) == [], without
    shapes = [
        f"{{ {root}(first: 1) {{ totalCount edges {{ cursor }} }} }}",
        f"{{ {root}(first: 1) {{ n: totalCount }} }}",
        f"{{ {root}(first: 1) {{ ...total }} }} fragment total on {_type(root)} {{ totalCount }}",
        f"{{ {root}(first: 1) {{ ... on {_type(root)} {{ totalCount }} }} }}",
    ]
    answers = []
    for shape in shapes:
        with count_statements(app) as seen:
            data = await gql.execute(shape)
        assert len(_counts(seen)) == 1, (shape, seen)
        connection = data[root]
        answers.append(connection.get("totalCount", connection.get("n")))
    assert len(set(answers)) == 1, answers
    # the same total whichever way it is asked, and pages without it are unchanged
    every = "totalCount edges { cursor } pageInfo { hasNextPage }"
    full = await gql.execute(f"{{ {root}(first: 1) {{ {every} }} }}")
    assert full[root]["edges"] == plain[root]["edges"]
    assert full[root]["pageInfo"] == plain[root]["pageInfo"]
    assert full[root]["totalCount"] == answers[0]
    if root == "customers":
        assert answers[0] == 3


def _type(root: str) -> str:
    names = {
        "customers": "Customer",
        "features": "Feature",
        "products": "Product",
        "plans": "Plan",
        "addons": "Addon",
        "webhookEndpoints": "WebhookEndpoint",
        "webhookDeliveries": "WebhookDelivery",
        "auditLog": "AuditEntry",
        "invoices": "Invoice",
    }
    return f"{names[root]}Connection"
