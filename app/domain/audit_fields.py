"""What the audit log says about each table: the entity type and id users know it by, and its
columns under the API's field names (`planId`, not `plan_pk`; `metadata`, not `metadata_`).

Every table of the schema is either here or in `EXEMPT_TABLES` with the reason, and every
column of an audited table is either mapped to an API name or listed as internal with the
reason: tests/graphql/test_audit_coverage.py checks both by introspecting the models, so a new
table or column cannot be forgotten. Secret columns are never logged: they appear as
"[secret]", and as "[rotated]" in `after` when the change replaced them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.models import (
    ApiKey,
    BillingSettings,
    Customer,
    CustomerToken,
    Environment,
    Feature,
    Invoice,
    Package,
    PackageVersion,
    Product,
    PromotionalEntitlement,
    Subscription,
    User,
    UserInvitation,
    WebhookDelivery,
    WebhookEndpoint,
)

# Finds a row by model and primary key (pending rows of the transaction included).
Lookup = Callable[[type, Any], Any]


def _archived(value: Any) -> bool:
    return value is not None


@dataclass(frozen=True)
class Ref:
    """A column holding another row's pk, logged as that row's API id."""

    model: type
    attribute: str = "id"


@dataclass(frozen=True)
class Spec:
    entity_type: Callable[[Lookup, Any], str]
    entity_id: Callable[[Lookup, Any], str]
    # None: an account-wide entity, logged in the actor's environment (AuditActor)
    environment_pk: Callable[[Lookup, Any], uuid.UUID | None]
    # column -> API field name
    fields: dict[str, str]
    # column -> why the API does not show it (not logged)
    internal: dict[str, str]
    refs: dict[str, Ref] = field(default_factory=dict)
    converters: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    secrets: frozenset[str] = frozenset()
    # API names logged that the entity's GraphQL type has no field for (each with a reason
    # in the spec below); everything else must be a field of the type.
    extras: frozenset[str] = frozenset()
    # False: entries only where the code records them (`audit.record_object`), and writes are
    # not guarded (see WebhookDelivery).
    automatic: bool = True
    # A JSON column whose keys are logged as fields (a version's content), renamed by this map.
    expand: tuple[str, dict[str, str]] | None = None


def _own_env(_: Lookup, obj: Any) -> uuid.UUID:
    return obj.environment_pk  # type: ignore[no-any-return]


def _fixed(name: str) -> Callable[[Lookup, Any], str]:
    return lambda _, obj: name


def _id(_: Lookup, obj: Any) -> str:
    return str(obj.id)


def _pk(_: Lookup, obj: Any) -> str:
    return str(obj.pk)


def _package(lookup: Lookup, version: PackageVersion) -> Package:
    package = lookup(Package, version.package_pk)
    assert package is not None, "a version's package is loaded with it"
    return package  # type: ignore[no-any-return]


PK = "the internal key; the entity id names the row"
ENV = "the environment the entry belongs to"
UPDATED = "bookkeeping timestamp; the entry's occurredAt says when"

SPECS: dict[type, Spec] = {
    Feature: Spec(
        _fixed("FEATURE"),
        _id,
        _own_env,
        fields={
            "id": "id",
            "name": "name",
            "description": "description",
            "type": "type",
            "unit": "unit",
            "unit_plural": "unitPlural",
            "value_type": "valueType",
            "enum_values": "enumValues",
            "meter": "meter",
            "metadata_": "metadata",
            "archived_at": "isArchived",
            "created_at": "createdAt",
            "updated_at": "updatedAt",
        },
        internal={"pk": PK, "environment_pk": ENV},
        converters={"archived_at": _archived},
        # createFeature/updateFeature take `metadata`; the Feature type does not show it.
        extras=frozenset({"metadata"}),
    ),
    Product: Spec(
        _fixed("PRODUCT"),
        _id,
        _own_env,
        fields={
            "id": "id",
            "name": "name",
            "description": "description",
            "multiple_subscriptions": "multipleSubscriptions",
            "default_plan_id": "defaultPlanId",
            "downgrade_to_default": "downgradeToDefaultPlan",
            "archived_at": "isArchived",
            "created_at": "createdAt",
        },
        internal={"pk": PK, "environment_pk": ENV, "updated_at": UPDATED},
        converters={"archived_at": _archived},
    ),
    Package: Spec(
        lambda _, p: str(p.kind),
        _id,
        _own_env,
        fields={
            "id": "id",
            "name": "name",
            "description": "description",
            "product_pk": "productId",
            "latest_version": "version",
            "archived_at": "isArchived",
        },
        internal={
            "pk": PK,
            "environment_pk": ENV,
            "updated_at": UPDATED,
            "kind": "the entity type (PLAN or ADDON)",
            "created_at": "the CREATE entry's occurredAt",
        },
        refs={"product_pk": Ref(Product)},
        converters={"archived_at": _archived},
    ),
    PackageVersion: Spec(
        lambda lookup, v: f"{_package(lookup, v).kind}_VERSION",
        lambda lookup, v: f"{_package(lookup, v).id}:{v.version or 'draft'}",
        lambda lookup, v: _package(lookup, v).environment_pk,
        fields={
            "version": "version",
            "migrate_existing": "migrateExistingSubscriptions",
            "published_at": "publishedAt",
            "name": "name",
            "description": "description",
            "parent_version": "parentPlanVersion",
        },
        internal={
            "pk": PK,
            "package_pk": "the entity id names the package",
            "created_at": "the CREATE entry's occurredAt",
            "updated_at": UPDATED,
            "content": "logged field by field (parentPlanId, prices, …)",
        },
        expand=(
            "content",
            {
                "parent": "parentPlanId",
                "trial": "defaultTrial",
                "compatiblePlans": "compatiblePlanIds",
            },
        ),
    ),
    Customer: Spec(
        _fixed("CUSTOMER"),
        _id,
        _own_env,
        fields={
            "id": "id",
            "name": "name",
            "email": "email",
            "metadata_": "metadata",
            "billing_details": "billingDetails",
            "archived_at": "isArchived",
            "created_at": "createdAt",
        },
        internal={"pk": PK, "environment_pk": ENV, "updated_at": UPDATED},
        converters={"archived_at": _archived},
    ),
    Subscription: Spec(
        _fixed("SUBSCRIPTION"),
        _id,
        _own_env,
        fields={
            "id": "id",
            "customer_pk": "customerId",
            "plan_pk": "planId",
            "plan_version": "planVersion",
            "resource_id": "resourceId",
            "status": "status",
            "billing_period": "billingPeriod",
            "start_date": "startDate",
            "end_date": "endDate",
            "trial_end_date": "trialEndDate",
            "trial_end_behavior": "trialEndBehavior",
            "is_parallel_trial": "isParallelTrial",
            "addons": "addons",
            "entitlements": "entitlements",
            "price_overrides": "priceOverrides",
            "scheduled_change": "scheduledChange",
            "billing_mode": "billingMode",
            "payment_terms_days": "paymentTermsDays",
            "metadata_": "metadata",
            "canceled_at": "canceledAt",
            "created_at": "createdAt",
            "replaces_pk": "replacesSubscriptionId",
            "fallback_for_pk": "fallbackForSubscriptionId",
        },
        internal={
            "pk": PK,
            "environment_pk": ENV,
            "updated_at": UPDATED,
            "product_pk": "the plan's product",
            "trial_ending_notified_at": "notification bookkeeping (the webhook event "
            "subscription.trial_ending is the record)",
        },
        refs={
            "customer_pk": Ref(Customer),
            "plan_pk": Ref(Package),
            "replaces_pk": Ref(Subscription),
            "fallback_for_pk": Ref(Subscription),
        },
        # Not in the API: the paid subscription a parallel trial replaces when it converts,
        # and the subscription whose end a default-plan fallback follows.
        extras=frozenset({"replacesSubscriptionId", "fallbackForSubscriptionId"}),
    ),
    PromotionalEntitlement: Spec(
        _fixed("PROMOTIONAL_ENTITLEMENT"),
        lambda lookup, p: f"{lookup(Customer, p.customer_pk).id}:{p.feature_id}:{p.pk}",
        _own_env,
        fields={
            "feature_id": "featureId",
            "config": "entitlement",
            "duration": "duration",
            "starts_at": "startsAt",
            "ends_at": "endsAt",
            "revoked_at": "revokedAt",
            "customer_pk": "customerId",
        },
        internal={"pk": PK, "environment_pk": ENV, "created_at": "the CREATE entry's occurredAt"},
        refs={"customer_pk": Ref(Customer)},
        # A revoked grant leaves the API's lists; the log says when. The customer is the
        # parent object in the API (Customer.promotionalEntitlements).
        extras=frozenset({"revokedAt", "customerId"}),
    ),
    ApiKey: Spec(
        _fixed("API_KEY"),
        _pk,
        _own_env,
        fields={
            "pk": "id",
            "kind": "kind",
            "name": "name",
            "prefix": "prefix",
            "created_at": "createdAt",
            "revoked_at": "revokedAt",
        },
        internal={"environment_pk": ENV, "key_hash": "a hash of the secret: never logged"},
    ),
    Environment: Spec(
        _fixed("ENVIRONMENT"),
        lambda _, e: str(e.slug),
        lambda _, e: e.pk,
        fields={
            "pk": "id",
            "slug": "slug",
            "name": "name",
            "require_customer_tokens": "requireCustomerTokens",
        },
        internal={
            "account_pk": "one account per installation",
            "created_at": "the CREATE entry's occurredAt",
        },
        # The display name is set by the CLI; the Environment type shows only id and slug.
        extras=frozenset({"name"}),
    ),
    CustomerToken: Spec(
        _fixed("CUSTOMER_TOKEN"),
        _id,
        _own_env,
        # The token itself is never logged (it is a bearer credential): its id, whose it is
        # and until when.
        fields={"id": "tokenId", "customer_pk": "customerId", "expires_at": "expiresAt"},
        internal={"environment_pk": ENV, "created_at": "the CREATE entry's occurredAt"},
        refs={"customer_pk": Ref(Customer)},
    ),
    Invoice: Spec(
        _fixed("INVOICE"),
        _id,
        _own_env,
        fields={
            "id": "id",
            "status": "status",
            "currency": "currency",
            "total": "total",
            "lines": "lines",
            "period_start": "periodStart",
            "period_end": "periodEnd",
            "issued_at": "issuedAt",
            "due_date": "dueDate",
            "paid_at": "paidAt",
            "voided_at": "voidedAt",
            "payment_terms_days": "paymentTermsDays",
            "overdue_at": "isOverdue",
            "customer_pk": "customerId",
            "subscription_pk": "subscriptionId",
        },
        internal={
            "pk": PK,
            "environment_pk": ENV,
            "updated_at": UPDATED,
            "created_at": "the same as issuedAt",
            "issuer": "frozen copy of the billing settings (their entries say it)",
            "bill_to": "frozen copy of the customer (its entries say it)",
            "kind": "PERIOD or PRORATION: how the invoice came about, not in the API (its "
            "lines say it)",
        },
        refs={"customer_pk": Ref(Customer), "subscription_pk": Ref(Subscription)},
        converters={"overdue_at": _archived},
        # The API nests them (Invoice.customer, Invoice.subscription); the log names the ids.
        extras=frozenset({"customerId", "subscriptionId"}),
    ),
    BillingSettings: Spec(
        _fixed("BILLING_SETTINGS"),
        lambda _, s: "billing-settings",
        lambda _, s: s.environment_pk,
        fields={
            "company_name": "companyName",
            "address": "address",
            "email": "email",
            "tax_id": "taxId",
            "bank_details": "bankDetails",
            "payment_instructions": "paymentInstructions",
            "invoice_prefix": "invoicePrefix",
            "next_invoice_number": "nextInvoiceNumber",
            "link_secret": "linkSecret",
        },
        internal={"environment_pk": ENV, "updated_at": UPDATED},
        secrets=frozenset({"link_secret"}),
        # Rotated by updateBillingSettings(rotateLinkSecret); never shown, never logged.
        extras=frozenset({"linkSecret"}),
    ),
    WebhookEndpoint: Spec(
        _fixed("WEBHOOK_ENDPOINT"),
        _pk,
        _own_env,
        fields={
            "pk": "id",
            "url": "url",
            "description": "description",
            "event_types": "eventTypes",
            "enabled": "enabled",
            "secret": "secret",
            "previous_secret": "previousSecret",
            "previous_secret_expires_at": "previousSecretExpiresAt",
            "created_at": "createdAt",
            "updated_at": "updatedAt",
        },
        internal={"environment_pk": ENV},
        secrets=frozenset({"secret", "previous_secret"}),
        # Shown once by create/rotate payloads; the grace period of a rotation.
        extras=frozenset({"secret", "previousSecret", "previousSecretExpiresAt"}),
    ),
    WebhookDelivery: Spec(
        _fixed("WEBHOOK_DELIVERY"),
        _pk,
        _own_env,
        fields={
            "pk": "id",
            "endpoint_pk": "endpointId",
            "event_pk": "eventId",
            "status": "status",
            "sequence": "replayCount",
            "attempt_count": "attemptCount",
            "next_attempt_at": "nextAttemptAt",
            "last_attempt_at": "lastAttemptAt",
            "created_at": "createdAt",
        },
        internal={"environment_pk": ENV, "updated_at": UPDATED, "claim_token": "a worker's lease"},
        # Deliveries change with every attempt (the delivery log records those); only a
        # replay, a user's decision, is an audited change.
        automatic=False,
    ),
}


def _account_wide(_: Lookup, obj: Any) -> None:
    return None


_USER_SPECS: dict[type, Spec] = {
    User: Spec(
        _fixed("USER"),
        _pk,
        _account_wide,
        fields={
            "pk": "id",
            "email": "email",
            "name": "name",
            "role": "role",
            "disabled_at": "disabledAt",
            "created_at": "createdAt",
            # A password change is logged by when it happened, never by any form of it.
            "password_changed_at": "passwordChangedAt",
        },
        internal={
            "account_pk": "users belong to the account; the entry is in the actor's environment",
            "password_hash": "the Argon2 hash of the password: never logged",
            "last_login_at": "bookkeeping of logins (sessions are not audited)",
        },
    ),
    UserInvitation: Spec(
        _fixed("USER_INVITATION"),
        _pk,
        _account_wide,
        fields={
            "pk": "id",
            "email": "email",
            "name": "name",
            "role": "role",
            "invited_by_pk": "invitedBy",
            "created_at": "createdAt",
            "expires_at": "expiresAt",
            "accepted_at": "acceptedAt",
        },
        internal={
            "account_pk": "invitations belong to the account; logged in the actor's environment",
            "token_hash": "a hash of the link's token: never logged",
        },
        refs={"invited_by_pk": Ref(User, "email")},
    ),
}
SPECS.update(_USER_SPECS)

# Tables whose writes are not audit entries, and why. Everything else must be in SPECS.
EXEMPT_TABLES: dict[str, str] = {
    "audit_log": "the log itself",
    "accounts": "created once with the installation; its environments' CREATE entries say it",
    "user_sessions": "login sessions: a row per login, touched by every request of the "
    "session (far too many for the log, and a credential's hash); logins are not changes to "
    "the account's data, and what a session's user changes is audited under the user",
    "customer_entitlements": "a cache computed from audited sources (subscriptions, "
    "promotions, the catalog)",
    "customer_feature_entitlements": "the same cache, one row per feature",
    "invoice_schedules": "the billing job's bookkeeping; the invoices it issues are audited",
    "customer_trials": "which plans a customer has trialled (one default trial each): "
    "bookkeeping of the trial subscriptions, which are audited",
    "provisioning_keys": "idempotency bookkeeping: a retry's stored answer",
    "usage_counters": "usage data (reportUsage, reportEvents): its own idempotent records, "
    "far too many for the log",
    "usage_events": "usage data, as usage_counters",
    "usage_idempotency_keys": "usage idempotency bookkeeping",
    "usage_unique_values": "usage data, as usage_counters",
    "usage_threshold_crossings": "derived from usage; delivered as webhook events",
    "webhook_events": "the outbox: each event follows an audited change",
    "webhook_attempts": "the delivery log itself",
    "secret_key_check": "a token that tells whether the secret key opens the stored secrets "
    "(app/secrets_at_rest.py); no data",
}

BY_TABLE: dict[str, type] = {model.__tablename__: model for model in SPECS}  # type: ignore[attr-defined]
# Tables whose every write must come with audit entries (the guard in app.domain.audit).
GUARDED: frozenset[str] = frozenset(t for t, m in BY_TABLE.items() if SPECS[m].automatic)
