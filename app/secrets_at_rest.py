"""Secrets at rest: webhook signing secrets and invoice-link secrets are stored encrypted with
Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`), under the installation's secret key.

The key comes from ALLOT_SECRET_KEY (one Fernet key, or several separated by commas during a
rotation: the first encrypts, every one decrypts). Without it, a key is generated once into the
data directory (`<ALLOT_DATA_DIR>/secret.key`, mode 0600), which suits the embedded default;
with an external database every host must share one key, so set ALLOT_SECRET_KEY there.

A process holds one keyring (`install`, `current`): the encrypted column type reads it, so the
ORM encrypts on write and decrypts on read without any call site knowing. The database keeps a
check token (`secret_key_check`) encrypted under the key: a process started with another key
refuses to run instead of failing at the first signature (docs/security.md, Secrets at rest).
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.engine import Dialect
from sqlalchemy.types import String, TypeDecorator

from app.settings import Settings

log = logging.getLogger("allot.secrets")

KEY_FILE = "secret.key"
CHECK_NAME = "fernet"
_CHECK_PLAINTEXT = "allot secret key check v1"
KEY_HELP = "see docs/security.md, Secrets at rest"


class SecretKeyError(Exception):
    """The key is missing, malformed or not the one the stored secrets were encrypted with.
    The message is one line, fit for `allot: error: …`."""


class Keyring:
    """One or more Fernet keys: the first encrypts; any of them decrypts."""

    def __init__(self, keys: list[str], source: str) -> None:
        if not keys:
            raise SecretKeyError(f"{source} holds no key ({KEY_HELP})")
        fernets = []
        for key in keys:
            try:
                fernets.append(Fernet(key.encode()))
            except (ValueError, TypeError):
                raise SecretKeyError(
                    f"{source} is not a list of Fernet keys (make one with "
                    f"`allot secrets generate-key`; {KEY_HELP})"
                ) from None
        self.source = source
        self.size = len(fernets)
        self.keys = list(keys)  # the first encrypts (and signs customer tokens)
        self._all = MultiFernet(fernets)

    @classmethod
    def parse(cls, text: str, source: str) -> Keyring:
        return cls([k.strip() for k in text.split(",") if k.strip()], source)

    def encrypt(self, plaintext: str) -> str:
        return self._all.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._all.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(self.mismatch()) from None

    def reencrypt(self, token: str) -> str:
        """The same secret encrypted under the first key (for `allot secrets rotate`)."""
        try:
            return self._all.rotate(token.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(self.mismatch()) from None

    def check_token(self) -> str:
        return self.encrypt(_CHECK_PLAINTEXT)

    def matches(self, check_token: str) -> bool:
        try:
            return self._all.decrypt(check_token.encode()).decode() == _CHECK_PLAINTEXT
        except InvalidToken:
            return False

    def mismatch(self) -> str:
        return (
            f"the secret key from {self.source} does not match the key this database's "
            f"secrets were encrypted with: start with the key used before ({KEY_HELP})"
        )


def generate_key() -> str:
    return Fernet.generate_key().decode()


def key_file(settings: Settings) -> Path:
    return settings.data_dir.expanduser().resolve() / KEY_FILE


def _read_or_create(path: Path) -> str:
    """The key in `path`, generated first if the file does not exist (O_EXCL: of two processes
    starting at once, one writes and both read the same key)."""
    with contextlib.suppress(FileNotFoundError):
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(generate_key() + "\n")
    log.info("generated the secret key %s (back it up with the database)", path)
    return path.read_text().strip()


def load_keyring(settings: Settings) -> Keyring:
    """The keyring the settings name: ALLOT_SECRET_KEY, else the data directory's key file."""
    if settings.secret_key:
        return Keyring.parse(settings.secret_key, "ALLOT_SECRET_KEY")
    path = key_file(settings)
    if settings.database_url:
        log.warning(
            "ALLOT_SECRET_KEY is not set: using %s; with an external database every host must "
            "use the same key, so set ALLOT_SECRET_KEY",
            path,
        )
    try:
        text = _read_or_create(path)
    except OSError as exc:
        raise SecretKeyError(f"cannot read or create the secret key {path}: {exc}") from None
    return Keyring.parse(text, str(path))


_installed: Keyring | None = None


def install(keyring: Keyring | None) -> Keyring | None:
    """Make `keyring` the process's keyring; returns the one it replaces (tests restore it)."""
    global _installed
    previous = _installed
    _installed = keyring
    return previous


def installed() -> bool:
    return _installed is not None


def current() -> Keyring:
    """The process's keyring; loaded from the environment on first use if none was installed
    (migrations and one-off scripts)."""
    if _installed is None:
        install(load_keyring(Settings.from_env()))
    assert _installed is not None
    return _installed


class EncryptedString(TypeDecorator[str]):
    """A VARCHAR column holding a Fernet token; Python sees the plaintext."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else current().encrypt(str(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else current().decrypt(str(value))
