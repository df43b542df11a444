"""Demo data for `allot serve --demo`: a sample catalog and a few customers.

The rule: **the demo never changes or archives anything it did not create itself**, so it may
be given on every start, next to data of your own.

- The catalog (app/cli/demo_catalog.yaml) is loaded when none of its ids (features, products,
  plans, add-ons; archived ones included) exist in the environment. It is applied together
  with the environment's own catalog as exported, so nothing of yours is archived, and the
  transaction is rolled back unless every change it made is the creation (or first publish)
  of a demo entity. When all its ids exist already (an earlier `--demo`, or edited since) it
  is left as it is; when only some exist, nothing is loaded and the reason is logged.
- Each demo customer (with its subscription, usage, trial or invoice) is created when no
  customer with its id exists; an existing one is never touched. Customers are loaded only
  while the demo catalog is in place, through the public API in-process (same validation,
  webhooks and audit as a client), one mutation at a time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any

import yaml

from app.auth import KeyKind, Principal
from app.clock import Clock
from app.db import Database
from app.domain import audit
from app.domain.audit import AuditActor
from app.domain.catalog.diff import CREATED, PUBLISHED
from app.domain.catalog.document import apply_catalog, export_catalog
from app.errors import DomainError, DomainErrors
from app.models import Environment
from app.schema.loaders import Loaders
from app.settings import Settings
from app.store import catalog as catalog_store

DEMO_CATALOG = "demo_catalog.yaml"

# The demo acts as a server key of its environment. No such key exists: the nil id marks
# what the demo did (e.g. `actorKeyId` in the audit log).
DEMO_ACTOR_KEY = uuid.UUID(int=0)

PROVISION = """
mutation($input: ProvisionCustomerInput!) {
  provisionCustomer(input: $input) {
    customer { id }
    subscription { id status }
    errors { code message field }
  }
}
"""
REPORT_USAGE = """
mutation($input: ReportUsageInput!) {
  reportUsage(input: $input) { accepted errors { code message field } }
}
"""
REPORT_EVENTS = """
mutation($input: ReportEventsInput!) {
  reportEvents(input: $input) { accepted errors { code message field } }
}
"""
FIND_CUSTOMER = "query($id: String!) { customer(id: $id) { id } }"


@dataclass(frozen=True)
class DemoCustomer:
    """One demo customer: the `provisionCustomer` input, then usage reports and raw events."""

    input: dict[str, Any]
    usage: tuple[tuple[str, float], ...] = ()  # (featureId, value) reported once each
    events: tuple[tuple[str, int], ...] = ()  # (eventName, how many)

    @property
    def id(self) -> str:
        return str(self.input["customerId"])


DEMO_CUSTOMERS: tuple[DemoCustomer, ...] = (
    # Sales-led: Enterprise with seats per contract, invoiced at a negotiated price.
    DemoCustomer(
        {
            "customerId": "umbrella",
            "name": "Umbrella Corp",
            "email": "ap@umbrella.example",
            "subscription": {
                "planId": "enterprise",
                "subscriptionId": "umbrella-enterprise",
                "entitlements": [{"featureId": "seats", "limit": 40}],
                "priceOverrides": [{"amount": "1500.00", "currency": "USD"}],
                "billing": {"mode": "INVOICE", "paymentTermsDays": 30},
            },
        },
        usage=(("seats", 32), ("projects", 12)),
        events=(("api_call", 25),),
    ),
    # Self-serve Pro, paying, with an add-on, close to its seat limit.
    DemoCustomer(
        {
            "customerId": "initech",
            "name": "Initech",
            "email": "it@initech.example",
            "subscription": {
                "planId": "pro",
                "subscriptionId": "initech-pro",
                "skipTrial": True,
                "addons": [{"addonId": "extra-seats", "quantity": 1}],
            },
        },
        usage=(("seats", 14), ("projects", 5)),
        events=(("api_call", 10),),
    ),
    # Trying Pro: the plan's default 14-day trial.
    DemoCustomer(
        {
            "customerId": "globex",
            "name": "Globex",
            "email": "hank@globex.example",
            "subscription": {"planId": "pro", "subscriptionId": "globex-pro"},
        },
        usage=(("seats", 4),),
        events=(("api_call", 3),),
    ),
    # Free tier, at its project limit.
    DemoCustomer(
        {
            "customerId": "hooli",
            "name": "Hooli",
            "subscription": {"planId": "free", "subscriptionId": "hooli-free"},
        },
        usage=(("seats", 2), ("projects", 3)),
    ),
)


@dataclass
class DemoResult:
    catalog: str  # "loaded" | "present" | "skipped"
    catalog_changes: int = 0
    reason: str = ""
    created: list[str] = field(default_factory=list)  # demo customers made now
    kept: list[str] = field(default_factory=list)  # demo customer ids that existed
    failed: list[str] = field(default_factory=list)  # "id (why)": refused by the API

    def summary(self) -> str:
        parts = {
            "loaded": f"demo catalog loaded ({self.catalog_changes} changes)",
            "present": "demo catalog already present (left as it is)",
            "skipped": f"demo catalog not loaded: {self.reason}",
        }
        text = parts[self.catalog]
        if self.catalog != "skipped":
            text += f"; demo customers created: {', '.join(self.created) or 'none'}"
            if self.kept:
                text += f"; left as they are: {', '.join(self.kept)}"
            if self.failed:
                text += f"; not created: {'; '.join(self.failed)}"
        return text


def demo_catalog() -> Any:
    """The sample catalog document (app/cli/demo_catalog.yaml), parsed."""
    text = resources.files("app.cli").joinpath(DEMO_CATALOG).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def demo_ids(document: Any) -> set[tuple[str, str]]:
    """(entity, id) of everything the demo catalog declares."""
    ids = {("FEATURE", str(f["id"])) for f in document.get("features") or []}
    for product in document.get("products") or []:
        ids.add(("PRODUCT", str(product["id"])))
        ids |= {("PLAN", str(p["id"])) for p in product.get("plans") or []}
        ids |= {("ADDON", str(a["id"])) for a in product.get("addons") or []}
    return ids


async def load_demo_catalog(db: Database, environment_pk: uuid.UUID, now: datetime) -> DemoResult:
    """The demo catalog into one environment, in one transaction (see the module's rule)."""
    document = demo_catalog()
    wanted = demo_ids(document)
    async with audit.transaction(db, AuditActor.cli("serve --demo", now)) as session:
        existing = {
            ("FEATURE", i) for i in await catalog_store.all_features(session, environment_pk)
        }
        existing |= {
            ("PRODUCT", i) for i in await catalog_store.all_products(session, environment_pk)
        }
        existing |= {
            (p.kind, p.id) for p in await catalog_store.all_packages(session, environment_pk)
        }
        present = wanted & existing
        if present == wanted:
            return DemoResult("present")
        if present:
            taken = ", ".join(f"{kind.lower()} {i}" for kind, i in sorted(present))
            return DemoResult("skipped", reason=f"the environment already has {taken}")
        own = await export_catalog(session, environment_pk)
        merged = {
            "features": [*(own.get("features") or []), *document["features"]],
            "products": [*(own.get("products") or []), *document["products"]],
        }
        savepoint = await session.begin_nested()
        try:
            changes = await apply_catalog(session, environment_pk, merged, now)
        except (DomainError, DomainErrors) as exc:  # e.g. your catalog does not re-apply
            await savepoint.rollback()
            error = exc.errors[0] if isinstance(exc, DomainErrors) else exc
            return DemoResult(
                "skipped", reason=f"it does not apply here ({error.message}); nothing was written"
            )
        foreign = [
            c
            for c in changes
            if (c.entity, c.id) not in wanted or c.kind not in (CREATED, PUBLISHED)
        ]
        if foreign:
            await savepoint.rollback()
            first = foreign[0]
            return DemoResult(
                "skipped",
                reason=f"it would have changed your catalog ({first.kind} {first.entity} "
                f"{first.id}); nothing was written",
            )
        await savepoint.commit()
    return DemoResult("loaded", catalog_changes=len(changes))


class _Api:
    """The public API in-process, as a server key of one environment."""

    def __init__(self, db: Database, environment: Environment, settings: Settings) -> None:
        from app.resolvers.root import build_schema
        from app.schema.context import Context

        self._schema = build_schema(settings)
        principal = Principal(
            key_pk=DEMO_ACTOR_KEY,
            kind=KeyKind.SERVER,
            environment_pk=environment.pk,
            environment_slug=environment.slug,
            account_pk=environment.account_pk,
        )
        self._context = Context(
            db=db,
            principal=principal,
            settings=settings,
            clock=Clock(),
            request_id="demo",
            cli_command="serve --demo",
            make_loaders=Loaders,
        )

    async def call(self, query: str, **variables: Any) -> Any:
        result = await self._schema.execute(
            query, variable_values=variables, context_value=self._context
        )
        if result.errors:
            raise RuntimeError(result.errors[0].message)
        data = result.data or {}
        payload = next(iter(data.values()), None)
        if isinstance(payload, dict) and payload.get("errors"):
            error = payload["errors"][0]
            raise RuntimeError(f"{error['code']}: {error['message']}")
        return payload


async def load_demo_customers(
    db: Database, environment: Environment, settings: Settings, result: DemoResult
) -> None:
    """Create the demo customers that don't exist yet (see the module's rule). One the API
    refuses (say, its plan was archived since) is reported and skipped: the demo never keeps
    the server from starting."""
    api = _Api(db, environment, settings)
    for customer in DEMO_CUSTOMERS:
        if await api.call(FIND_CUSTOMER, id=customer.id) is not None:
            result.kept.append(customer.id)
            continue
        try:
            await _create_customer(api, customer)
        except RuntimeError as exc:
            result.failed.append(f"{customer.id} ({exc})")
        else:
            result.created.append(customer.id)


async def _create_customer(api: _Api, customer: DemoCustomer) -> None:
    key = f"demo-{customer.id}"
    await api.call(PROVISION, input={**customer.input, "idempotencyKey": key})
    for feature_id, value in customer.usage:
        usage = {"customerId": customer.id, "featureId": feature_id, "value": value}
        await api.call(REPORT_USAGE, input={**usage, "idempotencyKey": f"{key}-{feature_id}"})
    for event_name, count in customer.events:
        events = [
            {
                "customerId": customer.id,
                "eventName": event_name,
                "idempotencyKey": f"{key}-{event_name}-{n}",
            }
            for n in range(count)
        ]
        await api.call(REPORT_EVENTS, input={"events": events})


async def load_demo(
    db: Database, environment: Environment, settings: Settings, now: datetime
) -> DemoResult:
    """The whole demo into one environment; what happened, for one log line."""
    result = await load_demo_catalog(db, environment.pk, now)
    if result.catalog != "skipped":
        await load_demo_customers(db, environment, settings, result)
    return result
