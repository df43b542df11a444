"""Usage mutations and history: reportUsage, reportUsageBatch, reportEvents, usageHistory."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from app.domain.usage import calculated as usage_domain
from app.domain.usage import events as events_domain
from app.domain.usage import reports as usage_reports
from app.domain.usage.history import usage_history
from app.domain.usage.rules import UsageMode
from app.errors import DomainError
from app.schema.common import ClientError, ServerKeyOnly, UserError, user_errors
from app.schema.context import Context

UNSET: Any = strawberry.UNSET
MAX_BATCH = 1000


strawberry.enum(
    UsageMode,
    name="UsageMode",
    description="DELTA adds to the usage (never below zero); SET replaces it.",
)


@strawberry.input(description="A calculated usage report.")
class ReportUsageInput:
    customer_id: str = strawberry.field(description="The customer.")
    feature_id: str = strawberry.field(description="The metered feature.")
    value: float = strawberry.field(description="The delta, or the new absolute value.")
    mode: UsageMode = strawberry.field(default=UsageMode.DELTA, description="DELTA or SET.")
    consume: bool = strawberry.field(
        default=False, description="Record only if it fits under a hard limit (atomic).")
    idempotency_key: str | None = strawberry.field(
        default=UNSET, description="A report with a key seen before is counted once.")
    resource_id: str | None = strawberry.field(default=UNSET, description="The resource.")
    timestamp: datetime | None = strawberry.field(
        default=UNSET, description="When the usage happened (its period); now by default.")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"customerId": self.customer_id, "featureId": self.feature_id,
                               "value": self.value, "mode": self.mode.value,
                               "consume": self.consume}
        for name, key in (("idempotency_key", "idempotencyKey"), ("resource_id", "resourceId"),
                          ("timestamp", "timestamp")):
            value = getattr(self, name)
            if value is not UNSET and value is not None:
                out[key] = value
        return out


@strawberry.input(description="A batch of calculated usage reports.")
class ReportUsageBatchInput:
    usages: list[ReportUsageInput] = strawberry.field(description="Up to 1,000 reports.")


@strawberry.input(description="A raw event for the meters.")
class UsageEventInput:
    customer_id: str = strawberry.field(description="The customer.")
    event_name: str = strawberry.field(description="Meters with this event name count it.")
    idempotency_key: str = strawberry.field(description="Unique per event: retries dedupe.")
    timestamp: datetime | None = strawberry.field(default=UNSET,
                                                  description="When it happened; now if omitted.")
    resource_id: str | None = strawberry.field(default=UNSET, description="The resource.")
    dimensions: JSON | None = strawberry.field(default=UNSET,
                                               description="Properties meters filter/aggregate.")


@strawberry.input(description="A batch of raw events.")
class ReportEventsInput:
    events: list[UsageEventInput] = strawberry.field(description="Up to 1,000 events.")


@strawberry.type(description="A customer's usage of a feature in the current period.")
class Usage:
    customer_id: str = strawberry.field(description="The customer.")
    feature_id: str = strawberry.field(description="The feature.")
    resource_id: str | None = strawberry.field(description="The resource.")
    current_usage: float = strawberry.field(description="Usage in the period.")
    usage_limit: float | None = strawberry.field(description="The limit; null if none.")
    period_start: datetime | None = strawberry.field(description="Start of the period.")
    period_end: datetime | None = strawberry.field(description="End of the period (reset).")
    version: str | None = strawberry.field(
        default=None,
        description="The counter's version (a decimal 64-bit integer): for one customer, "
        "feature and resource, greater is newer. Given by usageChanged events.")


@strawberry.type(description="Result of one usage report.")
class ReportUsagePayload:
    accepted: bool = strawberry.field(description="Whether the report was recorded.")
    usage: Usage | None = strawberry.field(description="The usage after the report.")
    errors: list[UserError] = strawberry.field(description="Why it was not recorded.")


@strawberry.type(description="Result of a batch of usage reports: one result per item.")
class ReportUsageBatchPayload:
    results: list[ReportUsagePayload] = strawberry.field(description="In the input's order.")
    errors: list[UserError] = strawberry.field(description="Errors about the whole batch.")


@strawberry.type(description="Result of reportEvents.")
class ReportEventsPayload:
    accepted: int = strawberry.field(description="New events stored and aggregated.")
    duplicates: int = strawberry.field(description="Events whose key was seen before.")
    errors: list[UserError] = strawberry.field(
        description="Events not recorded and why (field points at the event).")


@strawberry.type(description="Usage in one period.")
class UsagePeriod:
    period_start: datetime | None = strawberry.field(description="Start (null: never resets).")
    period_end: datetime | None = strawberry.field(description="End.")
    usage: float = strawberry.field(description="Usage in the period.")


def report_usage_payload(result: usage_reports.ReportResult) -> ReportUsagePayload:
    usage = result.usage
    return ReportUsagePayload(
        accepted=result.accepted,
        usage=None if usage is None else Usage(
            customer_id=usage.customer_id, feature_id=usage.feature_id,
            resource_id=usage.resource_id, current_usage=usage.current_usage,
            usage_limit=usage.usage_limit, period_start=usage.period_start,
            period_end=usage.period_end),
        errors=user_errors(result.error) if result.error else [],
    )


@strawberry.type
class UsageQuery:
    @strawberry.field(description="Usage per period between two instants (zero-filled).",
                      permission_classes=[ServerKeyOnly])
    async def usage_history(
        self, info: Info[Context, None],
        customer_id: Annotated[str, strawberry.argument(description="The customer.")],
        feature_id: Annotated[str, strawberry.argument(description="The metered feature.")],
        from_: Annotated[datetime, strawberry.argument(
            name="from", description="Periods containing or after this instant.")],
        to: Annotated[datetime | None, strawberry.argument(
            description="Periods before this instant (now by default).")] = None,
        resource_id: Annotated[str | None, strawberry.argument(
            description="The resource, for per-resource usage.")] = None,
    ) -> list[UsagePeriod]:
        ctx = info.context
        try:
            periods = await usage_history(ctx.db, ctx.environment_pk, customer_id, feature_id,
                                          from_, to, ctx.now(), resource_id)
        except DomainError as error:
            raise ClientError.of(error) from None
        return [UsagePeriod(period_start=p.period_start, period_end=p.period_end,
                            usage=p.usage) for p in periods]


@strawberry.type
class UsageMutation:
    @strawberry.mutation(description="Report calculated usage (DELTA or SET), idempotently.",
                         permission_classes=[ServerKeyOnly])
    async def report_usage(self, info: Info[Context, None],
                           input: ReportUsageInput) -> ReportUsagePayload:
        ctx = info.context
        return report_usage_payload(await usage_domain.report_usage(ctx.db, ctx.environment_pk,
                                                        input.to_dict(), ctx.now()))

    @strawberry.mutation(description="Report up to 1,000 usages; one result per item.",
                         permission_classes=[ServerKeyOnly])
    async def report_usage_batch(self, info: Info[Context, None],
                                 input: ReportUsageBatchInput) -> ReportUsageBatchPayload:
        ctx = info.context
        if len(input.usages) > MAX_BATCH:
            from app.errors import ErrorCode

            error = DomainError(ErrorCode.INVALID_INPUT, f"at most {MAX_BATCH} usages a batch",
                                ["usages"])
            return ReportUsageBatchPayload(results=[], errors=user_errors(error))
        results = await usage_domain.report_usages(
            ctx.db, ctx.environment_pk, [item.to_dict() for item in input.usages], ctx.now())
        return ReportUsageBatchPayload(results=[report_usage_payload(r) for r in results],
                                       errors=[])

    @strawberry.mutation(description="Report raw events (idempotency key required).",
                         permission_classes=[ServerKeyOnly])
    async def report_events(self, info: Info[Context, None],
                            input: ReportEventsInput) -> ReportEventsPayload:
        ctx = info.context
        raw = []
        for e in input.events:
            item: dict[str, Any] = {"customerId": e.customer_id, "eventName": e.event_name,
                                    "idempotencyKey": e.idempotency_key}
            for name, key in (("timestamp", "timestamp"), ("resource_id", "resourceId"),
                              ("dimensions", "dimensions")):
                value = getattr(e, name)
                if value is not UNSET and value is not None:
                    item[key] = value
            raw.append(item)
        result = await events_domain.report_events(ctx.db, ctx.environment_pk, raw, ctx.now())
        errors = [e for err in result.errors for e in user_errors(err)]
        return ReportEventsPayload(accepted=result.accepted, duplicates=result.duplicates,
                                   errors=errors)
