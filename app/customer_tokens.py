"""Customer tokens: short-lived signed statements "this bearer may read customer C of
environment E until T", minted by a server key (`createCustomerToken`) and presented with a
client key (`X-Allot-Customer-Token`, or `customerToken` in a WebSocket `connection_init`).

A token is a JWT (HS256, PyJWT) with `sub` = the customer id, `env` = the environment's pk,
`jti` = the token's id (its audit entry), `iat`/`exp`, and fixed `iss`/`aud`. The HMAC key is
derived from the installation's secret key (app/secrets_at_rest.py): HMAC-SHA256 of each
Fernet key over a purpose label, so no new secret has to be kept, a database dump cannot
forge tokens, and during a key rotation (ALLOT_SECRET_KEY="new,old") tokens signed under the
old key stay valid until they expire (the first key signs, every key verifies).

Verification is stateless (no database read). Verified tokens are kept for their lifetime
in a bounded per-process cache keyed by the token text, so a client sending the same token
with every check pays one dictionary lookup after the first; expiry is checked on every use.
Framework-free.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from base64 import urlsafe_b64decode
from dataclasses import dataclass

import jwt

ISSUER = "allot"
AUDIENCE = "allot:customer"
ALGORITHM = "HS256"
MIN_TTL_SECONDS = 60
MAX_TTL_SECONDS = 86_400
DEFAULT_TTL_SECONDS = 900
MAX_TOKEN_CHARS = 2_000
CACHE_ENTRIES = 10_000
_PURPOSE = b"allot customer tokens v1"


@dataclass(frozen=True)
class CustomerClaims:
    """What a valid token says."""

    token_id: str
    environment_pk: uuid.UUID
    customer_id: str
    expires_at: float  # Unix seconds


class TokenRefused(Exception):
    """A token that is malformed, forged, expired or for another environment: the request
    is refused as UNAUTHENTICATED (HTTP 401). The message is fit for the client."""


def signing_keys(fernet_keys: list[str]) -> list[bytes]:
    """The HMAC keys derived from the installation's Fernet keys (first one signs)."""
    return [
        hmac.new(urlsafe_b64decode(key.encode()), _PURPOSE, hashlib.sha256).digest()
        for key in fernet_keys
    ]


def new_token_id() -> str:
    return "ct_" + secrets.token_urlsafe(12)


def mint(
    keys: list[bytes],
    environment_pk: uuid.UUID,
    customer_id: str,
    ttl_seconds: int,
    now: float,
    token_id: str,
) -> tuple[str, float]:
    """A token for one customer of one environment, and when it expires (Unix seconds)."""
    expires_at = float(int(now) + ttl_seconds)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": customer_id,
        "env": str(environment_pk),
        "jti": token_id,
        "iat": int(now),
        "exp": int(expires_at),
    }
    return jwt.encode(claims, keys[0], algorithm=ALGORITHM), expires_at


class Verifier:
    """Checks tokens against the installation's keys, caching the valid ones."""

    def __init__(self, keys: list[bytes]) -> None:
        self._keys = keys
        self._cache: dict[str, CustomerClaims] = {}

    def verify(self, token: str, now: float | None = None) -> CustomerClaims:
        """The token's claims, or TokenRefused (forged, malformed or expired)."""
        now = time.time() if now is None else now
        claims = self._cache.get(token)
        if claims is None:
            claims = self._decode(token, now)
            if len(self._cache) >= CACHE_ENTRIES:
                self._cache.clear()
            self._cache[token] = claims
        if claims.expires_at <= now:
            self._cache.pop(token, None)
            raise TokenRefused("The customer token has expired.")
        return claims

    def _decode(self, token: str, now: float) -> CustomerClaims:
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise TokenRefused("The customer token is malformed.")
        for key in self._keys:
            try:
                decoded = jwt.decode(
                    token,
                    key,
                    algorithms=[ALGORITHM],
                    audience=AUDIENCE,
                    issuer=ISSUER,
                    # Expiry is checked by `verify`, on every use (cached tokens too).
                    options={
                        "require": ["exp", "iat", "sub", "jti", "iss", "aud"],
                        "verify_exp": False,
                    },
                )
            except jwt.InvalidSignatureError:
                continue  # perhaps signed under another key of the ring
            except jwt.PyJWTError:
                raise TokenRefused("The customer token is malformed.") from None
            try:
                environment_pk = uuid.UUID(str(decoded["env"]))
            except (KeyError, ValueError):
                raise TokenRefused("The customer token is malformed.") from None
            subject, token_id, expires = decoded["sub"], decoded["jti"], decoded["exp"]
            if not isinstance(subject, str) or not isinstance(token_id, str):
                raise TokenRefused("The customer token is malformed.")
            if not isinstance(expires, int | float) or isinstance(expires, bool):
                raise TokenRefused("The customer token is malformed.")
            return CustomerClaims(token_id, environment_pk, subject, float(expires))
        raise TokenRefused("The customer token's signature is not valid.")


_verifier: tuple[list[str], Verifier] | None = None


def verifier_for(fernet_keys: list[str]) -> Verifier:
    """The process's verifier for a keyring's keys (a new one when another keyring is
    installed: the list is the keyring's own, compared by identity)."""
    global _verifier
    if _verifier is None or _verifier[0] is not fernet_keys:
        _verifier = (fernet_keys, Verifier(signing_keys(fernet_keys)))
    return _verifier[1]
