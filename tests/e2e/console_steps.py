"""What a person does in the console, step by step, with Playwright's sync API on a page.

Used by tests/e2e/test_console_browser.py (a real `allot serve --demo` and Debian's chromium).
Selectors are the console's own ids and field names (app/web/static/console/pages/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.browser import BASE_FLAGS

TIMEOUT_MS = 15_000

# Launch flags: those of tests/browser.py that apply to a Playwright-driven browser (it
# chooses headless itself).
CHROMIUM_ARGS = [flag for flag in BASE_FLAGS if flag != "--headless"]


@dataclass(frozen=True)
class Choice:
    """An option to pick in a <select>, for `fill_form` (a plain string is typed in)."""

    value: str


def fill_form(form: Locator, values: dict[str, str | Choice]) -> None:
    """Fill the fields of `form` in the order given (a choice can show the next fields)."""
    for selector, value in values.items():
        field = form.locator(selector)
        if isinstance(value, Choice):
            field.select_option(value.value)
        else:
            field.fill(value)


def shot(page: Page, directory: Path | None, name: str, full_page: bool = True) -> None:
    """A PNG of the page into `directory` (ALLOT_SCREENSHOT_DIR), when one is given."""
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(directory / f"{name}.png"), full_page=full_page)


def open_page(page: Page, base_url: str, path: str) -> None:
    page.goto(f"{base_url}/console{path}")
    expect(page.locator("#page")).to_be_visible(timeout=TIMEOUT_MS)


def create_and_publish_plan(page: Page, base_url: str, plan_id: str, name: str) -> None:
    open_page(page, base_url, "/catalog/plans/new")
    form = page.locator("#plan-form")
    fill_form(
        form,
        {
            "#f-id": plan_id,
            "#f-name": name,
            "#f-productId": Choice("app"),
            "#f-pricingType": Choice("PAID"),
            "#f-parentPlanId": Choice("free"),
            'select[name="entitlements.0.featureId"]': Choice("sso"),
            'input[name="prices.0.amount"]': "29.00",
        },
    )
    form.get_by_role("button", name="Create draft").click()
    page.wait_for_url(re.compile(rf"/console/catalog/plans/{plan_id}$"), timeout=TIMEOUT_MS)
    draft = page.locator("#draft")
    expect(draft).to_contain_text("nothing published yet", timeout=TIMEOUT_MS)
    # The diff shows the draft's entitlement and price; the inherited ones are marked.
    expect(draft.locator("tr.changed").first).to_be_visible()
    expect(page.locator("table.entitlements")).to_contain_text("inherited from free")
    page.locator("#publish").click()
    expect(page.locator("#page")).to_contain_text("published v1", timeout=TIMEOUT_MS)
    expect(page.locator("#draft")).to_have_count(0)


def fill_enterprise_deal(page: Page, base_url: str, customer_id: str, name: str) -> None:
    open_page(page, base_url, "/provision")
    fill_form(
        page.locator("#deal-form"),
        {
            "#f-customerId": customer_id,
            "#f-name": name,
            "#f-planId": Choice("enterprise"),
            "#value-seats": "250",
            'input[name="addons.extra-seats"]': "2",
            "#f-baseOverride": "4000",
            "#f-billingMode": Choice("INVOICE"),
            "#f-paymentTermsDays": "30",
        },
    )


def confirm_deal(page: Page, customer_id: str) -> None:
    preview = page.locator("#preview")
    # The live preview: the negotiated base price (marked) plus two packs of extra seats.
    expect(preview.locator("#preview-total")).to_contain_text("4,020.00", timeout=TIMEOUT_MS)
    expect(preview).to_contain_text("overridden")
    page.locator("#confirm-deal").click()
    page.wait_for_url(re.compile(rf"/console/customers/{customer_id}$"), timeout=TIMEOUT_MS)
    expect(page.locator("#page")).to_contain_text("by invoice, 30 days", timeout=TIMEOUT_MS)


def why_customer_has(page: Page, base_url: str, customer_id: str, feature_id: str) -> str:
    open_page(page, base_url, f"/customers/{customer_id}")
    row = page.locator(f'#entitlements tr[data-feature="{feature_id}"]')
    expect(row).to_be_visible(timeout=TIMEOUT_MS)
    return row.locator(".source.effective").first.inner_text()


def mark_invoice_paid(page: Page, base_url: str, customer_id: str) -> str:
    open_page(page, base_url, f"/invoices?customer={customer_id}")
    row = page.locator("#invoices tbody tr").first
    expect(row).to_contain_text("OPEN", timeout=TIMEOUT_MS)
    invoice_id = row.get_attribute("data-invoice") or ""
    row.locator("button.mark-paid").click()
    expect(page.locator(f'#invoices tr[data-invoice="{invoice_id}"]')).to_contain_text(
        "PAID", timeout=TIMEOUT_MS
    )
    return invoice_id
