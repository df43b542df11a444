"""Floor (m): a minimal strawberry app answering `{ __typename }` — strawberry's own ASGI view
on Starlette, one `Query` type, with strawberry's parser and validation caches (what its docs
recommend; without them it answers a quarter as fast), no auth, no limits, no database: what
GraphQL over HTTP costs on this machine with nothing of allot's in it (issue 11 measures
allot's check against it)."""

from __future__ import annotations

import strawberry
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache


@strawberry.type
class Query:
    @strawberry.field
    def ok(self) -> bool:
        return True


schema = strawberry.Schema(
    query=Query, extensions=[lambda: ParserCache(maxsize=128), lambda: ValidationCache(maxsize=128)]
)
app = Starlette(routes=[Route("/graphql", GraphQL(schema))])
