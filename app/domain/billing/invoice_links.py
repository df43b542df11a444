"""Shareable invoice links: `/invoices/{token}.pdf` and `/pay/{token}`.

A token names an invoice and an expiry and is signed with HMAC-SHA256 under the environment's
link secret (`billing_settings.link_secret`, made at random when the environment first bills).
Whoever has the link can open it, with no key, until it expires; nobody can make or alter
one without the secret. Rotating the secret (`updateBillingSettings(rotateLinkSecret: true)`)
expires every link of the environment at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

_CONTEXT = b"allot invoice link v1\x00"
_PAYLOAD = struct.Struct(">16sQ")  # invoice pk, expiry (unix seconds)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(bytes.fromhex(secret), _CONTEXT + payload, hashlib.sha256).digest()


def make_token(secret: str, invoice_pk: uuid.UUID, expires_at: datetime) -> str:
    payload = _PAYLOAD.pack(invoice_pk.bytes, int(expires_at.timestamp()))
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def expiry(now: datetime, days: int) -> datetime:
    return now + timedelta(days=days)


class LinkState(StrEnum):
    VALID = "VALID"
    EXPIRED = "EXPIRED"
    INVALID = "INVALID"


@dataclass(frozen=True)
class Claim:
    """What a token says, before its signature is checked (the secret depends on whose
    invoice it names)."""

    invoice_pk: uuid.UUID
    expires_at: datetime
    payload: bytes
    mac: bytes


def read_token(token: str) -> Claim | None:
    """Parse a token; None when it is not one."""
    head, dot, tail = token.partition(".")
    if not dot or len(token) > 200:
        return None
    try:
        payload, mac = _unb64(head), _unb64(tail)
        pk_bytes, seconds = _PAYLOAD.unpack(payload)
        expires_at = datetime.fromtimestamp(seconds, UTC)
    except (ValueError, struct.error, OverflowError, OSError):
        return None
    return Claim(uuid.UUID(bytes=pk_bytes), expires_at, payload, mac)


def check(claim: Claim, secret: str | None, now: datetime) -> LinkState:
    """A token is valid when its signature matches (constant-time) and it has not expired;
    a forged token is INVALID whatever its expiry says."""
    if secret is None or not hmac.compare_digest(_mac(secret, claim.payload), claim.mac):
        return LinkState.INVALID
    if now >= claim.expires_at:
        return LinkState.EXPIRED
    return LinkState.VALID


def link_path(kind: str, token: str) -> str:
    return f"/invoices/{token}.pdf" if kind == "pdf" else f"/pay/{token}"


def absolute(base_url: str, path: str) -> str:
    """The link as given out: absolute when the installation's public URL is configured
    (`ALLOT_PUBLIC_URL`), else a path on this server."""
    return base_url.rstrip("/") + path if base_url else path


def host_allowed(host_header: str, allowed: tuple[str, ...]) -> bool:
    """Whether a request's `Host` header may be put into a link (`ALLOT_ALLOWED_HOSTS`).

    The header is the client's to choose: a link built from any Host would let whoever asks
    for a PDF put their own site into the payment link. Entries are host names compared
    without the port and case-insensitively; `.example.com` also allows its subdomains, `*`
    allows any host (only behind a proxy that sets Host itself)."""
    host = host_header.strip().lower()
    if host.startswith("["):  # [::1]:8000
        end = host.find("]")
        if end < 0 or (host[end + 1 :] and not host[end + 1 :].startswith(":")):
            return False
        name = host[: end + 1]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if not name or not all(c.isalnum() or c in "-.[]:" for c in name):
        return False
    for entry in allowed:
        if entry == "*" or entry == name:
            return True
        if entry.startswith(".") and (name == entry[1:] or name.endswith(entry)):
            return True
    return False
