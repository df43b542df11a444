"""Invoice, preview and billing-settings resolvers: thin, input -> domain call -> payload."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.domain import audit
from app.domain.billing import invoices
from app.domain.billing import settings as billing_settings
from app.domain.billing.choices import InvoiceStatus
from app.domain.billing.proration import Proration
from app.domain.subscriptions import changes, provisioning
from app.errors import DomainError, DomainErrors
from app.resolvers.catalog import in_transaction
from app.schema.billing_types import (
    BillingSettings,
    BillingSettingsPayload,
    Invoice,
    InvoicePayload,
    MarkInvoicePaidInput,
    SubscriptionPreviewPayload,
    UpdateBillingSettingsInput,
    VoidInvoiceInput,
    invoice_view,
    line_view,
    settings_view,
)
from app.schema.catalog_inputs import given
from app.schema.common import (
    AfterArg,
    ClientError,
    Connection,
    FirstArg,
    ServerKeyOnly,
    connection,
    decode_cursor,
    page_size,
    user_errors,
    wants_total,
)
from app.schema.context import Context
from app.schema.customer_inputs import ProvisionSubscriptionInput
from app.store import customers as customer_store
from app.store import invoices as store

InvoiceIdArg = Annotated[str, strawberry.argument(description="The invoice id (its number).")]
CustomerFilterArg = Annotated[
    str | None, strawberry.argument(description="Only this customer's invoices (customerId).")
]
SubscriptionFilterArg = Annotated[
    str | None, strawberry.argument(description="Only this subscription's (subscriptionId).")
]
StatusFilterArg = Annotated[
    InvoiceStatus | None, strawberry.argument(description="Only invoices in this status.")
]


def _valid_cursor(after: str | None) -> str | None:
    decoded = decode_cursor(after)
    if decoded is not None:
        issued, bar, _ = decoded.partition("|")
        try:
            datetime.fromisoformat(issued)
        except ValueError:
            bar = ""
        if not bar:
            raise ClientError("malformed cursor in `after`", "INVALID_INPUT")
    return decoded


@strawberry.type
class BillingQuery:
    @strawberry.field(description="One invoice by id.", permission_classes=[ServerKeyOnly])
    async def invoice(self, info: Info[Context, None], id: InvoiceIdArg) -> Invoice | None:
        ctx = info.context
        async with ctx.db.session() as session:
            row = await store.get_invoice(session, ctx.environment_pk, id)
        return None if row is None else invoice_view(row, ctx.now())

    @strawberry.field(
        description="Invoices, newest first; filter by customer, subscription and status.",
        permission_classes=[ServerKeyOnly],
    )
    async def invoices(
        self,
        info: Info[Context, None],
        customer_id: CustomerFilterArg = None,
        subscription_id: SubscriptionFilterArg = None,
        status: StatusFilterArg = None,
        first: FirstArg = None,
        after: AfterArg = None,
    ) -> Connection[Invoice]:
        ctx = info.context
        size = page_size(first, ctx.settings.max_page_size)
        cursor = _valid_cursor(after)
        now = ctx.now()
        async with ctx.db.session() as session:
            customer_pk = subscription_pk = None
            if customer_id is not None:
                customer = await customer_store.get_customer(
                    session, ctx.environment_pk, customer_id
                )
                if customer is None:
                    return connection([], False, 0, lambda r: invoice_view(r, now))
                customer_pk = customer.pk
            if subscription_id is not None:
                sub = await customer_store.get_subscription(
                    session, ctx.environment_pk, subscription_id
                )
                if sub is None:
                    return connection([], False, 0, lambda r: invoice_view(r, now))
                subscription_pk = sub.pk
            page = await store.list_invoices(
                session,
                ctx.environment_pk,
                size,
                cursor,
                customer_pk=customer_pk,
                subscription_pk=subscription_pk,
                status=status.value if status is not None else None,
                count=wants_total(info),
            )
        return connection(
            page.items, page.has_next, page.total, lambda r: invoice_view(r, now), store.cursor_of
        )

    @strawberry.field(
        description="The environment's billing settings (issuer, bank details, prefix).",
        permission_classes=[ServerKeyOnly],
    )
    async def billing_settings(self, info: Info[Context, None]) -> BillingSettings:
        ctx = info.context
        async with ctx.db.session() as session:
            return settings_view(await store.get_settings(session, ctx.environment_pk))


@strawberry.type
class BillingMutation:
    @strawberry.mutation(
        description="Mark an invoice paid; paying a paid one again changes nothing, a void "
        "one is INVOICE_VOIDED.",
        permission_classes=[ServerKeyOnly],
    )
    async def mark_invoice_paid(
        self, info: Info[Context, None], input: MarkInvoicePaidInput
    ) -> InvoicePayload:
        paid_at = input.paid_at if input.paid_at is not strawberry.UNSET else None

        async def work(session: AsyncSession, env: Any, now: datetime) -> Any:
            row = await invoices.mark_paid(session, env, input.invoice_id, now, paid_at)
            return invoice_view(row, now)

        invoice, errors = await in_transaction(info, work)
        return InvoicePayload(invoice=invoice, errors=errors)

    @strawberry.mutation(
        description="Void an open invoice (nothing owed; the subscription goes on); a paid "
        "one is INVOICE_ALREADY_PAID.",
        permission_classes=[ServerKeyOnly],
    )
    async def void_invoice(
        self, info: Info[Context, None], input: VoidInvoiceInput
    ) -> InvoicePayload:
        async def work(session: AsyncSession, env: Any, now: datetime) -> Any:
            return invoice_view(await invoices.void(session, env, input.invoice_id, now), now)

        invoice, errors = await in_transaction(info, work)
        return InvoicePayload(invoice=invoice, errors=errors)

    @strawberry.mutation(
        description="The charges provisionSubscription would produce with this input, "
        "priced for one billing period; nothing is stored.",
        permission_classes=[ServerKeyOnly],
    )
    async def preview_subscription(
        self, info: Info[Context, None], input: ProvisionSubscriptionInput
    ) -> SubscriptionPreviewPayload:
        ctx = info.context
        raw = {k: v for k, v in input.to_dict().items() if k != "idempotencyKey"}
        now = ctx.now()
        async with ctx.db.session() as session:
            audit.dry_run(session)  # rolled back below: its writes are no changes
            try:
                if (
                    await customer_store.get_customer(
                        session, ctx.environment_pk, str(raw.get("customerId"))
                    )
                    is None
                ):
                    # A deal can be priced before its customer exists (rolled back below).
                    await provisioning.upsert_customer(
                        session, ctx.environment_pk, {"customerId": raw.get("customerId")}, now
                    )
                charged: list[Proration] = []
                sub = await changes.provision_subscription(
                    session,
                    ctx.environment_pk,
                    raw,
                    now,
                    refresh=False,
                    max_backdate_days=ctx.settings.max_backdate_days,
                    prorations=charged,
                )
                result = (
                    charged[0].as_preview()
                    if charged
                    else await invoices.preview(session, sub, now)
                )
            except (DomainError, DomainErrors) as error:
                return SubscriptionPreviewPayload(
                    lines=[],
                    total=None,
                    currency=None,
                    period_start=None,
                    period_end=None,
                    errors=user_errors(error),
                )
            finally:
                await session.rollback()  # a preview stores nothing
        return SubscriptionPreviewPayload(
            lines=[line_view(ln) for ln in result.lines],
            total=result.total if result.currency is not None else None,
            currency=result.currency,
            period_start=result.period.start if result.period else None,
            period_end=result.period.end if result.period else None,
            errors=[],
        )

    @strawberry.mutation(
        description="Change the environment's billing settings (only the fields given).",
        permission_classes=[ServerKeyOnly],
    )
    async def update_billing_settings(
        self, info: Info[Context, None], input: UpdateBillingSettingsInput
    ) -> BillingSettingsPayload:
        raw = given(
            input,
            "company_name",
            "address",
            "email",
            "tax_id",
            "bank_details",
            "payment_instructions",
            "invoice_prefix",
            "rotate_link_secret",
        )

        async def work(session: AsyncSession, env: Any, now: datetime) -> Any:
            return settings_view(await billing_settings.update_settings(session, env, raw, now))

        settings, errors = await in_transaction(info, work)
        return BillingSettingsPayload(billing_settings=settings, errors=errors)
