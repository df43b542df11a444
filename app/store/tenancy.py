"""SQL for accounts, environments and API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth import KeyKind, Principal, display_prefix, generate_key, hash_key
from app.db import RawConnection
from app.models import Account, ApiKey, CustomerToken, Environment
from app.store.key_revocations import CHANNEL as REVOKED_CHANNEL
from app.store.key_revocations import ENVIRONMENT_CHANGED


async def count_accounts(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(Account))).scalar_one())


async def first_account(session: AsyncSession) -> Account | None:
    """The oldest account: an installation's own (the first start creates it)."""
    query = select(Account).order_by(col(Account.created_at), col(Account.pk)).limit(1)
    return (await session.execute(query)).scalar_one_or_none()


async def count_active_server_keys(session: AsyncSession) -> int:
    query = (
        select(func.count())
        .select_from(ApiKey)
        .where(col(ApiKey.revoked_at).is_(None), col(ApiKey.kind) == KeyKind.SERVER.value)
    )
    return int((await session.execute(query)).scalar_one())


async def create_account(session: AsyncSession, name: str) -> Account:
    account = Account(name=name)
    session.add(account)
    await session.flush()
    return account


async def create_environment(
    session: AsyncSession, account_pk: uuid.UUID, slug: str, name: str
) -> Environment:
    environment = Environment(account_pk=account_pk, slug=slug, name=name)
    session.add(environment)
    await session.flush()
    return environment


async def find_environment(
    session: AsyncSession, slug: str, account_pk: uuid.UUID | None = None
) -> Environment | None:
    query = select(Environment).where(col(Environment.slug) == slug)
    if account_pk is not None:
        query = query.where(col(Environment.account_pk) == account_pk)
    query = query.order_by(col(Environment.created_at)).limit(1)
    return (await session.execute(query)).scalars().first()


async def list_environments(session: AsyncSession, account_pk: uuid.UUID) -> list[Environment]:
    query = select(Environment).where(col(Environment.account_pk) == account_pk)
    return list((await session.execute(query.order_by(col(Environment.created_at)))).scalars())


async def create_api_key(
    session: AsyncSession, environment_pk: uuid.UUID, kind: KeyKind, name: str = ""
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the secret (the only time it exists in clear)."""
    secret = generate_key(kind)
    key = ApiKey(
        environment_pk=environment_pk,
        kind=kind.value,
        name=name,
        key_hash=hash_key(secret),
        prefix=display_prefix(secret),
    )
    session.add(key)
    await session.flush()
    return key, secret


async def list_api_keys(session: AsyncSession, environment_pk: uuid.UUID) -> list[ApiKey]:
    query = select(ApiKey).where(col(ApiKey.environment_pk) == environment_pk)
    return list((await session.execute(query.order_by(col(ApiKey.created_at)))).scalars())


async def revoke_api_key(
    session: AsyncSession, environment_pk: uuid.UUID, key_pk: uuid.UUID, at: datetime
) -> ApiKey | None:
    """Revoke an active key (a change the unit of work writes, so the audit log sees it)."""
    query = (
        select(ApiKey)
        .where(col(ApiKey.environment_pk) == environment_pk, col(ApiKey.pk) == key_pk)
        .where(col(ApiKey.revoked_at).is_(None))
        .with_for_update()
    )
    key = (await session.execute(query)).scalars().first()
    if key is not None:
        key.revoked_at = at
        session.add(key)
        await session.flush()
        # Delivered on commit to every server process, which drops the key from its cache
        # (app/store/key_revocations.py); nothing is sent if the transaction rolls back.
        await session.execute(
            text("SELECT pg_notify(:channel, :pk)"), {"channel": REVOKED_CHANNEL, "pk": str(key.pk)}
        )
    return key


async def update_environment_settings(
    session: AsyncSession, environment_pk: uuid.UUID, require_customer_tokens: bool | None
) -> Environment:
    """Change the environment's settings given (not None; a unit-of-work change: audited),
    and return it. When `requireCustomerTokens` changes, every process
    drops its cached keys when this commits (a NOTIFY on the revocation channel), so the
    keys' principals are read again with the new setting."""
    query = select(Environment).where(col(Environment.pk) == environment_pk).with_for_update()
    environment = (await session.execute(query)).scalars().one()
    required = require_customer_tokens
    if required is not None and environment.require_customer_tokens != required:
        environment.require_customer_tokens = required
        session.add(environment)
        await session.flush()
        await session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": REVOKED_CHANNEL, "payload": f"{ENVIRONMENT_CHANGED}{environment_pk}"},
        )
    return environment


async def record_customer_token(
    session: AsyncSession,
    environment_pk: uuid.UUID,
    customer_pk: uuid.UUID,
    token_id: str,
    expires_at: datetime,
) -> CustomerToken:
    row = CustomerToken(
        id=token_id, environment_pk=environment_pk, customer_pk=customer_pk, expires_at=expires_at
    )
    session.add(row)
    await session.flush()
    return row


_PRINCIPAL_SQL = """
SELECT k.pk, k.kind, k.environment_pk, e.slug, e.account_pk, e.require_customer_tokens
FROM api_keys k JOIN environments e ON e.pk = k.environment_pk
WHERE k.key_hash = $1 AND k.revoked_at IS NULL
"""


async def principal_for_key(conn: RawConnection, secret: str) -> Principal | None:
    """The hot path of every request: one indexed lookup by the key's hash."""
    row = await conn.fetchrow(_PRINCIPAL_SQL, hash_key(secret))
    if row is None:
        return None
    return Principal(
        key_pk=row["pk"],
        kind=KeyKind(row["kind"]),
        environment_pk=row["environment_pk"],
        environment_slug=row["slug"],
        account_pk=row["account_pk"],
        customer_tokens_required=row["require_customer_tokens"],
    )
