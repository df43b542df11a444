"""The invoice PDF and the payment page behind their signed links; billing settings; the
invoice lists."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pypdf
import pytest

from app.clock import FrozenClock
from app.domain.billing import invoice_pdf
from app.models import Invoice
from tests.graphql.billing.catalog import (
    INVOICE,
    PAY,
    SETTINGS,
    UPDATE_SETTINGS,
    invoiced,
    new_customer,
)
from tests.graphql.billing.conftest import START, Job, errors_of
from tests.support import GraphQLClient, Tenant

DAY = timedelta(days=1)


async def deal(gql: GraphQLClient) -> dict[str, Any]:
    await new_customer(gql, "acme")
    sub = await invoiced(
        gql,
        "acme",
        planId="enterprise",
        subscriptionId="sub-ent",
        entitlements=[{"featureId": "seats", "limit": 250}],
        addons=[{"addonId": "extra-seats", "quantity": 10}],
        priceOverrides=[
            {"amount": "4000.00", "currency": "USD"},
            {"addonId": "extra-seats", "amount": "90", "currency": "USD"},
        ],
    )
    (invoice,) = sub["invoices"]
    return invoice  # type: ignore[no-any-return]


def path(url: str) -> str:
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.netloc == "billing.allot.test"  # ALLOT_PUBLIC_URL
    return parts.path


async def test_the_pdf_is_a_real_invoice(
    bgql: GraphQLClient, billing_http: httpx.AsyncClient
) -> None:
    invoice = await deal(bgql)
    assert invoice["total"] == "4900.00"
    response = await billing_http.get(path(invoice["pdfUrl"]))  # no API key
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(response.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    for expected in (
        "USD 4,900.00",  # the total
        "ALT-00001",
        "Allot Demo GmbH",
        "Hauptstraße 1",
        "Acme Corp",
        "2025-03-02",  # due date: Jan 31 + 30 days
        "Net 30 days",
        "DE89 3704 0044 0532 0130 00",
        "COBADEFFXXX",
        "Extra seats add-on",
        "USD 900.00",
    ):
        assert expected in text, expected


async def test_the_payment_page_shows_amount_terms_and_bank(
    bgql: GraphQLClient, billing_http: httpx.AsyncClient, clock: FrozenClock
) -> None:
    invoice = await deal(bgql)
    response = await billing_http.get(path(invoice["paymentUrl"]))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    for expected in (
        "USD 4,900.00",
        "2025-03-02",
        "Net 30 days",
        "DE89 3704 0044 0532 0130 00",
        "COBADEFFXXX",
        "Allot Demo GmbH",
        "ALT-00001",
        "OPEN",
    ):
        assert expected in page, expected
    assert response.headers["cache-control"] == "private, no-store"
    clock.advance(DAY)
    await bgql.mutate(PAY, {"input": {"invoiceId": "ALT-00001"}})
    paid = (await billing_http.get(path(invoice["paymentUrl"]))).text
    assert "Paid on 2025-02-01" in paid and "Pay by bank transfer" not in paid


async def test_links_expire_and_cannot_be_forged(
    bgql: GraphQLClient, billing_http: httpx.AsyncClient, clock: FrozenClock
) -> None:
    invoice = await deal(bgql)
    pay, pdf = path(invoice["paymentUrl"]), path(invoice["pdfUrl"])
    head, _, tail = pay.removeprefix("/pay/").partition(".")
    forged = f"/pay/{head}.{'A' * len(tail)}"
    assert (await billing_http.get(forged)).status_code == 404
    assert (await billing_http.get("/pay/not-a-token")).status_code == 404
    assert (await billing_http.get("/invoices/garbage.pdf")).status_code == 404
    clock.set(START + 30 * DAY - timedelta(seconds=1))
    assert (await billing_http.get(pay)).status_code == 200
    clock.set(START + 30 * DAY)  # ALLOT_INVOICE_LINK_DAYS = 30 from when the link was read
    expired = await billing_http.get(pay)
    assert expired.status_code == 410 and "expired" in expired.text
    assert (await billing_http.get(pdf)).status_code == 410
    fresh = (await bgql.execute(INVOICE, {"id": "ALT-00001"}))["invoice"]
    assert (await billing_http.get(path(fresh["paymentUrl"]))).status_code == 200


async def test_rotating_the_secret_expires_every_link(
    bgql: GraphQLClient, billing_http: httpx.AsyncClient
) -> None:
    invoice = await deal(bgql)
    rotated = await bgql.mutate(UPDATE_SETTINGS, {"input": {"rotateLinkSecret": True}})
    assert rotated["errors"] == []
    assert (await billing_http.get(path(invoice["paymentUrl"]))).status_code == 404


def test_pdf_renders_any_script_without_a_unicode_font() -> None:
    """With only the core font, text outside Windows-1252 degrades instead of failing."""
    row = Invoice(
        id="X-00001",
        currency="JPY",
        total="12000",
        status="OPEN",
        lines=[
            {
                "description": "プラン (monthly)",
                "quantity": "1",
                "unitAmount": "12000",
                "amount": "12000",
                "kind": "BASE",
            }
        ],
        issued_at=START,
        due_date=START + DAY,
        payment_terms_days=1,
        issuer={"companyName": "Société Générale €"},
        bill_to={"customerId": "c", "name": "Łódź"},
        environment_pk=None,
        customer_pk=None,
        subscription_pk=None,
        period_start=START,
    )
    fonts = invoice_pdf.SYSTEM_FONTS
    invoice_pdf.SYSTEM_FONTS = ()
    try:
        data = invoice_pdf.render(invoice_pdf.document_of(row))
    finally:
        invoice_pdf.SYSTEM_FONTS = fonts
    text = pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "JPY 12,000" in text and "Société Générale €" in text and "?ódz" in text


async def test_billing_settings_round_trip_and_checks(bgql: GraphQLClient) -> None:
    query = """{ billingSettings { companyName invoicePrefix nextInvoiceNumber
      bankDetails { iban bic } } }"""
    settings = (await bgql.execute(query))["billingSettings"]
    assert settings == {
        "companyName": SETTINGS["companyName"],
        "invoicePrefix": "ALT",
        "nextInvoiceNumber": 1,
        "bankDetails": {"iban": "DE89370400440532013000", "bic": "COBADEFFXXX"},
    }
    for bad, field in (
        ({"bankDetails": {"iban": "DE89 3704 0044 0532 0130 01"}}, ["bankDetails", "iban"]),
        ({"bankDetails": {"bic": "123"}}, ["bankDetails", "bic"]),
        ({"invoicePrefix": "no spaces"}, ["invoicePrefix"]),
        ({"email": "not-an-email"}, ["email"]),
        ({"companyName": "x" * 201}, ["companyName"]),
    ):
        payload = await bgql.mutate(UPDATE_SETTINGS, {"input": bad})
        assert errors_of(payload) == ["INVALID_INPUT"] and payload["errors"][0]["field"] == field
    changed = await bgql.mutate(UPDATE_SETTINGS, {"input": {"invoicePrefix": "2025/ACME"}})
    assert changed["billingSettings"]["invoicePrefix"] == "2025/ACME"
    await new_customer(bgql, "acme")
    sub = await invoiced(bgql, "acme", planId="pro")
    assert sub["invoices"][0]["id"] == "2025/ACME-00001"


async def test_client_keys_cannot_read_invoices_or_settings(
    bgql: GraphQLClient, billing_tenant: Tenant
) -> None:
    client = bgql.with_key(billing_tenant.client_key)
    for query in (
        '{ invoice(id: "ALT-00001") { id } }',
        "{ billingSettings { email } }",
        "{ invoices { totalCount } }",
    ):
        body = (await client.post(query)).json()
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", query


LIST = """query($c: String, $s: String, $st: InvoiceStatus, $first: Int, $after: String) {
  invoices(customerId: $c, subscriptionId: $s, status: $st, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id status } } } }"""


async def test_invoice_lists_filter_and_page(
    bgql: GraphQLClient, clock: FrozenClock, run_job: Job
) -> None:
    await new_customer(bgql, "acme")
    await new_customer(bgql, "globex")
    await invoiced(bgql, "acme", planId="pro", subscriptionId="s1")  # ALT-00001
    clock.advance(timedelta(minutes=1))
    await invoiced(bgql, "globex", planId="pro", subscriptionId="s2")  # ALT-00002
    await bgql.mutate(PAY, {"input": {"invoiceId": "ALT-00002"}})
    clock.set(datetime(2025, 2, 28, 9, 1, tzinfo=UTC))  # both periods have ended
    await bgql.mutate(PAY, {"input": {"invoiceId": "ALT-00001"}})
    await run_job()  # the renewals: ALT-00003 (acme: earlier anchor), ALT-00004

    async def ids(**args: Any) -> tuple[list[str], dict[str, Any]]:
        data = (await bgql.execute(LIST, args))["invoices"]
        return [e["node"]["id"] for e in data["edges"]], data

    assert (await ids())[0] == ["ALT-00004", "ALT-00003", "ALT-00002", "ALT-00001"]
    assert (await ids(c="acme"))[0] == ["ALT-00003", "ALT-00001"]
    assert (await ids(s="s2"))[0] == ["ALT-00004", "ALT-00002"]
    assert (await ids(st="PAID"))[0] == ["ALT-00002", "ALT-00001"]
    assert (await ids(c="acme", st="OPEN"))[0] == ["ALT-00003"]
    assert (await ids(c="nobody"))[0] == []
    first, page = await ids(first=3)
    assert first == ["ALT-00004", "ALT-00003", "ALT-00002"] and page["totalCount"] == 4
    assert page["pageInfo"]["hasNextPage"]
    rest, page = await ids(first=3, after=page["pageInfo"]["endCursor"])
    assert rest == ["ALT-00001"] and not page["pageInfo"]["hasNextPage"]
    customer = """{ customer(id: "acme") { invoices { id } } }"""
    assert [i["id"] for i in (await bgql.execute(customer))["customer"]["invoices"]] == [
        "ALT-00003",
        "ALT-00001",
    ]
    bad = (await bgql.post(LIST, {"after": "bm90LWEtY3Vyc29y"})).json()
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


@pytest.mark.parametrize("query", ['{ invoice(id: "nope") { id } }'])
async def test_unknown_invoice_is_null(bgql: GraphQLClient, query: str) -> None:
    assert (await bgql.execute(query))["invoice"] is None
