"""Fixtures of the command-line tests: real `allot` processes on databases of their own."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.databases import empty_database_sync
from tests.e2e.process import allot_env, fresh_data_dir


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with fresh_data_dir() as path:
        yield path


@pytest.fixture
def fresh_env(server_url: str, data_dir: Path) -> Iterator[Callable[[], dict[str, str]]]:
    """Makes environments for child `allot` processes, each on an empty database of its own
    (dropped after the test)."""
    with ExitStack() as stack:

        def make() -> dict[str, str]:
            url = stack.enter_context(empty_database_sync(server_url, "allot_cli"))
            env = allot_env(data_dir, url)
            # The key of this test session (tests/conftest.py): the tests read what the
            # child wrote with it, in-process.
            env["ALLOT_SECRET_KEY"] = os.environ["ALLOT_SECRET_KEY"]
            return env

        yield make
