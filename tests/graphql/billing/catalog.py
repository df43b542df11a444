"""The billing tests' catalog and GraphQL documents."""

from __future__ import annotations

from typing import Any

from tests.support import GraphQLClient


def usd(amount: str, period: str = "MONTHLY", **extra: Any) -> dict[str, Any]:
    return {
        "model": "FLAT_FEE",
        "billingPeriod": period,
        "amount": amount,
        "currency": "USD",
        **extra,
    }


API_TIERS = [
    {"upTo": 1000, "unitAmount": "0"},
    {"upTo": 10000, "unitAmount": "0.002", "flatAmount": "5.00"},
    {"unitAmount": "0.001"},
]

BILLING_CATALOG: dict[str, Any] = {
    "features": [
        {"id": "seats", "name": "Seats", "type": "METERED", "unit": "seat"},
        {"id": "api-calls", "name": "API calls", "type": "METERED"},
        {"id": "sso", "name": "SSO", "type": "BOOLEAN"},
    ],
    "products": [
        {
            "id": "app",
            "name": "App",
            "plans": [
                {
                    "id": "pro",
                    "name": "Pro",
                    "pricingType": "PAID",
                    "prices": [usd("49.00"), usd("490.00", "ANNUALLY")],
                    "entitlements": {"seats": {"limit": 10}, "sso": {}},
                },
                {
                    "id": "team",
                    "name": "Team",
                    "pricingType": "PAID",
                    "prices": [
                        usd("20.00"),
                        {
                            "model": "PER_UNIT",
                            "billingPeriod": "MONTHLY",
                            "currency": "USD",
                            "featureId": "seats",
                            "amount": "10.00",
                        },
                    ],
                    "entitlements": {"seats": {"limit": 5}},
                },
                {
                    "id": "usage",
                    "name": "Usage",
                    "pricingType": "PAID",
                    "prices": [
                        usd("10.00"),
                        {
                            "model": "USAGE_BASED",
                            "billingPeriod": "MONTHLY",
                            "currency": "USD",
                            "featureId": "api-calls",
                            "tierMode": "GRADUATED",
                            "tiers": API_TIERS,
                        },
                    ],
                    "entitlements": {"api-calls": {"limit": 1000000, "resetPeriod": "MONTH"}},
                },
                {
                    "id": "trialing",
                    "name": "Trialing",
                    "pricingType": "PAID",
                    "trial": {"days": 14},
                    "prices": [usd("99.00")],
                    "entitlements": {"sso": {}},
                },
                {
                    "id": "enterprise",
                    "name": "Enterprise",
                    "parent": "pro",
                    "pricingType": "CUSTOM",
                    "entitlements": {"seats": {"variable": True}},
                },
            ],
            "addons": [
                {
                    "id": "extra-seats",
                    "name": "Extra seats",
                    "maxQuantity": 50,
                    "compatiblePlans": ["pro", "team", "enterprise"],
                    "prices": [usd("10.00")],
                    "entitlements": {"seats": {"limit": 5}},
                },
            ],
        },
    ],
}

SETTINGS: dict[str, Any] = {
    "companyName": "Allot Demo GmbH",
    "address": "Hauptstraße 1\n10115 Berlin\nGermany",
    "email": "billing@allot.test",
    "taxId": "DE123456789",
    "bankDetails": {
        "accountHolder": "Allot Demo GmbH",
        "bankName": "Commerzbank",
        "iban": "DE89 3704 0044 0532 0130 00",
        "bic": "COBADEFFXXX",
    },
    "paymentInstructions": "Please quote the invoice number with your transfer.",
    "invoicePrefix": "ALT",
}

ERRORS = "errors { code message field }"
LINES = (
    "lines { description quantity unitAmount amount kind featureId addonId periodStart periodEnd }"
)
INVOICE_FIELDS = f"""id status currency total {LINES} issuedAt dueDate paidAt voidedAt
  periodStart periodEnd paymentTermsDays isOverdue pdfUrl paymentUrl"""

UPDATE_SETTINGS = f"""mutation($input: UpdateBillingSettingsInput!) {{
  updateBillingSettings(input: $input) {{ billingSettings {{ companyName address email taxId
    bankDetails {{ accountHolder bankName iban bic accountNumber routingNumber }}
    paymentInstructions invoicePrefix nextInvoiceNumber }} {ERRORS} }} }}"""

PROVISION = f"""mutation($input: ProvisionSubscriptionInput!) {{
  provisionSubscription(input: $input) {{
    subscription {{ id status startDate endDate billingMode paymentTermsDays
      invoices {{ {INVOICE_FIELDS} }} }} {ERRORS} }} }}"""

PROVISION_CUSTOMER = """mutation($input: ProvisionCustomerInput!) {
  provisionCustomer(input: $input) { customer { id } errors { code message field } } }"""

SUBSCRIPTION = f"""query($id: String!) {{ subscription(id: $id) {{ id status endDate canceledAt
  invoices {{ {INVOICE_FIELDS} }} }} }}"""

INVOICE = f"""query($id: String!) {{ invoice(id: $id) {{ {INVOICE_FIELDS}
  subscription {{ id }} customer {{ id }} }} }}"""

PAY = f"""mutation($input: MarkInvoicePaidInput!) {{ markInvoicePaid(input: $input) {{
  invoice {{ {INVOICE_FIELDS} }} {ERRORS} }} }}"""

VOID = f"""mutation($input: VoidInvoiceInput!) {{ voidInvoice(input: $input) {{
  invoice {{ {INVOICE_FIELDS} }} {ERRORS} }} }}"""

PREVIEW = f"""mutation($input: ProvisionSubscriptionInput!) {{ previewSubscription(input: $input) {{
  {LINES} total currency periodStart periodEnd {ERRORS} }} }}"""

REPORT = """mutation($input: ReportUsageInput!) { reportUsage(input: $input) {
  accepted errors { code message } } }"""


async def new_customer(gql: GraphQLClient, customer_id: str, **extra: Any) -> None:
    payload = await gql.mutate(
        PROVISION_CUSTOMER,
        {
            "input": {
                "customerId": customer_id,
                "name": "Acme Corp",
                "email": "ap@acme.test",
                **extra,
            }
        },
    )
    assert payload["errors"] == [], payload["errors"]


async def invoiced(gql: GraphQLClient, customer_id: str, **fields: Any) -> dict[str, Any]:
    """Provision a subscription billed by invoice (30-day terms unless given); it must work."""
    fields.setdefault("billing", {"mode": "INVOICE", "paymentTermsDays": 30})
    payload = await gql.mutate(PROVISION, {"input": {"customerId": customer_id, **fields}})
    assert payload["errors"] == [], payload["errors"]
    return payload["subscription"]  # type: ignore[no-any-return]


async def invoices_of(gql: GraphQLClient, subscription_id: str) -> list[dict[str, Any]]:
    data = await gql.execute(SUBSCRIPTION, {"id": subscription_id})
    return data["subscription"]["invoices"]  # type: ignore[no-any-return]


async def subscription(gql: GraphQLClient, subscription_id: str) -> dict[str, Any]:
    data = await gql.execute(SUBSCRIPTION, {"id": subscription_id})
    return data["subscription"]  # type: ignore[no-any-return]
