"""SQLModel tables only. Importing this package registers every table on the metadata."""

from sqlmodel import SQLModel

from app.models.audit import AuditEntry, ProvisioningKey
from app.models.billing import BillingSettings, Invoice, InvoiceSchedule
from app.models.catalog import Feature, Package, PackageVersion, Product
from app.models.customers import (
    Customer,
    CustomerEntitlements,
    CustomerFeatureEntitlement,
    CustomerTrial,
    PromotionalEntitlement,
    Subscription,
)
from app.models.secrets import SecretKeyCheck
from app.models.tenancy import Account, ApiKey, CustomerToken, Environment
from app.models.usage import (
    ThresholdCrossing,
    UsageCounter,
    UsageEvent,
    UsageIdempotencyKey,
    UsageUniqueValue,
)
from app.models.users import User, UserInvitation, UserSession
from app.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent

metadata = SQLModel.metadata

__all__ = [
    "Account",
    "ApiKey",
    "AuditEntry",
    "BillingSettings",
    "Customer",
    "CustomerEntitlements",
    "CustomerFeatureEntitlement",
    "CustomerToken",
    "CustomerTrial",
    "Environment",
    "Feature",
    "Invoice",
    "InvoiceSchedule",
    "Package",
    "PackageVersion",
    "Product",
    "PromotionalEntitlement",
    "ProvisioningKey",
    "SecretKeyCheck",
    "Subscription",
    "ThresholdCrossing",
    "UsageCounter",
    "UsageEvent",
    "UsageIdempotencyKey",
    "UsageUniqueValue",
    "User",
    "UserInvitation",
    "UserSession",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "metadata",
]
