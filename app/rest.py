"""Plain JSON routes for callers who need the lowest latency. Same auth, same domain code
and the same answer as the GraphQL `entitlement`/`entitlements` queries."""

from __future__ import annotations

import math
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.domain import checks
from app.domain.checks import CheckResult
from app.domain.entitlements import DenyReason
from app.http import Services, error_body, json_response, unauthenticated
from app.schema.input_boundary import unsafe_text


def _float(value: float | None) -> float | None:
    """Numbers as GraphQL's Float writes them (10 -> 10.0): the same answer on both routes."""
    return None if value is None else float(value)


def check_json(result: CheckResult) -> dict[str, Any]:
    """The GraphQL `Entitlement` fields, camelCased, without the nested `feature`."""
    check, period = result.check, result.period
    metered = check.feature_type is not None and check.feature_type.value == "METERED"
    return {
        "featureId": check.feature_id,
        "hasAccess": check.has_access,
        "denyReason": check.deny_reason.value if check.deny_reason else None,
        "isUnlimited": check.is_unlimited,
        "isSoftLimit": check.is_soft_limit,
        "usageLimit": _float(check.usage_limit),
        "currentUsage": float(check.current_usage) if metered else None,
        "requestedUsage": _float(check.requested_usage),
        "remaining": _float(check.remaining),
        "value": _float(check.value),
        "enumValues": list(check.enum_values) if check.enum_values is not None else None,
        "resetPeriod": check.reset_period,
        "usagePeriodStart": period.start.isoformat() if period else None,
        "usagePeriodEnd": period.end.isoformat() if period else None,
        "sources": [
            {"kind": s.kind.value, "subscriptionId": s.subscription_id, "planId": s.plan_id,
             "addonId": s.addon_id, "quantity": s.quantity, "usageLimit": _float(s.usage_limit),
             "isUnlimited": s.is_unlimited, "value": _float(s.value),
             "enumValues": list(s.enum_values) if s.enum_values is not None else None,
             "isTrial": s.is_trial, "isEffective": s.is_effective}
            for s in check.sources
        ],
    }


def _bad_request(message: str, request_id: str) -> Response:
    return json_response(error_body(message, "BAD_REQUEST", request_id), 400, request_id)


def _unsafe_input(request: Request, request_id: str) -> Response | None:
    """The input boundary of the REST routes (as for GraphQL strings): no NUL or lone
    surrogate in the path or the query parameters."""
    given = [*request.path_params.items(), *request.query_params.multi_items()]
    for name, value in given:
        reason = unsafe_text(value) if isinstance(value, str) else None
        if reason is not None:
            message = f"{name} may not contain {reason}"
            return json_response(error_body(message, "INVALID_INPUT", request_id), 400, request_id)
    return None


async def entitlement_route(request: Request) -> Response:
    services: Services = request.app.state.services
    request_id = uuid.uuid4().hex[:16]
    principal = await services.authenticate(request)
    if principal is None:
        return unauthenticated(request_id)
    refused = _unsafe_input(request, request_id)
    if refused is not None:
        return refused
    requested: float | None = None
    raw = request.query_params.get("requestedUsage")
    if raw is not None:
        try:
            requested = float(raw)
        except ValueError:
            return _bad_request("requestedUsage must be a number", request_id)
        if not math.isfinite(requested):
            return _bad_request("requestedUsage must be finite", request_id)
    values = request.query_params.getlist("requestedValues") or None
    result = await checks.check_one(
        services.db, principal.environment_pk, request.path_params["customer_id"],
        request.path_params["feature_id"], services.clock.now(), requested, values)
    return json_response(check_json(result), request_id=request_id)


async def entitlements_route(request: Request) -> Response:
    services: Services = request.app.state.services
    request_id = uuid.uuid4().hex[:16]
    principal = await services.authenticate(request)
    if principal is None:
        return unauthenticated(request_id)
    refused = _unsafe_input(request, request_id)
    if refused is not None:
        return refused
    results = await checks.check_all(services.db, principal.environment_pk,
                                     request.path_params["customer_id"], services.clock.now())
    if isinstance(results, DenyReason):
        return json_response({"entitlements": [], "denyReason": results.value},
                             request_id=request_id)
    return json_response({"entitlements": [check_json(r) for r in results]},
                         request_id=request_id)
