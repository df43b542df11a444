"""Plain JSON routes for callers who need the lowest latency. Same auth, same arguments
(`requestedUsage`, `requestedValues`, `resourceId`), same domain code and the same answer as
the GraphQL `entitlement`/`entitlements` queries: one view (`entitlement_view`), written
with the field list the schema gives."""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.domain import checks
from app.domain.checks import CheckResult
from app.domain.entitlement_sources import DenyReason
from app.http import Services, admit, error_body, json_response
from app.request_ids import request_id_for
from app.schema.entitlement_types import entitlement_view
from app.schema.input_boundary import unsafe_text


def check_json(services: Services, result: CheckResult) -> dict[str, Any]:
    """The GraphQL `Entitlement` of the same check, every field but the nested `feature`:
    built by the same view and written by the schema's own serialisers."""
    return services.fast_path.serialise_all("Entitlement", entitlement_view(result))


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
    request_id = request_id_for(request)
    principal = await admit(services, request, request_id)
    if isinstance(principal, Response):
        return principal
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
        services.db,
        principal.environment_pk,
        request.path_params["customer_id"],
        request.path_params["feature_id"],
        services.clock.now(),
        requested,
        values,
        request.query_params.get("resourceId"),
    )
    return json_response(check_json(services, result), request_id=request_id)


async def entitlements_route(request: Request) -> Response:
    services: Services = request.app.state.services
    request_id = request_id_for(request)
    principal = await admit(services, request, request_id)
    if isinstance(principal, Response):
        return principal
    refused = _unsafe_input(request, request_id)
    if refused is not None:
        return refused
    results = await checks.check_all(
        services.db,
        principal.environment_pk,
        request.path_params["customer_id"],
        services.clock.now(),
        request.query_params.get("resourceId"),
    )
    if isinstance(results, DenyReason):
        return json_response(
            {"entitlements": [], "denyReason": results.value}, request_id=request_id
        )
    return json_response(
        {"entitlements": [check_json(services, r) for r in results]}, request_id=request_id
    )
