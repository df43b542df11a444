"""The invoice as a PDF document (fpdf2): issuer, customer, lines, total, due date, payment
terms and bank details, as a customer would receive it.

Text uses a Unicode TrueType font when one is available (`ALLOT_INVOICE_FONT`, else DejaVu
Sans where the system has it); otherwise the PDF core font Helvetica, which covers Windows-1252
(Western European): other characters are then transliterated or replaced by "?".
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from app.domain.billing.choices import InvoiceStatus
from app.domain.billing.pricing import Line
from app.domain.billing.settings import grouped_iban
from app.domain.money import format_money, format_quantity, format_unit_amount

SYSTEM_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
)
BANK_LABELS = (
    ("accountHolder", "Account holder"),
    ("bankName", "Bank"),
    ("iban", "IBAN"),
    ("bic", "BIC / SWIFT"),
    ("accountNumber", "Account number"),
    ("routingNumber", "Routing number"),
)


@dataclass(frozen=True)
class InvoiceDocument:
    """Everything the document shows (built from an invoice row)."""

    number: str
    status: InvoiceStatus
    currency: str
    total: Decimal
    lines: Sequence[Line]
    issued_at: datetime
    due_date: datetime
    paid_at: datetime | None
    payment_terms_days: int
    issuer: Mapping[str, Any]
    bill_to: Mapping[str, Any]
    period_start: datetime | None = None
    period_end: datetime | None = None
    payment_url: str | None = None


def day(value: datetime) -> str:
    return f"{value:%Y-%m-%d}"


def bank_lines(bank: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        (label, grouped_iban(bank[key]) if key == "iban" else str(bank[key]))
        for key, label in BANK_LABELS
        if bank.get(key)
    ]


def font_file(configured: str) -> Path | None:
    if configured:
        return Path(configured)
    return next((p for p in SYSTEM_FONTS if p.is_file()), None)


class _Pdf(FPDF):
    def __init__(self, number: str, font: Path | None) -> None:
        super().__init__(format="A4")
        self.number = number
        self.unicode = font is not None
        if font is not None:
            bold = font.with_name(font.stem + "-Bold" + font.suffix)
            self.add_font("Body", "", str(font))
            self.add_font("Body", "B", str(bold if bold.is_file() else font))
            self.family_name = "Body"
        else:
            self.core_fonts_encoding = "windows-1252"
            self.family_name = "Helvetica"
        self.set_auto_page_break(auto=True, margin=20)
        self.set_margins(18, 18, 18)

    def safe(self, text: str) -> str:
        if self.unicode:
            return text
        try:
            text.encode("cp1252")
            return text
        except UnicodeEncodeError:
            out = []
            for char in text:
                try:
                    char.encode("cp1252")
                    out.append(char)
                except UnicodeEncodeError:
                    plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore")
                    out.append(plain.decode() or "?")
            return "".join(out)

    def font(self, size: float, bold: bool = False) -> None:
        self.set_font(self.family_name, "B" if bold else "", size)

    def text_line(self, text: str, size: float = 10, bold: bool = False, align: str = "L") -> None:
        self.font(size, bold)
        self.cell(0, size * 0.5, self.safe(text), align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def footer(self) -> None:
        self.set_y(-14)
        self.font(8)
        self.set_text_color(120)
        self.cell(
            0, 5, self.safe(f"Invoice {self.number} - page {self.page_no()}/{{nb}}"), align="C"
        )
        self.set_text_color(0)


def render(doc: InvoiceDocument, font: str = "") -> bytes:
    """The invoice as PDF bytes."""
    pdf = _Pdf(doc.number, font_file(font))
    pdf.alias_nb_pages()
    pdf.add_page()
    issuer = doc.issuer
    currency = doc.currency

    pdf.text_line(issuer.get("companyName") or "Invoice", 16, bold=True)
    for text in (issuer.get("address") or "").splitlines():
        pdf.text_line(text, 9)
    for label, key in (("", "email"), ("Tax ID: ", "taxId")):
        if issuer.get(key):
            pdf.text_line(label + issuer[key], 9)
    pdf.ln(6)
    # A settled invoice says so where the eye lands first: a copy of it must never read as
    # a request to pay.
    stamp = {InvoiceStatus.PAID: " - PAID", InvoiceStatus.VOID: " - VOID"}.get(doc.status, "")
    pdf.text_line(("CREDIT NOTE" if doc.total < 0 else "INVOICE") + stamp, 20, bold=True)
    pdf.ln(2)
    facts = [
        ("Invoice number", doc.number),
        ("Issue date", day(doc.issued_at)),
        ("Due date", day(doc.due_date)),
        ("Payment terms", f"Net {doc.payment_terms_days} days"),
    ]
    if doc.period_start is not None and doc.period_end is not None:
        facts.append(("Service period", f"{day(doc.period_start)} to {day(doc.period_end)}"))
    facts.append(("Status", _status(doc)))
    for label, value in facts:
        pdf.font(10, bold=True)
        pdf.cell(40, 5.5, pdf.safe(label))
        pdf.font(10)
        pdf.cell(0, 5.5, pdf.safe(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.text_line("Bill to", 10, bold=True)
    bill_to = doc.bill_to
    for text in (
        bill_to.get("name"),
        *(bill_to.get("address") or "").splitlines(),
        bill_to.get("email"),
        f"Tax ID: {bill_to['taxId']}" if bill_to.get("taxId") else None,
        f"Customer ID: {bill_to.get('customerId')}",
    ):
        if text:
            pdf.text_line(str(text), 10)
    pdf.ln(6)

    pdf.font(9.5)
    with pdf.table(
        col_widths=(96, 22, 28, 28),
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"),
        line_height=6,
        first_row_as_headings=True,
    ) as table:
        head = table.row()
        for title in ("Description", "Quantity", "Unit price", "Amount"):
            head.cell(title)
        for item in doc.lines:
            row = table.row()
            row.cell(pdf.safe(item.description))
            row.cell(format_quantity(item.quantity))
            row.cell(pdf.safe(format_unit_amount(item.unit_amount, currency)))
            row.cell(pdf.safe(format_money(item.amount, currency)))
    pdf.ln(3)
    pdf.font(12, bold=True)
    label = {InvoiceStatus.PAID: "Total paid", InvoiceStatus.VOID: "Total (void)"}.get(
        doc.status, "Total credited" if doc.total < 0 else "Total due"
    )
    pdf.cell(
        0,
        8,
        pdf.safe(f"{label}: {format_money(doc.total, currency)}"),
        align="R",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(6)

    if doc.status != InvoiceStatus.OPEN or doc.total < 0:
        pdf.text_line(_settled(doc), 11, bold=True)
        return bytes(pdf.output())
    pdf.text_line("How to pay", 11, bold=True)
    pdf.text_line(
        f"Please pay {format_money(doc.total, currency)} by {day(doc.due_date)} "
        f"by bank transfer, quoting {doc.number} as the reference.",
        9.5,
    )
    pdf.ln(1)
    for label, value in bank_lines(issuer.get("bankDetails") or {}):
        pdf.font(9.5, bold=True)
        pdf.cell(40, 5, pdf.safe(label))
        pdf.font(9.5)
        pdf.cell(0, 5, pdf.safe(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if issuer.get("paymentInstructions"):
        pdf.ln(1)
        pdf.font(9.5)
        pdf.multi_cell(0, 5, pdf.safe(issuer["paymentInstructions"]), align="L")
    if doc.payment_url:
        pdf.ln(1)
        pdf.font(9.5)
        pdf.multi_cell(
            0, 5, pdf.safe(f"Payment page: {doc.payment_url}"), align="L", link=doc.payment_url
        )
    return bytes(pdf.output())


def _settled(doc: InvoiceDocument) -> str:
    """What replaces the payment request on a document that asks for no payment."""
    if doc.status == InvoiceStatus.PAID:
        when = f" on {day(doc.paid_at)}" if doc.paid_at is not None else ""
        return f"Paid{when}: thank you. Nothing more is owed."
    if doc.status == InvoiceStatus.VOID:
        return "This invoice is VOID: nothing is owed."
    return f"{format_money(-doc.total, doc.currency)} is credited to you, quoting {doc.number}."


def _status(doc: InvoiceDocument) -> str:
    if doc.status == InvoiceStatus.PAID and doc.paid_at is not None:
        return f"Paid on {day(doc.paid_at)}"
    if doc.status == InvoiceStatus.VOID:
        return "VOID - nothing is owed"
    return "Open"


def document_of(invoice: Any, payment_url: str | None = None) -> InvoiceDocument:
    """The document of an invoice row (`app.models.Invoice`)."""
    return InvoiceDocument(
        number=invoice.id,
        status=InvoiceStatus(invoice.status),
        currency=invoice.currency,
        total=Decimal(invoice.total),
        lines=[Line.from_json(item) for item in invoice.lines],
        issued_at=invoice.issued_at,
        due_date=invoice.due_date,
        paid_at=invoice.paid_at,
        payment_terms_days=invoice.payment_terms_days,
        issuer=invoice.issuer,
        bill_to=invoice.bill_to,
        period_start=invoice.period_start if invoice.period_end is not None else None,
        period_end=invoice.period_end,
        payment_url=payment_url,
    )
