"""What the store raises when the database refuses a statement for a reason the caller acts
on. The domain catches these, never the driver's exceptions: which driver, and how it says
"unique violation" or "STALE", stays in app/store/.
"""

from __future__ import annotations


class StoreError(Exception):
    """A statement was refused; nothing it would have written was written."""


class WriteConflict(StoreError):
    """Another transaction wrote the same key first, or took the same locks in another order
    (a deadlock): running the statement again settles it."""


class StaleContext(StoreError):
    """A row read by an earlier statement and relied on by this one changed since: read it
    again, then run again."""


class OutOfRange(StoreError):
    """A value does not fit its column (a counter pushed past what a float holds)."""
