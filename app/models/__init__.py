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
    "User",
    "metadata",
]
