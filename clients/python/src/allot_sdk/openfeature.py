"""An OpenFeature provider over ``AllotClient`` (``pip install "allot-sdk[openfeature]"``).

The evaluation context's targeting key is the customer id; its attributes ``requestedUsage``,
``requestedValues`` and ``resourceId`` are passed to the check. A flag key is a feature id,
optionally followed by one of these suffixes (docs/sdk.md, "OpenFeature"):

======================  ========================================================
flag key                value
======================  ========================================================
``F`` (boolean)         has access
``F`` (number)          the limit of a METERED feature, the value of a CONFIGURATION one
``F.limit``             the usage limit
``F.remaining``         what is left of the limit
``F.usage``             the current usage
``F.value``             the configuration value
``F`` (string)          the enum values, comma-separated
``F.enumValues``        the enum values (object: a list)
``F`` (object)          the whole entitlement, in the GraphQL JSON shape
======================  ========================================================

A number that is not limited (unlimited) is ``inf`` as a float, TYPE_MISMATCH as an integer;
a feature the customer is not granted has 0; a BOOLEAN feature has no number. Reasons: CACHED
(the cache), TARGETING_MATCH (fetched for this evaluation), DEFAULT (allot unreachable: the
SDK's fallback, the error in ``flag_metadata``). Error codes: FLAG_NOT_FOUND (the feature does
not exist), TARGETING_KEY_MISSING (no customer), INVALID_CONTEXT (customer not found or
archived, for non-boolean flags), TYPE_MISMATCH (a number asked of a feature that has none, a
suffix of another type).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType, Reason
from openfeature.provider import AbstractProvider, Metadata

from allot_sdk._rules import CACHED, FALLBACK, Entitlement
from allot_sdk.client import AllotClient

__all__ = ["AllotProvider"]

T = TypeVar("T")
SUFFIXES = ("limit", "remaining", "usage", "value", "enumValues", "hasAccess")
CUSTOMER_DENIALS = ("CUSTOMER_NOT_FOUND", "CUSTOMER_ARCHIVED")


class _Failed(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def split_key(flag_key: str) -> tuple[str, str | None]:
    """``"seats.remaining"`` → ("seats", "remaining"); a key without a known suffix is the
    feature id as is (feature ids may contain dots)."""
    feature, dot, suffix = flag_key.rpartition(".")
    if dot and feature and suffix in SUFFIXES:
        return feature, suffix
    return flag_key, None


class AllotProvider(AbstractProvider):
    def __init__(self, client: AllotClient) -> None:
        super().__init__()
        self.client = client

    def get_metadata(self) -> Metadata:
        return Metadata(name="allot")

    # --- the one evaluation --------------------------------------------------------------

    def _evaluate(
        self,
        flag_key: str,
        default_value: T,
        context: EvaluationContext | None,
        pick: Callable[[Entitlement, str | None], T],
    ) -> FlagResolutionDetails[T]:
        customer = context.targeting_key if context is not None else None
        if not customer:
            return FlagResolutionDetails(
                default_value,
                error_code=ErrorCode.TARGETING_KEY_MISSING,
                error_message="the targeting key (the customer id) is required",
                reason=Reason.ERROR,
            )
        attributes: Mapping[str, Any] = context.attributes if context is not None else {}
        feature, suffix = split_key(flag_key)
        requested_values = attributes.get("requestedValues")
        result = self.client.check(
            customer,
            feature,
            requested_usage=_number_or_none(attributes.get("requestedUsage")),
            requested_values=list(requested_values) if requested_values is not None else None,
            resource_id=attributes.get("resourceId"),
        )
        if result.deny_reason == "FEATURE_NOT_FOUND":
            return FlagResolutionDetails(
                default_value,
                error_code=ErrorCode.FLAG_NOT_FOUND,
                error_message=f"no feature {feature!r}",
                reason=Reason.ERROR,
            )
        try:
            value = pick(result, suffix)
        except _Failed as failure:
            return FlagResolutionDetails(
                default_value,
                error_code=failure.code,
                error_message=str(failure),
                reason=Reason.ERROR,
            )
        metadata: dict[str, bool | int | float | str] = {"source": result.reason}
        if result.error:
            metadata["error"] = result.error
        return FlagResolutionDetails(
            value,
            reason=_reason(result),
            variant=result.deny_reason or ("granted" if result.has_access else "denied"),
            flag_metadata=metadata,
        )

    # --- the value of each flag type -----------------------------------------------------

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        def pick(result: Entitlement, suffix: str | None) -> bool:
            if suffix not in (None, "hasAccess"):
                raise _Failed(ErrorCode.TYPE_MISMATCH, f".{suffix} is not a boolean")
            return result.has_access

        return self._evaluate(flag_key, default_value, evaluation_context, pick)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._evaluate(flag_key, default_value, evaluation_context, _number)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        def pick(result: Entitlement, suffix: str | None) -> int:
            number = _number(result, suffix)
            if not math.isfinite(number) or number != int(number):
                raise _Failed(ErrorCode.TYPE_MISMATCH, f"{number} is not an integer")
            return int(number)

        return self._evaluate(flag_key, default_value, evaluation_context, pick)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        def pick(result: Entitlement, suffix: str | None) -> str:
            if suffix not in (None, "enumValues"):
                raise _Failed(ErrorCode.TYPE_MISMATCH, f".{suffix} is not a string")
            _customer_known(result)
            values = result.enum_values
            if values is None:
                if result.has_access or result.deny_reason is None:
                    raise _Failed(ErrorCode.TYPE_MISMATCH, "the feature has no enum values")
                return ""
            return ",".join(values)

        return self._evaluate(flag_key, default_value, evaluation_context, pick)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        def pick(
            result: Entitlement, suffix: str | None
        ) -> Sequence[FlagValueType] | Mapping[str, FlagValueType]:
            if suffix == "enumValues":
                _customer_known(result)
                return list(result.enum_values or [])
            if suffix is not None:
                raise _Failed(ErrorCode.TYPE_MISMATCH, f".{suffix} is not an object")
            return cast(Mapping[str, FlagValueType], result.to_dict())

        return self._evaluate(flag_key, default_value, evaluation_context, pick)


def _reason(result: Entitlement) -> Reason:
    if result.reason == FALLBACK:
        return Reason.DEFAULT
    if result.reason == CACHED:
        return Reason.CACHED
    return Reason.TARGETING_MATCH


def _customer_known(result: Entitlement) -> None:
    if result.deny_reason in CUSTOMER_DENIALS:
        raise _Failed(ErrorCode.INVALID_CONTEXT, f"customer: {result.deny_reason}")


def _number(result: Entitlement, suffix: str | None) -> float:
    _customer_known(result)
    if suffix in ("enumValues", "hasAccess"):
        raise _Failed(ErrorCode.TYPE_MISMATCH, f".{suffix} is not a number")
    kind = result.feature_type
    if kind == "BOOLEAN":
        raise _Failed(ErrorCode.TYPE_MISMATCH, "a BOOLEAN feature has no number")
    if (kind == "METERED" and suffix == "value") or (
        kind == "CONFIGURATION" and suffix in ("limit", "remaining", "usage")
    ):
        raise _Failed(ErrorCode.TYPE_MISMATCH, f"a {kind} feature has no {suffix}")
    if result.deny_reason in ("NOT_ENTITLED", "NO_ACTIVE_SUBSCRIPTION"):
        return 0.0  # not granted: nothing allowed
    if suffix is None:
        suffix = "value" if kind == "CONFIGURATION" or result.value is not None else "limit"
    if suffix == "value":
        if result.value is None:
            raise _Failed(ErrorCode.TYPE_MISMATCH, "the feature has no number value")
        return float(result.value)
    if suffix == "usage":
        return float(result.current_usage or 0.0)
    if kind is not None and kind != "METERED":
        raise _Failed(ErrorCode.TYPE_MISMATCH, f"a {kind} feature has no {suffix}")
    if result.is_unlimited:
        return math.inf
    number = result.remaining if suffix == "remaining" else result.usage_limit
    if number is None:
        raise _Failed(ErrorCode.TYPE_MISMATCH, f"no {suffix} known")
    return float(number)


def _number_or_none(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
