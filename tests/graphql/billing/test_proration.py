"""Preview equals charge (issue 10 item 14): an immediate plan or add-on change of an
invoice-billed subscription credits the unused part of the period's charges and charges the
new ones for the rest of the period, exactly, on an invoice issued at the change; and
previewSubscription shows that invoice, line by line."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pypdf

from app.clock import FrozenClock
from tests.graphql.billing.catalog import (
    ERRORS,
    INVOICE_FIELDS,
    PAY,
    PREVIEW,
    PROVISION,
    invoiced,
    invoices_of,
    new_customer,
    subscription,
)
from tests.graphql.billing.conftest import Job
from tests.support import GraphQLClient

FEB_14 = datetime(2025, 2, 14, 9, 0, tzinfo=UTC)  # half of Jan 31 - Feb 28 (28 days)
FEB_10 = datetime(2025, 2, 10, 9, 0, tzinfo=UTC)  # 18 of 28 days left
FEB_28 = datetime(2025, 2, 28, 9, 0, tzinfo=UTC)

UPDATE = f"""mutation($input: UpdateSubscriptionInput!) {{ updateSubscription(input: $input) {{
  subscription {{ id invoices {{ {INVOICE_FIELDS} }} }} {ERRORS} }} }}"""


def charges(lines: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [(ln["kind"], ln["quantity"], ln["unitAmount"], ln["amount"]) for ln in lines]


async def on_plan(gql: GraphQLClient, plan: str, **fields: Any) -> dict[str, Any]:
    await new_customer(gql, "acme")
    return await invoiced(gql, "acme", planId=plan, subscriptionId="sub", **fields)


async def change(gql: GraphQLClient, **fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(preview, the invoice the change issued) of the same provisionSubscription input."""
    request = {"customerId": "acme", **fields}
    preview = await gql.mutate(PREVIEW, {"input": request})
    assert preview["errors"] == [], preview["errors"]
    done = await gql.mutate(PROVISION, {"input": request})
    assert done["errors"] == [], done["errors"]
    newest = max(done["subscription"]["invoices"], key=lambda i: i["id"])
    return preview, newest


async def test_an_upgrade_mid_period_invoices_exactly_its_preview(
    bgql: GraphQLClient, clock: FrozenClock, run_job: Job
) -> None:
    (first,) = (await on_plan(bgql, "pro"))["invoices"]
    assert first["total"] == "49.00"
    clock.set(FEB_14)
    preview, invoice = await change(
        bgql, planId="team", addons=[{"addonId": "extra-seats", "quantity": 1}]
    )
    assert invoice["id"] == "ALT-00002" and invoice["id"] != first["id"]
    # Line by line: what the preview promised is what was invoiced.
    assert preview["lines"] == invoice["lines"]
    assert (preview["total"], preview["currency"]) == (invoice["total"], invoice["currency"])
    assert (preview["periodStart"], preview["periodEnd"]) == (
        invoice["periodStart"],
        invoice["periodEnd"],
    )
    assert charges(invoice["lines"]) == [
        ("BASE", "1", "-24.50", "-24.50"),  # half of Pro's 49.00 back
        ("BASE", "1", "10.00", "10.00"),  # half of Team's 20.00
        ("PER_UNIT", "5", "5.00", "25.00"),  # 5 seats x half of 10.00
        ("ADDON", "1", "5.00", "5.00"),  # half of the add-on's 10.00
    ]
    assert invoice["total"] == "15.50"
    assert invoice["lines"][0]["description"].startswith("Unused time: Pro")
    assert invoice["lines"][1]["description"].startswith("Remaining time: Team")
    assert invoice["periodStart"] == FEB_14.isoformat()
    assert invoice["periodEnd"] == FEB_28.isoformat()
    assert all(ln["periodStart"] == FEB_14.isoformat() for ln in invoice["lines"])
    assert invoice["dueDate"] == (FEB_14 + timedelta(days=30)).isoformat()
    # The next period is billed in full on the new terms.
    clock.set(FEB_28)
    await run_job()
    invoices = await invoices_of(bgql, "sub")
    renewal = max(invoices, key=lambda i: i["id"])
    assert renewal["periodStart"] == FEB_28.isoformat() and renewal["total"] == "80.00"


async def test_an_add_on_change_prorates_only_what_changed(
    bgql: GraphQLClient, clock: FrozenClock
) -> None:
    await on_plan(bgql, "pro", addons=[{"addonId": "extra-seats", "quantity": 1}])
    clock.set(FEB_10)
    payload = await bgql.mutate(
        UPDATE,
        {"input": {"subscriptionId": "sub", "addons": [{"addonId": "extra-seats", "quantity": 3}]}},
    )
    assert payload["errors"] == []
    invoice = max(payload["subscription"]["invoices"], key=lambda i: i["id"])
    # 18/28 of 10.00 = 6.428571428… -> 6.428571 a unit; Pro's line did not change.
    assert charges(invoice["lines"]) == [
        ("ADDON", "1", "-6.428571", "-6.43"),
        ("ADDON", "3", "6.428571", "19.29"),
    ]
    assert invoice["total"] == "12.86"
    # The same change through provisionSubscription previews exactly that.
    clock.set(FEB_14)
    preview, issued = await change(
        bgql, planId="pro", addons=[{"addonId": "extra-seats", "quantity": 4}]
    )
    assert preview["lines"] == issued["lines"] and preview["total"] == issued["total"] == "5.00"


async def test_a_downgrade_mid_period_is_a_credit_note_never_overdue(
    bgql: GraphQLClient, clock: FrozenClock, run_job: Job, billing_http: httpx.AsyncClient
) -> None:
    sub = await on_plan(bgql, "team", billing={"mode": "INVOICE", "paymentTermsDays": 7})
    paid = await bgql.mutate(PAY, {"input": {"invoiceId": sub["invoices"][0]["id"]}})
    assert paid["errors"] == []
    clock.set(FEB_14)
    preview, credit = await change(bgql, planId="pro", changeTiming="IMMEDIATE")
    assert preview["lines"] == credit["lines"] and preview["total"] == credit["total"]
    assert credit["total"] == "-10.50"  # 24.50 for Pro's half, 35.00 of Team's back
    pdf = await billing_http.get(urlsplit(credit["pdfUrl"]).path)
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert "CREDIT NOTE" in text and "USD 10.50 is credited to you" in text
    assert "Please pay" not in text
    page = await billing_http.get(urlsplit(credit["paymentUrl"]).path)
    assert "owed to you" in page.text and "Pay by bank transfer" not in page.text
    clock.set(FEB_14 + timedelta(days=8))  # past its due date
    await run_job()
    sub = await subscription(bgql, "sub")
    assert sub["status"] == "ACTIVE" and sub["endDate"] is None
    (note,) = [i for i in sub["invoices"] if i["id"] == credit["id"]]
    assert note["status"] == "OPEN" and note["isOverdue"] is False


async def test_nothing_is_prorated_for_external_billing_or_end_of_period_changes(
    bgql: GraphQLClient, clock: FrozenClock
) -> None:
    await on_plan(bgql, "pro")
    clock.set(FEB_14)
    later = {"customerId": "acme", "planId": "team", "changeTiming": "END_OF_PERIOD"}
    preview = await bgql.mutate(PREVIEW, {"input": later})
    assert preview["periodStart"] == FEB_28.isoformat() and preview["total"] == "70.00"
    done = await bgql.mutate(PROVISION, {"input": later})
    assert [i["id"] for i in done["subscription"]["invoices"]] == ["ALT-00001"]
    # Billed elsewhere: allot invoices nothing, and the preview prices the current period.
    await new_customer(bgql, "bolt")
    await bgql.mutate(PROVISION, {"input": {"customerId": "bolt", "planId": "team"}})
    upgrade = {"customerId": "bolt", "planId": "pro"}
    external = await bgql.mutate(PREVIEW, {"input": upgrade})
    assert external["total"] == "49.00" and external["periodStart"] == FEB_14.isoformat()
    done = await bgql.mutate(PROVISION, {"input": upgrade})
    assert done["errors"] == [] and done["subscription"]["invoices"] == []


async def test_annual_to_monthly_mid_year_bills_the_current_month_once(
    bgql: GraphQLClient, clock: FrozenClock, run_job: Job
) -> None:
    (first,) = (await on_plan(bgql, "pro", billingPeriod="ANNUALLY"))["invoices"]
    assert first["total"] == "490.00"
    assert (await bgql.mutate(PAY, {"input": {"invoiceId": first["id"]}}))["errors"] == []
    clock.set(datetime(2025, 6, 15, 9, 0, tzinfo=UTC))  # in the period May 31 - Jun 30
    preview, invoice = await change(bgql, planId="pro", billingPeriod="MONTHLY")
    assert preview["lines"] == invoice["lines"]
    kinds = [(ln["amount"][0] == "-", ln["periodEnd"]) for ln in invoice["lines"]]
    assert kinds == [(True, "2026-01-31T09:00:00+00:00"), (False, "2025-06-30T09:00:00+00:00")]
    await run_job()  # the months before were covered by the annual invoice: nothing more
    assert [i["id"] for i in await invoices_of(bgql, "sub")] == ["ALT-00002", "ALT-00001"]
    clock.set(datetime(2025, 6, 30, 9, 0, tzinfo=UTC))
    await run_job()
    renewal = max(await invoices_of(bgql, "sub"), key=lambda i: i["id"])
    assert (renewal["periodStart"], renewal["total"]) == ("2025-06-30T09:00:00+00:00", "49.00")
