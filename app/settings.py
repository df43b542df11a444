"""Configuration from the environment: one frozen object, read once per process."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def _flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name}={raw!r} is not a boolean (use true or false)")


def _cidrs(name: str) -> tuple[str, ...]:
    """Comma-separated networks, each checked here so a typo stops the start."""
    items = tuple(c.strip() for c in os.environ.get(name, "").split(",") if c.strip())
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{name}: {item!r} is not a network (e.g. 10.0.0.0/8)") from None
    return items


@dataclass(frozen=True)
class Settings:
    """Every knob the service reads from its environment.

    `database_url` empty means: start (or reuse) the embedded PostgreSQL in `data_dir`.
    """

    database_url: str = ""
    data_dir: Path = field(default_factory=lambda: Path(".allot"))
    pool_size: int = 4
    max_body_bytes: int = 1_000_000
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5_000
    max_batch: int = 10
    max_page_size: int = 100
    log_level: str = "INFO"
    jobs_interval: float = 0.0  # seconds between background passes; 0 = off (tests, CLI)
    idempotency_retention_days: int = 7  # usage idempotency keys kept; <= 0 = kept forever
    public_url: str = ""  # base of the links handed out (invoice PDFs, payment pages)
    invoice_link_days: int = 30  # how long an invoice link stays valid
    invoice_font: str = ""  # a TTF for invoice PDFs; empty = a system DejaVu Sans, if any
    webhook_interval: float = 0.0  # seconds between webhook delivery passes; 0 = off
    webhook_timeout: float = 10.0  # seconds a receiver may take to answer one delivery
    # Webhook target policy (docs/webhooks.md): private ranges, and networks allowed outright.
    webhook_allow_private: bool = False
    webhook_allowed_cidrs: tuple[str, ...] = ()
    # Fernet key(s) for secrets at rest; empty = <data_dir>/secret.key (app/secrets_at_rest.py).
    secret_key: str = field(default="", repr=False)
    max_json_depth: int = 32  # nesting of a JSON input (metadata, dimensions, catalogs)
    max_json_bytes: int = 262_144  # encoded size of one JSON input
    max_backdate_days: int = 365  # how far in the past a subscription may start

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("DATABASE_URL", ""),
            data_dir=Path(os.environ.get("ALLOT_DATA_DIR", ".allot")),
            pool_size=_int("ALLOT_POOL_SIZE", 4),
            max_body_bytes=_int("ALLOT_MAX_BODY_BYTES", 1_000_000),
            max_query_depth=_int("ALLOT_MAX_QUERY_DEPTH", 12),
            max_aliases=_int("ALLOT_MAX_ALIASES", 30),
            max_tokens=_int("ALLOT_MAX_TOKENS", 5_000),
            max_batch=_int("ALLOT_MAX_BATCH", 10),
            log_level=os.environ.get("ALLOT_LOG_LEVEL", "INFO"),
            jobs_interval=float(os.environ.get("ALLOT_JOBS_INTERVAL", "30")),
            idempotency_retention_days=_int("ALLOT_IDEMPOTENCY_RETENTION_DAYS", 7),
            public_url=os.environ.get("ALLOT_PUBLIC_URL", ""),
            invoice_link_days=_int("ALLOT_INVOICE_LINK_DAYS", 30),
            invoice_font=os.environ.get("ALLOT_INVOICE_FONT", ""),
            webhook_interval=float(os.environ.get("ALLOT_WEBHOOK_INTERVAL", "2")),
            webhook_timeout=float(os.environ.get("ALLOT_WEBHOOK_TIMEOUT", "10")),
            webhook_allow_private=_flag("ALLOT_WEBHOOK_ALLOW_PRIVATE"),
            webhook_allowed_cidrs=_cidrs("ALLOT_WEBHOOK_ALLOWED_CIDRS"),
            secret_key=os.environ.get("ALLOT_SECRET_KEY", "").strip(),
            max_json_depth=_int("ALLOT_MAX_JSON_DEPTH", 32),
            max_json_bytes=_int("ALLOT_MAX_JSON_BYTES", 262_144),
            max_backdate_days=_int("ALLOT_MAX_BACKDATE_DAYS", 365),
        )
