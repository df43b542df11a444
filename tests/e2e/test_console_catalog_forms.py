"""The console's feature and product forms in a real browser (Debian's headless Chromium through
Playwright, against a real `allot serve --demo` on a database of its own: the fixtures of
tests/e2e/test_console_browser.py).

A product manager creates a metered feature with a unit and a meter (a refused meter first: the
API's error next to its field, nothing written), sees DUPLICATE_ID next to the id when creating
it twice, creates an ENUM configuration feature, renames the metered one, creates a product, is
refused archiving a feature plans still grant, archives the new one, edits and archives the
product; each checked in SQL, and each change audited under the user.

ALLOT_SCREENSHOT_DIR=docs/console writes docs/console/feature-form.png.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.browser import needs_chromium
from tests.e2e import console_steps as steps

# The fixtures (a module's own server and database, the browser) and helpers of the console's
# browser test: imported, so this module gets a server of its own.
from tests.e2e.test_console_browser import (  # noqa: F401
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Console,
    browser,
    console,
    context,
    log_in,
    page_errors,
    playwright,
    screenshots,
    sql_value,
)

pytestmark = [pytest.mark.e2e, pytest.mark.browser, needs_chromium]

expect.set_options(timeout=steps.TIMEOUT_MS)

FEATURE = "gpu-minutes"
PRODUCT = "ml-platform"


def _feature_column(database_url: str, column: str, feature_id: str) -> object:
    return sql_value(
        database_url,
        f"""
        SELECT f.{column}::text FROM features f JOIN environments e ON e.pk = f.environment_pk
        WHERE e.slug = 'development' AND f.id = $1
        """,
        feature_id,
    )


def _count_features(database_url: str, feature_id: str) -> object:
    return sql_value(database_url, "SELECT count(*) FROM features WHERE id = $1", feature_id)


def _field_error(page: Page, form: str, control: str) -> Locator:
    """The errors shown in the field around `control` (a selector) of form `form`."""
    return (
        page.locator(form)
        .locator(".field.has-error", has=page.locator(control))
        .locator(".field-error")
    )


def test_a_product_manager_creates_edits_and_archives_features_and_products(
    console: Console,  # noqa: F811 (the fixture imported above)
    context: BrowserContext,  # noqa: F811
) -> None:
    page = context.new_page()
    db = console.database_url
    errors = page_errors(page)
    base = console.base_url
    pictures = screenshots()
    log_in(page, base, ADMIN_EMAIL, ADMIN_PASSWORD, "/catalog")

    # A metered feature with a unit and a meter summing a dimension of raw events.
    page.locator("#new-feature").click()
    page.wait_for_url(re.compile(r"/console/catalog/features/new$"))
    form = page.locator("#feature-form")
    form.locator("#f-id").fill(FEATURE)
    expect(form.locator("#f-type")).to_have_value("METERED")
    form.locator("#f-name").fill("GPU minutes")
    form.locator("#f-description").fill("Minutes of GPU time used by training jobs.")
    form.locator("#f-unit").fill("minute")
    form.locator("#f-unitPlural").fill("minutes")
    form.locator("#f-metered").check()
    form.locator("#f-eventName").fill("gpu_job_finished")
    form.locator("#f-aggregation").select_option("SUM")
    form.locator("#add-filters").click()
    form.locator('input[name="filters.0.dimension"]').fill("region")
    form.locator('input[name="filters.0.values"]').fill("eu, us")
    # SUM needs the dimension it sums: the API says so next to that field, nothing is written.
    form.locator("#save-feature").click()
    expect(_field_error(page, "#feature-form", "#f-field")).to_contain_text("INVALID_INPUT")
    assert page.url.endswith("/console/catalog/features/new")
    assert _count_features(db, FEATURE) == 0
    steps.shot(page, pictures, "feature-form")
    form.locator("#f-field").fill("minutes")
    form.locator("#save-feature").click()
    page.wait_for_url(re.compile(rf"/console/catalog/features/{FEATURE}$"))
    summary = page.locator("#feature-summary")
    expect(summary).to_contain_text("unit minute / minutes")
    expect(summary).to_contain_text(
        "SUM of minutes of gpu_job_finished events where region IN eu, us"
    )
    assert _feature_column(db, "type", FEATURE) == "METERED"
    assert _feature_column(db, "unit", FEATURE) == "minute"
    assert _feature_column(db, "unit_plural", FEATURE) == "minutes"
    meter = _feature_column(db, "meter", FEATURE)
    assert isinstance(meter, str) and '"field": "minutes"' in meter and '"SUM"' in meter, meter

    # The same id again: DUPLICATE_ID next to the id, and the feature is as it was.
    steps.open_page(page, base, "/catalog/features/new")
    form = page.locator("#feature-form")
    form.locator("#f-id").fill(FEATURE)
    form.locator("#f-type").select_option("BOOLEAN")
    expect(form.locator("#f-unit")).to_have_count(0)  # a boolean has no unit
    form.locator("#save-feature").click()
    expect(_field_error(page, "#feature-form", "#f-id")).to_contain_text("DUPLICATE_ID")
    assert page.url.endswith("/console/catalog/features/new")
    assert _count_features(db, FEATURE) == 1
    assert _feature_column(db, "type", FEATURE) == "METERED"

    # A configuration feature whose value is one of a list.
    form.locator("#f-id").fill("gpu-tier")
    form.locator("#f-type").select_option("CONFIGURATION")
    form.locator("#f-valueType").select_option("ENUM")
    form.locator("#f-enumValues").fill("small, large")
    form.locator("#save-feature").click()
    page.wait_for_url(re.compile(r"/console/catalog/features/gpu-tier$"))
    expect(page.locator("#feature-summary")).to_contain_text("ENUM: small, large")
    assert _feature_column(db, "enum_values", "gpu-tier") == '["small", "large"]'

    # Renamed on its page (its type is fixed there).
    steps.open_page(page, base, f"/catalog/features/{FEATURE}")
    form = page.locator("#feature-form")
    expect(form.locator("#f-type")).to_be_disabled()
    expect(form.locator("#f-unit")).to_have_value("minute")
    form.locator("#f-name").fill("GPU time")
    form.locator("#save-feature").click()
    expect(form.locator("#saved")).to_be_visible()
    expect(page.locator("h1")).to_contain_text("GPU time")
    assert _feature_column(db, "name", FEATURE) == "GPU time"
    assert _feature_column(db, "unit", FEATURE) == "minute"  # the rest unchanged

    # A product.
    steps.open_page(page, base, "/catalog")
    page.locator("#new-product").click()
    page.wait_for_url(re.compile(r"/console/catalog/products/new$"))
    form = page.locator("#product-form")
    form.locator("#f-id").fill(PRODUCT)
    form.locator("#f-name").fill("ML Platform")
    form.locator("#f-multipleSubscriptions").check()
    form.locator("#save-product").click()
    page.wait_for_url(re.compile(rf"/console/catalog/products/{PRODUCT}$"))
    expect(page.locator("#product-summary")).to_contain_text("several subscriptions per customer")
    product = sql_value(
        db,
        """
        SELECT p.name || ' ' || p.multiple_subscriptions::text
        FROM products p JOIN environments e ON e.pk = p.environment_pk
        WHERE e.slug = 'development' AND p.id = $1
        """,
        PRODUCT,
    )
    assert product == "ML Platform true", product
    steps.open_page(page, base, "/catalog")
    expect(page.locator("#page")).to_contain_text("ML Platform")

    # Archiving a feature live plans grant is refused, with the API's code; nothing changes.
    steps.open_page(page, base, "/catalog/features/seats")
    page.locator("#archive-feature").click()
    page.locator("#confirm-archive").click()
    expect(page.locator("#archive .field-error")).to_contain_text("INVALID_INPUT")
    expect(page.locator("#archive .field-error")).to_contain_text("still granted by")
    assert _feature_column(db, "archived_at", "seats") is None

    # The new feature, granted by nothing, is archived: gone from the catalog's list.
    steps.open_page(page, base, f"/catalog/features/{FEATURE}")
    page.locator("#archive-feature").click()
    page.locator("#confirm-archive").click()
    expect(page.locator("#archived")).to_be_visible()
    assert _feature_column(db, "archived_at", FEATURE) is not None
    steps.open_page(page, base, "/catalog")
    expect(page.locator("#page")).to_contain_text("ML Platform")
    expect(page.locator("#page")).not_to_contain_text(FEATURE)

    # The product edited, then archived (with its plans and add-ons: it has none).
    steps.open_page(page, base, f"/catalog/products/{PRODUCT}")
    form = page.locator("#product-form")
    expect(form.locator("#f-defaultPlan")).to_have_value("")  # no plans yet: none
    form.locator("#f-description").fill("Training and serving models.")
    form.locator("#save-product").click()
    expect(form.locator("#saved")).to_be_visible()
    described = sql_value(db, "SELECT description FROM products WHERE id = $1", PRODUCT)
    assert described == "Training and serving models.", described
    page.locator("#archive-product").click()
    expect(page.locator("#archive")).to_contain_text("0 plans and 0 add-ons are archived with it")
    page.locator("#confirm-archive").click()
    expect(page.locator("#archived")).to_be_visible()
    archived = sql_value(db, "SELECT archived_at IS NOT NULL FROM products WHERE id = $1", PRODUCT)
    assert archived is True
    steps.open_page(page, base, "/catalog")
    expect(page.locator("#page")).to_contain_text("Acme App")
    expect(page.locator("#page")).not_to_contain_text("ML Platform")

    # Each change is audited under the user who made it.
    for operation, entity in (
        ("createFeature", FEATURE),
        ("updateFeature", FEATURE),
        ("archiveFeature", FEATURE),
        ("createProduct", PRODUCT),
        ("updateProduct", PRODUCT),
        ("archiveProduct", PRODUCT),
    ):
        who = sql_value(
            db,
            """
            SELECT string_agg(DISTINCT u.email, ',') FROM audit_log a
            JOIN users u ON u.pk = a.actor_user_pk
            WHERE a.operation = $1 AND a.entity_id = $2
            """,
            operation,
            entity,
        )
        assert who == ADMIN_EMAIL, (operation, who)

    assert not errors, errors
