"""Invoices, their links and billing settings never cross environments."""

from __future__ import annotations

import httpx

from tests.graphql.billing.catalog import BILLING_CATALOG, SETTINGS, invoiced, new_customer
from tests.graphql.entitlements.catalog import apply_catalog
from tests.support import GraphQLClient, Tenant

CONNECTION = "totalCount edges { node { id } }"


async def test_other_environments_see_no_invoice_or_settings(
    bgql: GraphQLClient, billing_http: httpx.AsyncClient, billing_tenant: Tenant
) -> None:
    await new_customer(bgql, "acme")
    sub = await invoiced(bgql, "acme", planId="pro", subscriptionId="sub-1")
    (invoice,) = sub["invoices"]
    production = GraphQLClient(billing_http, billing_tenant.server_keys["production"])
    data = await production.execute(
        f"""{{ invoice(id: "{invoice["id"]}") {{ id }}
        invoices {{ {CONNECTION} }}
        filtered: invoices(customerId: "acme", subscriptionId: "sub-1") {{ {CONNECTION} }}
        billingSettings {{ companyName invoicePrefix nextInvoiceNumber }} }}"""
    )
    assert data == {
        "invoice": None,
        "invoices": {"totalCount": 0, "edges": []},
        "filtered": {"totalCount": 0, "edges": []},
        "billingSettings": {"companyName": "", "invoicePrefix": "INV", "nextInvoiceNumber": 1},
    }
    # Production's own sequence starts at 1 and its settings are its own.
    await apply_catalog(production, BILLING_CATALOG)
    await new_customer(production, "acme")
    mine = await invoiced(production, "acme", planId="pro", subscriptionId="sub-1")
    assert [i["id"] for i in mine["invoices"]] == ["INV-00001"]
    dev = await bgql.execute("{ billingSettings { companyName nextInvoiceNumber } }")
    assert dev["billingSettings"] == {
        "companyName": SETTINGS["companyName"],
        "nextInvoiceNumber": 2,
    }
