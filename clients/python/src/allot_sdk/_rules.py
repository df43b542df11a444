"""The check rule, answered locally: the same rule as the server's ``check_entitlement``.

The state of a customer holds, per feature, the server's answer to a check *without* a request
(no ``requestedUsage``, no ``requestedValues``). From that answer this module decides any
request the way the server does (allot's ``app/domain/entitlements.py``):

* not granted (the answer's deny reason is ``NOT_ENTITLED`` or ``NO_ACTIVE_SUBSCRIPTION``):
  denied with that reason, whatever is asked;
* METERED: soft and unlimited limits never deny; a hard limit allows ``current + max(n, 0) <=
  limit`` when ``n`` more is asked, ``current < limit`` when nothing is asked;
* CONFIGURATION with requested values: allowed iff every value is one of the enum values;
* otherwise allowed.

``remaining`` is ``max(limit - current, 0)`` for a granted, limited METERED feature, else None.
A property test in allot's suite (tests/sdk/test_parity.py) checks that this module and the
server answer alike on every field of ``Entitlement``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

# The fields of GraphQL's `Entitlement` the SDK selects (the parity test projects the server's
# answer onto exactly these, so a field missing here fails it).
SOURCE_FIELDS: Final = (
    "kind",
    "subscriptionId",
    "planId",
    "addonId",
    "quantity",
    "usageLimit",
    "isUnlimited",
    "isSoftLimit",
    "value",
    "enumValues",
    "isTrial",
    "isEffective",
)
ENTITLEMENT_FIELDS: Final = (
    "featureId",
    "featureType",
    "hasAccess",
    "denyReason",
    "isUnlimited",
    "isSoftLimit",
    "usageLimit",
    "currentUsage",
    "requestedUsage",
    "remaining",
    "value",
    "enumValues",
    "resetPeriod",
    "usagePeriodStart",
    "usagePeriodEnd",
)
ENTITLEMENT_SELECTION: Final = (
    " ".join(ENTITLEMENT_FIELDS) + " sources { " + " ".join(SOURCE_FIELDS) + " }"
)

NOT_GRANTED: Final = frozenset({"NOT_ENTITLED", "NO_ACTIVE_SUBSCRIPTION"})
METERED: Final = "METERED"
CONFIGURATION: Final = "CONFIGURATION"

# Where an answer came from (`Entitlement.reason`).
CACHED: Final = "CACHED"  # the cached state, fresh within max_staleness
SERVER: Final = "SERVER"  # a state fetched from allot for this very check
FALLBACK: Final = "FALLBACK"  # allot unreachable (or too stale): the configured fallback


def _denied_shape(feature_id: str, reason: str) -> dict[str, Any]:
    """The server's answer for a check decided before any entitlement is looked at (customer
    not found or archived, feature not found): ``denied()`` seen through the GraphQL view."""
    return {
        "featureId": feature_id,
        "featureType": None,
        "hasAccess": False,
        "denyReason": reason,
        "isUnlimited": False,
        "isSoftLimit": False,
        "usageLimit": None,
        "currentUsage": None,
        "requestedUsage": None,
        "remaining": None,
        "value": None,
        "enumValues": None,
        "resetPeriod": None,
        "usagePeriodStart": None,
        "usagePeriodEnd": None,
        "sources": [],
    }


class Entry:
    """One feature of a cached state: the server's no-request answer, pre-digested."""

    __slots__ = (
        "current",
        "enums",
        "feature_id",
        "feature_type",
        "granted",
        "hard_limit",
        "limit",
        "not_granted_reason",
        "raw",
    )

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw: dict[str, Any] = dict(raw)
        self.feature_id: str = raw["featureId"]
        self.feature_type: str | None = raw.get("featureType")
        reason = raw.get("denyReason")
        self.granted = reason not in NOT_GRANTED
        self.not_granted_reason: str | None = None if self.granted else reason
        self.hard_limit = not (raw.get("isUnlimited") or raw.get("isSoftLimit"))
        self.limit = float(raw.get("usageLimit") or 0.0)
        self.current = float(raw.get("currentUsage") or 0.0)
        enums = raw.get("enumValues")
        self.enums: frozenset[str] = frozenset(enums or ())

    def with_usage(self, current_usage: float) -> Entry:
        """This entry after a usage change: the current usage, the remaining amount and the
        no-request answer follow it (the limit and everything else stay)."""
        if self.feature_type != METERED:
            return self  # only metered features count usage
        raw = dict(self.raw)
        raw["currentUsage"] = float(current_usage)
        if self.granted and self.feature_type == METERED:
            if not raw.get("isUnlimited"):
                raw["remaining"] = max(self.limit - current_usage, 0.0)
            allowed = not self.hard_limit or current_usage < self.limit
            raw["hasAccess"] = allowed
            raw["denyReason"] = None if allowed else "USAGE_LIMIT_EXCEEDED"
        return Entry(raw)


def decide(
    entry: Entry, requested_usage: float | None, requested_values: Sequence[str] | None
) -> str | None:
    """The deny reason of a check on `entry` (None: allowed); the server's `_deny_reason`."""
    if not entry.granted:
        return entry.not_granted_reason
    kind = entry.feature_type
    if kind == METERED:
        if entry.hard_limit:
            if requested_usage is None:
                if not entry.current < entry.limit:
                    return "USAGE_LIMIT_EXCEEDED"
            elif not entry.current + max(requested_usage, 0.0) <= entry.limit:
                return "USAGE_LIMIT_EXCEEDED"
    elif kind == CONFIGURATION and requested_values is not None:
        if not entry.enums.issuperset(requested_values):
            return "VALUE_NOT_ALLOWED"
    return None


class Entitlement:
    """The answer to a check, with the fields of allot's GraphQL ``Entitlement`` (snake_case)
    and ``reason``: where the answer came from (CACHED, SERVER or FALLBACK)."""

    __slots__ = (
        "_raw",
        "deny_reason",
        "error",
        "feature_id",
        "has_access",
        "reason",
        "requested_usage",
    )

    def __init__(
        self,
        raw: Mapping[str, Any],
        feature_id: str,
        has_access: bool,
        deny_reason: str | None,
        requested_usage: float | None,
        reason: str,
        error: str | None = None,
    ) -> None:
        self._raw = raw
        self.feature_id = feature_id
        self.has_access = has_access
        self.deny_reason = deny_reason
        self.requested_usage = requested_usage
        self.reason = reason
        self.error = error  # why a fallback was used (allot unreachable, ...)

    def __bool__(self) -> bool:
        return self.has_access

    def __repr__(self) -> str:
        return (
            f"Entitlement(feature_id={self.feature_id!r}, has_access={self.has_access}, "
            f"deny_reason={self.deny_reason!r}, reason={self.reason!r})"
        )

    @property
    def feature_type(self) -> str | None:
        return self._raw.get("featureType")

    @property
    def is_unlimited(self) -> bool:
        return bool(self._raw.get("isUnlimited"))

    @property
    def is_soft_limit(self) -> bool:
        return bool(self._raw.get("isSoftLimit"))

    @property
    def usage_limit(self) -> float | None:
        return self._raw.get("usageLimit")

    @property
    def current_usage(self) -> float | None:
        return self._raw.get("currentUsage")

    @property
    def remaining(self) -> float | None:
        return self._raw.get("remaining")

    @property
    def value(self) -> float | None:
        return self._raw.get("value")

    @property
    def enum_values(self) -> list[str] | None:
        values = self._raw.get("enumValues")
        return None if values is None else list(values)

    @property
    def reset_period(self) -> str | None:
        return self._raw.get("resetPeriod")

    @property
    def usage_period_start(self) -> datetime | None:
        return parse_time(self._raw.get("usagePeriodStart"))

    @property
    def usage_period_end(self) -> datetime | None:
        return parse_time(self._raw.get("usagePeriodEnd"))

    @property
    def sources(self) -> list[dict[str, Any]]:
        return [dict(source) for source in self._raw.get("sources") or ()]

    def to_dict(self) -> dict[str, Any]:
        """The answer in the GraphQL JSON shape of ``Entitlement`` (camelCase keys)."""
        out = dict(self._raw)
        out["featureId"] = self.feature_id
        out["hasAccess"] = self.has_access
        out["denyReason"] = self.deny_reason
        out["requestedUsage"] = self.requested_usage
        out["sources"] = self.sources
        return out


def answer(
    entry: Entry,
    requested_usage: float | None,
    requested_values: Sequence[str] | None,
    reason: str,
) -> Entitlement:
    deny = decide(entry, requested_usage, requested_values)
    return Entitlement(entry.raw, entry.feature_id, deny is None, deny, requested_usage, reason)


def denied(feature_id: str, deny_reason: str, reason: str) -> Entitlement:
    """A check denied before any entitlement is looked at (customer or feature not found,
    customer archived)."""
    return Entitlement(
        _denied_shape(feature_id, deny_reason), feature_id, False, deny_reason, None, reason
    )


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value)
