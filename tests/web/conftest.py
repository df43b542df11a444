"""Fixtures shared by the web tests."""

from __future__ import annotations

import pytest

from tests.support import Ticks


@pytest.fixture(scope="module")
def ticks() -> Ticks:
    """The app's monotonic clock, one per test module (the tests move it by hand)."""
    return Ticks()
