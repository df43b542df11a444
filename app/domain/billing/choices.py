"""The closed sets of values of sales-led billing: where an invoice is and what a line
charges for. Defined once here; the GraphQL schema exposes these very classes
(app/schema/billing_types.py) and the invoices, their lines and documents use them."""

from __future__ import annotations

from enum import StrEnum


class InvoiceStatus(StrEnum):
    OPEN = "OPEN"  # owed
    PAID = "PAID"
    VOID = "VOID"  # nothing owed


class InvoiceLineKind(StrEnum):
    BASE = "BASE"  # a plan's flat fee
    PER_UNIT = "PER_UNIT"  # a per-unit price (seats)
    ADDON = "ADDON"  # an add-on's charge
    USAGE = "USAGE"  # usage-based, from the period's counters
    TIER_FLAT = "TIER_FLAT"  # the flat fee of a tier reached
