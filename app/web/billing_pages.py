"""Public invoice links: `GET /invoices/{token}.pdf` (the PDF) and `GET /pay/{token}` (a
payment page: amount, terms, due date, bank details). No API key: the signed token is the
credential. A forged or unknown token is 404; an expired one is 410 Gone."""

from __future__ import annotations

import asyncio
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app.domain.billing import invoice_links as links
from app.domain.billing.choices import InvoiceStatus
from app.domain.billing.invoice_pdf import bank_lines, day, document_of, render
from app.domain.billing.invoices import is_overdue
from app.domain.money import format_money
from app.models import Invoice
from app.store import invoices as store
from app.web.graphql import Services
from app.web.html_pages import standalone_page

HEADERS = {
    "Cache-Control": "private, no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
}

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f5f7;
color:#1d2330;margin:0;padding:2rem 1rem}
main{max-width:40rem;margin:auto;background:#fff;border-radius:12px;padding:2rem;
box-shadow:0 1px 4px rgba(0,0,0,.08)}
h1{font-size:1.3rem;margin:0 0 .25rem}h2{font-size:1rem;margin:1.75rem 0 .5rem}
.amount{font-size:2.2rem;font-weight:700;margin:1rem 0 .25rem}
.muted{color:#5b6475}.status{display:inline-block;padding:.15rem .6rem;border-radius:99px;
font-size:.8rem;font-weight:600;background:#eef1f6}
.PAID{background:#d9f5e3;color:#17683a}.VOID{background:#eceef2;color:#5b6475}
.OVERDUE{background:#fde2e1;color:#9b1c16}
dl{display:grid;grid-template-columns:11rem 1fr;gap:.35rem 1rem;margin:0}dt{color:#5b6475}
dd{margin:0;font-variant-numeric:tabular-nums}a.button{display:inline-block;margin-top:1.5rem;
padding:.6rem 1rem;border-radius:8px;background:#1d2330;color:#fff;text-decoration:none}
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(standalone_page(title, STYLE, body), status_code=status, headers=HEADERS)


async def _resolve(request: Request) -> tuple[Invoice | None, links.LinkState, Services]:
    services: Services = request.app.state.services
    claim = links.read_token(request.path_params["token"])
    if claim is None:
        return None, links.LinkState.INVALID, services
    async with services.db.session() as session:
        invoice = await store.invoice_by_pk(session, claim.invoice_pk)
        secrets = await store.link_secrets(session, [invoice.environment_pk]) if invoice else {}
    secret = secrets.get(invoice.environment_pk) if invoice is not None else None
    state = links.check(claim, secret, services.clock.now())
    return (invoice if state is links.LinkState.VALID else None), state, services


def _refused(state: links.LinkState) -> HTMLResponse:
    if state is links.LinkState.EXPIRED:
        return _page(
            "Link expired",
            "<h1>This link has expired</h1><p class=muted>Invoice links are valid for a "
            "limited time. Ask the sender for a new one.</p>",
            410,
        )
    return _page("Not found", "<h1>Not found</h1><p class=muted>No such invoice.</p>", 404)


def _base(request: Request, services: Services) -> str:
    """Where links in a PDF point: `ALLOT_PUBLIC_URL`, else this request's own URL when its
    Host is one of `ALLOT_ALLOWED_HOSTS`, else nothing (the link is given as a path) — a
    Host header chosen by the caller never ends up in a document."""
    settings = services.settings
    if settings.public_url:
        return settings.public_url
    if links.host_allowed(request.headers.get("host", ""), settings.allowed_hosts):
        return str(request.base_url).rstrip("/")
    return ""


async def invoice_pdf(request: Request) -> Response:
    invoice, state, services = await _resolve(request)
    if invoice is None:
        return _refused(state)
    token = request.path_params["token"]
    pay = links.absolute(_base(request, services), links.link_path("pay", token))
    document = document_of(invoice, pay if invoice.status == InvoiceStatus.OPEN else None)
    pdf = await asyncio.to_thread(render, document, services.settings.invoice_font)
    headers = {**HEADERS, "Content-Disposition": f'inline; filename="{invoice.id}.pdf"'}
    return Response(pdf, media_type="application/pdf", headers=headers)


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in pairs)


async def payment_page(request: Request) -> Response:
    invoice, state, services = await _resolve(request)
    if invoice is None:
        return _refused(state)
    now = services.clock.now()
    issuer: dict[str, Any] = invoice.issuer or {}
    company = issuer.get("companyName") or "Invoice"
    amount = format_money(invoice.total, invoice.currency)
    overdue = is_overdue(invoice, now)
    label = "OVERDUE" if overdue else invoice.status
    pdf = links.link_path("pdf", request.path_params["token"])
    if invoice.status == InvoiceStatus.PAID and invoice.paid_at is not None:
        headline = f"Paid on {day(invoice.paid_at)} - thank you."
    elif invoice.status == InvoiceStatus.VOID:
        headline = "This invoice was voided: nothing is owed."
    elif invoice.total < 0:
        credit = format_money(-invoice.total, invoice.currency)
        headline = f"A credit note: {credit} is owed to you."
    else:
        headline = f"Due {day(invoice.due_date)} (net {invoice.payment_terms_days} days)"
    facts = [
        ("Invoice", invoice.id),
        ("Billed to", (invoice.bill_to or {}).get("name") or invoice.bill_to.get("customerId", "")),
        ("Issued", day(invoice.issued_at)),
        ("Due date", day(invoice.due_date)),
        ("Payment terms", f"Net {invoice.payment_terms_days} days"),
        ("Reference", invoice.id),
    ]
    bank = bank_lines(issuer.get("bankDetails") or {})
    how = ""
    # A credit note (a negative total) asks for no payment.
    if invoice.status == InvoiceStatus.OPEN and invoice.total > 0:
        how = "<h2>Pay by bank transfer</h2>"
        how += (
            f"<dl>{_rows(bank)}</dl>"
            if bank
            else (f"<p class=muted>Contact {escape(company)} for payment details.</p>")
        )
        if issuer.get("paymentInstructions"):
            how += f"<p>{escape(issuer['paymentInstructions'])}</p>"
    sender = "".join(
        f"<div class=muted>{escape(line)}</div>"
        for line in [*(issuer.get("address") or "").splitlines(), issuer.get("email") or ""]
        if line
    )
    body = (
        f"<h1>{escape(company)}</h1>{sender}"
        f"<p><span class='status {label}'>{label}</span></p>"
        f"<div class=amount>{escape(amount)}</div><p class=muted>{escape(headline)}</p>"
        f"<h2>Details</h2><dl>{_rows(facts)}</dl>{how}"
        f"<a class=button href='{escape(pdf)}'>Download the invoice (PDF)</a>"
    )
    return _page(f"Invoice {invoice.id} - {company}", body)
