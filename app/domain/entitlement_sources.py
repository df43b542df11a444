"""The vocabulary of the entitlement engine: what a customer was granted, grant by grant.

The rules live in ``app.domain.entitlements``; this module only names things (import them from
here): feature types, where a grant comes from (``SourceKind``), the configuration a grant
carries (``EntitlementConfig``), the grants collected for one customer and one feature
(``PlanGrant``, ``AddonGrant``, ``SubscriptionGrants``, ``PromotionGrant``), how each of them is
reported back (``Source``), and the two results: the merged ``EffectiveEntitlement`` and the
``EntitlementCheck`` with its ``DenyReason``.

Reset periods and anchors are carried through as plain strings ("MONTH", "CALENDAR", ...); their
meaning belongs to ``app.domain.periods``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "AddonBehavior",
    "AddonGrant",
    "DenyReason",
    "EffectiveEntitlement",
    "EntitlementCheck",
    "EntitlementConfig",
    "FeatureType",
    "PlanGrant",
    "PromotionGrant",
    "Source",
    "SourceKind",
    "SubscriptionGrants",
    "canonical_source_order",
]


class FeatureType(StrEnum):
    BOOLEAN = "BOOLEAN"  # on or off: a grant that exists means "granted"
    CONFIGURATION = "CONFIGURATION"  # a number, or a set of allowed values (value type ENUM)
    METERED = "METERED"  # a usage limit (or unlimited), soft or hard, usually resetting


class SourceKind(StrEnum):
    """Where a grant comes from. Listed in the order the rules apply them."""

    PLAN = "PLAN"  # the subscription's own plan (version)
    BASE_PLAN = "BASE_PLAN"  # an ancestor of that plan: its parent, grandparent, ...
    SUBSCRIPTION_VALUE = "SUBSCRIPTION_VALUE"  # a value set on this one subscription
    ADDON = "ADDON"  # an add-on bought with the subscription
    PROMOTIONAL = "PROMOTIONAL"  # a promotional entitlement given to the customer directly


class AddonBehavior(StrEnum):
    INCREMENT = "INCREMENT"  # adds its limit (or number) x quantity on top of the plan
    OVERRIDE = "OVERRIDE"  # replaces the plan's value (quantity does not matter)


@dataclass(frozen=True)
class EntitlementConfig:
    """What one grant says about one feature. Only the fields of the feature's type matter.

    * BOOLEAN: nothing; a config that exists grants the feature.
    * METERED: ``limit`` (None counts as 0) or ``unlimited``; ``soft_limit`` (usage may go over
      the limit); ``reset_period``/``reset_anchor`` (when usage starts again from 0).
    * CONFIGURATION: ``value`` (a number) or ``enum_values`` (the allowed values).
    """

    limit: float | None = None
    unlimited: bool = False
    soft_limit: bool = False
    value: float | None = None
    enum_values: tuple[str, ...] | None = None
    reset_period: str | None = None
    reset_anchor: str | None = None

    def __post_init__(self) -> None:
        for name, number in (("limit", self.limit), ("value", self.value)):
            if number is not None and not math.isfinite(number):
                raise ValueError(f"{name} must be a finite number, got {number!r}")
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"limit must not be negative, got {self.limit!r}")


@dataclass(frozen=True)
class PlanGrant:
    """A plan's entitlement for the feature (``config`` None: the plan does not grant it)."""

    plan_id: str
    config: EntitlementConfig | None
    is_base: bool = False  # False for the subscription's own plan, True for its ancestors


@dataclass(frozen=True)
class AddonGrant:
    addon_id: str
    config: EntitlementConfig
    quantity: int = 1
    behavior: AddonBehavior = AddonBehavior.INCREMENT

    def __post_init__(self) -> None:
        if self.quantity < 1:
            raise ValueError(f"add-on quantity must be at least 1, got {self.quantity!r}")


@dataclass(frozen=True)
class SubscriptionGrants:
    """Everything one active (or in-trial) subscription says about the feature."""

    subscription_id: str
    plan_id: str
    plans: tuple[PlanGrant, ...] = ()  # the plan itself, then its ancestors
    is_trial: bool = False
    subscription_value: EntitlementConfig | None = None
    addons: tuple[AddonGrant, ...] = ()


@dataclass(frozen=True)
class PromotionGrant:
    """An active promotional entitlement of the customer for the feature."""

    config: EntitlementConfig
    promotion_id: str | None = None


@dataclass(frozen=True)
class Source:
    """One grant as reported to the customer: its own value and whether it decided the answer.

    For an INCREMENT add-on, ``usage_limit`` and ``value`` are its contribution, i.e. the add-on's
    limit (or number) x ``quantity``; every other source reports its configuration as is.
    """

    kind: SourceKind
    subscription_id: str | None = None
    plan_id: str | None = None
    addon_id: str | None = None
    addon_behavior: AddonBehavior | None = None
    quantity: int | None = None
    promotion_id: str | None = None
    is_trial: bool = False
    usage_limit: float | None = None
    is_unlimited: bool = False
    is_soft_limit: bool = False
    value: float | None = None
    enum_values: tuple[str, ...] | None = None
    reset_period: str | None = None
    reset_anchor: str | None = None
    is_effective: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-ready dict (strings, numbers, booleans, lists, None)."""
        return {
            "kind": self.kind.value,
            "subscription_id": self.subscription_id,
            "plan_id": self.plan_id,
            "addon_id": self.addon_id,
            "addon_behavior": None if self.addon_behavior is None else self.addon_behavior.value,
            "quantity": self.quantity,
            "promotion_id": self.promotion_id,
            "is_trial": self.is_trial,
            "usage_limit": self.usage_limit,
            "is_unlimited": self.is_unlimited,
            "is_soft_limit": self.is_soft_limit,
            "value": self.value,
            "enum_values": None if self.enum_values is None else list(self.enum_values),
            "reset_period": None if self.reset_period is None else str(self.reset_period),
            "reset_anchor": None if self.reset_anchor is None else str(self.reset_anchor),
            "is_effective": self.is_effective,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Source:
        behavior = data["addon_behavior"]
        enum_values = data["enum_values"]
        return cls(
            kind=SourceKind(data["kind"]),
            subscription_id=data["subscription_id"],
            plan_id=data["plan_id"],
            addon_id=data["addon_id"],
            addon_behavior=None if behavior is None else AddonBehavior(behavior),
            quantity=data["quantity"],
            promotion_id=data["promotion_id"],
            is_trial=data["is_trial"],
            usage_limit=data["usage_limit"],
            is_unlimited=data["is_unlimited"],
            is_soft_limit=data["is_soft_limit"],
            value=data["value"],
            enum_values=None if enum_values is None else tuple(enum_values),
            reset_period=data["reset_period"],
            reset_anchor=data["reset_anchor"],
            is_effective=data["is_effective"],
        )


@dataclass(frozen=True)
class EffectiveEntitlement:
    """The merged entitlement of one customer for one feature; cached as JSON (``to_dict``)."""

    feature_id: str
    feature_type: FeatureType
    granted: bool
    has_active_subscription: bool  # tells NO_ACTIVE_SUBSCRIPTION from NOT_ENTITLED
    usage_limit: float | None = None  # METERED; None when unlimited
    is_unlimited: bool = False
    is_soft_limit: bool = False  # False when unlimited
    value: float | None = None  # CONFIGURATION
    enum_values: tuple[str, ...] | None = None  # CONFIGURATION with value type ENUM
    reset_period: str | None = None
    reset_anchor: str | None = None
    sources: tuple[Source, ...] = ()  # in ``canonical_source_order``

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature_id": self.feature_id,
            "feature_type": self.feature_type.value,
            "granted": self.granted,
            "has_active_subscription": self.has_active_subscription,
            "usage_limit": self.usage_limit,
            "is_unlimited": self.is_unlimited,
            "is_soft_limit": self.is_soft_limit,
            "value": self.value,
            "enum_values": None if self.enum_values is None else list(self.enum_values),
            "reset_period": self.reset_period,
            "reset_anchor": self.reset_anchor,
            "sources": [source.to_dict() for source in self.sources],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EffectiveEntitlement:
        enum_values = data["enum_values"]
        return cls(
            feature_id=data["feature_id"],
            feature_type=FeatureType(data["feature_type"]),
            granted=data["granted"],
            has_active_subscription=data["has_active_subscription"],
            usage_limit=data["usage_limit"],
            is_unlimited=data["is_unlimited"],
            is_soft_limit=data["is_soft_limit"],
            value=data["value"],
            enum_values=None if enum_values is None else tuple(enum_values),
            reset_period=data["reset_period"],
            reset_anchor=data["reset_anchor"],
            sources=tuple(Source.from_dict(source) for source in data["sources"]),
        )


class DenyReason(StrEnum):
    CUSTOMER_NOT_FOUND = "CUSTOMER_NOT_FOUND"
    FEATURE_NOT_FOUND = "FEATURE_NOT_FOUND"
    NO_ACTIVE_SUBSCRIPTION = "NO_ACTIVE_SUBSCRIPTION"  # no source at all, no subscription
    NOT_ENTITLED = "NOT_ENTITLED"  # subscribed, but nothing grants the feature
    USAGE_LIMIT_EXCEEDED = "USAGE_LIMIT_EXCEEDED"  # hard limit reached
    VALUE_NOT_ALLOWED = "VALUE_NOT_ALLOWED"  # a requested value is not in the enum values
    CUSTOMER_ARCHIVED = "CUSTOMER_ARCHIVED"


@dataclass(frozen=True)
class EntitlementCheck:
    """The answer to "may the customer use the feature?", and everything that explains it."""

    feature_id: str
    has_access: bool
    deny_reason: DenyReason | None  # None exactly when has_access
    feature_type: FeatureType | None = None  # None when the feature was not found
    usage_limit: float | None = None
    is_unlimited: bool = False
    is_soft_limit: bool = False
    current_usage: float = 0.0
    requested_usage: float | None = None
    remaining: float | None = None  # limit - current usage, at least 0; None when unlimited
    value: float | None = None
    enum_values: tuple[str, ...] | None = None
    reset_period: str | None = None
    reset_anchor: str | None = None
    sources: tuple[Source, ...] = ()


_KIND_ORDER = {kind: rank for rank, kind in enumerate(SourceKind)}


def canonical_source_order(source: Source) -> tuple[bool, str, int, str]:
    """Sort key: subscription by subscription (promotions last), in the order the rules apply.

    Sources that tie on subscription and kind are ordered by their full content, so the listing
    never depends on the order the grants were collected in.
    """
    return (
        source.subscription_id is None,
        source.subscription_id or "",
        _KIND_ORDER[source.kind],
        json.dumps(source.to_dict(), sort_keys=True),
    )
