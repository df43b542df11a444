"""docs/billing.md's worked example, call for call: a closed enterprise deal from the
CRM's provisioning call to the paid invoice (and the renewal after it)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pypdf

from app.clock import FrozenClock
from tests.graphql.billing.conftest import Job
from tests.graphql.entitlements.catalog import apply_catalog, check
from tests.support import GraphQLClient

CATALOG: dict[str, Any] = {
    "features": [
        {"id": "seats", "name": "Seats", "type": "METERED", "unit": "seat"},
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
                    "prices": [
                        {"model": "FLAT_FEE", "amount": "49.00", "currency": "USD"},
                    ],
                    "entitlements": {"seats": {"limit": 10}, "sso": {}},
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
                    "compatiblePlans": ["pro", "enterprise"],
                    "prices": [
                        {"model": "FLAT_FEE", "amount": "10.00", "currency": "USD"},
                    ],
                    "entitlements": {"seats": {"limit": 5}},
                },
            ],
        }
    ],
}

SETTINGS = """mutation {
  updateBillingSettings(input: {
    companyName: "Example Software Ltd"
    address: "1 Market Street\\nLondon EC1A 1AA\\nUnited Kingdom"
    email: "billing@example.com"
    taxId: "GB123456789"
    bankDetails: { accountHolder: "Example Software Ltd", bankName: "Example Bank",
                   iban: "GB82 WEST 1234 5698 7654 32", bic: "WESTGB2L" }
    paymentInstructions: "Quote the invoice number as the payment reference."
    invoicePrefix: "EX"
  }) { billingSettings { companyName invoicePrefix } errors { code message } }
}"""

DEAL = """
  planId: "enterprise"
  subscriptionId: "acme-enterprise"
  entitlements: [{ featureId: "seats", limit: 250 }]
  addons: [{ addonId: "extra-seats", quantity: 10 }]
  priceOverrides: [
    { amount: "4000.00", currency: "USD" }
    { addonId: "extra-seats", amount: "8.00", currency: "USD" }
  ]
  billing: { mode: INVOICE, paymentTermsDays: 30 }"""

PREVIEW = (
    """mutation {
  previewSubscription(input: {
    customerId: "acme\""""
    + DEAL
    + """
  }) {
    lines { description quantity unitAmount amount }
    total currency periodStart periodEnd
    errors { code message field }
  }
}"""
)

PROVISION = (
    """mutation {
  provisionCustomer(input: {
    customerId: "acme"
    name: "Acme Corp"
    email: "ap@acme.example"
    idempotencyKey: "crm-opportunity-0061"
    subscription: {"""
    + DEAL.replace("\n  ", "\n      ")
    + """
    }
  }) {
    customer { id }
    subscription {
      id status billingMode paymentTermsDays currentPeriodStart currentPeriodEnd
      invoices { id status currency total issuedAt dueDate pdfUrl paymentUrl
                 lines { description quantity unitAmount amount } }
    }
    errors { code message field }
  }
}"""
)

PAY = """mutation {
  markInvoicePaid(input: { invoiceId: "EX-00001" }) {
    invoice { id status paidAt total }
    errors { code message }
  }
}"""

INVOICES = """{
  invoices(customerId: "acme") {
    totalCount
    edges { node { id status total issuedAt dueDate periodStart periodEnd } }
  }
}"""

NOW = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)


async def test_a_closed_enterprise_deal_to_the_paid_invoice(
    bgql: GraphQLClient, billing_http: httpx.AsyncClient, clock: FrozenClock, run_job: Job
) -> None:
    clock.set(NOW)
    await apply_catalog(bgql, CATALOG)
    assert (await bgql.mutate(SETTINGS))["errors"] == []

    quote = await bgql.mutate(PREVIEW)
    assert quote == {
        "lines": [
            {
                "description": "Enterprise (monthly, negotiated price)",
                "quantity": "1",
                "unitAmount": "4000.00",
                "amount": "4000.00",
            },
            {
                "description": "Extra seats add-on (monthly, negotiated price)",
                "quantity": "10",
                "unitAmount": "8.00",
                "amount": "80.00",
            },
        ],
        "total": "4080.00",
        "currency": "USD",
        "periodStart": "2025-06-02T10:00:00+00:00",
        "periodEnd": "2025-07-02T10:00:00+00:00",
        "errors": [],
    }

    deal = await bgql.mutate(PROVISION)
    assert deal["errors"] == []
    sub = deal["subscription"]
    assert sub["status"] == "ACTIVE" and sub["billingMode"] == "INVOICE"
    (invoice,) = sub["invoices"]
    assert {
        k: invoice[k] for k in ("id", "status", "currency", "total", "issuedAt", "dueDate")
    } == {
        "id": "EX-00001",
        "status": "OPEN",
        "currency": "USD",
        "total": "4080.00",
        "issuedAt": "2025-06-02T10:00:00+00:00",
        "dueDate": "2025-07-02T10:00:00+00:00",
    }
    assert invoice["lines"] == [{k: ln[k] for k in ln} for ln in quote["lines"]]
    # The CRM retries the closed deal: the same customer, subscription and invoice.
    again = await bgql.mutate(PROVISION)
    assert again["errors"] == [] and [i["id"] for i in again["subscription"]["invoices"]] == [
        "EX-00001"
    ]

    # Access starts at once: 250 negotiated seats + 10 x 5 add-on seats.
    seats = await check(bgql, "acme", "seats")
    assert seats["hasAccess"] and seats["usageLimit"] == 300

    pdf = await billing_http.get(urlsplit(invoice["pdfUrl"]).path)
    text = pypdf.PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "USD 4,080.00" in text and "GB82 WEST 1234 5698 7654 32" in text
    page = await billing_http.get(urlsplit(invoice["paymentUrl"]).path)
    assert page.status_code == 200 and "USD 4,080.00" in page.text

    clock.set(datetime(2025, 6, 20, 15, 30, tzinfo=UTC))  # the transfer arrives
    paid = await bgql.mutate(PAY)
    assert paid == {
        "invoice": {
            "id": "EX-00001",
            "status": "PAID",
            "paidAt": "2025-06-20T15:30:00+00:00",
            "total": "4080.00",
        },
        "errors": [],
    }

    clock.set(datetime(2025, 7, 2, 10, 0, tzinfo=UTC))  # the next period starts
    await run_job()
    listed = (await bgql.execute(INVOICES))["invoices"]
    assert listed["totalCount"] == 2
    assert [e["node"] for e in listed["edges"]] == [
        {
            "id": "EX-00002",
            "status": "OPEN",
            "total": "4080.00",
            "issuedAt": "2025-07-02T10:00:00+00:00",
            "dueDate": "2025-08-01T10:00:00+00:00",
            "periodStart": "2025-07-02T10:00:00+00:00",
            "periodEnd": "2025-08-02T10:00:00+00:00",
        },
        {
            "id": "EX-00001",
            "status": "PAID",
            "total": "4080.00",
            "issuedAt": "2025-06-02T10:00:00+00:00",
            "dueDate": "2025-07-02T10:00:00+00:00",
            "periodStart": "2025-06-02T10:00:00+00:00",
            "periodEnd": "2025-07-02T10:00:00+00:00",
        },
    ]
