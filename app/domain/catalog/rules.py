"""The rules of the catalog: what a valid feature, entitlement, price and package look like.

Everything here is pure: it takes plain dicts (from GraphQL inputs or a catalog document),
checks them, and returns their *canonical* form — the form stored in a package version and
written by `exportCatalog`. Canonical means: options at their default are left out, numbers
that are whole are ints, money is a decimal string with at least two places. Two documents
that mean the same thing have the same canonical form, which is what makes `applyCatalog`
idempotent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from app.domain.catalog.choices import (
    Aggregation,
    FilterOperator,
    PricingType,
    TrialEndBehavior,
    ValueType,
)
from app.domain.entitlement_sources import AddonBehavior, FeatureType
from app.domain.periods import ResetAnchor, ResetPeriod
from app.errors import DomainError, ErrorCode

Path = Sequence[str | int]

PLAN = "PLAN"  # the two kinds of package
ADDON = "ADDON"
PACKAGE_LABEL = {PLAN: "plan", ADDON: "add-on"}  # how messages name them

# The values each choice takes, from the enums (defined once, exposed as they are in GraphQL).
FEATURE_TYPES = tuple(FeatureType)
VALUE_TYPES = tuple(ValueType)
AGGREGATIONS = tuple(Aggregation)
FILTER_OPERATORS = tuple(FilterOperator)
RESET_PERIODS = tuple(ResetPeriod)
RESET_ANCHORS = tuple(ResetAnchor)
PRICING_TYPES = tuple(PricingType)
TRIAL_END_BEHAVIORS = tuple(TrialEndBehavior)
ADDON_BEHAVIORS = tuple(AddonBehavior)

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,99}$")
MAX_NAME = 200
MAX_TRIAL_DAYS = 3650
MAX_NUMBER = 10**15  # limits, values, tier bounds (exact as a double: below 2**53)


def invalid(message: str, path: Path, code: ErrorCode = ErrorCode.INVALID_INPUT) -> DomainError:
    return DomainError(code, message, list(path))


def check_id(value: Any, path: Path, what: str = "id") -> str:
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise invalid(
            f"{what} must be 1-100 characters: letters, digits, '_', '-', '.', ':' "
            f"(starting with a letter or digit); got {value!r}",
            path,
        )
    return value


def check_name(value: Any, path: Path, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str) or len(value) > MAX_NAME:
        raise invalid(f"must be a string of at most {MAX_NAME} characters", path)
    return value


def check_choice(
    value: Any, choices: Sequence[str], path: Path, code: ErrorCode = ErrorCode.INVALID_INPUT
) -> str:
    if value not in choices:
        raise invalid(f"must be one of {', '.join(choices)}; got {value!r}", path, code)
    return str(value)


def _check_bool(value: Any, path: Path, code: ErrorCode = ErrorCode.INVALID_INPUT) -> bool:
    if not isinstance(value, bool):
        raise invalid("must be true or false", path, code)
    return value


def canonical_number(
    value: Any,
    path: Path,
    *,
    minimum: float | None = 0,
    code: ErrorCode = ErrorCode.INVALID_INPUT,
) -> int | float:
    """A finite number (never a bool) of at most MAX_NUMBER in size, as an int when it is
    whole. The bound keeps whole numbers exact as floats (GraphQL Float is a double) and
    stops a limit of 1e300 standing in for `unlimited`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"must be a number; got {value!r}", path, code)
    if not math.isfinite(value):
        raise invalid("must be a finite number", path, code)
    if minimum is not None and value < minimum:
        raise invalid(f"must be at least {minimum}; got {value}", path, code)
    if abs(value) > MAX_NUMBER:
        raise invalid(f"must be at most 10^15 in size; got {value}", path, code)
    if float(value).is_integer():
        return int(value)
    return float(value)


def reject_unknown(data: Mapping[str, Any], allowed: Sequence[str], path: Path) -> None:
    for key in data:
        if key not in allowed:
            raise invalid(f"unknown option {key!r}; allowed: {', '.join(allowed)}", [*path, key])


def mapping_of(value: Any, path: Path) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise invalid("must be an object", path)
    return value


# --- features -----------------------------------------------------------------------------

FEATURE_KEYS = (
    "id",
    "name",
    "description",
    "type",
    "unit",
    "unitPlural",
    "valueType",
    "enumValues",
    "meter",
)


def canonical_meter(raw: Any, path: Path) -> dict[str, Any]:
    meter = mapping_of(raw, path)
    reject_unknown(meter, ("eventName", "aggregation", "field", "filters"), path)
    event = meter.get("eventName")
    if not isinstance(event, str) or not event.strip() or len(event) > MAX_NAME:
        raise invalid("a meter needs an eventName", [*path, "eventName"])
    aggregation = check_choice(
        meter.get("aggregation", "COUNT"), AGGREGATIONS, [*path, "aggregation"]
    )
    out: dict[str, Any] = {"eventName": event, "aggregation": aggregation}
    field = meter.get("field")
    if aggregation != "COUNT":
        if not isinstance(field, str) or not field:
            raise invalid(
                f"aggregation {aggregation} needs the field it aggregates", [*path, "field"]
            )
        out["field"] = field
    elif field is not None:
        raise invalid("COUNT aggregates no field", [*path, "field"])
    filters = meter.get("filters")
    filters = [] if filters is None else filters
    if not isinstance(filters, list):
        raise invalid("filters must be a list", [*path, "filters"])
    canonical_filters = []
    for i, raw_filter in enumerate(filters):
        fpath = [*path, "filters", i]
        flt = mapping_of(raw_filter, fpath)
        reject_unknown(flt, ("dimension", "operator", "values"), fpath)
        dimension = flt.get("dimension")
        if not isinstance(dimension, str) or not dimension:
            raise invalid("a filter needs a dimension", [*fpath, "dimension"])
        operator = check_choice(flt.get("operator", "IN"), FILTER_OPERATORS, [*fpath, "operator"])
        values = flt.get("values")
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values)
        ):
            raise invalid("a filter needs a non-empty list of values", [*fpath, "values"])
        if operator in ("EQUALS", "NOT_EQUALS") and len(values) != 1:
            raise invalid(f"{operator} takes exactly one value", [*fpath, "values"])
        canonical_filters.append(
            {"dimension": dimension, "operator": operator, "values": [str(v) for v in values]}
        )
    if canonical_filters:
        out["filters"] = canonical_filters
    return out


def canonical_feature(raw: Mapping[str, Any], path: Path = ()) -> dict[str, Any]:
    """Check a feature definition; return it canonical (id, name, type + type's options)."""
    reject_unknown(raw, FEATURE_KEYS, path)
    feature_id = check_id(raw.get("id"), [*path, "id"], "featureId")
    ftype = check_choice(raw.get("type"), FEATURE_TYPES, [*path, "type"])
    out: dict[str, Any] = {
        "id": feature_id,
        "name": check_name(raw.get("name"), [*path, "name"], feature_id),
        "type": ftype,
    }
    description = check_name(raw.get("description"), [*path, "description"])
    if description:
        out["description"] = description
    metered_only = ("unit", "unitPlural", "meter")
    config_only = ("valueType", "enumValues")
    for key in metered_only if ftype != "METERED" else ():
        if raw.get(key) is not None:
            raise invalid(f"{key} applies to METERED features only", [*path, key])
    for key in config_only if ftype != "CONFIGURATION" else ():
        if raw.get(key) is not None:
            raise invalid(f"{key} applies to CONFIGURATION features only", [*path, key])
    if ftype == "METERED":
        for key in ("unit", "unitPlural"):
            if raw.get(key) is not None:
                out[key] = check_name(raw[key], [*path, key])
        if raw.get("meter") is not None:
            out["meter"] = canonical_meter(raw["meter"], [*path, "meter"])
    if ftype == "CONFIGURATION":
        value_type = check_choice(
            raw.get("valueType") or "NUMBER", VALUE_TYPES, [*path, "valueType"]
        )
        out["valueType"] = value_type
        values = raw.get("enumValues")
        if value_type == "ENUM":
            if (
                not isinstance(values, list)
                or not values
                or not all(isinstance(v, str) and v for v in values)
            ):
                raise invalid(
                    "an ENUM feature needs a non-empty list of enumValues", [*path, "enumValues"]
                )
            if len(set(values)) != len(values):
                raise invalid("enumValues must be unique", [*path, "enumValues"])
            out["enumValues"] = list(values)
        elif values is not None:
            raise invalid("enumValues apply to ENUM features only", [*path, "enumValues"])
    return out


# --- entitlements -------------------------------------------------------------------------

ENTITLEMENT_KEYS = (
    "limit",
    "unlimited",
    "softLimit",
    "resetPeriod",
    "resetAnchor",
    "value",
    "enumValues",
    "variable",
    "behavior",
)


def canonical_entitlement(
    raw: Any,
    feature: Mapping[str, Any],
    path: Path,
    *,
    on_addon: bool = False,
    custom_plan: bool = False,
) -> dict[str, Any]:
    """Check one entitlement (a feature's configuration on a package) against its feature."""
    data = mapping_of(raw, path)
    reject_unknown(data, ENTITLEMENT_KEYS, path)

    code = ErrorCode.INVALID_ENTITLEMENT

    def bad(message: str, key: str) -> DomainError:
        return invalid(message, [*path, key], code)

    def not_for(keys: Sequence[str], why: str) -> None:
        for key in keys:
            if data.get(key) not in (None, False):
                raise bad(f"{key} {why}", key)

    out: dict[str, Any] = {}
    variable = data.get("variable") is not None and _check_bool(
        data["variable"], [*path, "variable"], code
    )
    if variable:
        if on_addon or not custom_plan:
            raise bad("only entitlements of CUSTOM plans may be variable", "variable")
        out["variable"] = True
    if on_addon:
        out_behavior = check_choice(
            data.get("behavior") or "INCREMENT", ADDON_BEHAVIORS, [*path, "behavior"], code
        )
        if out_behavior != "INCREMENT":
            out["behavior"] = out_behavior
    elif data.get("behavior") is not None:
        raise bad("behavior applies to add-on entitlements only", "behavior")

    ftype = feature["type"]
    if ftype == "BOOLEAN":
        not_for(
            (
                "limit",
                "unlimited",
                "softLimit",
                "resetPeriod",
                "resetAnchor",
                "value",
                "enumValues",
            ),
            "does not apply to a BOOLEAN feature",
        )
        if "behavior" in out:
            raise bad("a BOOLEAN feature cannot be overridden by an add-on", "behavior")
        return out

    if ftype == "METERED":
        not_for(("value", "enumValues"), "does not apply to a METERED feature (use limit)")
        unlimited = data.get("unlimited") is not None and _check_bool(
            data["unlimited"], [*path, "unlimited"], code
        )
        if unlimited and data.get("limit") is not None:
            raise bad("give either a limit or unlimited, not both", "limit")
        if unlimited:
            if on_addon and "behavior" not in out:
                raise bad("an unlimited add-on entitlement must use behavior OVERRIDE", "unlimited")
            out["unlimited"] = True
        elif data.get("limit") is not None:
            out["limit"] = canonical_number(data["limit"], [*path, "limit"], code=code)
        elif not variable:
            raise bad("a METERED entitlement needs a limit or unlimited", "limit")
        if data.get("softLimit") is not None and _check_bool(
            data["softLimit"], [*path, "softLimit"], code
        ):
            out["softLimit"] = True
        if data.get("resetPeriod") is not None:
            out["resetPeriod"] = check_choice(
                data["resetPeriod"], RESET_PERIODS, [*path, "resetPeriod"], code
            )
            anchor = check_choice(
                data.get("resetAnchor") or "SUBSCRIPTION_START",
                RESET_ANCHORS,
                [*path, "resetAnchor"],
                code,
            )
            if anchor != "SUBSCRIPTION_START":
                out["resetAnchor"] = anchor
        elif data.get("resetAnchor") is not None:
            raise bad("resetAnchor needs a resetPeriod", "resetAnchor")
        return out

    # CONFIGURATION
    not_for(
        ("limit", "unlimited", "softLimit", "resetPeriod", "resetAnchor"),
        "does not apply to a CONFIGURATION feature",
    )
    if feature.get("valueType", "NUMBER") == "ENUM":
        not_for(("value",), "does not apply to an ENUM feature (use enumValues)")
        values = data.get("enumValues")
        if values is None:
            if not variable:
                raise bad("an ENUM entitlement needs enumValues", "enumValues")
            return out
        allowed = feature.get("enumValues") or []
        if not isinstance(values, list) or not values:
            raise bad("enumValues must be a non-empty list", "enumValues")
        for i, v in enumerate(values):
            if v not in allowed:
                raise invalid(
                    f"{v!r} is not one of the feature's values {allowed}",
                    [*path, "enumValues", i],
                    ErrorCode.INVALID_ENTITLEMENT,
                )
        out["enumValues"] = sorted(set(values), key=allowed.index)
        return out
    not_for(("enumValues",), "does not apply to a NUMBER feature (use value)")
    if data.get("value") is None:
        if not variable:
            raise bad("a CONFIGURATION entitlement needs a value", "value")
        return out
    out["value"] = canonical_number(data["value"], [*path, "value"], minimum=None, code=code)
    return out


# --- packages -----------------------------------------------------------------------------


def canonical_trial(raw: Any, path: Path) -> dict[str, Any] | None:
    if raw is None:
        return None
    trial = mapping_of(raw, path)
    reject_unknown(trial, ("days", "endBehavior"), path)
    days = trial.get("days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_TRIAL_DAYS:
        raise invalid(
            f"trial days must be a whole number from 1 to {MAX_TRIAL_DAYS}", [*path, "days"]
        )
    behavior = check_choice(
        trial.get("endBehavior") or "CONVERT_TO_PAID", TRIAL_END_BEHAVIORS, [*path, "endBehavior"]
    )
    return {"days": days, "endBehavior": behavior}


def find_parent_cycle(plan_id: str, parent_of: Callable[[str], str | None]) -> list[str] | None:
    """Follow parents from `plan_id`; return the cycle's path if it comes back to a plan
    already seen, else None."""
    seen = [plan_id]
    current = parent_of(plan_id)
    while current is not None:
        if current in seen:
            return [*seen, current]
        seen.append(current)
        current = parent_of(current)
    return None
