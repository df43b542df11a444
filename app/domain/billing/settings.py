"""An environment's billing settings: the issuer printed on its invoices, the bank details
its payment pages show, the invoice number prefix, and the secret signing invoice links."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, ErrorCode
from app.models import BillingSettings
from app.store import invoices as store
from app.store import units

TEXT_LIMITS = {
    "companyName": ("company_name", 200),
    "address": ("address", 1000),
    "email": ("email", 200),
    "taxId": ("tax_id", 100),
    "paymentInstructions": ("payment_instructions", 2000),
}
BANK_KEYS = ("accountHolder", "bankName", "iban", "bic", "accountNumber", "routingNumber")
PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-/]{0,19}$")
BIC = re.compile(r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _invalid(message: str, path: list[str | int]) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, path)


def _text(value: Any, path: list[str | int], limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise _invalid(f"must be a string of at most {limit} characters", path)
    return value.strip()


def normalized_iban(value: str) -> str:
    """An IBAN without spaces, upper-cased, checked: country code, check digits, length and
    the ISO 13616 mod-97 checksum."""
    iban = re.sub(r"\s+", "", value).upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", iban):
        raise _invalid("not an IBAN", ["bankDetails", "iban"])
    digits = "".join(str(int(c, 36)) for c in iban[4:] + iban[:4])
    if int(digits) % 97 != 1:
        raise _invalid("the IBAN's check digits are wrong", ["bankDetails", "iban"])
    return iban


def grouped_iban(iban: str) -> str:
    """The IBAN as printed: groups of four."""
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def checked_bank(raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        raise _invalid("must be an object", ["bankDetails"])
    out: dict[str, str] = {}
    for key, value in raw.items():
        if key not in BANK_KEYS:
            raise _invalid(f"unknown option {key!r}", ["bankDetails", key])
        if value is None or value == "":
            continue
        text = _text(value, ["bankDetails", key], 200)
        if key == "iban":
            text = normalized_iban(text)
        elif key == "bic":
            text = text.replace(" ", "").upper()
            if not BIC.fullmatch(text):
                raise _invalid("a BIC has 8 or 11 letters and digits", ["bankDetails", key])
        out[key] = text
    return out


async def update_settings(
    session: AsyncSession, env: uuid.UUID, raw: Mapping[str, Any], now: datetime
) -> BillingSettings:
    """Change the fields given (an empty string clears one; `bankDetails` is replaced as a
    whole). New invoices use the new values; issued ones keep what they say."""
    settings = await store.ensure_settings(session, env, now)
    for key, (attr, limit) in TEXT_LIMITS.items():
        if raw.get(key) is not None:
            value = _text(raw[key], [key], limit)
            if key == "email" and value and not EMAIL.fullmatch(value):
                raise _invalid("not an email address", [key])
            setattr(settings, attr, value)
    if raw.get("bankDetails") is not None:
        settings.bank_details = checked_bank(raw["bankDetails"])
    if raw.get("invoicePrefix") is not None:
        prefix = raw["invoicePrefix"]
        if not isinstance(prefix, str) or not PREFIX.fullmatch(prefix):
            raise _invalid(
                "1-20 letters, digits, '_', '-' or '/', starting with a letter or digit",
                ["invoicePrefix"],
            )
        settings.invoice_prefix = prefix
    if raw.get("rotateLinkSecret"):
        settings.link_secret = store.new_link_secret()
    settings.updated_at = now
    await units.add(session, settings)
    return settings
