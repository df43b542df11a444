"""Configuration from the environment: one frozen object, read once per process.

A value that cannot be used stops the process with a `ConfigError` naming the variable, before
anything is opened or written (`allot` prints it on one line and exits 1)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DATABASE_URL_EXAMPLE = "postgresql://user:password@host:5432/dbname"


class ConfigError(ValueError):
    """A setting in the environment that cannot be used; the message names the variable."""


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(f"{name}={raw!r} is not a finite number")
    return value


def _rate(name: str, default: float) -> float:
    value = _float(name, default)
    if value < 0:
        raise ConfigError(f"{name}={value:g} must be 0 (off) or requests per second")
    return value


def _burst(name: str, default: int) -> int:
    value = _int(name, default)
    if value < 1:
        raise ConfigError(f"{name}={value} must be at least 1 (requests)")
    return value


def postgres_url(raw: str, name: str = "DATABASE_URL") -> str:
    """`raw` parsed with SQLAlchemy's URL parser and given back as a plain `postgresql://`
    URL (the form asyncpg takes), or a ConfigError: anything but a PostgreSQL URL naming a
    database is refused — a string libpq would read with its defaults (another database, as
    another user) or another database system's URL must never be connected to."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(
            f"{name} is not a database URL (expected {DATABASE_URL_EXAMPLE})"
        ) from None
    backend = url.get_backend_name()
    if backend not in ("postgresql", "postgres"):
        raise ConfigError(
            f"{name} must be a PostgreSQL URL ({DATABASE_URL_EXAMPLE}), not a {backend!r} one"
        )
    if not url.database:
        raise ConfigError(f"{name} names no database (expected {DATABASE_URL_EXAMPLE})")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _positive(name: str, default: float) -> float:
    value = _float(name, default)
    if value <= 0:
        raise ConfigError(f"{name}={value:g} must be more than 0")
    return value


def _email(name: str, default: str) -> str:
    raw = os.environ.get(name, "").strip().lower() or default
    local, at, domain = raw.partition("@")
    if not at or not local or not domain or any(c.isspace() for c in raw):
        raise ConfigError(f"{name}={raw!r} is not an email address")
    return raw


def _hosts(name: str, default: str) -> tuple[str, ...]:
    raw = os.environ.get(name)
    entries = [h.strip().lower() for h in (default if raw is None else raw).split(",")]
    for entry in entries:
        if entry and not _valid_host_pattern(entry):
            raise ConfigError(f"{name}: {entry!r} is not a host name (e.g. billing.example.com)")
    return tuple(h for h in entries if h)


def _valid_host_pattern(entry: str) -> bool:
    if entry == "*":
        return True
    bare = entry.removeprefix(".")
    if bare.startswith("[") and bare.endswith("]"):
        bare = bare[1:-1]
    return bool(bare) and all(c.isalnum() or c in "-.:" for c in bare)


def _public_url(name: str) -> str:
    from urllib.parse import urlsplit

    raw = os.environ.get(name, "").strip()
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{name}={raw!r} is not an http(s) URL (e.g. https://billing.example.com)"
        )
    return raw.rstrip("/")


def _flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name}={raw!r} is not a boolean (use true or false)")


def _choice(name: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (case-insensitive); unset or empty is the first."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return choices[0]
    if raw not in choices:
        raise ConfigError(f"{name}={raw!r} is not one of {', '.join(choices)}")
    return raw


def _cidrs(name: str) -> tuple[str, ...]:
    """Comma-separated networks, each checked here so a typo stops the start."""
    items = tuple(c.strip() for c in os.environ.get(name, "").split(",") if c.strip())
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{name}: {item!r} is not a network (e.g. 10.0.0.0/8)") from None
    return items


def _origins(name: str) -> tuple[str, ...]:
    """The origins CORS allows (app/web/cors.py): `*`, or `scheme://host[:port]` entries
    (trailing slashes dropped), comma-separated."""
    origins = []
    for entry in os.environ.get(name, "").split(","):
        origin = entry.strip().rstrip("/")
        if not origin:
            continue
        if origin != "*":
            scheme, sep, rest = origin.partition("://")
            if not sep or scheme not in ("http", "https") or not rest or "/" in rest:
                raise ConfigError(
                    f"{name}: {origin!r} is not an origin (scheme://host[:port], or *)"
                )
        origins.append(origin)
    return tuple(origins)


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
    # Seconds an insights answer is reused (docs/console.md "Insights"); 0 = computed on
    # every read (tests). From the environment: 60.
    insights_max_age: float = 0.0
    # The cost budget of a request (docs/security.md "Request limits"), batches summed.
    max_request_tokens: int = 10_000
    max_query_cost: int = 250_000  # server keys
    max_client_query_cost: int = 50_000  # client keys: anyone may hold one
    max_fields: int = 1_000  # fields an operation selects, fragments spread
    max_field_repeats: int = 16  # one response key selected again in one selection set
    document_cache_bytes: int = 16 * 1024 * 1024  # parsed and checked documents kept
    max_input_values: int = 50_000  # values in one operation's variables or literals (server keys)
    max_client_input_values: int = 1_000  # … and for client keys
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": one JSON object per line (app/cli/log_format.py)
    jobs_interval: float = 0.0  # seconds between background passes; 0 = off (tests, CLI)
    idempotency_retention_days: int = 7  # usage idempotency keys kept; <= 0 = kept forever
    public_url: str = ""  # base of the links handed out (invoice PDFs, payment pages)
    # Without public_url: the Host headers a link may be built from (else links are paths).
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "[::1]")
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
    # Token buckets per API key, per process (docs/security.md#rate-limits): requests per
    # second (0 = off) and the most at once; and per client address, for failed logins.
    rate_limit_server: float = 1_000.0
    rate_limit_server_burst: int = 2_000
    rate_limit_client: float = 100.0
    rate_limit_client_burst: int = 200
    rate_limit_auth_failures: float = 10.0
    rate_limit_auth_failures_burst: int = 100
    # Origins whose frontends may call /graphql and /v1 (CORS); empty = none, "*" = any.
    cors_origins: tuple[str, ...] = ()
    # Console users (docs/console.md "Users, sessions and security"): a session ends this
    # long after login, or after this long unused; cookies get `Secure` on https requests,
    # or always with `secure_cookies` (behind a proxy that terminates TLS).
    session_days: float = 7.0
    session_idle_hours: float = 12.0
    secure_cookies: bool = False
    # Failed logins allowed per email and per client address in the window (then 429).
    login_failures: int = 5
    login_failure_window: float = 300.0
    invitation_days: float = 7.0
    # The first start's admin user, when the account has none.
    admin_email: str = "admin@localhost"

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=postgres_url(raw_url)
            if (raw_url := os.environ.get("DATABASE_URL"))
            else "",
            data_dir=Path(os.environ.get("ALLOT_DATA_DIR", ".allot")),
            pool_size=_int("ALLOT_POOL_SIZE", 4),
            max_body_bytes=_int("ALLOT_MAX_BODY_BYTES", 1_000_000),
            max_query_depth=_int("ALLOT_MAX_QUERY_DEPTH", 12),
            max_aliases=_int("ALLOT_MAX_ALIASES", 30),
            max_tokens=_int("ALLOT_MAX_TOKENS", 5_000),
            max_batch=_int("ALLOT_MAX_BATCH", 10),
            max_request_tokens=_int("ALLOT_MAX_REQUEST_TOKENS", 10_000),
            max_query_cost=_int("ALLOT_MAX_QUERY_COST", 250_000),
            max_client_query_cost=_int("ALLOT_MAX_CLIENT_QUERY_COST", 50_000),
            max_fields=_int("ALLOT_MAX_FIELDS", 1_000),
            max_field_repeats=_int("ALLOT_MAX_FIELD_REPEATS", 16),
            document_cache_bytes=_int("ALLOT_DOCUMENT_CACHE_BYTES", 16 * 1024 * 1024),
            max_input_values=_int("ALLOT_MAX_INPUT_VALUES", 50_000),
            max_client_input_values=_int("ALLOT_MAX_CLIENT_INPUT_VALUES", 1_000),
            log_level=os.environ.get("ALLOT_LOG_LEVEL", "INFO"),
            log_format=_choice("ALLOT_LOG_FORMAT", ("text", "json")),
            jobs_interval=_float("ALLOT_JOBS_INTERVAL", 30),
            insights_max_age=_float("ALLOT_INSIGHTS_MAX_AGE", 60),
            idempotency_retention_days=_int("ALLOT_IDEMPOTENCY_RETENTION_DAYS", 7),
            public_url=_public_url("ALLOT_PUBLIC_URL"),
            allowed_hosts=_hosts("ALLOT_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]"),
            invoice_link_days=_int("ALLOT_INVOICE_LINK_DAYS", 30),
            invoice_font=os.environ.get("ALLOT_INVOICE_FONT", ""),
            webhook_interval=_float("ALLOT_WEBHOOK_INTERVAL", 2),
            webhook_timeout=_float("ALLOT_WEBHOOK_TIMEOUT", 10),
            webhook_allow_private=_flag("ALLOT_WEBHOOK_ALLOW_PRIVATE"),
            webhook_allowed_cidrs=_cidrs("ALLOT_WEBHOOK_ALLOWED_CIDRS"),
            secret_key=os.environ.get("ALLOT_SECRET_KEY", "").strip(),
            max_json_depth=_int("ALLOT_MAX_JSON_DEPTH", 32),
            max_json_bytes=_int("ALLOT_MAX_JSON_BYTES", 262_144),
            max_backdate_days=_int("ALLOT_MAX_BACKDATE_DAYS", 365),
            rate_limit_server=_rate("ALLOT_RATE_LIMIT_SERVER", 1_000.0),
            rate_limit_server_burst=_burst("ALLOT_RATE_LIMIT_SERVER_BURST", 2_000),
            rate_limit_client=_rate("ALLOT_RATE_LIMIT_CLIENT", 100.0),
            rate_limit_client_burst=_burst("ALLOT_RATE_LIMIT_CLIENT_BURST", 200),
            rate_limit_auth_failures=_rate("ALLOT_RATE_LIMIT_AUTH_FAILURES", 10.0),
            rate_limit_auth_failures_burst=_burst("ALLOT_RATE_LIMIT_AUTH_FAILURES_BURST", 100),
            cors_origins=_origins("ALLOT_CORS_ORIGINS"),
            session_days=_positive("ALLOT_SESSION_DAYS", 7.0),
            session_idle_hours=_positive("ALLOT_SESSION_IDLE_HOURS", 12.0),
            secure_cookies=_flag("ALLOT_SECURE_COOKIES"),
            login_failures=_burst("ALLOT_LOGIN_FAILURES", 5),
            login_failure_window=_positive("ALLOT_LOGIN_FAILURE_WINDOW", 300.0),
            invitation_days=_positive("ALLOT_INVITATION_DAYS", 7.0),
            admin_email=_email("ALLOT_ADMIN_EMAIL", "admin@localhost"),
        )
