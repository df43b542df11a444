"""The entry point of the `allot` command."""

from __future__ import annotations

import sys

# The command modules register their commands on the typer apps when imported.
from app.cli import catalog, environments, keys, secrets, serve, users  # noqa: F401
from app.cli.base import CliError, Shutdown, cli, configure_logging, install_signal_handlers
from app.settings import Settings


def main(argv: list[str] | None = None) -> None:
    """Console script `allot` (and `python -m app.cli`)."""
    install_signal_handlers()
    try:
        try:
            settings = Settings.from_env()
        except ValueError as exc:
            raise CliError(f"bad configuration in the environment: {exc}") from None
        configure_logging(settings)
        cli(args=argv, prog_name="allot")
    except CliError as error:
        error.show()
        sys.exit(error.exit_code)
    except Shutdown as stop:
        sys.exit(128 + stop.signum)
