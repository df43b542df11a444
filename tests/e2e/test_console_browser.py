"""The console in a real browser: Debian's headless Chromium driven by Playwright against a real
`allot serve --demo` process on a database of its own.

The flow of issue 13: log in; create a plan and publish it; provision an enterprise deal on the
custom plan with a negotiated value, a price override and 30-day invoice terms; mark its invoice
paid; see the audit entries under the user's name; open the customer and read why it has a
feature; check an insights number against a direct SQL count. Plus: the CSRF header missing is
403, a member doesn't see the admin pages, an expired session keeps a half-filled form.

ALLOT_SCREENSHOT_DIR=docs/console writes the screenshots docs/console.md shows.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import http.server
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright
from sqlalchemy import text

from app.auth import UserRole
from app.db import Database, to_asyncpg_dsn
from tests.browser import chromium_path, needs_chromium
from tests.databases import empty_database_sync
from tests.e2e import console_steps as steps
from tests.e2e.process import AllotServer, allot_env, fresh_data_dir
from tests.support import make_user

pytestmark = [pytest.mark.e2e, pytest.mark.browser, needs_chromium]

# A loaded machine (2 cores, other test runs) can make a page take seconds: wait up to 15 s.
expect.set_options(timeout=steps.TIMEOUT_MS)

FIRST_ADMIN_EMAIL = "admin@localhost"  # printed, with a password, by the first start
ADMIN_EMAIL = "pat@example.com"
ADMIN_NAME = "Pat Admin"
ADMIN_PASSWORD = "correct horse battery staple"
MEMBER_EMAIL = "sam@example.com"
MEMBER_PASSWORD = "another long passphrase"


@dataclass
class Console:
    server: AllotServer
    base_url: str
    database_url: str
    env: dict[str, str]
    first_admin_password: str


@pytest.fixture(scope="module")
def console(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """`allot serve --demo` on a fresh database (so the test can count rows itself), with an
    admin and a member of its account."""
    logs = tmp_path_factory.mktemp("console")
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(empty_database_sync(server_url, "allot_console"))
        data_dir = stack.enter_context(fresh_data_dir())
        # Insights computed on every read: the test compares them with its own count at once.
        # Webhooks may reach the test's receiver on loopback (only), delivered every 0.5 s.
        env = allot_env(data_dir, database_url) | {
            "ALLOT_INSIGHTS_MAX_AGE": "0",
            "ALLOT_WEBHOOK_ALLOWED_CIDRS": "127.0.0.1/32",
            "ALLOT_WEBHOOK_INTERVAL": "0.5",
        }
        server = AllotServer(["--demo"], env, logs / "serve.log")
        stack.callback(server.close)
        base_url = server.wait_ready()
        asyncio.run(_make_users(database_url))
        lines = server.stdout_lines
        (password,) = [line.split()[-1] for line in lines if line.startswith("  password  ")]
        yield Console(server, base_url, database_url, env, password)


async def _make_users(database_url: str) -> None:
    """An admin and a member of the installation's account, made through the domain (as
    `allot users create` does)."""
    db = Database(database_url)
    try:
        async with db.session() as session:
            account_pk = (await session.execute(text("SELECT pk FROM accounts"))).scalar_one()
        await make_user(db, account_pk, UserRole.ADMIN, ADMIN_EMAIL, ADMIN_PASSWORD, ADMIN_NAME)
        await make_user(db, account_pk, UserRole.MEMBER, MEMBER_EMAIL, MEMBER_PASSWORD, "Sam")
    finally:
        await db.close()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    exe = chromium_path()
    assert exe is not None
    b = playwright.chromium.launch(executable_path=exe, args=steps.CHROMIUM_ARGS, timeout=60_000)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(steps.TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


def screenshots() -> Path | None:
    keep = os.environ.get("ALLOT_SCREENSHOT_DIR")
    return Path(keep) if keep else None


def page_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" and "401" not in m.text else None,
    )
    return errors


def log_in(page: Page, base_url: str, email: str, password: str, path: str = "") -> None:
    """Open a console page logged out: the console sends the browser to the login page, which
    sends it back there once logged in."""
    page.goto(f"{base_url}/console{path}")
    page.wait_for_url(re.compile(r"/console/login\?next="))
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    page.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/console{re.escape(path)}$"))
    expect(page.locator("#current-user")).to_be_visible()


def admin_page(console: Console, context: BrowserContext, path: str) -> Page:
    """A new tab of `context`, logged in as the test admin on the console page `path`."""
    page = context.new_page()
    log_in(page, console.base_url, ADMIN_EMAIL, ADMIN_PASSWORD, path)
    return page


def report_usage(console: Console, customer_id: str, values: dict[str, float]) -> None:
    document = """mutation($i: ReportUsageInput!) { reportUsage(input: $i) { errors { code } } }"""
    headers = {"Authorization": f"Bearer {console.server.server_keys()['development']}"}
    with httpx.Client(base_url=console.base_url, timeout=15) as client:
        for feature_id, value in values.items():
            item = {"customerId": customer_id, "featureId": feature_id, "value": value}
            answer = client.post(
                "/graphql", json={"query": document, "variables": {"i": item}}, headers=headers
            )
            assert answer.json()["data"]["reportUsage"]["errors"] == [], answer.text


def sql_value(database_url: str, query: str, *args: object) -> object:
    async def run() -> object:
        conn = await asyncpg.connect(to_asyncpg_dsn(database_url))
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()

    # Playwright's sync API keeps an event loop running in this thread: query from another.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result(timeout=30)


def test_the_product_manager_sales_finance_flow(console: Console, context: BrowserContext) -> None:
    started = time.monotonic()
    page = context.new_page()
    errors = page_errors(page)
    base = console.base_url
    pictures = screenshots()

    # The admin login the first start printed, as a new installation's user would.
    log_in(page, base, FIRST_ADMIN_EMAIL, console.first_admin_password, "/catalog")
    user_name = page.locator("#current-user").inner_text().split(" · ")[0].strip()
    assert user_name, page.locator("#current-user").inner_text()
    expect(page.locator("#plans")).to_contain_text("Enterprise")
    steps.shot(page, pictures, "catalog")

    # A product manager creates a plan and publishes it.
    steps.create_and_publish_plan(page, base, "team", "Team")
    steps.shot(page, pictures, "plan")

    # Sales provisions an enterprise deal: 250 seats negotiated, 2 extra packs, a base price
    # of 4,000 instead of none, invoiced with 30-day terms.
    steps.fill_enterprise_deal(page, base, "vandelay", "Vandelay Industries")
    expect(page.locator("#preview-total")).to_contain_text("4,020.00")
    steps.shot(page, pictures, "provision")
    steps.confirm_deal(page, "vandelay")
    # The customer's app reports usage (with the development server key the start printed).
    report_usage(console, "vandelay", {"seats": 180, "projects": 7})

    # Support finds the customer by a part of its name and opens it.
    steps.open_page(page, base, "/customers")
    page.locator("#customer-search").fill("vandel")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#page")).to_contain_text("1 customer matching")
    page.locator("#customers").get_by_role("link", name="Vandelay Industries").click()
    page.wait_for_url(re.compile(r"/console/customers/vandelay$"))
    expect(page.locator("#entitlements")).to_be_visible()

    # Support reads why the customer has its features.
    seats = steps.why_customer_has(page, base, "vandelay", "seats")
    assert "negotiated value" in seats and "250" in seats, seats
    audit_log = steps.why_customer_has(page, base, "vandelay", "audit-log")
    assert "plan enterprise" in audit_log, audit_log
    seats_usage = page.locator('#entitlements tr[data-feature="seats"] span.usage')
    expect(seats_usage).to_have_text(re.compile(r"^\s*180 / 260\s*$"))  # 250 + 2 packs of 5
    # A usage-history chart per metered feature (each its own request).
    charts = page.locator(".chart-box")
    expect(charts).to_have_count(4)
    try:
        expect(charts.locator("svg")).to_have_count(4, timeout=30_000)
    except AssertionError:
        raise AssertionError(f"usage charts: {charts.all_inner_texts()}") from None
    steps.shot(page, pictures, "customer")

    # Finance marks the deal's invoice paid.
    invoice_id = steps.mark_invoice_paid(page, base, "vandelay")
    steps.shot(page, pictures, "invoices")
    paid = sql_value(console.database_url, "SELECT status FROM invoices WHERE id = $1", invoice_id)
    assert paid == "PAID"

    # The audit log says who did each of those: the user, by name.
    steps.open_page(page, base, "/audit")
    audit = page.locator("#audit")
    for operation in ("createPlan", "publishPlan", "provisionCustomer", "markInvoicePaid"):
        row = audit.locator("tbody tr", has_text=operation).first
        expect(row.locator("td.actor")).to_contain_text(user_name)
    audit.locator("tbody tr", has_text="markInvoicePaid").first.get_by_role(
        "button", name="diff"
    ).click()
    expect(audit.locator("table.diff tr.changed").first).to_be_visible()
    steps.shot(page, pictures, "audit", full_page=False)

    # An insights number is the database's own count.
    steps.open_page(page, base, "/insights")
    shown = page.locator('#customers-per-plan tr[data-plan="enterprise"] td.num')
    expect(shown).to_be_visible()
    counted = sql_value(
        console.database_url,
        """
        SELECT count(DISTINCT s.customer_pk)
        FROM subscriptions s
        JOIN packages p ON p.pk = s.plan_pk
        JOIN environments e ON e.pk = s.environment_pk
        WHERE e.slug = 'development' AND p.id = 'enterprise'
          AND s.status IN ('ACTIVE', 'IN_TRIAL')
        """,
    )
    assert isinstance(counted, int) and counted >= 1  # the deal above at least
    assert int(shown.inner_text()) == counted, (shown.inner_text(), counted)
    steps.shot(page, pictures, "insights")

    assert not errors, errors
    print(f"console flow: {time.monotonic() - started:.1f}s")


def test_graphql_without_the_csrf_header_is_refused(
    console: Console, context: BrowserContext
) -> None:
    page = admin_page(console, context, "/invoices")
    statuses = page.evaluate(
        """async () => {
          const session = await (await fetch("/console/session")).json();
          const env = session.environments[0].id;
          const send = (headers) => fetch("/graphql", {
            method: "POST", credentials: "same-origin",
            headers: {"Content-Type": "application/json", "X-Allot-Environment": env, ...headers},
            body: JSON.stringify({query: "{ environment { id } }"}),
          }).then((r) => r.status);
          return [await send({}), await send({"X-CSRF-Token": "wrong"}),
                  await send({"X-CSRF-Token": session.csrfToken})];
        }"""
    )
    assert statuses == [403, 403, 200], statuses


def test_a_member_does_not_see_the_admin_pages(console: Console, context: BrowserContext) -> None:
    page = context.new_page()
    log_in(page, console.base_url, MEMBER_EMAIL, MEMBER_PASSWORD, "/customers")
    nav = page.locator("nav.side")
    expect(nav).to_contain_text("Invoices")
    expect(nav).not_to_contain_text("API keys")
    expect(nav).not_to_contain_text("Users")
    steps.open_page(page, console.base_url, "/users")
    expect(page.locator("#page")).to_contain_text("Admins only")
    # And the API refuses the member, whatever the page shows.
    status = page.evaluate(
        """async () => {
          const s = await (await fetch("/console/session")).json();
          const r = await fetch("/graphql", {method: "POST", credentials: "same-origin",
            headers: {"Content-Type": "application/json", "X-CSRF-Token": s.csrfToken,
                      "X-Allot-Environment": s.environments[0].id},
            body: JSON.stringify({query: "{ apiKeys { id } }"})});
          const body = await r.json();
          return (body.errors || []).map((e) => (e.extensions || {}).code).join(",") || r.status;
        }"""
    )
    assert "FORBIDDEN" in str(status), status


def test_an_expired_session_keeps_the_half_filled_form(
    console: Console, context: BrowserContext
) -> None:
    page = admin_page(console, context, "/provision")
    base = console.base_url
    steps.fill_enterprise_deal(page, base, "kept-form-co", "Kept Form Co")
    expect(page.locator("#preview-total")).to_contain_text("4,020.00")  # the preview is done
    context.clear_cookies()  # the session is gone (expired, or logged out elsewhere)
    page.locator("#confirm-deal").click()
    page.wait_for_url(re.compile(r"/console/login\?next=%2Fconsole%2Fprovision"))
    page.locator("#email").fill(ADMIN_EMAIL)
    page.locator("#password").fill(ADMIN_PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/console/provision$"))
    form = page.locator("#deal-form")
    expect(form.locator("#f-customerId")).to_have_value("kept-form-co")
    expect(form.locator("#value-seats")).to_have_value("250")
    expect(form.locator("#f-baseOverride")).to_have_value("4000")
    # Nothing was written while logged out.
    assert (
        sql_value(console.database_url, "SELECT count(*) FROM customers WHERE id = 'kept-form-co'")
        == 0
    )


def test_a_form_error_is_shown_next_to_its_field_with_the_code(
    console: Console, context: BrowserContext
) -> None:
    page = admin_page(console, context, "/catalog/plans/new")
    form = page.locator("#plan-form")
    form.locator("#f-id").fill("free")  # taken by the demo catalog
    form.locator("#f-name").fill("Another free")
    form.locator('input[name="prices.0.amount"]').fill("5")
    form.get_by_role("button", name="Create draft").click()
    error = form.locator(".field.has-error", has=page.locator("#f-id")).locator(".field-error")
    expect(error).to_contain_text("DUPLICATE_ID")
    assert page.url.endswith("/console/catalog/plans/new")


def test_drafts_catalog_code_subscriptions_invoices_and_admin_pages(
    console: Console, context: BrowserContext
) -> None:
    """The rest of the pages, each through what a person does on it."""
    page = context.new_page()
    errors = page_errors(page)
    base = console.base_url
    pictures = screenshots()
    log_in(page, base, ADMIN_EMAIL, ADMIN_PASSWORD, "/catalog/plans/pro")

    # A draft of a published plan, diffed against v1, then discarded.
    page.locator("#edit-draft").click()
    features = page.locator('#rows-entitlements select[name$=".featureId"]')
    expect(features.first).to_be_visible()
    index = features.evaluate_all("els => els.findIndex((e) => e.value === 'seats')")
    assert index >= 0
    page.locator(f'input[name="entitlements.{index}.limit"]').fill("15")
    page.get_by_role("button", name="Save draft").click()
    draft = page.locator("#draft")
    expect(draft).to_contain_text("diff against v1")
    changed = draft.locator("tr.changed", has_text="entitlements")
    expect(changed).to_contain_text('"seats": "10"')
    expect(changed).to_contain_text('"seats": "15"')
    steps.shot(page, pictures, "plan-draft")
    page.get_by_role("button", name="Discard draft").click()
    expect(page.locator("#draft")).to_have_count(0)

    # An add-on's draft: a higher maximum, diffed, published as v2.
    steps.open_page(page, base, "/catalog/addons/extra-seats")
    page.locator("#edit-draft").click()
    page.locator("#addon-form #f-maxQuantity").fill("60")
    page.get_by_role("button", name="Save draft").click()
    changed = page.locator("#draft tr.changed", has_text="maxQuantity")
    expect(changed).to_contain_text("50")
    expect(changed).to_contain_text("60")
    page.locator("#publish").click()
    expect(page.locator("#page")).to_contain_text("published v2")
    expect(page.locator("#page")).to_contain_text("at most 60")

    # Catalog as code: the exported document, dry-run against itself, changes nothing.
    steps.open_page(page, base, "/catalog/code")
    expect(page.locator("textarea.code")).to_have_value(re.compile(r'"features"'))
    page.get_by_role("button", name="Dry run").click()
    expect(page.locator("#page")).to_contain_text("Would change (0)")

    # A subscription: promotion, change of plan at the period's end, cancellation.
    steps.fill_enterprise_deal(page, base, "changeling", "Changeling Ltd")
    # Too many add-on packs: the API's error next to that add-on's quantity, nothing written.
    extra = page.locator('#deal-form [data-addon="extra-seats"]')
    extra.locator('input[name="addons.extra-seats"]').fill("99")
    page.locator("#confirm-deal").click()
    expect(extra.locator(".field-error")).to_contain_text("ADDON_QUANTITY_EXCEEDED")
    assert page.url.endswith("/console/provision")
    assert (
        sql_value(
            console.database_url, "SELECT count(*) FROM customers WHERE id = $1", "changeling"
        )
        == 0
    )
    extra.locator('input[name="addons.extra-seats"]').fill("2")
    steps.confirm_deal(page, "changeling")
    promo = page.locator("#promotion-form")
    promo.locator("#f-featureId").fill("projects")
    promo.locator("#f-limit").fill("99")
    promo.get_by_role("button", name="Grant").click()
    expect(page.locator("#page")).to_contain_text("projects: 99 until")
    page.get_by_role("link", name="Change plan").click()
    page.wait_for_url(re.compile(r"/console/provision\?customer=changeling&replace=sub_"))
    deal = page.locator("#deal-form")
    deal.locator('select[name="changeTiming"]').select_option("END_OF_PERIOD")
    deal.locator("#f-planId").select_option("pro")
    deal.locator("#f-baseOverride").fill("")
    page.locator("#confirm-deal").click()
    page.wait_for_url(re.compile(r"/console/customers/changeling$"))
    expect(page.locator(".subscription").first).to_contain_text("Changes to pro on")
    page.locator(".subscription").first.get_by_role("button", name="Cancel subscription").click()
    expect(page.locator(".subscription").first).to_contain_text("canceled")

    # Invoices: the open one voided; its PDF is served.
    steps.open_page(page, base, "/invoices?customer=changeling")
    row = page.locator("#invoices tbody tr").first
    expect(row).to_contain_text("OPEN")
    pdf = row.get_by_role("link", name="PDF").get_attribute("href") or ""
    assert page.request.get(pdf if pdf.startswith("http") else base + pdf).status == 200
    row.get_by_role("button", name="Void").click()
    expect(page.locator("#invoices tbody tr").first).to_contain_text("VOID")
    page.locator('button[data-status="OPEN"]').click()
    expect(page.locator("#invoices")).not_to_contain_text("changeling")

    # Webhooks: a private target is refused, the error next to the URL with its code.
    steps.open_page(page, base, "/webhooks")
    page.locator("#f-url").fill("http://10.1.2.3/hook")  # private, and not allowed here
    page.get_by_role("button", name="Create").click()
    url_field = page.locator(".field", has=page.locator("#f-url"))
    expect(url_field.locator(".field-error")).to_contain_text("WEBHOOK_TARGET_NOT_ALLOWED")
    steps.shot(page, pictures, "webhooks")

    # Admin pages: a key (its secret shown once), an invitation link.
    steps.open_page(page, base, "/api-keys")
    page.locator("#f-name").fill("console test")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#new-key-secret")).to_contain_text("allot_sk_")
    expect(page.locator("#api-keys")).to_contain_text("console test")
    steps.open_page(page, base, "/users")
    invite = page.locator("#invite-form")
    invite.locator("#f-email").fill("new.hire@example.com")
    invite.locator("#f-name").fill("New Hire")
    invite.get_by_role("button", name="Invite").click()
    expect(page.locator("#invite-link")).to_contain_text("/console/invite/")
    expect(page.locator("#users")).to_contain_text(ADMIN_EMAIL)
    steps.shot(page, pictures, "users")

    # The environment switcher: production has no demo catalog.
    steps.open_page(page, base, "/catalog")
    expect(page.locator("#plans")).to_contain_text("Enterprise")
    switcher = page.locator("#environment")
    production = switcher.locator("option", has_text=re.compile("production", re.IGNORECASE))
    switcher.select_option(production.get_attribute("value"))
    expect(page.locator("#page")).to_contain_text("Plans 0")
    expect(page.locator("#plans")).not_to_contain_text("Enterprise")
    development = switcher.locator("option", has_text=re.compile("development", re.IGNORECASE))
    switcher.select_option(development.get_attribute("value"))
    expect(page.locator("#plans")).to_contain_text("Enterprise")

    # Logging out ends the session: the console sends the browser back to the login page.
    page.locator("#logout").click()
    page.wait_for_url(re.compile(r"/console/login"))
    page.goto(f"{base}/console/customers")
    page.wait_for_url(re.compile(r"/console/login\?next=%2Fconsole%2Fcustomers"))
    assert not errors, errors


def test_a_page_open_before_a_new_login_still_submits(
    console: Console, context: BrowserContext
) -> None:
    """The session ended and the user logged in again in another tab: the old page's CSRF
    token is refused (403), the console asks for the current session once and sends the form
    again."""
    base = console.base_url
    old = context.new_page()
    log_in(old, base, ADMIN_EMAIL, ADMIN_PASSWORD, "/catalog/plans/new")
    expect(old.locator("#plan-form #f-id")).to_be_visible()  # loaded before the session ends
    context.clear_cookies()
    other = context.new_page()
    other.goto(f"{base}/console/login")
    other.locator("#email").fill(ADMIN_EMAIL)
    other.locator("#password").fill(ADMIN_PASSWORD)
    other.locator("button[type=submit]").click()
    other.wait_for_url(re.compile(r"/console$"))
    statuses: list[int] = []
    old.on("response", lambda r: statuses.append(r.status) if r.url.endswith("/graphql") else None)
    form = old.locator("#plan-form")
    form.locator("#f-id").fill("second-tab")
    form.locator("#f-name").fill("Second tab")
    form.locator('input[name="prices.0.amount"]').fill("9")
    form.get_by_role("button", name="Create draft").click()
    old.wait_for_url(re.compile(r"/console/catalog/plans/second-tab$"))
    assert statuses[:2] == [403, 200], statuses


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list[str] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        type(self).received.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[str]]]:
    """A webhook receiver on loopback answering 200: (its URL, the paths it was sent)."""
    received: list[str] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_webhook_endpoint_its_deliveries_and_a_replay(
    console: Console, context: BrowserContext, receiver: tuple[str, list[str]]
) -> None:
    url, received = receiver
    page = admin_page(console, context, "/webhooks")
    base = console.base_url
    page.locator("#f-url").fill(url)
    page.locator("#f-description").fill("console test receiver")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".notice")).to_contain_text("whsec_")
    # An event: a deal provisioned in the console.
    steps.fill_enterprise_deal(page, base, "hooked", "Hooked Inc")
    steps.confirm_deal(page, "hooked")
    steps.open_page(page, base, "/webhooks")
    delivered = page.locator("#deliveries tbody tr", has_text="SUCCEEDED").first
    deadline = time.monotonic() + 30
    while not delivered.count() and time.monotonic() < deadline:
        page.wait_for_timeout(500)
        page.locator("#refresh-deliveries").click()
    expect(delivered).to_be_visible()
    before = len(received)
    assert before >= 1
    delivered.get_by_role("button", name="Replay").click()
    expect(page.locator("#deliveries")).to_contain_text("(1 replays)")
    deadline = time.monotonic() + 30
    while len(received) <= before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(received) > before, received
