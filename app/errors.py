"""Typed client errors. Framework-free: the domain raises these, the GraphQL layer turns them
into `UserError` entries of a mutation payload (and rolls the transaction back)."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class ErrorCode(StrEnum):
    """Machine-readable reasons a request was refused. Stable: clients switch on them."""

    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    DUPLICATE_ID = "DUPLICATE_ID"
    FEATURE_NOT_FOUND = "FEATURE_NOT_FOUND"
    PRODUCT_NOT_FOUND = "PRODUCT_NOT_FOUND"
    PLAN_NOT_FOUND = "PLAN_NOT_FOUND"
    ADDON_NOT_FOUND = "ADDON_NOT_FOUND"
    CUSTOMER_NOT_FOUND = "CUSTOMER_NOT_FOUND"
    SUBSCRIPTION_NOT_FOUND = "SUBSCRIPTION_NOT_FOUND"
    ENVIRONMENT_NOT_FOUND = "ENVIRONMENT_NOT_FOUND"
    API_KEY_NOT_FOUND = "API_KEY_NOT_FOUND"
    CIRCULAR_PLAN_PARENT = "CIRCULAR_PLAN_PARENT"
    INVALID_ENTITLEMENT = "INVALID_ENTITLEMENT"
    INVALID_PRICE = "INVALID_PRICE"
    INVALID_CURRENCY = "INVALID_CURRENCY"
    ARCHIVED = "ARCHIVED"
    NOTHING_TO_PUBLISH = "NOTHING_TO_PUBLISH"
    INVALID_CATALOG = "INVALID_CATALOG"
    ADDON_NOT_COMPATIBLE = "ADDON_NOT_COMPATIBLE"
    ADDON_QUANTITY_EXCEEDED = "ADDON_QUANTITY_EXCEEDED"
    USAGE_LIMIT_EXCEEDED = "USAGE_LIMIT_EXCEEDED"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    CUSTOMER_ARCHIVED = "CUSTOMER_ARCHIVED"
    SUBSCRIPTION_ENDED = "SUBSCRIPTION_ENDED"
    INVOICE_NOT_FOUND = "INVOICE_NOT_FOUND"
    INVOICE_VOIDED = "INVOICE_VOIDED"
    INVOICE_ALREADY_PAID = "INVOICE_ALREADY_PAID"
    FORBIDDEN = "FORBIDDEN"
    WEBHOOK_TARGET_NOT_ALLOWED = "WEBHOOK_TARGET_NOT_ALLOWED"


class DomainError(Exception):
    """A client mistake: carries a code, a human message and the path of the offending input."""

    def __init__(
        self, code: ErrorCode, message: str, field: Sequence[str | int] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field: list[str] | None = [str(p) for p in field] if field is not None else None

    def __repr__(self) -> str:
        return f"DomainError({self.code.value}, {self.message!r}, field={self.field})"


class DomainErrors(Exception):
    """Several client mistakes found at once (validation collects them all)."""

    def __init__(self, errors: Sequence[DomainError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = list(errors)


def each_error(error: DomainError | DomainErrors) -> list[DomainError]:
    """The client mistakes one raise carries: one, or every one found."""
    return error.errors if isinstance(error, DomainErrors) else [error]
