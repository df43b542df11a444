"""Answers when allot cannot be asked: the fallback configured per feature, or the default.

A fallback is one of:

* ``True`` / ``False``: access granted or not, whatever is asked;
* a number: a hard limit (METERED) or a value (CONFIGURATION): access iff the requested usage,
  when given, is at most that number; ``usage_limit`` and ``value`` are the number;
* a list of strings: the allowed enum values: access iff every requested value is one of them;
* a mapping in the GraphQL shape of ``Entitlement`` (``{"hasAccess": True, "usageLimit": 5}``):
  taken as the answer as is.

Usage is unknown in a fallback: ``current_usage`` and ``remaining`` are None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from allot_sdk._rules import FALLBACK, Entitlement

Fallback: TypeAlias = bool | int | float | Sequence[str] | Mapping[str, Any]


def check_fallback(fallback: Fallback) -> None:
    """Raise ValueError for a fallback of none of the accepted kinds (at construction)."""
    if isinstance(fallback, bool | int | float | Mapping):
        return
    if isinstance(fallback, Sequence) and not isinstance(fallback, str | bytes):
        if all(isinstance(value, str) for value in fallback):
            return
    raise ValueError(f"a fallback is a bool, a number, strings or a mapping: {fallback!r}")


def fallback_answer(
    feature_id: str,
    fallback: Fallback,
    requested_usage: float | None,
    requested_values: Sequence[str] | None,
    error: str,
) -> Entitlement:
    raw: dict[str, Any] = {"featureId": feature_id}
    if isinstance(fallback, bool):
        granted = fallback
    elif isinstance(fallback, int | float):
        granted = requested_usage is None or requested_usage <= fallback
        raw.update(usageLimit=float(fallback), value=float(fallback))
    elif isinstance(fallback, Mapping):
        raw.update(fallback)
        raw["featureId"] = feature_id
        granted = bool(fallback.get("hasAccess", False))
    else:
        allowed = set(fallback)
        granted = requested_values is None or allowed.issuperset(requested_values)
        raw["enumValues"] = sorted(allowed)
    return Entitlement(raw, feature_id, granted, None, requested_usage, FALLBACK, error)
