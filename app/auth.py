"""API keys and the principal a request acts as. Framework-free."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum


class KeyKind(StrEnum):
    """`server` keys have full access to their environment; `client` keys are publishable:
    entitlement checks and catalog reads only."""

    SERVER = "server"
    CLIENT = "client"


_PREFIXES = {KeyKind.SERVER: "allot_sk_", KeyKind.CLIENT: "allot_pk_"}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key, its kind and the environment everything is scoped to."""

    key_pk: uuid.UUID
    kind: KeyKind
    environment_pk: uuid.UUID
    environment_slug: str
    account_pk: uuid.UUID

    @property
    def is_server(self) -> bool:
        return self.kind is KeyKind.SERVER

    def may_read_customer(self, customer_id: str) -> bool:
        """Whether this caller may read one customer's entitlements and usage (checks, state,
        push). Server keys: any customer of the environment. Client keys: today any customer
        id they name (docs/security.md); the one place to narrow that."""
        del customer_id
        return True


def generate_key(kind: KeyKind) -> str:
    """A new secret: a readable prefix (kind) and 256 random bits."""
    return _PREFIXES[kind] + secrets.token_urlsafe(32)


def hash_key(secret: str) -> str:
    """Keys carry 256 bits of entropy, so a plain SHA-256 is enough (no stretching needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str) -> str:
    """What we keep in clear to let people recognise a key in a list."""
    return secret[:14]
