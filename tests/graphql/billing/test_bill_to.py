"""Invoices carry the buyer's legal name, address and tax id when the customer has billing
details, so an accounts-payable team can book them (issue 10 item 17)."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlsplit

import httpx
import pypdf

from tests.graphql.billing.catalog import INVOICE, PROVISION_CUSTOMER, invoiced
from tests.support import GraphQLClient

DETAILS = {
    "legalName": "Acme Corporation Ltd",
    "address": "1 Main Street\nSpringfield 12345\nUnited States",
    "taxId": "US12-3456789",
}
BILL_TO = """query($id: String!) { invoice(id: $id) { id
  billTo { customerId name email address taxId } } }"""
CUSTOMER = """query($id: String!) { customer(id: $id) {
  billingDetails { legalName address taxId } } }"""


async def provision(gql: GraphQLClient, customer: str, **fields: Any) -> dict[str, Any]:
    payload = await gql.mutate(
        PROVISION_CUSTOMER, {"input": {"customerId": customer, "name": "Acme", **fields}}
    )
    return payload  # type: ignore[no-any-return]


async def bill_to(gql: GraphQLClient, invoice_id: str) -> dict[str, Any]:
    return (await gql.execute(BILL_TO, {"id": invoice_id}))["invoice"]["billTo"]  # type: ignore[no-any-return]


async def test_invoices_carry_the_buyers_billing_details(
    bgql: GraphQLClient, billing_http: httpx.AsyncClient
) -> None:
    assert (await provision(bgql, "acme", email="ap@acme.test", billingDetails=DETAILS))[
        "errors"
    ] == []
    assert (await bgql.execute(CUSTOMER, {"id": "acme"}))["customer"]["billingDetails"] == DETAILS
    (invoice,) = (await invoiced(bgql, "acme", planId="pro"))["invoices"]
    assert await bill_to(bgql, invoice["id"]) == {
        "customerId": "acme",
        "name": "Acme Corporation Ltd",
        "email": "ap@acme.test",
        "address": DETAILS["address"],
        "taxId": "US12-3456789",
    }
    pdf = await billing_http.get(urlsplit(invoice["pdfUrl"]).path)
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    for expected in ("Acme Corporation Ltd", "1 Main Street", "Springfield 12345", "US12-3456789"):
        assert expected in text, expected

    # New details apply to new invoices; an issued invoice keeps what it says.
    changed = {"legalName": "Acme Holdings Inc", "address": "2 Side Road"}
    assert (await provision(bgql, "acme", billingDetails=changed))["errors"] == []
    customer = (await bgql.execute(CUSTOMER, {"id": "acme"}))["customer"]
    assert customer["billingDetails"] == {**changed, "taxId": None}  # replaced as a whole
    assert (await bill_to(bgql, invoice["id"]))["name"] == "Acme Corporation Ltd"


async def test_without_billing_details_the_invoice_names_the_customer(
    bgql: GraphQLClient,
) -> None:
    assert (await provision(bgql, "bolt"))["errors"] == []
    assert (await bgql.execute(CUSTOMER, {"id": "bolt"}))["customer"]["billingDetails"] is None
    (invoice,) = (await invoiced(bgql, "bolt", planId="pro"))["invoices"]
    assert await bill_to(bgql, invoice["id"]) == {
        "customerId": "bolt",
        "name": "Acme",
        "email": None,
        "address": None,
        "taxId": None,
    }
    too_long = await provision(bgql, "bolt", billingDetails={"taxId": "x" * 101})
    assert [(e["code"], e["field"]) for e in too_long["errors"]] == [
        ("INVALID_INPUT", ["billingDetails", "taxId"])
    ]
    assert (await bgql.execute(INVOICE, {"id": invoice["id"]}))["invoice"]["id"] == invoice["id"]
