"""The schema: every area's query and mutation roots merged, with the limits and caches."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from app.request_context import current_request_id
from app.resolvers.audit import AuditQuery
from app.resolvers.billing import BillingMutation, BillingQuery
from app.resolvers.catalog import CatalogMutation, CatalogQuery
from app.resolvers.catalog_code import CatalogCodeMutation, CatalogCodeQuery
from app.resolvers.customers import CustomerMutation, CustomerQuery
from app.resolvers.insights import InsightsQuery
from app.resolvers.push import PushQuery, PushSubscription
from app.resolvers.tenancy import TenancyMutation, TenancyQuery
from app.resolvers.usage import UsageMutation, UsageQuery
from app.resolvers.users import UserMutation, UserQuery
from app.resolvers.webhooks import WebhookMutation, WebhookQuery
from app.schema.common import ClientError
from app.schema.documents import CheckedDocuments, DocumentChecker
from app.schema.input_boundary import DATETIME, json_scalar
from app.settings import Settings

log = logging.getLogger("allot.graphql")

QUERY_ROOTS: tuple[type, ...] = (
    TenancyQuery,
    CatalogQuery,
    CatalogCodeQuery,
    CustomerQuery,
    UsageQuery,
    WebhookQuery,
    AuditQuery,
    BillingQuery,
    PushQuery,
    UserQuery,
    InsightsQuery,
)
MUTATION_ROOTS: tuple[type, ...] = (
    TenancyMutation,
    CatalogMutation,
    CatalogCodeMutation,
    CustomerMutation,
    UsageMutation,
    WebhookMutation,
    BillingMutation,
    UserMutation,
)


def _should_mask(error: GraphQLError) -> bool:
    """Mask unexpected exceptions only: GraphQL syntax/validation errors and errors meant for
    the client (permissions, ClientError) are shown as they are."""
    original = error.original_error
    if original is None or isinstance(original, ClientError | GraphQLError):
        return False
    if error.path is None:
        # Raised before any resolver ran: a literal or variable a scalar could not coerce
        # ("infinity" as a DateTime). The caller's mistake, answered as graphql-core words it.
        return False
    return not getattr(original, "extensions", None)


class AllotSchema(strawberry.Schema):
    """strawberry's schema, with the one document checker every entry point uses
    (app/schema/documents.py).

    strawberry logs every GraphQL error at ERROR with a traceback, the caller's mistakes
    included. Here only internal errors are, once, with the request id the client is shown;
    client errors get one INFO line where they are answered (app/web/graphql.py)."""

    documents: DocumentChecker

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        context = execution_context.context if execution_context is not None else None
        request_id = getattr(context, "request_id", None) or current_request_id.get()
        for error in errors:
            if _should_mask(error):
                log.error(
                    "internal error at %s (request %s)",
                    error.path,
                    request_id,
                    exc_info=error.original_error,
                )


class MaskInternalErrors(MaskErrors):
    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return GraphQLError(
            message="Internal server error.",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR"},
        )


def build_schema(settings: Settings | None = None) -> AllotSchema:
    settings = settings or Settings()
    query: Any = merge_types("Query", QUERY_ROOTS)
    query.__strawberry_definition__.description = (
        "Reads, scoped to the environment of the calling key."
    )
    mutation: Any = merge_types("Mutation", MUTATION_ROOTS)
    mutation.__strawberry_definition__.description = (
        "Changes, scoped to the environment of the calling key; each takes one `input` and "
        "returns a payload with `errors`. Client (publishable) keys may not call them."
    )
    subscription: Any = merge_types("Subscription", (PushSubscription,))
    subscription.__strawberry_definition__.description = (
        "Push over graphql-transport-ws on /graphql, scoped to the environment of the key "
        "given in connection_init (docs/push.md)."
    )
    documents = DocumentChecker(settings)
    schema = AllotSchema(
        query=query,
        mutation=mutation,
        subscription=subscription,
        config=StrawberryConfig(auto_camel_case=True),
        # The input boundary (app/schema/input_boundary.py): bounded dates, bounded JSON.
        scalar_overrides={
            datetime: DATETIME,
            JSON: json_scalar(settings.max_json_depth, settings.max_json_bytes),
        },
        extensions=[
            # Factories: a fresh extension per request. Parsing, the request budget and
            # validation happen once per query text, in the checker (app/schema/documents.py).
            lambda: CheckedDocuments(documents),
            lambda: MaskInternalErrors(should_mask_error=_should_mask),
        ],
    )
    documents.bind(schema._schema)
    schema.documents = documents
    return schema


def schema_sdl() -> str:
    """The SDL of `schema.graphql`, opened by an explicit `schema { … }` block: graphql-core
    leaves it out when the roots have their conventional names, and tools reading the file
    should not have to guess which types are the roots."""
    schema = build_schema()
    graphql_schema = schema._schema
    roots = [
        ("query", graphql_schema.query_type),
        ("mutation", graphql_schema.mutation_type),
        ("subscription", graphql_schema.subscription_type),
    ]
    block = "".join(f"  {kind}: {root.name}\n" for kind, root in roots if root is not None)
    body = str(schema.as_str())
    if not body.startswith("schema {"):
        body = "schema {\n" + block + "}\n\n" + body
    return body + "\n"
