"""The caller's environment and its API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry
from strawberry.types import Info

from app.auth import KeyKind
from app.domain import audit
from app.errors import DomainError, ErrorCode
from app.models import ApiKey
from app.resolvers.catalog import audit_actor
from app.schema.common import ServerKeyOnly, UserError, user_errors
from app.schema.context import Context
from app.store import tenancy as store

# The one definition of a key's kind is app.auth's (it decides what a key may do).
strawberry.enum(
    KeyKind, name="ApiKeyKind", description="server: full access; client: publishable, read-only."
)


@strawberry.type(name="Environment", description="The environment the calling key belongs to.")
class EnvironmentType:
    id: strawberry.ID = strawberry.field(description="Internal id of the environment.")
    slug: str = strawberry.field(description="Its name, e.g. development or production.")


@strawberry.type(
    name="ApiKey", description="An API key (its secret is shown only once, at creation)."
)
class ApiKeyType:
    id: strawberry.ID = strawberry.field(description="The key's id, used to revoke it.")
    kind: KeyKind = strawberry.field(description="server or client.")
    name: str = strawberry.field(description="A label.")
    prefix: str = strawberry.field(description="The first characters of the secret.")
    created_at: datetime = strawberry.field(description="When it was created.")
    revoked_at: datetime | None = strawberry.field(description="When it was revoked.")


def key_view(key: ApiKey) -> ApiKeyType:
    return ApiKeyType(
        id=strawberry.ID(str(key.pk)),
        kind=KeyKind(key.kind),
        name=key.name,
        prefix=key.prefix,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


@strawberry.input(description="A new key for the caller's environment.")
class CreateApiKeyInput:
    kind: KeyKind = strawberry.field(description="server or client.")
    name: str = strawberry.field(default="", description="A label.")


@strawberry.input(description="The key to revoke.")
class RevokeApiKeyInput:
    id: strawberry.ID = strawberry.field(description="The key's id.")


@strawberry.type(description="Result of createApiKey.")
class CreateApiKeyPayload:
    api_key: ApiKeyType | None = strawberry.field(description="The key.")
    secret: str | None = strawberry.field(description="The secret: shown this once only.")
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.type(description="Result of revokeApiKey.")
class ApiKeyPayload:
    api_key: ApiKeyType | None = strawberry.field(description="The key.")
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.type
class TenancyQuery:
    @strawberry.field(description="The environment of the calling key.")
    def environment(self, info: Info[Context, None]) -> EnvironmentType:
        principal = info.context.principal
        return EnvironmentType(
            id=strawberry.ID(str(principal.environment_pk)), slug=principal.environment_slug
        )

    @strawberry.field(
        description="API keys of this environment.", permission_classes=[ServerKeyOnly]
    )
    async def api_keys(self, info: Info[Context, None]) -> list[ApiKeyType]:
        async with info.context.db.session() as session:
            keys = await store.list_api_keys(session, info.context.environment_pk)
        return [key_view(k) for k in keys]


@strawberry.type
class TenancyMutation:
    @strawberry.mutation(
        description="Create an API key for this environment.", permission_classes=[ServerKeyOnly]
    )
    async def create_api_key(
        self, info: Info[Context, None], input: CreateApiKeyInput
    ) -> CreateApiKeyPayload:
        ctx = info.context
        actor = audit_actor(ctx, info.field_name, ctx.now())
        async with audit.transaction(ctx.db, actor) as session:
            key, secret = await store.create_api_key(
                session, ctx.environment_pk, KeyKind(input.kind.value), input.name
            )
        return CreateApiKeyPayload(api_key=key_view(key), secret=secret, errors=[])

    @strawberry.mutation(
        description="Revoke an API key of this environment, at once.",
        permission_classes=[ServerKeyOnly],
    )
    async def revoke_api_key(
        self, info: Info[Context, None], input: RevokeApiKeyInput
    ) -> ApiKeyPayload:
        ctx = info.context
        try:
            key_pk = uuid.UUID(str(input.id))
        except ValueError:
            key_pk = None
        actor = audit_actor(ctx, info.field_name, ctx.now())
        async with audit.transaction(ctx.db, actor) as session:
            key = (
                None
                if key_pk is None
                else await store.revoke_api_key(session, ctx.environment_pk, key_pk, ctx.now())
            )
        if key is None:
            error = DomainError(
                ErrorCode.API_KEY_NOT_FOUND,
                "no active key with that id in this environment",
                ["id"],
            )
            return ApiKeyPayload(api_key=None, errors=user_errors(error))
        if ctx.services is not None:
            ctx.services.forget_key(key.pk)
        return ApiKeyPayload(api_key=key_view(key), errors=[])
