"""The closed sets of values a catalog chooses from, beside those of the entitlement engine
(FeatureType, AddonBehavior: app.domain.entitlement_sources) and of periods (ResetPeriod,
ResetAnchor, BillingPeriod: app.domain.periods). Defined once here; the GraphQL schema
exposes these very classes and app.domain.catalog.rules checks documents against them."""

from __future__ import annotations

from enum import StrEnum


class ValueType(StrEnum):
    NUMBER = "NUMBER"  # a CONFIGURATION feature holding a number (seats, a size)
    ENUM = "ENUM"  # a CONFIGURATION feature holding a set of allowed values


class Aggregation(StrEnum):
    """How a meter turns raw events into usage."""

    COUNT = "COUNT"
    SUM = "SUM"
    MAX = "MAX"
    UNIQUE_COUNT = "UNIQUE_COUNT"
    LATEST = "LATEST"


class FilterOperator(StrEnum):
    EQUALS = "EQUALS"
    NOT_EQUALS = "NOT_EQUALS"
    IN = "IN"
    NOT_IN = "NOT_IN"


class PricingType(StrEnum):
    FREE = "FREE"
    PAID = "PAID"
    CUSTOM = "CUSTOM"  # negotiated per customer


class TrialEndBehavior(StrEnum):
    CONVERT_TO_PAID = "CONVERT_TO_PAID"
    CANCEL = "CANCEL"


class PriceModel(StrEnum):
    FLAT_FEE = "FLAT_FEE"
    PER_UNIT = "PER_UNIT"
    USAGE_BASED = "USAGE_BASED"


class TierMode(StrEnum):
    VOLUME = "VOLUME"  # all units at the rate of the tier reached
    GRADUATED = "GRADUATED"  # each tier's units at that tier's rate
