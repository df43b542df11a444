"""A settled invoice's PDF says what it is: a paid one that it is paid (no request to pay),
a void one that it is VOID; voiding an invoice is the webhook event `invoice.voided`
(issue 10 item 15)."""

from __future__ import annotations

import io
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
import pypdf

from app.db import Database
from app.domain import audit
from app.domain.audit import AuditActor
from app.models import WebhookEndpoint
from tests.graphql.billing.catalog import PAY, VOID, invoiced, new_customer
from tests.graphql.billing.conftest import START
from tests.support import GraphQLClient, Tenant

DELIVERIES = """query($t: String) { webhookDeliveries(eventType: $t) {
  edges { node { eventType payload } } } }"""


async def pdf_text(http: httpx.AsyncClient, invoice: dict[str, Any]) -> str:
    response = await http.get(urlsplit(invoice["pdfUrl"]).path)
    assert response.status_code == 200
    reader = pypdf.PdfReader(io.BytesIO(response.content))
    return "\n".join(page.extract_text() for page in reader.pages)


async def first_invoice(gql: GraphQLClient, customer: str) -> dict[str, Any]:
    await new_customer(gql, customer)
    (invoice,) = (await invoiced(gql, customer, planId="pro"))["invoices"]
    return invoice  # type: ignore[no-any-return]


async def test_a_paid_invoice_says_it_is_paid(
    bgql: GraphQLClient, billing_http: httpx.AsyncClient
) -> None:
    invoice = await first_invoice(bgql, "acme")
    assert "Please pay USD 49.00" in await pdf_text(billing_http, invoice)
    paid = await bgql.mutate(PAY, {"input": {"invoiceId": invoice["id"]}})
    text = await pdf_text(billing_http, paid["invoice"])
    assert "PAID" in text and f"Paid on {START:%Y-%m-%d}" in text
    assert "Total paid: USD 49.00" in text
    assert "Please pay" not in text and "Total due" not in text


async def test_a_void_invoice_says_void_and_is_a_webhook_event(
    bgql: GraphQLClient, billing_http: httpx.AsyncClient, billing_tenant: Tenant, db: Database
) -> None:
    env = billing_tenant.environments["development"]
    # Straight into the table: a public URL that never receives, whatever the target policy.
    async with audit.transaction(db, AuditActor.cli("tests: endpoint")) as session:
        session.add(
            WebhookEndpoint(
                environment_pk=env,
                url="https://hooks.example.com/allot",
                secret="whsec_" + uuid.uuid4().hex,
                created_at=START,
                updated_at=START,
            )
        )
    invoice = await first_invoice(bgql, "acme")
    voided = await bgql.mutate(VOID, {"input": {"invoiceId": invoice["id"]}})
    assert voided["errors"] == []
    text = await pdf_text(billing_http, voided["invoice"])
    assert "VOID" in text and "nothing is owed" in text
    assert "Please pay" not in text and "Total due" not in text
    data = await bgql.execute(DELIVERIES, {"t": "invoice.voided"})
    (delivery,) = [edge["node"] for edge in data["webhookDeliveries"]["edges"]]
    assert delivery["payload"]["type"] == "invoice.voided"
    sent = delivery["payload"]["data"]["invoice"]
    assert (sent["id"], sent["status"], sent["customerId"]) == (invoice["id"], "VOID", "acme")
    # Voiding again changes nothing and announces nothing.
    await bgql.mutate(VOID, {"input": {"invoiceId": invoice["id"]}})
    again = await bgql.execute(DELIVERIES, {"t": "invoice.voided"})
    assert len(again["webhookDeliveries"]["edges"]) == 1
