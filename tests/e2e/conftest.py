"""The end-to-end fixture: one real `allot serve --demo` process for the e2e session.

By default it runs on the embedded PostgreSQL in a temporary ALLOT_DATA_DIR, as a user's first
`allot serve --demo` would. With ALLOT_TEST_DATABASE_URL (or DATABASE_URL) set, it runs on a
fresh database created on that server instead (and dropped afterwards), like a deployment
with an external PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.process import Served, demo_server, fresh_data_dir


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with demo_server(tmp_path_factory.mktemp("allot-e2e")) as served:
        yield served


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh, empty ALLOT_DATA_DIR (see `fresh_data_dir`)."""
    with fresh_data_dir() as path:
        yield path
