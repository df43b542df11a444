"""The `allot` command: serve, migrate, keys, catalog.

Every command finds its database the same way: `DATABASE_URL` when set, otherwise the
embedded PostgreSQL in `ALLOT_DATA_DIR` (started, or reused when already running), which the
command stops again before it exits — on SIGTERM and SIGINT too. Logs go to stderr; stdout
carries only what a command is for (keys, changes, an export), so it can be piped.
User mistakes (an unknown environment, a bad file) end with a one-line message on stderr and
exit code 1, never a traceback; usage errors exit with 2.
"""

from app.cli.main import main

__all__ = ["main"]
