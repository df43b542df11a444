"""Headless-Chromium helpers for tests that look at pages the way a person would.

Uses Debian's ``chromium`` package (``apt-get install -y chromium``). Each run gets a fresh,
throw-away profile, and the whole Chromium process group is killed on timeout so no renderer or
zygote is left behind. Tests that need it should be marked ``@needs_chromium``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

__all__ = [
    "BrowserError",
    "chromium_path",
    "dump_dom",
    "needs_chromium",
    "render_page",
    "screenshot",
]

# Tried in order after $ALLOT_CHROMIUM.
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Flags common to every run: no sandbox (we run as root in CI), no GPU, and nothing that
# reaches the network on its own (only the URL under test is loaded).
BASE_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
)

# Virtual time lets scripts, timers and fetches settle before the DOM is dumped / the picture
# is taken, without a real sleep.
VIRTUAL_TIME_BUDGET_MS = 5000
WINDOW_SIZE = "1280,800"


class BrowserError(RuntimeError):
    """Chromium is missing, failed, or did not finish in time."""


def chromium_path() -> str | None:
    """Path of a Chromium/Chrome executable, or None. ``$ALLOT_CHROMIUM`` overrides."""
    override = os.environ.get("ALLOT_CHROMIUM")
    if override:
        return override if os.access(override, os.X_OK) else None
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


needs_chromium = pytest.mark.skipif(
    chromium_path() is None, reason="headless chromium not installed (apt-get install chromium)"
)


def _run_chromium(extra: Sequence[str], url: str, timeout: float) -> str:
    exe = chromium_path()
    if exe is None:
        raise BrowserError("chromium not found; apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="allot-chromium-") as profile:
        cmd = [
            exe,
            *BASE_FLAGS,
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
            *extra,
            url,
        ]
        # Own session, so a timeout can kill the browser and all its helper processes.
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            raise BrowserError(
                f"chromium timed out after {timeout}s on {url}\n{_tail(err)}"
            ) from None
        finally:
            # Chromium may leave a crashpad handler or zygote behind in its group.
            _kill_group(proc)
        if proc.returncode != 0:
            raise BrowserError(f"chromium exited {proc.returncode} on {url}\n{_tail(err)}")
        return out


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.wait()


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


def dump_dom(url: str, timeout: float = 30) -> str:
    """Load ``url`` and return the serialized DOM after its scripts ran."""
    dom = _run_chromium(["--dump-dom"], url, timeout)
    if not dom.strip():
        raise BrowserError(f"chromium dumped an empty DOM for {url}")
    return dom


def screenshot(url: str, out_png: Path, timeout: float = 30) -> Path:
    """Load ``url`` in a 1280x800 window and write a PNG screenshot to ``out_png``."""
    out_png = Path(out_png).resolve()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    out_png.unlink(missing_ok=True)
    _run_chromium([f"--screenshot={out_png}", f"--window-size={WINDOW_SIZE}"], url, timeout)
    if not out_png.is_file() or out_png.stat().st_size == 0:
        raise BrowserError(f"chromium wrote no screenshot for {url}")
    return out_png


def render_page(url: str, out_png: Path, timeout: float = 30) -> str:
    """Load ``url`` once: write a 1280x800 PNG screenshot to ``out_png`` and return the DOM
    after scripts ran (Chromium's new headless mode takes ``--dump-dom`` and ``--screenshot``
    in the same run; the DOM goes to stdout)."""
    out_png = Path(out_png).resolve()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    out_png.unlink(missing_ok=True)
    dom = _run_chromium(
        ["--dump-dom", f"--screenshot={out_png}", f"--window-size={WINDOW_SIZE}"], url, timeout
    )
    if not dom.strip():
        raise BrowserError(f"chromium dumped an empty DOM for {url}")
    if not out_png.is_file() or out_png.stat().st_size == 0:
        raise BrowserError(f"chromium wrote no screenshot for {url}")
    return dom
