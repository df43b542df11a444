"""Real `allot` processes for end-to-end tests: `allot serve` in the background, one-shot
commands, and the embedded PostgreSQL processes of a data directory.

Everything here is bounded in time: every wait has a timeout, and `AllotServer.close()`
(called from fixtures' `finally`) ends the server's whole process group and any PostgreSQL
left on its data directory, so a failing test leaves nothing running.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from app.db import to_asyncpg_dsn
from tests.databases import empty_database_sync

ROOT = Path(__file__).resolve().parents[2]

STARTUP_TIMEOUT = 90.0  # first start: initdb + migrations; a few seconds on a quiet machine
STOP_TIMEOUT = 10.0
COMMAND_TIMEOUT = 90.0

SERVING = re.compile(r"allot serving (http://\S+)")
SERVER_KEY = re.compile(r"^\s+(\w+)\s+server key\s+(allot_sk_\S+)\s*$")


@contextlib.contextmanager
def fresh_data_dir() -> Iterator[Path]:
    """A new, empty ALLOT_DATA_DIR, removed afterwards.

    Not under pytest's tmp_path: the embedded PostgreSQL runs as another system user and
    needs every parent directory to be traversable, and each pytest run resets
    /tmp/pytest-of-<user> to mode 0700 — another run starting meanwhile made initdb fail.
    """
    base = Path(tempfile.mkdtemp(prefix="allot-e2e-"))
    try:
        yield base / "data"
    finally:
        kill_postgres(base / "data")
        shutil.rmtree(base, ignore_errors=True)


def allot_command(*args: str) -> list[str]:
    """The `allot` console command, run from this checkout's interpreter."""
    return [sys.executable, "-m", "app.cli", *args]


def allot_env(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    """The environment of a child `allot`: the embedded PostgreSQL in `data_dir` unless a
    `database_url` is given (DATABASE_URL of the parent never leaks in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "ALLOT_"))}
    env["ALLOT_DATA_DIR"] = str(data_dir)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def run_allot(
    args: Sequence[str], env: dict[str, str], timeout: float = COMMAND_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        allot_command(*args),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    """Processes whose command line names `data_dir` (the embedded postmaster does: -D, -k)."""
    needle = str(data_dir.resolve())
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if any(needle in part for part in cmdline):
            found.append(proc)
    return found


def postgres_family(data_dir: Path) -> list[psutil.Process]:
    """The postmaster(s) of `data_dir` and all their children (checkpointer, backends …),
    whose own command lines don't name the directory."""
    family: list[psutil.Process] = []
    for proc in postgres_processes(data_dir):
        family.append(proc)
        with contextlib.suppress(psutil.Error):
            family.extend(proc.children(recursive=True))
    return family


def kill_postgres(data_dir: Path) -> None:
    """Last-resort cleanup after a failed test."""
    procs = postgres_family(data_dir)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(procs, timeout=5)


class AllotServer:
    """`allot serve` as a child process: stdout collected by a thread (the keys are printed
    there), stderr (the log) written to a file."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log_path: Path) -> None:
        self.data_dir = Path(env["ALLOT_DATA_DIR"])
        self.log_path = log_path
        self._log = log_path.open("w")
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            allot_command("serve", "--host", "127.0.0.1", "--port", "0", *args),
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            start_new_session=True,  # our own group: close() can end workers too
        )
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        self.base_url = ""

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self._lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def stdout_lines(self) -> list[str]:
        with self._cond:
            return list(self._lines)

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def describe(self) -> str:
        tail = "\n".join(self.log_text().splitlines()[-40:])
        return (
            f"exit code {self.proc.poll()}\n--- stdout\n"
            + "\n".join(self.stdout_lines)
            + f"\n--- stderr (tail)\n{tail}"
        )

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> str:
        """Wait for the 'allot serving <url>' log line, then for /healthz to answer 200."""
        deadline = time.monotonic() + timeout
        while not self.base_url:
            match = SERVING.search(self.log_text())
            if match:
                self.base_url = match.group(1)
                break
            self._check_alive(deadline)
            time.sleep(0.1)
        with httpx.Client(base_url=self.base_url, timeout=5) as client:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/healthz").status_code == 200:
                        return self.base_url
                self._check_alive(deadline)
                time.sleep(0.1)

    def _check_alive(self, deadline: float) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"allot serve exited early\n{self.describe()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"allot serve not ready in time\n{self.describe()}")

    def server_keys(self, timeout: float = 10) -> dict[str, str]:
        """The environment → server key lines of the first-start banner (waits for both)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                keys: dict[str, str] = {
                    m.group(1): m.group(2) for line in self._lines if (m := SERVER_KEY.match(line))
                }
                if {"development", "production"} <= keys.keys():
                    return keys
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"no keys printed\n{self.describe()}")
                self._cond.wait(remaining)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Send `sig` to the server process only (as systemd or a user would) and wait."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        """End everything this server started, whatever state it is in."""
        try:
            if self.proc.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.stop(signal.SIGTERM, timeout=STOP_TIMEOUT)
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=STOP_TIMEOUT)
            # Workers of a killed supervisor share its process group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        finally:
            self._reader.join(timeout=5)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self._log.close()
            kill_postgres(self.data_dir)


@dataclass
class Served:
    """A running `allot serve --demo` and what a user would have noted from its output."""

    server: AllotServer
    base_url: str
    keys: dict[str, str]  # environment -> server key, as printed on first start
    env: dict[str, str]  # the environment to run more `allot` commands against it

    @property
    def dev_key(self) -> str:
        return self.keys["development"]


def external_server_url() -> str | None:
    url = os.environ.get("ALLOT_TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    return to_asyncpg_dsn(url) if url else None



@contextlib.contextmanager
def demo_server(logs: Path, extra_env: dict[str, str] | None = None) -> Iterator[Served]:
    """A real `allot serve --demo`: on the embedded PostgreSQL in a temporary ALLOT_DATA_DIR,
    or, with ALLOT_TEST_DATABASE_URL (or DATABASE_URL) set, on a fresh database created on
    that server (dropped afterwards), like a deployment with an external PostgreSQL."""
    server_url = external_server_url()
    with contextlib.ExitStack() as stack:
        database_url = (
            stack.enter_context(empty_database_sync(server_url, "allot_e2e"))
            if server_url
            else None
        )
        data_dir = stack.enter_context(fresh_data_dir())
        env = allot_env(data_dir, database_url) | (extra_env or {})
        server = AllotServer(["--demo"], env, logs / "serve.log")
        try:
            base_url = server.wait_ready()
            yield Served(server=server, base_url=base_url, keys=server.server_keys(), env=env)
        finally:
            server.close()
