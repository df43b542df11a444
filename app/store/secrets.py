"""SQL for secrets at rest: the key check, and re-encrypting every stored secret (rotation).

Reads the stored tokens as text (not through the encrypted column type), so it works with
whichever keyring it is given."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.secrets_at_rest import CHECK_NAME, Keyring, SecretKeyError

# (table, key column, encrypted columns)
ENCRYPTED_COLUMNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("webhook_endpoints", "pk", ("secret", "previous_secret")),
    ("billing_settings", "environment_pk", ("link_secret",)),
)


async def verify_key(session: AsyncSession, keyring: Keyring, now: datetime) -> None:
    """Raise SecretKeyError unless `keyring` opens the database's check token (written here
    with the first key when the database has none yet)."""
    token = (
        await session.execute(
            text("SELECT token FROM secret_key_check WHERE name = :n"), {"n": CHECK_NAME}
        )
    ).scalar()
    if token is None:
        await session.execute(
            text(
                "INSERT INTO secret_key_check (name, token, updated_at) VALUES (:n, :t, :at) "
                "ON CONFLICT (name) DO NOTHING"
            ),
            {"n": CHECK_NAME, "t": keyring.check_token(), "at": now},
        )
        return
    if not keyring.matches(str(token)):
        raise SecretKeyError(keyring.mismatch())


async def reencrypt_all(session: AsyncSession, keyring: Keyring, now: datetime) -> int:
    """Every stored secret and the check token, encrypted again under the keyring's first key
    (rows locked for the transaction); returns how many secrets were re-encrypted."""
    await verify_key(session, keyring, now)
    # On the session's connection, in its transaction, but not as an ORM statement: the same
    # secrets stored in a new form are no change of the entities (docs/audit.md: bookkeeping),
    # so the audit guard on ORM writes does not apply.
    conn = await session.connection()
    count = 0
    for table, key, columns in ENCRYPTED_COLUMNS:
        selected = ", ".join(columns)
        rows = (await conn.execute(text(f"SELECT {key}, {selected} FROM {table} FOR UPDATE"))).all()
        for row in rows:
            values = {c: row[i + 1] for i, c in enumerate(columns) if row[i + 1] is not None}
            if not values:
                continue
            assignments = ", ".join(f"{c} = :{c}" for c in values)
            fresh = {c: keyring.reencrypt(str(v)) for c, v in values.items()}
            await conn.execute(
                text(f"UPDATE {table} SET {assignments} WHERE {key} = :key"),
                {**fresh, "key": row[0]},
            )
            count += len(values)
    await session.execute(
        text("UPDATE secret_key_check SET token = :t, updated_at = :at WHERE name = :n"),
        {"n": CHECK_NAME, "t": keyring.check_token(), "at": now},
    )
    return count
