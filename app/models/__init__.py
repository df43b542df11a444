"""SQLModel tables only. Importing this package registers every table on the metadata."""

from sqlmodel import SQLModel

from app.models.catalog import Feature, Package, PackageVersion, Product
from app.models.customers import (
    Customer,
    CustomerEntitlements,
    PromotionalEntitlement,
    Subscription,
)
from app.models.tenancy import Account, ApiKey, Environment, User
from app.models.usage import (
    ThresholdCrossing,
    UsageCounter,
    UsageEvent,
    UsageIdempotencyKey,
    UsageUniqueValue,
)

metadata = SQLModel.metadata

__all__ = [
    "Account",
    "ApiKey",
    "Customer",
    "CustomerEntitlements",
    "Environment",
    "Feature",
    "Package",
    "PackageVersion",
    "Product",
    "PromotionalEntitlement",
    "Subscription",
    "ThresholdCrossing",
    "UsageCounter",
    "UsageEvent",
    "UsageIdempotencyKey",
    "UsageUniqueValue",
    "User",
    "metadata",
]
