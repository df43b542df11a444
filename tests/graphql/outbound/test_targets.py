"""The webhook target policy: internal addresses are refused in every spelling, at create and
update (WEBHOOK_TARGET_NOT_ALLOWED) and at each delivery after DNS; the worker connects to the
address it checked and never follows a redirect; operators relax it for intranet installs."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.clock import FrozenClock
from app.db import Database
from app.domain.outbound.targets import (
    IPAddress,
    MalformedTarget,
    TargetPolicy,
    TargetRefused,
    check_url,
)
from app.main import create_app
from app.settings import Settings
from app.workers.webhook_pinning import pin
from tests.graphql.outbound.conftest import (
    LOOPBACK_ALLOWED,
    Worker,
    create_endpoint,
    deliveries,
    emit_committed,
)
from tests.graphql.outbound.receiver import Receiver
from tests.support import GraphQLClient, Tenant

UPDATE = """mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) {
  endpoint { url } errors { code field message } } }"""
CREATE = """mutation($u: String!) { createWebhookEndpoint(input: {url: $u}) {
  endpoint { id } secret errors { code field message } } }"""
REPLAY = """mutation($d: String!) { replayWebhookDelivery(input: {deliveryId: $d}) {
  delivery { status } errors { code field message } } }"""

# Every one of these reached a service on the machine, its network or the cloud metadata API.
REFUSED = [
    "http://127.0.0.1/hooks",
    "http://127.1/hooks",
    "http://2130706433/hooks",
    "http://0x7f000001/hooks",
    "http://0x7f.1/hooks",
    "http://0177.0.0.1/hooks",
    "http://127.0.0.1./hooks",
    "http://[::1]/hooks",
    "http://[::ffff:127.0.0.1]/hooks",
    "http://[::ffff:7f00:1]/hooks",
    "http://[64:ff9b::7f00:1]/hooks",
    "http://[2002:7f00:1::]/hooks",
    "http://localhost:8000/hooks",
    "http://LocalHost./hooks",
    "http://api.localhost/hooks",
    "http://" + "".join(chr(ord(c) + 0xFEE0) for c in "localhost") + "/hooks",
    "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/hooks"  # fullwidth digits,
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1%25eth0]/hooks",
    "http://10.0.0.1/hooks",
    "http://172.16.5.4/hooks",
    "http://192.168.1.1/hooks",
    "http://100.64.0.1/hooks",
    "http://[fd00::1]/hooks",
    "http://[fc00::1]/hooks",
    "http://224.0.0.1/hooks",
    "http://[ff02::1]/hooks",
    "http://0.0.0.0/hooks",
    "http://0/hooks",
    "http://[::]/hooks",
    "http://255.255.255.255/hooks",
    "https://user:password@hooks.example.com/hooks",
    "https://token@hooks.example.com/hooks",
]
ACCEPTED = [
    "https://hooks.example.com/allot",
    "https://hooks.example.com./allot",
    "http://93.184.215.14:8080/allot",
    "https://[2606:4700:4700::1111]/allot",
    "https://bücher.example/allot",
]


@pytest.mark.parametrize("url", REFUSED)
def test_internal_targets_are_refused_in_every_spelling(url: str) -> None:
    with pytest.raises(TargetRefused):
        check_url(url, TargetPolicy())


@pytest.mark.parametrize("url", ACCEPTED)
def test_public_targets_are_accepted(url: str) -> None:
    check_url(url, TargetPolicy())


@pytest.mark.parametrize("url", ["http://256.1/x", "http://1.2.3.4.5/x", "http://a%2eb/x"])
def test_hosts_that_are_no_address_and_no_name_are_malformed(url: str) -> None:
    with pytest.raises(MalformedTarget):
        check_url(url, TargetPolicy())


def test_allow_private_opens_private_ranges_only() -> None:
    policy = TargetPolicy.of(True, [])
    check_url("http://10.1.2.3/x", policy)
    check_url("http://[fd12::1]/x", policy)
    check_url("http://192.168.0.10/x", policy)
    for url in ("http://127.0.0.1/x", "http://169.254.169.254/x", "http://localhost/x"):
        with pytest.raises(TargetRefused):
            check_url(url, policy)


def test_allowed_cidrs_open_exactly_the_listed_networks() -> None:
    policy = TargetPolicy.of(False, ["10.20.0.0/16", "::1/128"])
    check_url("http://10.20.3.4/x", policy)
    check_url("http://[::1]/x", policy)
    for url in ("http://10.21.0.1/x", "http://127.0.0.1/x", "http://169.254.169.254/x"):
        with pytest.raises(TargetRefused):
            check_url(url, policy)


def test_settings_read_the_policy_and_name_a_bad_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOT_WEBHOOK_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("ALLOT_WEBHOOK_ALLOWED_CIDRS", "127.0.0.0/8, ::1/128")
    settings = Settings.from_env()
    assert settings.webhook_allow_private is True
    assert settings.webhook_allowed_cidrs == ("127.0.0.0/8", "::1/128")
    monkeypatch.setenv("ALLOT_WEBHOOK_ALLOWED_CIDRS", "10.0.0.0/8,intranet")
    with pytest.raises(ValueError, match="ALLOT_WEBHOOK_ALLOWED_CIDRS"):
        Settings.from_env()
    monkeypatch.setenv("ALLOT_WEBHOOK_ALLOWED_CIDRS", "")
    monkeypatch.setenv("ALLOT_WEBHOOK_ALLOW_PRIVATE", "maybe")
    with pytest.raises(ValueError, match="ALLOT_WEBHOOK_ALLOW_PRIVATE"):
        Settings.from_env()


# --- through the API, with the default (strict) policy ----------------------------------------


@pytest.fixture(scope="module")
async def strict_app(database_url: str) -> AsyncIterator[Starlette]:
    application = create_app(database_url, Settings())
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def strict(strict_app: Starlette, tenant: Tenant) -> AsyncIterator[GraphQLClient]:
    transport = httpx.ASGITransport(app=strict_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://allot.test") as http:
        yield GraphQLClient(http, tenant.server_key)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/h",
        "http://2130706433/h",
        "http://0x7f000001/h",
        "http://[::1]/h",
        "http://localhost/h",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.8/h",
        "http://[fd00::8]/h",
        "https://u:p@hooks.example.com/h",
    ],
)
async def test_create_refuses_internal_targets(strict: GraphQLClient, url: str) -> None:
    payload = await strict.mutate(CREATE, {"u": url})
    assert payload["endpoint"] is None and payload["secret"] is None
    (error,) = payload["errors"]
    assert error["code"] == "WEBHOOK_TARGET_NOT_ALLOWED" and error["field"] == ["url"], error
    assert (await strict.execute("{ webhookEndpoints { totalCount } }")) == {
        "webhookEndpoints": {"totalCount": 0}
    }


async def test_update_refuses_internal_targets(strict: GraphQLClient) -> None:
    payload = await strict.mutate(CREATE, {"u": "https://hooks.example.com/h"})
    assert payload["errors"] == []
    endpoint_id = payload["endpoint"]["id"]
    refused = await strict.mutate(
        UPDATE, {"i": {"endpointId": endpoint_id, "url": "http://127.1/"}}
    )
    assert [e["code"] for e in refused["errors"]] == ["WEBHOOK_TARGET_NOT_ALLOWED"]
    data = await strict.execute(
        "query($id: String!) { webhookEndpoint(id: $id) { url } }", {"id": endpoint_id}
    )
    assert data["webhookEndpoint"]["url"] == "https://hooks.example.com/h"


async def test_a_malformed_numeric_host_is_invalid_input(strict: GraphQLClient) -> None:
    payload = await strict.mutate(CREATE, {"u": "http://256.1/h"})
    assert [e["code"] for e in payload["errors"]] == ["INVALID_INPUT"]


# --- at delivery -------------------------------------------------------------------------------


class Resolver:
    """A DNS stand-in: answers `names` and counts the lookups."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names
        self.lookups: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append((host, port))
        return [ipaddress.ip_address(a) for a in self.names[host]]


async def _queue_one(
    gql: GraphQLClient, db: Database, tenant: Tenant, clock: FrozenClock, url: str
) -> str:
    endpoint_id, _ = await create_endpoint(gql, url)
    env = tenant.environments["development"]
    await emit_committed(db, env, "entitlements.changed", {"customerId": "c1"}, clock.now())
    return endpoint_id


async def _only_attempt(gql: GraphQLClient) -> dict[str, Any]:
    (delivery,) = await deliveries(gql)
    (attempt,) = delivery["attempts"]
    return attempt


async def test_delivery_refuses_a_stored_internal_url(
    gql: GraphQLClient,
    db: Database,
    tenant: Tenant,
    clock: FrozenClock,
    receiver: Receiver,
    worker: Worker,
) -> None:
    """An endpoint stored while loopback was allowed (or before the policy) is not sent to
    once the worker's policy refuses it: nothing reaches the receiver, nothing is read back."""
    await _queue_one(gql, db, tenant, clock, receiver.url)
    assert await worker.run(policy=TargetPolicy()) == 1
    assert receiver.requests == []
    attempt = await _only_attempt(gql)
    assert attempt["succeeded"] is False and attempt["statusCode"] is None
    assert attempt["responseBody"] is None
    assert attempt["error"].startswith("target not allowed: 127.0.0.1 is loopback")


async def test_delivery_refuses_a_name_that_resolves_to_an_internal_address(
    gql: GraphQLClient,
    db: Database,
    tenant: Tenant,
    clock: FrozenClock,
    receiver: Receiver,
    worker: Worker,
) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    await _queue_one(gql, db, tenant, clock, f"http://hooks.example.com:{port}/hooks")
    dns = Resolver({"hooks.example.com": ["93.184.215.14", "127.0.0.1"]})
    await worker.run(policy=TargetPolicy(), resolve=dns)
    assert receiver.requests == []
    attempt = await _only_attempt(gql)
    assert "hooks.example.com resolves to 127.0.0.1 is loopback" in attempt["error"]


async def test_delivery_refuses_metadata_behind_a_name(
    gql: GraphQLClient,
    db: Database,
    tenant: Tenant,
    clock: FrozenClock,
    worker: Worker,
) -> None:
    await _queue_one(gql, db, tenant, clock, "http://metadata.example.com/latest/meta-data/")
    dns = Resolver({"metadata.example.com": ["169.254.169.254"]})
    await worker.run(policy=TargetPolicy(), resolve=dns)
    assert "169.254.169.254 is link-local" in (await _only_attempt(gql))["error"]


async def test_delivery_connects_to_the_checked_address_with_the_original_host(
    gql: GraphQLClient,
    db: Database,
    tenant: Tenant,
    clock: FrozenClock,
    receiver: Receiver,
    worker: Worker,
) -> None:
    """`receiver.invalid` exists in no DNS: the request can only reach the receiver because
    the worker connects to the address it resolved and checked, once, not to the name."""
    port = receiver.url.split(":")[2].split("/")[0]
    await _queue_one(gql, db, tenant, clock, f"http://receiver.invalid:{port}/hooks")
    dns = Resolver({"receiver.invalid": ["127.0.0.1"]})
    await worker.run(policy=LOOPBACK_ALLOWED, resolve=dns)
    (request,) = receiver.requests
    assert request.headers["host"] == f"receiver.invalid:{port}"
    assert request.path == "/hooks"
    assert dns.lookups == [("receiver.invalid", int(port))]
    assert (await _only_attempt(gql))["succeeded"] is True


async def test_a_redirect_is_not_followed(
    gql: GraphQLClient,
    db: Database,
    tenant: Tenant,
    clock: FrozenClock,
    receiver: Receiver,
    worker: Worker,
) -> None:
    await _queue_one(gql, db, tenant, clock, receiver.url)
    receiver.script((302, "moved"))
    await worker.run()
    assert [r.path for r in receiver.requests] == ["/hooks"]
    attempt = await _only_attempt(gql)
    assert attempt["statusCode"] == 302 and attempt["succeeded"] is False


async def test_replay_refuses_an_endpoint_the_policy_refuses(
    gql: GraphQLClient,
    strict: GraphQLClient,
    db: Database,
    tenant: Tenant,
    clock: FrozenClock,
    receiver: Receiver,
    worker: Worker,
) -> None:
    await _queue_one(gql, db, tenant, clock, receiver.url)
    await worker.run()
    (delivery,) = await deliveries(gql)
    payload = await strict.mutate(REPLAY, {"d": delivery["id"]})
    assert [e["code"] for e in payload["errors"]] == ["WEBHOOK_TARGET_NOT_ALLOWED"]
    assert len(receiver.requests) == 1


async def test_https_keeps_the_name_for_sni_and_the_host_header() -> None:
    dns = Resolver({"hooks.example.com": ["93.184.215.14"]})
    target = await pin("https://hooks.example.com:8443/a?b=1", TargetPolicy(), dns)
    assert str(target.url) == "https://93.184.215.14:8443/a?b=1"
    assert target.host_header == "hooks.example.com:8443"
    assert target.extensions == {"sni_hostname": "hooks.example.com"}
    literal = await pin("https://[2606:4700:4700::1111]/h", TargetPolicy(), dns)
    assert literal.extensions == {} and literal.host_header == "[2606:4700:4700::1111]"
    assert dns.lookups == [("hooks.example.com", 8443)]
