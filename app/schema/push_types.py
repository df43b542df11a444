"""GraphQL shape of push (API.md "Push"): a customer's whole state, its changes, and catalog
publications."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.domain.checks.state import CustomerState
from app.domain.entitlement_sources import DenyReason
from app.schema.common import KeptView
from app.schema.entitlement_types import Entitlement, entitlement_view


@strawberry.type(description="Everything a local evaluator needs to answer a customer's checks.")
class EntitlementsState(KeptView):
    customer_id: str = strawberry.field(description="The customer.")
    resource_id: str | None = strawberry.field(description="The resource it is scoped to.")
    version: str = strawberry.field(
        description="A decimal 64-bit integer: for one customer, a greater version is a newer "
        "state. Changes whenever the customer's cached entitlements are rewritten."
    )
    deny_reason: DenyReason | None = strawberry.field(
        description="CUSTOMER_NOT_FOUND or CUSTOMER_ARCHIVED: every check of this customer is "
        "denied with it (entitlements are then empty)."
    )
    has_active_subscription: bool = strawberry.field(
        description="Whether some subscription of the customer is active or in trial."
    )
    entitlements: list[Entitlement] = strawberry.field(
        description="One per feature of the environment (granted or not): exactly what "
        "`entitlement(customerId, featureId)` answers without requested usage or values. A "
        "feature id absent from the list answers FEATURE_NOT_FOUND."
    )
    valid_until: datetime | None = strawberry.field(
        description="Until when this state holds without an event: the earliest of the "
        "entitlements' own end (trial, subscription, promotion…) and every usage period end. "
        "null: only an event changes it."
    )
    computed_at: datetime = strawberry.field(
        description="When this state was built. The same state (same version, same usage "
        "versions) may be answered again later with its first `computedAt`."
    )
    usage_versions: list[UsageVersion] = strawberry.field(
        description="The version of each listed feature's current usage counter (as "
        "`Usage.version` in usageChanged events): a usage event with a version not greater "
        "is already counted in this state."
    )


@strawberry.type(description="The version of one feature's current usage counter.")
class UsageVersion:
    feature_id: str = strawberry.field(description="The feature.")
    version: str = strawberry.field(description="A decimal 64-bit integer.")


@strawberry.type(description="A customer's entitlements changed: its new state.")
class EntitlementsChange:
    customer_id: str = strawberry.field(description="The customer.")
    version: str = strawberry.field(description="The new state's version.")
    state: EntitlementsState = strawberry.field(description="The customer's new state.")


@strawberry.type(description="A plan or add-on version was published, or a catalog applied.")
class CatalogPublication:
    kind: str = strawberry.field(description="PLAN, ADDON or CATALOG (applyCatalog).")
    id: str | None = strawberry.field(description="The plan or add-on id (null for CATALOG).")
    version: int | None = strawberry.field(description="The published version.")
    published_at: datetime = strawberry.field(description="When it was published.")


# The views of the states handed out lately, by the state's identity: a kept state
# (app/domain/checks/state.py) gets the very view it got before, which the fast path then
# writes from what it kept (`KeptView`). {id(state): (state, view)}: the state is held so its
# id is not reused while the entry lives.
_VIEWS: dict[int, tuple[CustomerState, EntitlementsState]] = {}
MAX_VIEWS = 2_048


def state_view(state: CustomerState) -> EntitlementsState:
    kept = _VIEWS.get(id(state))
    if kept is not None and kept[0] is state:
        return kept[1]
    view = _new_view(state)
    if len(_VIEWS) >= MAX_VIEWS:
        _VIEWS.clear()
    _VIEWS[id(state)] = (state, view)
    return view


def _new_view(state: CustomerState) -> EntitlementsState:
    return EntitlementsState(
        customer_id=state.customer_id,
        resource_id=state.resource_id,
        version=str(state.version),
        deny_reason=state.deny_reason,
        has_active_subscription=state.has_active_subscription,
        entitlements=[entitlement_view(r) for r in state.results],
        valid_until=state.valid_until,
        computed_at=state.computed_at,
        usage_versions=[
            UsageVersion(feature_id=f, version=str(v))
            for f, v in sorted(state.usage_versions.items())
        ],
    )


def change_view(state: CustomerState) -> EntitlementsChange:
    return EntitlementsChange(
        customer_id=state.customer_id, version=str(state.version), state=state_view(state)
    )
