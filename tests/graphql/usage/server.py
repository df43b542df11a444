"""A real API server process for the reliability tests: `uvicorn app.main:app_from_env
--factory` on the test database, on a fixed free port, so it can be killed and restarted.

Every wait is bounded; `close()` ends the whole process group whatever its state (call it
from `finally`)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[3]
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ApiServer:
    """uvicorn in its own process group; `start()` again after `kill()` reuses the port."""

    def __init__(self, database_url: str, log_path: Path, workers: int = 1,
                 pool_size: int = 8) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.workers = workers
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("DATABASE_URL", "ALLOT_"))}
        self.env.update(DATABASE_URL=database_url, ALLOT_JOBS_INTERVAL="0",
                        ALLOT_WEBHOOK_INTERVAL="0", ALLOT_POOL_SIZE=str(pool_size),
                        ALLOT_LOG_LEVEL="WARNING",
                        ALLOT_SECRET_KEY=os.environ["ALLOT_SECRET_KEY"])  # the session's
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = STARTUP_TIMEOUT) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts}\n".encode())
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "app.main:app_from_env", "--factory",
                 "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", str(self.workers), "--log-level", "warning", "--no-access-log"],
                cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=2) as client:
            while True:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(f"server exited early:\n{self.log_tail()}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/healthz").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise AssertionError(f"server not ready in time:\n{self.log_tail()}")
                time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the whole process group (workers too): no shutdown code runs."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=STOP_TIMEOUT)

    def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=STOP_TIMEOUT)
        self.kill()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
