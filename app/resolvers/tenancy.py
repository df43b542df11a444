"""The caller's environment and its API keys."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import strawberry
from strawberry.types import Info

from app import customer_tokens, secrets_at_rest
from app.auth import KeyKind
from app.domain import audit
from app.errors import DomainError, ErrorCode
from app.models import ApiKey
from app.resolvers.catalog import audit_actor
from app.schema.common import ServerKeyOnly, ServerKeyOrAdminUser, UserError, user_errors
from app.schema.context import Context
from app.store import customers as customer_store
from app.store import tenancy as store

# The one definition of a key's kind is app.auth's (it decides what a key may do).
strawberry.enum(
    KeyKind, name="ApiKeyKind", description="server: full access; client: publishable, read-only."
)


@strawberry.type(name="Environment", description="The environment the calling key belongs to.")
class EnvironmentType:
    id: strawberry.ID = strawberry.field(description="Internal id of the environment.")
    slug: str = strawberry.field(description="Its name, e.g. development or production.")
    require_customer_tokens: bool = strawberry.field(
        description="Client keys read a customer's entitlements only with a customer token "
        "(createCustomerToken) for that customer."
    )


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


@strawberry.input(description="The customer a token lets a frontend read, and for how long.")
class CreateCustomerTokenInput:
    customer_id: str = strawberry.field(description="The customerId.")
    expires_in_seconds: int = strawberry.field(
        default=customer_tokens.DEFAULT_TTL_SECONDS,
        description=f"Lifetime, {customer_tokens.MIN_TTL_SECONDS} to "
        f"{customer_tokens.MAX_TTL_SECONDS} seconds.",
    )


@strawberry.type(description="Result of createCustomerToken.")
class CreateCustomerTokenPayload:
    token: str | None = strawberry.field(
        description="Send it as X-Allot-Customer-Token (HTTP) or customerToken (WebSocket "
        "connection_init) with a client key. A bearer credential: hand it to that customer's "
        "frontend only."
    )
    token_id: strawberry.ID | None = strawberry.field(
        description="The token's id, as the audit log names it (the token is never logged)."
    )
    customer_id: str | None = strawberry.field(description="The customer it is for.")
    expires_at: datetime | None = strawberry.field(description="When it stops being accepted.")
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.input(description="Environment settings to change (only the fields given).")
class UpdateEnvironmentSettingsInput:
    require_customer_tokens: bool | None = strawberry.field(
        default=None,
        description="Require a customer token for client-key reads of a customer.",
    )


@strawberry.type(description="Result of updateEnvironmentSettings.")
class EnvironmentPayload:
    environment: EnvironmentType | None = strawberry.field(description="The environment.")
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.type
class TenancyQuery:
    @strawberry.field(description="The environment of the calling key.")
    def environment(self, info: Info[Context, None]) -> EnvironmentType:
        principal = info.context.principal
        return EnvironmentType(
            id=strawberry.ID(str(principal.environment_pk)),
            slug=principal.environment_slug,
            require_customer_tokens=principal.customer_tokens_required,
        )

    @strawberry.field(
        description="API keys of this environment.", permission_classes=[ServerKeyOrAdminUser]
    )
    async def api_keys(self, info: Info[Context, None]) -> list[ApiKeyType]:
        async with info.context.db.session() as session:
            keys = await store.list_api_keys(session, info.context.environment_pk)
        return [key_view(k) for k in keys]


@strawberry.type
class TenancyMutation:
    @strawberry.mutation(
        description="Create an API key for this environment.",
        permission_classes=[ServerKeyOrAdminUser],
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
        permission_classes=[ServerKeyOrAdminUser],
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

    @strawberry.mutation(
        description="A short-lived signed token letting a client key read one customer's "
        "entitlements (and subscribe to them); see docs/security.md, Customer tokens.",
        permission_classes=[ServerKeyOnly],
    )
    async def create_customer_token(
        self, info: Info[Context, None], input: CreateCustomerTokenInput
    ) -> CreateCustomerTokenPayload:
        ctx = info.context
        ttl = input.expires_in_seconds
        if not customer_tokens.MIN_TTL_SECONDS <= ttl <= customer_tokens.MAX_TTL_SECONDS:
            error = DomainError(
                ErrorCode.INVALID_INPUT,
                f"expiresInSeconds must be between {customer_tokens.MIN_TTL_SECONDS} and "
                f"{customer_tokens.MAX_TTL_SECONDS}",
                ["expiresInSeconds"],
            )
            return _no_token(error)
        now = ctx.now()
        actor = audit_actor(ctx, info.field_name, now)
        async with audit.transaction(ctx.db, actor) as session:
            customer = await customer_store.get_customer(
                session, ctx.environment_pk, input.customer_id
            )
            if customer is None:
                return _no_token(
                    DomainError(
                        ErrorCode.CUSTOMER_NOT_FOUND,
                        f"no customer {input.customer_id!r} in this environment",
                        ["customerId"],
                    )
                )
            token_id = customer_tokens.new_token_id()
            keys = customer_tokens.signing_keys(secrets_at_rest.current().keys)
            token, expires = customer_tokens.mint(
                keys, ctx.environment_pk, customer.id, ttl, now.timestamp(), token_id
            )
            expires_at = datetime.fromtimestamp(expires, UTC)
            await store.record_customer_token(
                session, ctx.environment_pk, customer.pk, token_id, expires_at
            )
        return CreateCustomerTokenPayload(
            token=token,
            token_id=strawberry.ID(token_id),
            customer_id=customer.id,
            expires_at=expires_at,
            errors=[],
        )

    @strawberry.mutation(
        description="Change the environment's settings (only the fields given).",
        permission_classes=[ServerKeyOrAdminUser],
    )
    async def update_environment_settings(
        self, info: Info[Context, None], input: UpdateEnvironmentSettingsInput
    ) -> EnvironmentPayload:
        ctx = info.context
        actor = audit_actor(ctx, info.field_name, ctx.now())
        async with audit.transaction(ctx.db, actor) as session:
            environment = await store.update_environment_settings(
                session, ctx.environment_pk, input.require_customer_tokens
            )
        if ctx.services is not None:
            ctx.services.forget_all_keys()  # this process at once; the others on NOTIFY
        return EnvironmentPayload(
            environment=EnvironmentType(
                id=strawberry.ID(str(environment.pk)),
                slug=environment.slug,
                require_customer_tokens=environment.require_customer_tokens,
            ),
            errors=[],
        )


def _no_token(error: DomainError) -> CreateCustomerTokenPayload:
    return CreateCustomerTokenPayload(
        token=None, token_id=None, customer_id=None, expires_at=None, errors=user_errors(error)
    )
