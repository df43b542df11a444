"""Console users over real HTTP: logging in and out, the session cookie, CSRF, expiry, the
login rate limit, and /graphql with a session (issue 13, users and sessions).

The app here runs on a FrozenClock (sessions expire when the test moves it) and a monotonic
clock of its own for the rate limits; tenants come from the ordinary fixtures."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie

import httpx
import pytest
from starlette.applications import Starlette

from app.auth import UserRole
from app.clock import FrozenClock
from app.db import Database
from app.domain import audit
from app.domain import users as domain
from app.domain.audit import AuditActor
from app.main import create_app
from app.settings import Settings
from app.store import users as store
from app.workers.jobs import prune_sessions
from tests.support import (
    TEST_PASSWORD,
    GraphQLClient,
    Tenant,
    Ticks,
    form_csrf,
    log_in,
    make_tenant,
    make_user,
    running,
)

FEATURE = """mutation($i: CreateFeatureInput!) { createFeature(input: $i) {
  feature { id } errors { code message field } } }"""
ENVIRONMENT = "{ environment { id slug } }"


@pytest.fixture(scope="module")
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC))


@pytest.fixture(scope="module")
async def console_app(
    database_url: str, clock: FrozenClock, ticks: Ticks
) -> AsyncIterator[Starlette]:
    application = create_app(database_url, Settings(), clock=clock, ticks=ticks)
    async with running(application):
        yield application


@asynccontextmanager
async def browser(
    application: Starlette, address: str = "127.0.0.1", base_url: str = "http://allot.test"
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client with its own cookie jar and client address, as a browser."""
    transport = httpx.ASGITransport(app=application, client=(address, 50_000))
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


def _address() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250}"


async def _submit(
    client: httpx.AsyncClient, email: str, password: str, next_path: str | None = None
) -> httpx.Response:
    csrf, cookie = await form_csrf(client)
    data = {"email": email, "password": password, "csrf": csrf}
    if next_path is not None:
        data["next"] = next_path
    return await client.post("/console/login", data=data, headers={"Cookie": cookie})


def _set_cookie(response: httpx.Response, name: str) -> SimpleCookie:
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if name in cookie:
            return cookie
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers}")


async def test_login_sets_a_strict_http_only_session_cookie_and_the_session_answers(
    console_app: Starlette, db: Database, tenant: Tenant
) -> None:
    email = await make_user(db, tenant.account_pk, name="Ada Admin")
    async with browser(console_app, _address()) as client:
        page = await client.get("/console/login")
        assert page.status_code == 200
        assert "<form" in page.text and "<script" not in page.text
        response = await _submit(client, email.upper(), TEST_PASSWORD)  # emails: any case
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/console"
        cookie = _set_cookie(response, "allot_session")["allot_session"]
        assert cookie["httponly"] is True
        assert cookie["samesite"].lower() == "strict"
        assert cookie["path"] == "/"
        assert not cookie["secure"]  # plain http; https below
        token = cookie.value
        info = await client.get("/console/session", headers={"Cookie": f"allot_session={token}"})
    assert info.status_code == 200
    body = info.json()
    assert set(body) == {"user", "csrfToken", "account", "environments"}
    assert body["user"]["email"] == email and body["user"]["name"] == "Ada Admin"
    assert body["user"]["role"] == "admin"
    assert body["account"] == {"id": str(tenant.account_pk), "name": "test"}
    assert [e["slug"] for e in body["environments"]] == ["development", "production"]
    assert body["environments"][0]["id"] == str(tenant.environments["development"])
    assert "password" not in info.text and "argon2" not in info.text


async def test_the_cookie_is_secure_over_https_and_next_stays_on_the_site(
    console_app: Starlette, db: Database, tenant: Tenant
) -> None:
    email = await make_user(db, tenant.account_pk)
    async with browser(console_app, _address(), base_url="https://allot.test") as client:
        response = await _submit(client, email, TEST_PASSWORD, next_path="/console/customers/42")
        assert response.status_code == 303
        assert response.headers["location"] == "/console/customers/42"
        assert _set_cookie(response, "allot_session")["allot_session"]["secure"] is True
        for evil in (
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "javascript:x",
        ):
            response = await _submit(client, email, TEST_PASSWORD, next_path=evil)
            assert response.headers["location"] == "/console", evil


async def test_wrong_password_unknown_email_and_disabled_user_get_the_same_answer(
    console_app: Starlette, db: Database, tenant: Tenant
) -> None:
    email = await make_user(db, tenant.account_pk, role=UserRole.MEMBER)
    disabled = await make_user(db, tenant.account_pk, role=UserRole.MEMBER)
    async with audit.transaction(db, AuditActor.cli("tests")) as session:
        user = await store.find_user_by_email(session, tenant.account_pk, disabled)
        assert user is not None
        await domain.disable_user(session, tenant.account_pk, user.pk, datetime.now(UTC))
    answers = []
    for login, password in (
        (email, "not the password"),
        ("nobody@example.com", TEST_PASSWORD),
        (disabled, TEST_PASSWORD),
    ):
        async with browser(console_app, _address()) as client:
            response = await _submit(client, login, password)
        assert response.status_code == 401
        assert "allot_session" not in response.headers.get("set-cookie", "")
        assert "Email or password is incorrect." in response.text
        answers.append(response.text.replace(login, "EMAIL").split("name=csrf")[0])
    assert len(set(answers)) == 1


async def test_failed_logins_are_rate_limited_per_email_and_per_address(
    console_app: Starlette, db: Database, tenant: Tenant, ticks: Ticks
) -> None:
    email = await make_user(db, tenant.account_pk)
    # Per email: five failures from five addresses, then even the right password waits.
    for _ in range(5):
        async with browser(console_app, _address()) as client:
            assert (await _submit(client, email, "wrong password!")).status_code == 401
    async with browser(console_app, _address()) as client:
        refused = await _submit(client, email, TEST_PASSWORD)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "Too many failed logins" in refused.text and "<form" in refused.text
    assert "allot_session" not in refused.headers.get("set-cookie", "")
    ticks.advance(300)
    async with browser(console_app, _address()) as client:
        assert (await _submit(client, email, TEST_PASSWORD)).status_code == 303
    # Per address: five failures for five emails, then the address waits.
    address = _address()
    async with browser(console_app, address) as client:
        for n in range(5):
            response = await _submit(
                client, f"guess{n}-{uuid.uuid4().hex[:6]}@x.test", "pw-pw-pw-pw"
            )
            assert response.status_code == 401
        other = await make_user(db, tenant.account_pk)
        assert (await _submit(client, other, TEST_PASSWORD)).status_code == 429
    ticks.advance(300)


async def test_a_login_without_the_forms_csrf_cookie_is_refused(
    console_app: Starlette, db: Database, tenant: Tenant
) -> None:
    email = await make_user(db, tenant.account_pk)
    async with browser(console_app, _address()) as client:
        csrf, _ = await form_csrf(client)
        response = await client.post(
            "/console/login", data={"email": email, "password": TEST_PASSWORD, "csrf": csrf}
        )
        assert response.status_code == 403
        assert "allot_session" not in response.headers.get("set-cookie", "")
        garbage = await client.post(
            "/console/login", content=b"\xff\xfe", headers={"Content-Type": "text/plain"}
        )
        assert garbage.status_code == 400


async def test_graphql_with_a_session_needs_the_csrf_token_and_changes_nothing_without(
    console_app: Starlette, db: Database, tenant: Tenant, gql: GraphQLClient
) -> None:
    email = await make_user(db, tenant.account_pk, role=UserRole.MEMBER)
    async with browser(console_app, _address()) as client:
        user = await log_in(client, email)
        for bad in (user.with_csrf(None), user.with_csrf("not-the-token")):
            response = await bad.post(FEATURE, {"i": {"id": "via-no-csrf", "type": "BOOLEAN"}})
            assert response.status_code == 403
            body = response.json()
            assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
            assert "data" not in body
        data = await gql.execute('{ feature(id: "via-no-csrf") { id } }')
        assert data["feature"] is None
        # With the token: the change is made, in the account's first environment.
        payload = await user.mutate(FEATURE, {"i": {"id": "via-session", "type": "BOOLEAN"}})
        assert payload["errors"] == []
        assert (await user.execute(ENVIRONMENT))["environment"]["slug"] == "development"
    assert (await gql.execute('{ feature(id: "via-session") { id } }'))["feature"] is not None


async def test_the_environment_header_picks_an_environment_of_the_account_only(
    console_app: Starlette, db: Database, tenant: Tenant
) -> None:
    other = await make_tenant(db, "other")
    email = await make_user(db, tenant.account_pk)
    async with browser(console_app, _address()) as client:
        user = await log_in(client, email)
        production = str(tenant.environments["production"])
        for ref in ("production", production):
            data = await user.in_environment(ref).execute(ENVIRONMENT)
            assert data["environment"] == {"id": production, "slug": "production"}
        answers = []
        for ref in (str(other.environments["development"]), str(uuid.uuid4()), "staging"):
            response = await user.in_environment(ref).post(ENVIRONMENT)
            assert response.status_code == 404
            (error,) = response.json()["errors"]
            assert error["extensions"]["code"] == "ENVIRONMENT_NOT_FOUND"
            answers.append(error["message"])
        assert len(set(answers)) == 1 and str(other.environments["development"]) not in answers[0]


async def test_logout_ends_the_session(
    console_app: Starlette, db: Database, tenant: Tenant
) -> None:
    email = await make_user(db, tenant.account_pk)
    async with browser(console_app, _address()) as client:
        user = await log_in(client, email)
        cookie = {"Cookie": f"allot_session={user.token}"}
        refused = await client.post("/console/logout", headers=cookie)
        assert refused.status_code == 403
        assert (await client.get("/console/session", headers=cookie)).status_code == 200
        response = await client.post(
            "/console/logout", headers={**cookie, "X-CSRF-Token": user.csrf or ""}
        )
        assert response.status_code == 303 and response.headers["location"] == "/console/login"
        assert (
            'allot_session=""' in response.headers["set-cookie"]
            or "Max-Age=0" in response.headers["set-cookie"]
        )
        gone = await client.get("/console/session", headers=cookie)
        assert gone.status_code == 401
        assert gone.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        response = await user.post(ENVIRONMENT)
        assert response.status_code == 401


async def test_sessions_expire_absolutely_and_when_idle(
    console_app: Starlette, db: Database, tenant: Tenant, clock: FrozenClock
) -> None:
    email = await make_user(db, tenant.account_pk)
    async with browser(console_app, _address()) as client:
        # Absolute: the session's expiry moved into the past through the store.
        user = await log_in(client, email)
        pool = await db.pool()
        async with pool.acquire() as conn:
            row = await store.session_for_token(conn, domain.hash_token(user.token))
            assert row is not None
            assert row.expires_at - row.created_at == timedelta(days=7)
            await store.set_session_expiry(conn, row.pk, clock.now(), clock.now())
        cookie = {"Cookie": f"allot_session={user.token}"}
        assert (await client.get("/console/session", headers=cookie)).status_code == 401
        assert (await user.post(ENVIRONMENT)).status_code == 401
        # The job forgets sessions past their expiry (this one was dropped when presented).
        other = await log_in(client, email)
        async with pool.acquire() as conn:
            row = await store.session_for_token(conn, domain.hash_token(other.token))
            assert row is not None
            await store.set_session_expiry(conn, row.pk, clock.now(), clock.now())
        assert await prune_sessions(db, clock) >= 1
        async with pool.acquire() as conn:
            assert await store.session_for_token(conn, domain.hash_token(other.token)) is None
        login = await client.get("/console/login", headers=cookie)
        assert login.status_code == 200 and "<form" in login.text  # back to the login page
        # Idle: used within 12 hours it lives on; 12 hours unused, it is over.
        user = await log_in(client, email)
        clock.advance(timedelta(hours=11))
        assert (await user.post(ENVIRONMENT)).status_code == 200
        clock.advance(timedelta(hours=11))
        assert (await user.post(ENVIRONMENT)).status_code == 200
        clock.advance(timedelta(hours=12, seconds=1))
        assert (await user.post(ENVIRONMENT)).status_code == 401


async def test_a_change_through_a_session_is_audited_under_the_user(
    console_app: Starlette, db: Database, tenant: Tenant, gql: GraphQLClient
) -> None:
    email = await make_user(db, tenant.account_pk, role=UserRole.MEMBER, name="Mia Member")
    async with browser(console_app, _address()) as client:
        user = await log_in(client, email)
        payload = await user.mutate(FEATURE, {"i": {"id": "audited-sso", "type": "BOOLEAN"}})
        assert payload["errors"] == []
        query = """{ auditLog(first: 5, operation: "createFeature") { edges { node {
          actorKind actorKeyId actorUser { id email name } entityId } } } }"""
        for reader in (user, gql):
            (edge,) = (await reader.execute(query))["auditLog"]["edges"]
            node = edge["node"]
            assert node["actorKind"] == "user" and node["actorKeyId"] is None
            assert node["actorUser"]["email"] == email
            assert node["actorUser"]["name"] == "Mia Member"
        by_user = """query($u: ID) { auditLog(first: 5, actorUserId: $u) { edges { node {
          entityId } } } }"""
        mine = await user.execute(by_user, {"u": node["actorUser"]["id"]})
        assert [e["node"]["entityId"] for e in mine["auditLog"]["edges"]] == ["audited-sso"]
        nobody = await user.execute(by_user, {"u": str(uuid.uuid4())})
        assert nobody["auditLog"]["edges"] == []


async def test_members_may_not_manage_keys_or_users_and_admins_may(
    console_app: Starlette, db: Database, tenant: Tenant
) -> None:
    member_email = await make_user(db, tenant.account_pk, role=UserRole.MEMBER)
    admin_email = await make_user(db, tenant.account_pk, role=UserRole.ADMIN)
    create_key = """mutation { createApiKey(input: {kind: CLIENT}) { secret errors { code } } }"""
    invite = """mutation($i: InviteUserInput!) { inviteUser(input: $i) { token link
      invitation { email role invitedBy } errors { code message field } } }"""
    async with browser(console_app, _address()) as client:
        member = await log_in(client, member_email)
        admin = await log_in(client, admin_email)
        for document, variables in (
            (create_key, None),
            ("{ apiKeys { id } }", None),
            ("{ users { id } }", None),
            (invite, {"i": {"email": "new@example.com"}}),
        ):
            response = await member.post(document, variables)
            body = response.json()
            assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
        assert (await admin.mutate(create_key))["secret"].startswith("allot_pk_")
        payload = await admin.mutate(invite, {"i": {"email": "New@Example.com", "role": "ADMIN"}})
        assert payload["errors"] == []
        assert payload["invitation"] == {
            "email": "new@example.com",
            "role": "ADMIN",
            "invitedBy": admin_email,
        }
        assert payload["link"] == f"/console/invite/{payload['token']}"
        users = (await admin.execute("{ users { email role } }"))["users"]
        assert {u["email"] for u in users} == {member_email, admin_email}


async def test_admins_see_and_change_their_account_only(
    console_app: Starlette, db: Database, tenant: Tenant
) -> None:
    other = await make_tenant(db, "other")
    stranger = await make_user(db, other.account_pk, role=UserRole.MEMBER)
    admin_email = await make_user(db, tenant.account_pk)
    async with audit.transaction(db, AuditActor.cli("tests")) as session:
        found = await store.find_user_by_email(session, other.account_pk, stranger)
        assert found is not None
        stranger_id = str(found.pk)
    change = """mutation($i: ChangeUserRoleInput!) { changeUserRole(input: $i) {
      user { id } errors { code field } } }"""
    disable = """mutation($i: DisableUserInput!) { disableUser(input: $i) {
      user { id } errors { code field } } }"""
    async with browser(console_app, _address()) as client:
        admin = await log_in(client, admin_email)
        users = (await admin.execute("{ users { id email } }"))["users"]
        assert [u["email"] for u in users] == [admin_email]
        for document, variables in (
            (change, {"id": stranger_id, "role": "ADMIN"}),
            (disable, {"id": stranger_id}),
            (disable, {"id": "not-a-uuid"}),
        ):
            payload = await admin.mutate(document, {"i": variables})
            assert payload == {"user": None, "errors": [{"code": "NOT_FOUND", "field": ["id"]}]}
        # The last active admin stays one.
        (me,) = users
        payload = await admin.mutate(disable, {"i": {"id": me["id"]}})
        assert payload["errors"][0]["code"] == "INVALID_INPUT"
    async with browser(console_app, _address()) as client:
        await log_in(client, stranger)  # untouched: still a member who can log in


async def test_an_accepted_invitation_logs_in_the_user_it_made_not_a_namesake(
    console_app: Starlette, db: Database, tenant: Tenant, clock: FrozenClock
) -> None:
    """The same email and password in another account, made earlier: accepting the
    invitation starts a session for the new user, in the inviting account."""
    invitee = f"twice-{uuid.uuid4().hex[:6]}@example.com"
    other = await make_tenant(db, "older account")
    async with audit.transaction(db, AuditActor.cli("tests: an older namesake")) as session:
        await domain.create_user(
            session, other.account_pk, invitee, "Namesake", UserRole.MEMBER, TEST_PASSWORD,
            clock.now() - timedelta(days=1),
        )
    admin_email = await make_user(db, tenant.account_pk)
    invite = """mutation($i: InviteUserInput!) { inviteUser(input: $i) { link
      errors { code } } }"""
    async with browser(console_app, _address()) as client:
        admin = await log_in(client, admin_email)
        payload = await admin.mutate(invite, {"i": {"email": invitee, "name": "Twin"}})
        assert payload["errors"] == []
        link = payload["link"]
        csrf, cookie = await form_csrf(client, link)
        accepted = await client.post(
            link,
            data={"csrf": csrf, "name": "Twin", "password": TEST_PASSWORD},
            headers={"Cookie": cookie},
        )
        assert accepted.status_code == 303, accepted.text
        token = _set_cookie(accepted, "allot_session")["allot_session"].value
        client.cookies.clear()
        info = await client.get("/console/session", headers={"Cookie": f"allot_session={token}"})
        assert info.json()["account"]["id"] == str(tenant.account_pk)
        assert info.json()["user"]["email"] == invitee


async def test_an_invitation_link_sets_name_and_password_once_and_logs_in(
    console_app: Starlette, db: Database, tenant: Tenant, gql: GraphQLClient
) -> None:
    admin_email = await make_user(db, tenant.account_pk)
    invite = """mutation($i: InviteUserInput!) { inviteUser(input: $i) { token link
      errors { code field } } }"""
    invitee = f"joiner-{uuid.uuid4().hex[:6]}@example.com"
    async with browser(console_app, _address()) as client:
        admin = await log_in(client, admin_email)
        payload = await admin.mutate(invite, {"i": {"email": invitee, "name": "Jo"}})
        assert payload["errors"] == []
        link = payload["link"]
        again = await admin.mutate(invite, {"i": {"email": admin_email}})
        assert again["errors"] == [{"code": "DUPLICATE_ID", "field": ["email"]}]
        page = await client.get(link)
        assert page.status_code == 200 and invitee in page.text and 'value="Jo"' in page.text
        csrf, cookie = await form_csrf(client, link)
        short = await client.post(
            link, data={"csrf": csrf, "name": "Jo", "password": "short"}, headers={"Cookie": cookie}
        )
        assert short.status_code == 400 and "at least 10 characters" in short.text
        no_csrf = await client.post(link, data={"name": "Jo", "password": TEST_PASSWORD})
        assert no_csrf.status_code == 403
        accepted = await client.post(
            link,
            data={"csrf": csrf, "name": "Jo Joiner", "password": TEST_PASSWORD},
            headers={"Cookie": cookie},
        )
        assert accepted.status_code == 303 and accepted.headers["location"] == "/console"
        token = _set_cookie(accepted, "allot_session")["allot_session"].value
        client.cookies.clear()
        info = await client.get("/console/session", headers={"Cookie": f"allot_session={token}"})
        assert info.json()["user"] == {
            "id": info.json()["user"]["id"],
            "email": invitee,
            "name": "Jo Joiner",
            "role": "member",
        }
        used = await client.get(link)
        assert used.status_code == 404
        reused = await client.post(
            link,
            data={"csrf": csrf, "name": "X", "password": TEST_PASSWORD},
            headers={"Cookie": cookie},
        )
        assert reused.status_code == 404
        assert (await client.get("/console/invite/made-up-token")).status_code == 404
    log = """{ auditLog(first: 10, entityType: "USER_INVITATION") { edges { node {
      operation action actorKind actorUser { email } before after } } } }"""
    entries = [e["node"] for e in (await gql.execute(log))["auditLog"]["edges"]]
    ops = [(e["operation"], e["action"]) for e in entries]
    assert ("inviteUser", "CREATE") in ops and ("acceptInvitation", "UPDATE") in ops
    created = next(e for e in entries if e["operation"] == "inviteUser")
    assert created["actorUser"] == {"email": admin_email}
    assert created["after"]["invitedBy"] == admin_email
    assert payload["token"] not in str(entries)


async def test_disabling_a_user_ends_their_sessions_and_a_role_change_applies_at_once(
    console_app: Starlette, db: Database, tenant: Tenant
) -> None:
    admin_email = await make_user(db, tenant.account_pk)
    member_email = await make_user(db, tenant.account_pk, role=UserRole.MEMBER)
    change = """mutation($i: ChangeUserRoleInput!) { changeUserRole(input: $i) {
      user { role } errors { code } } }"""
    disable = """mutation($i: DisableUserInput!) { disableUser(input: $i) {
      user { disabledAt } errors { code } } }"""
    async with browser(console_app, _address()) as client:
        admin = await log_in(client, admin_email)
        member = await log_in(client, member_email)
        users = (await admin.execute("{ users { id email } }"))["users"]
        member_id = next(u["id"] for u in users if u["email"] == member_email)
        assert (await member.post("{ apiKeys { id } }")).json()["errors"][0]["extensions"][
            "code"
        ] == "FORBIDDEN"
        payload = await admin.mutate(change, {"i": {"id": member_id, "role": "ADMIN"}})
        assert payload == {"user": {"role": "ADMIN"}, "errors": []}
        assert "apiKeys" in await member.execute("{ apiKeys { id } }")  # the next request
        payload = await admin.mutate(disable, {"i": {"id": member_id}})
        assert payload["errors"] == [] and payload["user"]["disabledAt"]
        assert (await member.post(ENVIRONMENT)).status_code == 401
        cookie = {"Cookie": f"allot_session={member.token}"}
        assert (await client.get("/console/session", headers=cookie)).status_code == 401


async def test_a_user_changes_their_own_password_and_their_other_sessions_end(
    console_app: Starlette, db: Database, tenant: Tenant, gql: GraphQLClient
) -> None:
    email = await make_user(db, tenant.account_pk, role=UserRole.MEMBER)
    change = """mutation($i: ChangePasswordInput!) { changePassword(input: $i) {
      user { email passwordChangedAt } errors { code field message } } }"""
    new = "my brand new password"
    async with browser(console_app, _address()) as client:
        here = await log_in(client, email)
        elsewhere = await log_in(client, email)
        wrong = await here.mutate(change, {"i": {"currentPassword": "nope", "newPassword": new}})
        assert wrong == {
            "user": None,
            "errors": [
                {
                    "code": "INVALID_INPUT",
                    "field": ["currentPassword"],
                    "message": "the current password is not right",
                }
            ],
        }
        short = await here.mutate(
            change, {"i": {"currentPassword": TEST_PASSWORD, "newPassword": "short"}}
        )
        assert [(e["code"], e["field"]) for e in short["errors"]] == [
            ("INVALID_INPUT", ["newPassword"])
        ]
        assert (await elsewhere.post(ENVIRONMENT)).status_code == 200  # nothing changed yet
        done = await here.mutate(
            change, {"i": {"currentPassword": TEST_PASSWORD, "newPassword": new}}
        )
        assert done["errors"] == [] and done["user"]["passwordChangedAt"]
        assert (await here.post(ENVIRONMENT)).status_code == 200  # this session goes on
        assert (await elsewhere.post(ENVIRONMENT)).status_code == 401  # the others end
        assert (await _submit(client, email, TEST_PASSWORD)).status_code == 401
        assert (await _submit(client, email, new)).status_code == 303
    # Wrong current passwords are limited as failed logins are (one was spent above).
    async with browser(console_app, _address()) as client:
        here = await log_in(client, email, new)
        wrong_again = {"i": {"currentPassword": "nope", "newPassword": "another long one"}}
        for _ in range(4):
            payload = await here.mutate(change, wrong_again)
            assert payload["errors"][0]["message"] == "the current password is not right"
        right = {"i": {"currentPassword": new, "newPassword": "yet another password"}}
        payload = await here.mutate(change, right)
        assert payload["errors"][0]["message"].startswith("too many wrong passwords")
    keys = await gql.post(change, {"i": {"currentPassword": "x", "newPassword": new}})
    assert keys.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    entries = await gql.execute(
        '{ auditLog(first: 3, operation: "changePassword") { edges { node { before after } } } }'
    )
    text = str(entries)
    assert "passwordChangedAt" in text and "argon2" not in text and new not in text


async def test_password_hashing_does_not_hold_the_event_loop(
    console_app: Starlette, db: Database, tenant: Tenant
) -> None:
    """Argon2 costs ~0.1-0.2 s of CPU by design: it runs on a worker thread, so the event loop
    (every other request) is not held while a login is checked."""
    email = await make_user(db, tenant.account_pk)
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = loop.time()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = loop.time()
            gaps.append(now - last)
            last = now

    async with browser(console_app, _address()) as client:
        csrf, cookie = await form_csrf(client)
        ticking = asyncio.create_task(ticker())
        started = loop.time()
        for _ in range(3):
            response = await client.post(
                "/console/login",
                data={"email": email, "password": TEST_PASSWORD, "csrf": csrf},
                headers={"Cookie": cookie},
            )
            assert response.status_code == 303
        took = loop.time() - started
        done.set()
        await ticking
    # Three logins take three hashes' time, but the loop never waited anything like one.
    assert max(gaps) < took / 6, (max(gaps), took)


async def test_logins_at_once_cannot_all_pass_the_limit_before_their_failures_count(
    console_app: Starlette, db: Database, tenant: Tenant, ticks: Ticks
) -> None:
    email = await make_user(db, tenant.account_pk)

    async def attempt() -> int:
        async with browser(console_app, _address()) as client:
            return (await _submit(client, email, "wrong password!")).status_code

    statuses = await asyncio.gather(*(attempt() for _ in range(10)))
    assert sorted(statuses) == [401] * 5 + [429] * 5
    ticks.advance(300)
    # Successful logins give their token back: they never use the failures up.
    for _ in range(8):
        async with browser(console_app, _address()) as client:
            assert (await _submit(client, email, TEST_PASSWORD)).status_code == 303
