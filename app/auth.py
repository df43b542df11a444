"""API keys and the principal a request acts as. Framework-free."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum

from app import customer_tokens, secrets_at_rest
from app.customer_tokens import TokenRefused


class KeyKind(StrEnum):
    """`server` keys have full access to their environment; `client` keys are publishable:
    entitlement checks and catalog reads only."""

    SERVER = "server"
    CLIENT = "client"


class UserRole(StrEnum):
    """What a console user may do: `admin` manages users and API keys besides everything a
    `member` does (a member acts with a server key's rights otherwise)."""

    ADMIN = "admin"
    MEMBER = "member"


_PREFIXES = {KeyKind.SERVER: "allot_sk_", KeyKind.CLIENT: "allot_pk_"}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key, its kind and the environment everything is scoped to; with a
    customer token (`principal_with_token`), the one customer it names."""

    key_pk: uuid.UUID
    kind: KeyKind
    environment_pk: uuid.UUID
    environment_slug: str
    account_pk: uuid.UUID
    # The environment's `requireCustomerTokens`: client keys read no customer without one.
    customer_tokens_required: bool = False
    # The customer of the token the request presented (None: no token).
    customer_id: str | None = None
    # A console session's user (then `key_pk` is the session's id and `kind` is server).
    user_pk: uuid.UUID | None = None
    user_role: UserRole | None = None

    @property
    def is_user(self) -> bool:
        return self.user_pk is not None

    @property
    def is_admin_user(self) -> bool:
        return self.user_role is UserRole.ADMIN

    @property
    def is_server(self) -> bool:
        return self.kind is KeyKind.SERVER

    def may_read_customer(self, customer_id: str) -> bool:
        """Whether this caller may read one customer's entitlements and usage (checks, state,
        push). Server keys: any customer of the environment. Client keys with a customer
        token: that customer only. Client keys without one: any customer id they name, unless
        the environment requires tokens (docs/security.md, Customer tokens)."""
        if self.kind is KeyKind.SERVER:
            return True
        if self.customer_id is not None:
            return customer_id == self.customer_id
        return not self.customer_tokens_required

    def refusal_for_customer(self, customer_id: str) -> str | None:
        """Why `may_read_customer(customer_id)` is False (a message for the client), or None."""
        if self.may_read_customer(customer_id):
            return None
        if self.customer_id is not None:
            return "The customer token is for another customer."
        return (
            "This environment requires a customer token (X-Allot-Customer-Token) for "
            "client-key reads of a customer."
        )


def principal_with_token(
    principal: Principal, token: object, now: float | None = None
) -> Principal | TokenRefused:
    """`principal` narrowed to the customer of a customer token (the X-Allot-Customer-Token
    header, or `customerToken` of a WebSocket `connection_init`), or why the token is refused
    (answer UNAUTHENTICATED). No token (None): `principal` as it is; anything but a string is
    refused. A token is checked whatever the key's kind; it narrows what a client key may
    read (server keys read any customer)."""
    if token is None:
        return principal
    if not isinstance(token, str):  # e.g. a WebSocket payload's `customerToken: 42`
        return TokenRefused("The customer token must be a string.")
    verifier = customer_tokens.verifier_for(secrets_at_rest.current().keys)
    try:
        claims = verifier.verify(token, now)
    except TokenRefused as refused:
        return refused
    if claims.environment_pk != principal.environment_pk:
        return TokenRefused("The customer token belongs to another environment.")
    return dataclasses.replace(principal, customer_id=claims.customer_id)


def generate_key(kind: KeyKind) -> str:
    """A new secret: a readable prefix (kind) and 256 random bits."""
    return _PREFIXES[kind] + secrets.token_urlsafe(32)


def hash_key(secret: str) -> str:
    """Keys carry 256 bits of entropy, so a plain SHA-256 is enough (no stretching needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str) -> str:
    """What we keep in clear to let people recognise a key in a list."""
    return secret[:14]
