"""A customer's cached state (one `EntitlementsState` of allot) and the operations the SDK
sends: the state query, the three subscriptions, the usage mutations."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any, Final

from allot_sdk._rules import ENTITLEMENT_SELECTION, Entry, parse_time

STATE_SELECTION: Final = (
    "customerId resourceId version denyReason hasActiveSubscription validUntil computedAt "
    "usageVersions { featureId version } entitlements { " + ENTITLEMENT_SELECTION + " }"
)
STATE_QUERY: Final = (
    "query AllotSdkState($c: String!, $r: String) "
    "{ entitlementsState(customerId: $c, resourceId: $r) { " + STATE_SELECTION + " } }"
)
USAGE_SELECTION: Final = (
    "customerId featureId resourceId currentUsage usageLimit periodStart periodEnd version"
)
ENTITLEMENTS_CHANGED: Final = (
    "subscription AllotSdkEntitlements($c: String) { entitlementsChanged(customerId: $c) "
    "{ customerId version state { " + STATE_SELECTION + " } } }"
)
USAGE_CHANGED: Final = (
    "subscription AllotSdkUsage($c: String) { usageChanged(customerId: $c) "
    "{ " + USAGE_SELECTION + " } }"
)
CATALOG_PUBLISHED: Final = (
    "subscription AllotSdkCatalog { catalogPublished { kind id version publishedAt } }"
)
REPORT_BATCH: Final = (
    "mutation AllotSdkReport($i: ReportUsageBatchInput!) { reportUsageBatch(input: $i) "
    "{ errors { code message } results { accepted errors { code message } } } }"
)
CONSUME: Final = (
    "mutation AllotSdkConsume($i: ReportUsageInput!) { reportUsage(input: $i) "
    "{ accepted errors { code message } usage { customerId featureId resourceId "
    "currentUsage usageLimit periodStart periodEnd } } }"
)

Key = tuple[str, str | None]  # (customer id, resource id)


class CustomerState:
    """One customer's (or one customer-resource's) entitlements, as of ``version``.

    Replaced whole, never edited in place, except ``fetched_at`` (monotonic time the state
    was last known current) and ``epoch`` (the subscription connection it was fetched on).
    """

    __slots__ = (
        "customer_id",
        "deny_reason",
        "entries",
        "epoch",
        "fetched_at",
        "has_active_subscription",
        "refresh_at",
        "resource_id",
        "usage_versions",
        "version",
    )

    def __init__(
        self,
        data: Mapping[str, Any],
        fetched_at: float,
        epoch: int,
        usage_versions: dict[str, int] | None = None,
    ) -> None:
        self.customer_id: str = data["customerId"]
        self.resource_id: str | None = data.get("resourceId")
        self.version = int(data["version"])
        self.deny_reason: str | None = data.get("denyReason")
        self.has_active_subscription = bool(data.get("hasActiveSubscription"))
        self.entries: dict[str, Entry] = {
            raw["featureId"]: Entry(raw) for raw in data.get("entitlements") or ()
        }
        self.fetched_at = fetched_at
        self.epoch = epoch
        # The version of each feature's usage counter the state already counts: a usage
        # event not newer than it changes nothing.
        self.usage_versions: dict[str, int] = {
            item["featureId"]: int(item["version"]) for item in data.get("usageVersions") or ()
        }
        for feature_id, version in (usage_versions or {}).items():
            self.usage_versions[feature_id] = max(version, self.usage_versions.get(feature_id, -1))
        # Wall-clock instant after which the state no longer holds: its validUntil, or the
        # first end of a usage period (the counter starts again from zero then).
        instants = [parse_time(data.get("validUntil"))]
        instants += [parse_time(e.raw.get("usagePeriodEnd")) for e in self.entries.values()]
        stamps = [instant.timestamp() for instant in instants if instant is not None]
        self.refresh_at = min(stamps, default=math.inf)

    @property
    def key(self) -> Key:
        return (self.customer_id, self.resource_id)

    def with_usage(self, usage: Mapping[str, Any]) -> CustomerState | None:
        """This state after a `usageChanged` event (None: nothing to change — an event older
        than one applied, or about a feature the state does not have)."""
        feature_id = usage["featureId"]
        entry = self.entries.get(feature_id)
        raw_version = usage.get("version")
        version = int(raw_version) if raw_version is not None else None
        if entry is None:
            return None
        if version is not None and version <= self.usage_versions.get(feature_id, -1):
            return None
        clone = object.__new__(CustomerState)
        for name in CustomerState.__slots__:
            object.__setattr__(clone, name, getattr(self, name))
        clone.entries = dict(self.entries)
        clone.entries[feature_id] = entry.with_usage(float(usage["currentUsage"]))
        clone.usage_versions = dict(self.usage_versions)
        if version is not None:
            clone.usage_versions[feature_id] = version
        return clone

    def expired(self) -> bool:
        return time.time() >= self.refresh_at
