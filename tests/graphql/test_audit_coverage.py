"""Every change is audited, and under the API's names — checked against the schema itself.

- Every table of the database is audited or exempt with a reason, and every column of an
  audited table is named for the API or listed as internal with a reason (introspection of
  the models): a new table or column cannot be forgotten.
- Every mutation of the GraphQL schema (introspection) is run once, and must produce audit
  entries whose `before`/`after` keys are fields of the entity's GraphQL type (introspection)
  or the few extras `app.domain.audit_fields` declares. A new mutation fails here until it
  has a step in STEPS (or a reason in EXEMPT_MUTATIONS).
- Writing an audited table outside `audit.transaction` raises.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from app import models
from app.auth import UserRole
from app.db import Database
from app.domain import audit
from app.domain.audit import AuditActor, UnauditedWrite
from app.domain.audit_fields import EXEMPT_TABLES, SPECS
from app.models import BillingSettings, Feature, metadata
from tests.graphql.entitlements.catalog import apply_catalog
from tests.support import TEST_PASSWORD, GraphQLClient, Tenant, log_in, make_user

# Mutations that change nothing the audit log covers, and why.
EXEMPT_MUTATIONS = {
    "reportUsage": "usage data: its own idempotent records (docs/audit.md)",
    "reportUsageBatch": "usage data, as reportUsage",
    "reportEvents": "usage data, as reportUsage",
    "previewSubscription": "stores nothing",
}

# The GraphQL type each entity type's before/after describe, and its table's model.
GRAPHQL_TYPE: dict[str, tuple[str, type]] = {
    "FEATURE": ("Feature", models.Feature),
    "PRODUCT": ("Product", models.Product),
    "PLAN": ("Plan", models.Package),
    "ADDON": ("Addon", models.Package),
    "PLAN_VERSION": ("PackageVersion", models.PackageVersion),
    "ADDON_VERSION": ("PackageVersion", models.PackageVersion),
    "CUSTOMER": ("Customer", models.Customer),
    "SUBSCRIPTION": ("CustomerSubscription", models.Subscription),
    "PROMOTIONAL_ENTITLEMENT": ("PromotionalEntitlement", models.PromotionalEntitlement),
    "API_KEY": ("ApiKey", models.ApiKey),
    "CUSTOMER_TOKEN": ("CreateCustomerTokenPayload", models.CustomerToken),
    "ENVIRONMENT": ("Environment", models.Environment),
    "INVOICE": ("Invoice", models.Invoice),
    "BILLING_SETTINGS": ("BillingSettings", models.BillingSettings),
    "WEBHOOK_ENDPOINT": ("WebhookEndpoint", models.WebhookEndpoint),
    "WEBHOOK_DELIVERY": ("WebhookDelivery", models.WebhookDelivery),
    "USER": ("User", models.User),
    "USER_INVITATION": ("UserInvitation", models.UserInvitation),
}

FIELDS = "query($t: String!) { __type(name: $t) { fields { name } } }"
MUTATIONS = '{ __type(name: "Mutation") { fields { name } } }'
LOG = """query($op: String, $after: String) {
  auditLog(first: 100, operation: $op, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { operation entityType entityId action actorKind before after } } } }"""
ERRORS = "errors { code message field }"

Step = Callable[[GraphQLClient, dict[str, Any]], Awaitable[Any]]


async def _ok(gql: GraphQLClient, document: str, variables: dict[str, Any]) -> Any:
    payload = await gql.mutate(document, {"i": variables})
    assert payload["errors"] == [], payload["errors"]
    return payload


def simple(
    mutation: str, input_type: str, selection: str = "", *, as_admin: bool = False
) -> Callable[..., Step]:
    """A step running `mutation` with the input built from the scenario's state; `as_admin`:
    through the admin user's console session (user management is for admins, not keys)."""

    def build(make: Callable[[dict[str, Any]], dict[str, Any]]) -> Step:
        async def step(gql: GraphQLClient, state: dict[str, Any]) -> Any:
            document = (
                f"mutation($i: {input_type}!) {{ {mutation}(input: $i) "
                f"{{ {selection} {ERRORS} }} }}"
            )
            return await _ok(state["admin"] if as_admin else gql, document, make(state))

        return step

    return build


async def _create_api_key(gql: GraphQLClient, state: dict[str, Any]) -> None:
    payload = await _ok(
        gql,
        "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) "
        f"{{ apiKey {{ id }} secret {ERRORS} }} }}",
        {"kind": "CLIENT"},
    )
    state["key"] = payload["apiKey"]["id"]


async def _create_endpoint(gql: GraphQLClient, state: dict[str, Any]) -> None:
    payload = await _ok(
        gql,
        "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) "
        f"{{ endpoint {{ id }} secret {ERRORS} }} }}",
        {"url": "http://127.0.0.1:9/hook"},
    )
    state["endpoint"] = payload["endpoint"]["id"]
    state["secrets"].append(payload["secret"])


async def _rotate(gql: GraphQLClient, state: dict[str, Any]) -> None:
    payload = await _ok(
        gql,
        "mutation($i: RotateWebhookSecretInput!) { rotateWebhookSecret(input: $i) "
        f"{{ secret {ERRORS} }} }}",
        {"endpointId": state["endpoint"]},
    )
    state["secrets"].append(payload["secret"])


async def _replay(gql: GraphQLClient, state: dict[str, Any]) -> None:
    data = await gql.execute(
        "query($e: String) { webhookDeliveries(endpointId: $e, first: 1) "
        "{ edges { node { id } } } }",
        {"e": state["endpoint"]},
    )
    (edge,) = data["webhookDeliveries"]["edges"]
    await _ok(
        gql,
        "mutation($i: ReplayWebhookDeliveryInput!) { replayWebhookDelivery("
        f"input: $i) {{ {ERRORS} }} }}",
        {"deliveryId": edge["node"]["id"]},
    )


async def _provision_invoiced(gql: GraphQLClient, state: dict[str, Any]) -> None:
    payload = await _ok(
        gql,
        "mutation($i: ProvisionSubscriptionInput!) { provisionSubscription(input: $i) "
        f"{{ subscription {{ id invoices {{ id }} }} {ERRORS} }} }}",
        {"customerId": "acme", "planId": "pro", "skipTrial": True, "billing": {"mode": "INVOICE"}},
    )
    state["subscription"] = payload["subscription"]["id"]
    state["invoices"] = [i["id"] for i in payload["subscription"]["invoices"]]


async def _second_invoice(gql: GraphQLClient, state: dict[str, Any]) -> None:
    payload = await _ok(
        gql,
        "mutation($i: ProvisionSubscriptionInput!) { provisionSubscription(input: $i) "
        f"{{ subscription {{ invoices {{ id }} }} {ERRORS} }} }}",
        {
            "customerId": "acme",
            "planId": "analytics-basic",
            "resourceId": "site-1",
            "billing": {"mode": "INVOICE"},
        },
    )
    state["invoices"] += [i["id"] for i in payload["subscription"]["invoices"]]


async def _end_trial(gql: GraphQLClient, state: dict[str, Any]) -> None:
    await _ok(
        gql,
        "mutation($i: ProvisionCustomerInput!) { provisionCustomer(input: $i) "
        f"{{ customer {{ id }} {ERRORS} }} }}",
        {"customerId": "trialist"},
    )
    payload = await _ok(
        gql,
        "mutation($i: ProvisionSubscriptionInput!) { provisionSubscription(input: $i) "
        f"{{ subscription {{ id status }} {ERRORS} }} }}",
        {"customerId": "trialist", "planId": "pro", "trial": {"days": 14}},
    )
    assert payload["subscription"]["status"] == "IN_TRIAL", payload
    await _ok(
        gql,
        "mutation($i: EndTrialInput!) { endTrial(input: $i) "
        f"{{ subscription {{ id }} {ERRORS} }} }}",
        {"subscriptionId": payload["subscription"]["id"], "action": "CANCEL"},
    )


async def _invite_user(gql: GraphQLClient, state: dict[str, Any]) -> None:
    payload = await _ok(
        state["admin"],
        "mutation($i: InviteUserInput!) { inviteUser(input: $i) "
        f"{{ token invitation {{ id }} {ERRORS} }} }}",
        {"email": "invitee@example.com", "name": "Ivy", "role": "MEMBER"},
    )
    state["secrets"].append(payload["token"])


_change_user_role = simple("changeUserRole", "ChangeUserRoleInput", "user { id }", as_admin=True)(
    lambda s: {"id": s["member"], "role": "ADMIN"}
)
_disable_user = simple("disableUser", "DisableUserInput", "user { id disabledAt }", as_admin=True)(
    lambda s: {"id": s["member"]}
)
_change_password = simple(
    "changePassword", "ChangePasswordInput", "user { id passwordChangedAt }", as_admin=True
)(lambda s: {"currentPassword": TEST_PASSWORD, "newPassword": "a new long password"})


USER_STEPS = {"inviteUser", "changeUserRole", "disableUser", "changePassword"}
FEATURE = simple("createFeature", "CreateFeatureInput", "feature { id }")
# In the order they run; each mutation of the schema must be here or in EXEMPT_MUTATIONS.
STEPS: list[tuple[str, Step]] = [
    ("inviteUser", _invite_user),
    ("changeUserRole", _change_user_role),
    ("disableUser", _disable_user),
    ("changePassword", _change_password),
    ("createApiKey", _create_api_key),
    (
        "revokeApiKey",
        simple("revokeApiKey", "RevokeApiKeyInput", "apiKey { id }")(lambda s: {"id": s["key"]}),
    ),
    ("applyCatalog", lambda gql, state: apply_catalog(gql)),
    ("createFeature", FEATURE(lambda s: {"id": "sso2", "type": "BOOLEAN"})),
    (
        "updateFeature",
        simple("updateFeature", "UpdateFeatureInput", "feature { id }")(
            lambda s: {"id": "sso2", "name": "SSO 2"}
        ),
    ),
    (
        "archiveFeature",
        simple("archiveFeature", "IdInput", "feature { id }")(lambda s: {"id": "sso2"}),
    ),
    (
        "createProduct",
        simple("createProduct", "CreateProductInput", "product { id }")(lambda s: {"id": "side"}),
    ),
    (
        "updateProduct",
        simple("updateProduct", "UpdateProductInput", "product { id }")(
            lambda s: {"id": "side", "name": "Side"}
        ),
    ),
    (
        "createPlan",
        simple("createPlan", "CreatePlanInput", "plan { id }")(
            lambda s: {
                "id": "side-basic",
                "productId": "side",
                "pricingType": "FREE",
                "entitlements": [{"featureId": "sso"}],
            }
        ),
    ),
    (
        "publishPlan",
        simple("publishPlan", "PublishInput", "plan { id }")(lambda s: {"id": "side-basic"}),
    ),
    (
        "updatePlan",
        simple("updatePlan", "UpdatePlanInput", "plan { id }")(
            lambda s: {
                "id": "side-basic",
                "entitlements": [{"featureId": "sso"}, {"featureId": "audit-log"}],
            }
        ),
    ),
    (
        "discardPlanDraft",
        simple("discardPlanDraft", "IdInput", "plan { id }")(lambda s: {"id": "side-basic"}),
    ),
    (
        "createAddon",
        simple("createAddon", "CreateAddonInput", "addon { id }")(
            lambda s: {
                "id": "side-extra",
                "productId": "side",
                "maxQuantity": 3,
                "compatiblePlanIds": ["side-basic"],
                "entitlements": [{"featureId": "sso"}],
            }
        ),
    ),
    (
        "publishAddon",
        simple("publishAddon", "PublishInput", "addon { id }")(lambda s: {"id": "side-extra"}),
    ),
    (
        "updateAddon",
        simple("updateAddon", "UpdateAddonInput", "addon { id }")(
            lambda s: {"id": "side-extra", "maxQuantity": 4}
        ),
    ),
    (
        "discardAddonDraft",
        simple("discardAddonDraft", "IdInput", "addon { id }")(lambda s: {"id": "side-extra"}),
    ),
    (
        "archiveAddon",
        simple("archiveAddon", "IdInput", "addon { id }")(lambda s: {"id": "side-extra"}),
    ),
    (
        "archivePlan",
        simple("archivePlan", "IdInput", "plan { id }")(lambda s: {"id": "side-basic"}),
    ),
    (
        "archiveProduct",
        simple("archiveProduct", "IdInput", "product { id }")(lambda s: {"id": "side"}),
    ),
    ("createWebhookEndpoint", _create_endpoint),
    (
        "updateWebhookEndpoint",
        simple("updateWebhookEndpoint", "UpdateWebhookEndpointInput", "endpoint { id }")(
            lambda s: {"endpointId": s["endpoint"], "description": "ours"}
        ),
    ),
    ("rotateWebhookSecret", _rotate),
    (
        "provisionCustomer",
        simple("provisionCustomer", "ProvisionCustomerInput", "customer { id }")(
            lambda s: {"customerId": "acme", "name": "Acme", "metadata": {"crm": "1"}}
        ),
    ),
    (
        "createCustomerToken",
        simple(
            "createCustomerToken",
            "CreateCustomerTokenInput",
            "token tokenId customerId expiresAt",
        )(lambda s: {"customerId": "acme", "expiresInSeconds": 600}),
    ),
    (
        "updateEnvironmentSettings",
        simple(
            "updateEnvironmentSettings",
            "UpdateEnvironmentSettingsInput",
            "environment { requireCustomerTokens }",
        )(lambda s: {"requireCustomerTokens": True}),
    ),
    (
        "updateBillingSettings",
        simple(
            "updateBillingSettings", "UpdateBillingSettingsInput", "billingSettings { companyName }"
        )(
            lambda s: {
                "companyName": "Seller",
                "rotateLinkSecret": True,
                "bankDetails": {"iban": "DE89 3704 0044 0532 0130 00"},
            }
        ),
    ),
    ("provisionSubscription", _provision_invoiced),
    (
        "updateSubscription",
        simple("updateSubscription", "UpdateSubscriptionInput", "subscription { id }")(
            lambda s: {"subscriptionId": s["subscription"], "metadata": {"po": "42"}}
        ),
    ),
    (
        "markInvoicePaid",
        simple("markInvoicePaid", "MarkInvoicePaidInput", "invoice { id }")(
            lambda s: {"invoiceId": s["invoices"][0]}
        ),
    ),
    ("voidInvoice", lambda gql, s: _second_invoice(gql, s)),
    ("replayWebhookDelivery", _replay),
    (
        "grantPromotionalEntitlements",
        simple(
            "grantPromotionalEntitlements",
            "GrantPromotionalEntitlementsInput",
            "promotionalEntitlements { featureId }",
        )(lambda s: {"customerId": "acme", "grants": [{"featureId": "audit-log"}]}),
    ),
    (
        "revokePromotionalEntitlement",
        simple(
            "revokePromotionalEntitlement",
            "RevokePromotionalEntitlementInput",
            "promotionalEntitlements { featureId }",
        )(lambda s: {"customerId": "acme", "featureId": "audit-log"}),
    ),
    (
        "cancelSubscription",
        simple("cancelSubscription", "CancelSubscriptionInput", "subscription { id }")(
            lambda s: {"subscriptionId": s["subscription"], "at": "END_OF_PERIOD"}
        ),
    ),
    (
        "resumeSubscription",
        simple("resumeSubscription", "ResumeSubscriptionInput", "subscription { id }")(
            lambda s: {"subscriptionId": s["subscription"]}
        ),
    ),
    ("endTrial", _end_trial),
    (
        "deleteWebhookEndpoint",
        simple("deleteWebhookEndpoint", "DeleteWebhookEndpointInput", "")(
            lambda s: {"endpointId": s["endpoint"]}
        ),
    ),
    (
        "archiveCustomer",
        simple("archiveCustomer", "ArchiveCustomerInput", "customer { id }")(
            lambda s: {"customerId": "acme"}
        ),
    ),
]
# voidInvoice needs the second invoice first: its step issues it, then voids it.
_VOID = simple("voidInvoice", "VoidInvoiceInput", "invoice { id }")(
    lambda s: {"invoiceId": s["invoices"][-1]}
)


async def api_fields(gql: GraphQLClient, type_name: str, cache: dict[str, set[str]]) -> set[str]:
    if type_name not in cache:
        data = await gql.execute(FIELDS, {"t": type_name})
        cache[type_name] = {f["name"] for f in data["__type"]["fields"]}
    return cache[type_name]


async def log(gql: GraphQLClient, operation: str | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await gql.execute(LOG, {"op": operation, "after": after}))["auditLog"]
        out += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return out
        after = page["pageInfo"]["endCursor"]


async def assert_api_names(
    gql: GraphQLClient, entries: list[dict[str, Any]], cache: dict[str, set[str]]
) -> None:
    for entry in entries:
        known = GRAPHQL_TYPE.get(entry["entityType"])
        assert known is not None, f"entity type {entry['entityType']} has no GraphQL type"
        type_name, model = known
        allowed = await api_fields(gql, type_name, cache) | SPECS[model].extras
        for side in ("before", "after"):
            keys = set(entry[side] or {})
            assert keys <= allowed, (
                entry["operation"],
                entry["entityType"],
                side,
                sorted(keys - allowed),
            )


def test_every_table_is_audited_or_exempt() -> None:
    audited = {m.__tablename__ for m in SPECS}  # type: ignore[attr-defined]
    tables = set(metadata.tables)
    assert not audited & set(EXEMPT_TABLES)
    assert tables == audited | set(EXEMPT_TABLES), (
        f"unlisted: {sorted(tables - audited - set(EXEMPT_TABLES))}; "
        f"gone: {sorted((audited | set(EXEMPT_TABLES)) - tables)}"
    )
    assert all(reason.strip() for reason in EXEMPT_TABLES.values())


def test_every_column_of_an_audited_table_is_named_or_internal() -> None:
    for model, spec in SPECS.items():
        columns = {c.key for c in model.__mapper__.column_attrs}  # type: ignore[attr-defined]
        named, internal = set(spec.fields), set(spec.internal)
        assert not named & internal, (model.__name__, named & internal)
        assert columns == named | internal, (model.__name__, sorted(columns ^ (named | internal)))
        for api_name in spec.fields.values():
            assert "_" not in api_name and not api_name.endswith("Pk"), (model, api_name)


async def test_every_mutation_is_audited_with_api_field_names(
    gql: GraphQLClient, db: Database, tenant: Tenant
) -> None:
    names = {f["name"] for f in (await gql.execute(MUTATIONS))["__type"]["fields"]}
    covered = [name for name, _ in STEPS]
    assert len(covered) == len(set(covered))
    assert set(covered) | set(EXEMPT_MUTATIONS) == names, (
        "register new mutations in STEPS (or EXEMPT_MUTATIONS with a reason): "
        f"{sorted(names - set(covered) - set(EXEMPT_MUTATIONS))}"
    )
    state: dict[str, Any] = {"secrets": []}
    admin = await make_user(db, tenant.account_pk, UserRole.ADMIN)
    member = await make_user(db, tenant.account_pk, UserRole.MEMBER)
    state["admin"] = await log_in(gql.http, admin)
    users = (await state["admin"].execute("{ users { id email } }"))["users"]
    state["member"] = next(u["id"] for u in users if u["email"] == member)
    for name, step in STEPS:
        await step(gql, state)
        if name == "voidInvoice":
            await _VOID(gql, state)
    cache: dict[str, set[str]] = {}
    for name in covered:
        entries = await log(gql, name)
        assert entries, f"{name} wrote no audit entry"
        kind = "user" if name in USER_STEPS else "server"
        assert all(e["actorKind"] == kind for e in entries), (name, entries)
        await assert_api_names(gql, entries, cache)
    everything = await log(gql)
    await assert_api_names(gql, everything, cache)
    text = str(everything)
    forbidden_names = ("metadata_", "plan_pk", "customer_pk", "key_hash", "token_hash")
    passwords = ("password_hash", "passwordHash", "argon2", TEST_PASSWORD, "a new long password")
    for forbidden in (*forbidden_names, *passwords, *state["secrets"]):
        assert forbidden not in text, forbidden
    async with db.session() as session:
        secret = await session.execute(
            select(col(BillingSettings.link_secret)).where(
                col(BillingSettings.environment_pk) == tenant.environments["development"]
            )
        )
        link_secret = secret.scalar_one()
    assert link_secret not in text
    rotated = [
        e
        for e in everything
        if e["entityType"] == "BILLING_SETTINGS"
        and (e["after"] or {}).get("linkSecret") == audit.ROTATED
    ]
    assert rotated and rotated[0]["before"]["linkSecret"] == audit.SECRET


async def test_writes_outside_an_audit_transaction_are_refused(
    db: Database, tenant: Tenant
) -> None:
    env = tenant.environments["development"]
    with pytest.raises(UnauditedWrite):
        async with db.transaction() as session:
            session.add(
                Feature(environment_pk=env, id=f"f{uuid.uuid4().hex[:6]}", name="x", type="BOOLEAN")
            )
    with pytest.raises(UnauditedWrite):
        async with db.transaction() as session:
            await session.execute(
                update(Feature).where(col(Feature.environment_pk) == env).values(name="y")
            )
    # With an actor, a bulk statement still needs its entries (record_object).
    with pytest.raises(UnauditedWrite, match="features"):
        async with audit.transaction(db, AuditActor.cli("tests")) as session:
            await session.execute(
                update(Feature).where(col(Feature.environment_pk) == env).values(name="y")
            )
    async with audit.transaction(db, AuditActor.cli("tests")) as session:
        session.add(Feature(environment_pk=env, id="guarded", name="x", type="BOOLEAN"))
