"""Every enum of the GraphQL schema is a class of the layer whose rules use it, exposed with
`strawberry.enum(…)`, never a copy kept by hand in the schema or the resolvers (issue 11: a
copy had already drifted)."""

from __future__ import annotations

import graphql

from app.resolvers.root import build_schema

# Where an enum may be defined: the rules (the domain), the error codes every layer raises,
# and what a key may do (app/auth.py decides it for every entry point).
HOMES = ("app.domain.", "app.errors", "app.auth")


def test_every_schema_enum_is_defined_in_the_domain() -> None:
    schema = build_schema()
    homes = {}
    for name, gql_type in schema._schema.type_map.items():
        if isinstance(gql_type, graphql.GraphQLEnumType) and not name.startswith("__"):
            definition = (gql_type.extensions or {})["strawberry-definition"]
            homes[name] = definition.wrapped_cls.__module__
    assert {"InvoiceStatus", "InvoiceLineKind", "WebhookDeliveryStatus", "UsageMode"} <= set(homes)
    elsewhere = {name: home for name, home in homes.items() if not home.startswith(HOMES)}
    assert elsewhere == {}
