"""Secrets at rest: webhook signing secrets and invoice-link secrets are stored as Fernet
tokens; migration 0011 encrypts what was stored in clear; a process with the wrong key refuses
to start with one line; `allot secrets generate-key` and `allot secrets rotate` work."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet

from app import secrets_at_rest
from app.db import Database
from app.domain import audit
from app.domain.audit import AuditActor
from app.main import create_app
from app.secrets_at_rest import Keyring, SecretKeyError, load_keyring
from app.settings import Settings
from app.store import invoices as invoice_store
from app.store.migrate import alembic_config, upgrade
from tests.support import GraphQLClient, Tenant

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 12, 1, tzinfo=UTC)
# The revision migration 0011 follows (whatever the history is re-chained to).
BEFORE_0011 = str(
    ScriptDirectory.from_config(alembic_config("postgresql://unused/unused"))
    .get_revision("0011")
    .down_revision
)
CREATE = """mutation { createWebhookEndpoint(input: {url: "https://hooks.example.com/h"}) {
  endpoint { id } secret errors { code } } }"""


def _allot(args: list[str], database_url: str, key: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "ALLOT_"))}
    env.update(DATABASE_URL=database_url, ALLOT_SECRET_KEY=key)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _fetch(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def test_webhook_secrets_are_stored_encrypted(
    gql: GraphQLClient, tenant: Tenant, database_url: str
) -> None:
    payload = await gql.mutate(CREATE)
    secret = payload["secret"]
    (row,) = await _fetch(
        database_url,
        "SELECT secret FROM webhook_endpoints WHERE pk = $1",
        uuid.UUID(payload["endpoint"]["id"]),
    )
    stored = row["secret"]
    assert secret.startswith("whsec_") and "whsec_" not in stored and secret not in stored
    assert secrets_at_rest.current().decrypt(stored) == secret


async def test_the_link_secret_is_stored_encrypted(
    db: Database, tenant: Tenant, database_url: str
) -> None:
    env = tenant.environments["development"]
    async with audit.transaction(db, AuditActor.cli("tests: billing settings")) as session:
        settings = await invoice_store.ensure_settings(session, env, NOW)
        secret = settings.link_secret
    async with db.session() as session:
        assert (await invoice_store.link_secrets(session, [env]))[env] == secret
    (row,) = await _fetch(
        database_url, "SELECT link_secret FROM billing_settings WHERE environment_pk = $1", env
    )
    assert row["link_secret"] != secret and len(secret) == 64
    assert secrets_at_rest.current().decrypt(row["link_secret"]) == secret


def test_a_key_is_generated_into_the_data_directory(tmp_path: Path) -> None:
    """The embedded default: no ALLOT_SECRET_KEY, so a key file appears (owner-only) and is
    read again on the next start."""
    settings = Settings(data_dir=tmp_path / "data")
    first = load_keyring(settings)
    key_file = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    Fernet(key_file.read_text().strip().encode())
    again = load_keyring(settings)
    assert again.decrypt(first.encrypt("x")) == "x"


def test_a_malformed_key_names_the_variable() -> None:
    with pytest.raises(SecretKeyError, match="ALLOT_SECRET_KEY"):
        load_keyring(Settings(secret_key="not-a-key"))


# --- a database of its own ---------------------------------------------------------------------




async def _plaintext_rows(url: str) -> uuid.UUID:
    """A tenant with a webhook endpoint and billing settings written as before 0011 (in
    SQL: the models describe the head, whose later columns this schema has not yet)."""
    env = uuid.uuid4()
    conn = await asyncpg.connect(url)
    try:
        account = uuid.uuid4()
        await conn.execute(
            "INSERT INTO accounts (pk, name, created_at) VALUES ($1, 'test', $2)", account, NOW
        )
        await conn.execute(
            "INSERT INTO environments (pk, account_pk, slug, name, created_at) "
            "VALUES ($1, $2, 'development', 'Development', $3)",
            env,
            account,
            NOW,
        )
        await conn.execute(
            "INSERT INTO webhook_endpoints (pk, environment_pk, url, event_types, enabled, "
            "secret, previous_secret, created_at, updated_at) "
            "VALUES ($1, $2, 'https://a.example/h', '[]', true, 'whsec_new', 'whsec_old', $3, $3)",
            uuid.uuid4(),
            env,
            NOW,
        )
        await conn.execute(
            "INSERT INTO billing_settings (environment_pk, company_name, address, email, tax_id, "
            "bank_details, payment_instructions, invoice_prefix, next_invoice_number, "
            "link_secret, updated_at) VALUES ($1, '', '', '', '', '{}', '', 'INV', 1, $2, $3)",
            env,
            "ab" * 32,
            NOW,
        )
    finally:
        await conn.close()
    return env


async def _stored(url: str, env: uuid.UUID) -> tuple[str, str, str]:
    (endpoint,) = await _fetch(
        url, "SELECT secret, previous_secret FROM webhook_endpoints WHERE environment_pk = $1", env
    )
    (billing,) = await _fetch(
        url, "SELECT link_secret FROM billing_settings WHERE environment_pk = $1", env
    )
    return endpoint["secret"], endpoint["previous_secret"], billing["link_secret"]


async def test_migration_0011_encrypts_plaintext_secrets_and_its_downgrade_decrypts(
    fresh_url: str,
) -> None:
    await asyncio.to_thread(upgrade, fresh_url, BEFORE_0011)
    env = await _plaintext_rows(fresh_url)
    await asyncio.to_thread(upgrade, fresh_url)
    keyring = secrets_at_rest.current()
    stored = await _stored(fresh_url, env)
    assert "whsec_" not in "".join(stored)
    assert [keyring.decrypt(s) for s in stored] == ["whsec_new", "whsec_old", "ab" * 32]
    (check,) = await _fetch(fresh_url, "SELECT token FROM secret_key_check")
    assert keyring.matches(check["token"])

    await asyncio.to_thread(command.downgrade, alembic_config(fresh_url), BEFORE_0011)
    assert await _stored(fresh_url, env) == ("whsec_new", "whsec_old", "ab" * 32)


async def test_a_wrong_key_refuses_to_start_with_one_line(fresh_url: str) -> None:
    await asyncio.to_thread(upgrade, fresh_url)
    wrong = secrets_at_rest.generate_key()
    done = await asyncio.to_thread(_allot, ["migrate"], fresh_url, wrong)
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("allot: error:")]
    assert len(lines) == 1, done.stderr
    assert "ALLOT_SECRET_KEY" in lines[0] and "does not match" in lines[0], done.stderr
    assert "Traceback" not in done.stderr

    app = create_app(fresh_url, Settings(secret_key=wrong))
    previous = secrets_at_rest.install(None)
    try:
        with pytest.raises(SecretKeyError, match="does not match"):
            async with app.router.lifespan_context(app):
                pass
    finally:
        secrets_at_rest.install(previous)


async def test_generate_key_then_rotate(fresh_url: str) -> None:
    await asyncio.to_thread(upgrade, fresh_url)
    env = await _plaintext_rows(fresh_url)  # written in clear after 0011: encrypt them now
    old = os.environ["ALLOT_SECRET_KEY"]
    conn = await asyncpg.connect(fresh_url)
    try:
        keyring = Keyring.parse(old, "test")
        for column in ("secret", "previous_secret"):
            value = await conn.fetchval(f"SELECT {column} FROM webhook_endpoints")
            await conn.execute(
                f"UPDATE webhook_endpoints SET {column} = $1", keyring.encrypt(value)
            )
        link = await conn.fetchval("SELECT link_secret FROM billing_settings")
        await conn.execute("UPDATE billing_settings SET link_secret = $1", keyring.encrypt(link))
    finally:
        await conn.close()

    generated = await asyncio.to_thread(_allot, ["secrets", "generate-key"], fresh_url, old)
    assert generated.returncode == 0, generated.stderr
    new = generated.stdout.strip()
    Fernet(new.encode())

    rotated = await asyncio.to_thread(_allot, ["secrets", "rotate"], fresh_url, f"{new},{old}")
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted 3 secret(s)" in rotated.stderr

    only_new = Keyring.parse(new, "new")
    stored = await _stored(fresh_url, env)
    assert [only_new.decrypt(s) for s in stored] == ["whsec_new", "whsec_old", "ab" * 32]
    refused = await asyncio.to_thread(_allot, ["keys", "list", "-e", "development"], fresh_url, old)
    assert refused.returncode == 1 and "does not match" in refused.stderr
    works = await asyncio.to_thread(_allot, ["keys", "list", "-e", "development"], fresh_url, new)
    assert works.returncode == 0, works.stderr
