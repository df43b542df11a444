"""Customers, their subscriptions, promotional entitlements and the precomputed
effective entitlements every check reads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Computed, Float, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from app.models.base import jsonb, timestamp, uuid_pk

# What `customers(search:)` matches (app/store/customers.py), and the trigram index's
# expression: id, name and email joined by a newline, so a match never spans two fields.
SEARCH_TEXT = "((((id || '\n') || coalesce(name, '')) || '\n') || coalesce(email, ''))"


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("environment_pk", "id"),
        # `customers(search:)`: a trigram index over id, name and email (migration 0019).
        # The operator class (gin_trgm_ops) is migration 0019's: Alembic's comparison of
        # the models with the migrations refuses an operator inside an expression, and
        # `postgresql_ops` keys columns only, so the model states the expression alone.
        Index("ix_customers_search", text(SEARCH_TEXT), postgresql_using="gin"),
        # Insights leave out an environment's (few) archived customers by their keys.
        Index("ix_customers_archived", "environment_pk",
              postgresql_where=text("archived_at IS NOT NULL")),
    )

    pk: uuid.UUID = uuid_pk()
    environment_pk: uuid.UUID = Field(foreign_key="environments.pk", index=True)
    id: str
    name: str | None = None
    email: str | None = None
    metadata_: dict[str, Any] | None = jsonb(nullable=True)
    # Who invoices are addressed to: {"name", "address", "taxId"}
    # (app/domain/subscriptions/provisioning.py)
    billing_details: dict[str, Any] | None = jsonb(nullable=True)
    archived_at: datetime | None = timestamp(nullable=True)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class Subscription(SQLModel, table=True):
    """Customer x plan version (+ add-ons) x period x price.

    Dates decide the status at any instant (`app.domain.subscriptions.dates.status_at`); the stored
    `status` is what the background job last materialised, for lists and webhooks.
    `scheduled_change` holds an end-of-period plan change: {"planId", "planVersion",
    "addons", "effectiveAt"}.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("environment_pk", "id"),
        Index("ix_subscriptions_customer", "customer_pk"),
        Index("ix_subscriptions_plan", "plan_pk"),
        # Insights: the trials ending soon.
        Index("ix_subscriptions_trial_end", "environment_pk", "trial_end_date",
              postgresql_where=text("trial_end_date IS NOT NULL")),
        # The billing job's scan: only subscriptions billed by invoice, usually a few.
        Index("ix_subscriptions_invoiced", "start_date",
              postgresql_where=text("billing_mode = 'INVOICE'")),
    )

    pk: uuid.UUID = uuid_pk()
    environment_pk: uuid.UUID = Field(foreign_key="environments.pk", index=True)
    id: str
    customer_pk: uuid.UUID = Field(foreign_key="customers.pk")
    product_pk: uuid.UUID = Field(foreign_key="products.pk")
    plan_pk: uuid.UUID = Field(foreign_key="packages.pk")
    plan_version: int
    resource_id: str | None = None
    status: str
    billing_period: str = "MONTHLY"
    start_date: datetime = timestamp()
    end_date: datetime | None = timestamp(nullable=True)
    trial_end_date: datetime | None = timestamp(nullable=True)
    trial_end_behavior: str | None = None
    is_parallel_trial: bool = False
    # A parallel trial that converts replaces the paid subscription it ran beside.
    replaces_pk: uuid.UUID | None = Field(default=None, foreign_key="subscriptions.pk")
    # A default-plan subscription made to follow the end of another one (its fallback):
    # moved or withdrawn when that end moves (trial end changed, cancellation withdrawn).
    fallback_for_pk: uuid.UUID | None = Field(default=None, foreign_key="subscriptions.pk")
    addons: list[dict[str, Any]] = jsonb(default=list)  # [{addonId, version, quantity}]
    entitlements: dict[str, Any] = jsonb(default=dict)  # per-subscription values by featureId
    price_overrides: list[dict[str, Any]] = jsonb(default=list)
    scheduled_change: dict[str, Any] | None = jsonb(nullable=True)
    billing_mode: str = "EXTERNAL"
    payment_terms_days: int | None = None
    metadata_: dict[str, Any] | None = jsonb(nullable=True)
    canceled_at: datetime | None = timestamp(nullable=True)
    trial_ending_notified_at: datetime | None = timestamp(nullable=True)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class CustomerTrial(SQLModel, table=True):
    """A plan a customer has trialled: its default trial is not given again (one default
    trial per customer and plan; an explicit trial in a request still is)."""

    __tablename__ = "customer_trials"

    customer_pk: uuid.UUID = Field(foreign_key="customers.pk", primary_key=True)
    plan_pk: uuid.UUID = Field(foreign_key="packages.pk", primary_key=True)
    started_at: datetime = timestamp()


class PromotionalEntitlement(SQLModel, table=True):
    """A grant straight to a customer for a period; at most one live grant per feature."""

    __tablename__ = "promotional_entitlements"
    __table_args__ = (Index("ix_promotions_customer", "customer_pk", "feature_id"),)

    pk: uuid.UUID = uuid_pk()
    environment_pk: uuid.UUID = Field(foreign_key="environments.pk", index=True)
    customer_pk: uuid.UUID = Field(foreign_key="customers.pk")
    feature_id: str
    config: dict[str, Any] = jsonb(default=dict)
    duration: str | None = None
    starts_at: datetime = timestamp()
    ends_at: datetime | None = timestamp(nullable=True)
    revoked_at: datetime | None = timestamp(nullable=True)
    created_at: datetime = timestamp()


class CustomerEntitlements(SQLModel, table=True):
    """The state of one customer's precomputed effective entitlements (the entitlements
    themselves are `CustomerFeatureEntitlement` rows, one per feature).

    Written in the transaction of every change to the customer's sources; `valid_until` is
    the next instant something time-based changes them (trial end, scheduled change,
    promotion end, future start), after which the next read recomputes. Catalog publishes
    invalidate by setting `valid_until` to now. Without this row the feature rows are not
    read (the customer's entitlements are computed on its next read).
    """

    __tablename__ = "customer_entitlements"

    customer_pk: uuid.UUID = Field(foreign_key="customers.pk", primary_key=True)
    environment_pk: uuid.UUID = Field(foreign_key="environments.pk", index=True)
    has_active_subscription: bool = False
    valid_until: datetime | None = timestamp(nullable=True)
    computed_at: datetime = timestamp()
    # Bumped by every rewrite (under the customer's lock): for one customer, greater = newer.
    version: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )


# The columns PostgreSQL derives from a feature entitlement's document (migration 0020), in
# its own rendering (so the migrations test compares them as equal): granted, metered, and
# the effective limit (null when not granted, unlimited or without a limit).
ENTITLEMENT_GRANTED = "COALESCE(((entitlement ->> 'granted'::text) = 'true'::text), false)"
ENTITLEMENT_METERED = (
    "COALESCE(((entitlement ->> 'feature_type'::text) = 'METERED'::text), false)"
)
ENTITLEMENT_USAGE_LIMIT = (
    "CASE WHEN (((entitlement ->> 'granted'::text) = 'true'::text) AND "
    "(COALESCE((entitlement ->> 'is_unlimited'::text), 'false'::text) <> 'true'::text)) "
    "THEN ((entitlement ->> 'usage_limit'::text))::double precision "
    "ELSE NULL::double precision END"
)


class CustomerFeatureEntitlement(SQLModel, table=True):
    """One customer's precomputed effective entitlement for one feature (granted or not).

    A row per feature, not one document per customer: a check reads one feature, and a
    document would be decompressed whole for it (migration 0015). The insights read the
    narrow columns beside the document (migration 0020): its environment, and what
    PostgreSQL generates from the document itself (never out of step with it)."""

    __tablename__ = "customer_feature_entitlements"
    __table_args__ = (
        # limitUtilization and usageDistribution: an environment's granted metered rows of
        # a feature, in customer order, with the limit (index-only).
        Index("ix_customer_feature_entitlements_insights", "environment_pk", "feature_id",
              "customer_pk", postgresql_include=["usage_limit"],
              postgresql_where=text("granted AND metered")),
        # limitUtilization: only the rows with a limit.
        Index("ix_customer_feature_entitlements_limits", "environment_pk", "feature_id",
              "customer_pk", postgresql_include=["usage_limit"],
              postgresql_where=text("granted AND metered AND usage_limit IS NOT NULL")),
    )

    customer_pk: uuid.UUID = Field(foreign_key="customers.pk", primary_key=True)
    feature_id: str = Field(primary_key=True)
    entitlement: dict[str, Any] = jsonb(default=dict)
    environment_pk: uuid.UUID = Field(foreign_key="environments.pk")
    granted: bool = Field(
        default=False,
        sa_column=Column(Boolean, Computed(ENTITLEMENT_GRANTED, persisted=True), nullable=False),
    )
    metered: bool = Field(
        default=False,
        sa_column=Column(Boolean, Computed(ENTITLEMENT_METERED, persisted=True), nullable=False),
    )
    usage_limit: float | None = Field(
        default=None,
        sa_column=Column(Float, Computed(ENTITLEMENT_USAGE_LIMIT, persisted=True),
                         nullable=True),
    )
