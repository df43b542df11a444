"""`allot users create|list|disable`, and the first start's admin login (printed once)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable

import pytest

from app.cli.serve import prepare_database
from app.db import Database
from app.main import create_app
from app.settings import ConfigError, Settings
from app.store.migrate import upgrade
from tests.e2e.process import ROOT, allot_command, run_allot
from tests.support import client_of, form_csrf, running


def ok(args: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    result = subprocess.run(
        allot_command(*args), env=env, cwd=ROOT, capture_output=True, text=True,
        input=stdin if stdin is not None else "", timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result
    assert "Traceback" not in result.stderr
    return result.stdout


def refused(args: list[str], env: dict[str, str], message: str, stdin: str = "") -> None:
    result = subprocess.run(
        allot_command(*args), env=env, cwd=ROOT, capture_output=True, text=True, input=stdin,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result
    assert result.stderr.startswith("allot: error: ") and message in result.stderr, result
    assert "Traceback" not in result.stderr


async def log_in_status(database_url: str, email: str, password: str) -> int:
    """The status of POST /console/login (303: logged in) against an app on the database."""
    application = create_app(database_url, Settings())
    async with running(application), client_of(application) as http:
        csrf, cookie = await form_csrf(http)
        response = await http.post(
            "/console/login",
            data={"email": email, "password": password, "csrf": csrf},
            headers={"Cookie": cookie},
        )
    return response.status_code


def test_users_create_list_disable(fresh_env: Callable[[], dict[str, str]]) -> None:
    env = fresh_env()
    assert run_allot(["migrate"], env).returncode == 0
    assert ok(["users", "list"], env).split() == [
        "EMAIL",
        "ROLE",
        "STATUS",
        "LAST",
        "LOGIN",
        "NAME",
    ]

    out = ok(
        ["users", "create", "--email", "Ann@Example.com", "--name", "Ann", "--role", "admin"], env
    )
    lines = out.strip().splitlines()
    assert lines[0] == "Created admin user ann@example.com."
    password = lines[-1]
    assert len(password) >= 16 and " " not in password
    out = ok(
        ["users", "create", "--email", "bob@example.com", "--password-stdin"],
        env,
        stdin="a long enough password\n",
    )
    assert out == "Created member user bob@example.com.\n"  # nothing secret printed
    refused(["users", "create", "--email", "ANN@example.com"], env, "DUPLICATE_ID")
    refused(
        ["users", "create", "--email", "carl@example.com", "--password-stdin"],
        env,
        "INVALID_INPUT",
        stdin="short\n",
    )
    refused(["users", "create", "--email", "not an email"], env, "INVALID_INPUT")

    url = env["DATABASE_URL"]
    assert asyncio.run(log_in_status(url, "ann@example.com", password)) == 303
    assert asyncio.run(log_in_status(url, "bob@example.com", "a long enough password")) == 303

    listed = json.loads(ok(["users", "list", "--json"], env))
    assert [(u["email"], u["role"], u["disabledAt"]) for u in listed] == [
        ("ann@example.com", "admin", None),
        ("bob@example.com", "member", None),
    ]
    assert listed[0]["lastLoginAt"] is not None
    text = json.dumps(listed)
    assert "password" not in text and "argon2" not in text

    assert ok(["users", "disable", "Bob@example.com"], env) == "Disabled user bob@example.com.\n"
    assert asyncio.run(log_in_status(url, "bob@example.com", "a long enough password")) == 401
    table = ok(["users", "list"], env).splitlines()
    assert "disabled" in table[2] and "bob@example.com" in table[2]
    refused(["users", "disable", "nobody@example.com"], env, "no user")
    refused(["users", "disable", "ann@example.com"], env, "last active admin")
    # A new password for a user who forgot theirs: printed once, the old one stops working.
    out = ok(["users", "set-password", "ANN@example.com"], env)
    assert out.startswith("Set a new password for ann@example.com.\n")
    new_password = out.strip().splitlines()[-1]
    assert new_password != password
    assert asyncio.run(log_in_status(url, "ann@example.com", password)) == 401
    assert asyncio.run(log_in_status(url, "ann@example.com", new_password)) == 303
    refused(["users", "set-password", "ann@example.com", "--password-stdin"], env, "INVALID_INPUT")
    # Environments name the account: the installation's only one here.
    assert len(json.loads(ok(["users", "list", "-e", "production", "--json"], env))) == 2
    refused(["users", "list", "-e", "staging"], env, "no environment named")


@pytest.mark.parametrize("configured", [None, "ops@example.com"])
async def test_the_first_start_prints_the_admin_login_once(
    fresh_url: str, capsys: pytest.CaptureFixture[str], configured: str | None
) -> None:
    await asyncio.to_thread(upgrade, fresh_url)
    settings = Settings(admin_email=configured) if configured else Settings()
    email = configured or "admin@localhost"
    db = Database(fresh_url)
    try:
        await prepare_database(db, False, "http://127.0.0.1:8000", settings)
        first = capsys.readouterr().out
        await prepare_database(db, False, "http://127.0.0.1:8000", settings)
        second = capsys.readouterr().out
    finally:
        await db.close()
    assert "server key  allot_sk_" in first
    assert "Console admin login at http://127.0.0.1:8000/console/login" in first
    assert f"  email     {email}" in first
    (line,) = [line for line in first.splitlines() if line.startswith("  password  ")]
    password = line.split()[-1]
    assert second == ""  # the second start prints no key and no password
    assert await log_in_status(fresh_url, email, password) == 303
    assert await log_in_status(fresh_url, email, password + "x") == 401


async def test_serve_after_migrate_prints_the_admin_alone(
    fresh_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli.bootstrap import bootstrap_if_empty

    await asyncio.to_thread(upgrade, fresh_url)
    db = Database(fresh_url)
    try:
        assert await bootstrap_if_empty(db, with_keys=False) is not None  # as `allot migrate`
        await prepare_database(db, False, "http://localhost:8000")
        out = capsys.readouterr().out
    finally:
        await db.close()
    assert "allot_sk_" not in out
    assert "email     admin@localhost" in out and "  password  " in out


def test_console_settings_are_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOT_SESSION_DAYS", "1.5")
    monkeypatch.setenv("ALLOT_SESSION_IDLE_HOURS", "2")
    monkeypatch.setenv("ALLOT_SECURE_COOKIES", "true")
    monkeypatch.setenv("ALLOT_LOGIN_FAILURES", "3")
    monkeypatch.setenv("ALLOT_LOGIN_FAILURE_WINDOW", "60")
    monkeypatch.setenv("ALLOT_INVITATION_DAYS", "2")
    monkeypatch.setenv("ALLOT_ADMIN_EMAIL", "Ops@Example.com")
    settings = Settings.from_env()
    assert (settings.session_days, settings.session_idle_hours) == (1.5, 2.0)
    assert settings.secure_cookies is True
    assert (settings.login_failures, settings.login_failure_window) == (3, 60.0)
    assert settings.invitation_days == 2.0 and settings.admin_email == "ops@example.com"
    for variable, value in (
        ("ALLOT_SESSION_DAYS", "0"),
        ("ALLOT_SESSION_IDLE_HOURS", "-1"),
        ("ALLOT_LOGIN_FAILURES", "0"),
        ("ALLOT_ADMIN_EMAIL", "not an email"),
    ):
        with monkeypatch.context() as patch:
            patch.setenv(variable, value)
            with pytest.raises(ConfigError, match=variable):
                Settings.from_env()
