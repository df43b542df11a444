"""Migration 0013 on a database with a catalog: every version gets its package's name and
description, and every plan version is bound to its parent's latest version (what its
subscribers got before), so upgrading changes no one's entitlements."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from alembic.script import ScriptDirectory

from app.store.migrate import alembic_config, upgrade

SEED = """
INSERT INTO accounts (pk, name, created_at) VALUES ('{account}', 'a', now());
INSERT INTO environments (pk, account_pk, slug, name, created_at)
  VALUES ('{env}', '{account}', 'development', 'Development', now());
INSERT INTO products (pk, environment_pk, id, name, description, multiple_subscriptions,
  downgrade_to_default, archived_at, created_at, updated_at)
  VALUES ('{product}', '{env}', 'app', 'App', '', false, true, NULL, now(), now());
INSERT INTO packages (pk, environment_pk, kind, id, product_pk, name, description,
  latest_version, created_at, updated_at) VALUES
  ('{mid}', '{env}', 'PLAN', 'mid', '{product}', 'Mid', 'the middle', 3, now(), now()),
  ('{top}', '{env}', 'PLAN', 'top', '{product}', 'Top', '', 2, now(), now());
INSERT INTO package_versions (pk, package_pk, version, content, migrate_existing,
  published_at, created_at, updated_at) VALUES
  (gen_random_uuid(), '{mid}', 1, '{{}}', false, now(), now(), now()),
  (gen_random_uuid(), '{mid}', 3, '{{}}', false, now(), now(), now()),
  (gen_random_uuid(), '{mid}', NULL, '{{}}', false, NULL, now(), now()),
  (gen_random_uuid(), '{top}', 1, '{{"parent": "mid"}}', false, now(), now(), now()),
  (gen_random_uuid(), '{top}', 2, '{{"parent": "mid"}}', false, now(), now(), now()),
  (gen_random_uuid(), '{top}', NULL, '{{"parent": "mid"}}', false, NULL, now(), now());
"""


async def test_existing_versions_keep_what_they_had(fresh_url: str) -> None:
    scripts = ScriptDirectory.from_config(alembic_config(fresh_url))
    before = scripts.get_revision("0013").down_revision
    assert isinstance(before, str)
    await asyncio.to_thread(upgrade, fresh_url, before)
    conn = await asyncpg.connect(fresh_url)
    try:
        names = ("account", "env", "product", "mid", "top")
        await conn.execute(SEED.format(**{n: uuid.uuid4() for n in names}))
    finally:
        await conn.close()
    await asyncio.to_thread(upgrade, fresh_url, "0013")
    conn = await asyncpg.connect(fresh_url)
    try:
        rows = await conn.fetch(
            "SELECT p.id, v.version, v.name, v.description, v.parent_version "
            "FROM package_versions v JOIN packages p ON p.pk = v.package_pk "
            "ORDER BY p.id, v.version NULLS FIRST"
        )
    finally:
        await conn.close()
    assert [tuple(r) for r in rows] == [
        ("mid", None, "Mid", "the middle", None),
        ("mid", 1, "Mid", "the middle", None),
        ("mid", 3, "Mid", "the middle", None),
        ("top", None, "Top", "", None),
        ("top", 1, "Top", "", 3),
        ("top", 2, "Top", "", 3),
    ]
