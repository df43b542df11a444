"""The one input boundary: what a caller may send as a `DateTime`, a `JSON` value or any
string, checked once for every argument rather than at call sites (docs/security.md, "Input
limits").

* `DateTime`: ISO-8601 within EARLIEST … LATEST. PostgreSQL stores what Python cannot read
  back (year 1 and 9999.999999 became -infinity/infinity and every later read failed), so
  nothing outside a range every layer handles gets in. A value without a time zone passes
  through: the mutation that takes it refuses it with the field it came in (as before).
* Strings: no NUL (PostgreSQL text and jsonb cannot hold it) and no lone surrogate (not
  UTF-8). Literals are checked by the validation rule `RefuseUnsafeStrings`, variables by
  `unsafe_variable` (app/web/graphql.py runs it on every operation), JSON values by the scalar.
* `JSON`: nesting and encoded size bounded; numbers finite and within ±2^53, so what is
  stored always serialises back, and reads the same in JavaScript. Reads are tolerant:
  `readable_json` turns what was stored before these rules into something the response
  encoder can write, instead of failing the whole request.

Every refusal is a top-level error with `extensions.code = "INVALID_INPUT"`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import dateutil.parser
import orjson
from graphql import GraphQLError, StringValueNode, ValidationRule
from strawberry.types.scalar import ScalarDefinition

from app.schema.common import ClientError

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
MAX_SAFE_INTEGER = 2**53  # JavaScript's exact integers; beyond, numbers are refused
READ_DEPTH = 64  # stored JSON deeper than this (from before the limits) reads as null there
_UNSAFE = re.compile("[\x00\ud800-\udfff]")
_ORJSON_INT = 2**63  # orjson writes integers of 64 bits at most


def invalid(message: str) -> ClientError:
    return ClientError(message, "INVALID_INPUT")


def unsafe_text(text: str) -> str | None:
    """Why `text` may not be stored (None when it may)."""
    found = _UNSAFE.search(text)
    if found is None:
        return None
    return "a NUL character" if found.group() == "\x00" else "a lone UTF-16 surrogate"


# --- DateTime -----------------------------------------------------------------------------------


def parse_datetime(value: object) -> datetime:
    # Not a date-time at all: a plain coercion error (BAD_REQUEST), as for any other scalar.
    if not isinstance(value, str):
        raise ValueError(f"DateTime must be an ISO-8601 string, not {type(value).__name__}")
    try:
        parsed = dateutil.parser.isoparse(value)
    except (ValueError, OverflowError):
        raise ValueError(f"{value[:40]!r} is not an ISO-8601 date-time") from None
    # Compared as UTC; a value without a zone is compared as if it were UTC and refused by
    # the mutation that takes it, with its field.
    aware = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    if not EARLIEST <= aware <= LATEST:
        raise invalid(f"DateTime must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return parsed


def _serialize_datetime(value: Any) -> str:
    return str(value.isoformat())


DATETIME = ScalarDefinition(
    name="DateTime",
    description=(
        "An ISO-8601 date-time with a time zone (UTC recommended), between "
        "1970-01-01T00:00:00Z and 2200-01-01T00:00:00Z."
    ),
    specified_by_url=None,
    serialize=_serialize_datetime,
    parse_value=parse_datetime,
    parse_literal=None,  # graphql-core's default: the literal's value through parse_value
    origin=datetime,
)


# --- strings ------------------------------------------------------------------------------------


class RefuseUnsafeStrings(ValidationRule):
    """Every string literal of a document (arguments, input fields, JSON literals, variable
    defaults) free of NUL and lone surrogates."""

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        reason = unsafe_text(node.value)
        if reason is not None:
            self.report_error(
                GraphQLError(
                    f"A string may not contain {reason}.",
                    node,
                    extensions={"code": "INVALID_INPUT"},
                )
            )


def unsafe_variable(variables: Mapping[str, Any], max_values: int) -> str | None:
    """A message naming the first variable holding a string (or object key) that may not be
    stored, or saying the variables hold over `max_values` values (every value, list and
    object counts: coercing each costs a few µs), else None. Iterative: variables nest as
    deep as the JSON parser allows; containers are counted before they are walked."""
    if len(variables) > max_values:
        return f"The variables hold over {max_values} values."
    seen = len(variables)
    # (value, where it is: a parent's path and this value's index or key)
    stack: list[tuple[Any, str, Any]] = [(v, "", name) for name, v in variables.items()]
    stack.extend((name, "variable names", None) for name in variables)
    while stack:
        value, parent, step = stack.pop()
        if isinstance(value, str):
            reason = unsafe_text(value)
            if reason is not None:
                return f"{_path(parent, step)} contains {reason}."
            continue
        if isinstance(value, dict | list):
            seen += len(value)
            if seen > max_values:
                return f"The variables hold over {max_values} values."
            path = _path(parent, step)
            if isinstance(value, dict):
                for key, item in value.items():
                    stack.append((key, f"{path} (a key)", None))
                    stack.append((item, path, key))
            else:
                stack.extend((item, path, i) for i, item in enumerate(value))
    return None


def _path(parent: str, step: Any) -> str:
    if step is None:
        return parent
    if not parent:
        return f"${step}"
    return f"{parent}[{step}]" if isinstance(step, int) else f"{parent}.{step}"


# --- JSON ---------------------------------------------------------------------------------------


def check_json(value: Any, max_depth: int, max_bytes: int) -> None:
    """Raise INVALID_INPUT unless `value` is JSON that will always read back: nesting at most
    `max_depth` objects/arrays, numbers finite within ±2^53, strings and keys storable, at
    most `max_bytes` encoded."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= max_depth:
                raise invalid(f"JSON nests deeper than {max_depth} levels")
            children = item.values() if isinstance(item, dict) else item
            if isinstance(item, dict):
                for key in item:
                    if not isinstance(key, str) or unsafe_text(key) is not None:
                        raise invalid("a JSON key may not contain a NUL or a lone surrogate")
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, str):
            reason = unsafe_text(item)
            if reason is not None:
                raise invalid(f"a JSON string may not contain {reason}")
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int | float):
            if not math.isfinite(item) or abs(item) > MAX_SAFE_INTEGER:
                raise invalid("JSON numbers must be finite and within ±2^53 (9007199254740992)")
        else:
            raise invalid(f"not a JSON value: {type(item).__name__}")
    if len(orjson.dumps(value)) > max_bytes:
        raise invalid(f"JSON value over {max_bytes} bytes")


def readable_json(value: Any) -> Any:
    """`value` as the response encoder can write it. Values stored before the limits may hold
    integers beyond 64 bits (written as floats here) or nest deeper than the encoder goes
    (cut at READ_DEPTH, with null in place of the deeper part); everything else is as
    stored. The common case costs one encoding in C."""
    try:
        orjson.dumps(value)
        return value
    except (orjson.JSONEncodeError, TypeError):
        return _repaired(value, 0)


def _repaired(value: Any, depth: int) -> Any:
    if isinstance(value, dict | list):
        if depth >= READ_DEPTH:
            return None
        if isinstance(value, dict):
            return {str(k): _repaired(v, depth + 1) for k, v in value.items()}
        return [_repaired(v, depth + 1) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        if -_ORJSON_INT < value < _ORJSON_INT:
            return value
        try:
            return float(value)
        except OverflowError:
            return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    try:
        orjson.dumps(value)
        return value
    except (orjson.JSONEncodeError, TypeError):
        return str(value)


_ECMA = "https://ecma-international.org/wp-content/uploads/ECMA-404_2nd_edition_december_2017.pdf"


def json_scalar(max_depth: int, max_bytes: int) -> ScalarDefinition:
    def parse_value(value: Any) -> Any:
        check_json(value, max_depth, max_bytes)
        return value

    return ScalarDefinition(
        name="JSON",
        description=(
            f"The `JSON` scalar type represents JSON values as specified by [ECMA-404]({_ECMA}). "
            f"As input: nested at most {max_depth} levels, at most {max_bytes} bytes, numbers "
            "finite within ±2^53, strings without NUL or lone surrogates."
        ),
        specified_by_url=_ECMA,
        serialize=readable_json,
        parse_value=parse_value,
        parse_literal=None,
    )
