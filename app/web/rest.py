"""Plain JSON routes for callers who need the lowest latency. Same auth, same arguments
(`requestedUsage`, `requestedValues`, `resourceId`) and the same answer as the GraphQL
`entitlement`/`entitlements` queries: the resolvers' own function and view
(app/resolvers/entitlement_checks.py), written by the schema's own serialisers with every
plain field of the type (the fast path's `serialise_all`)."""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.resolvers.entitlement_checks import (
    CustomerNotReadable,
    check_entitlement,
    check_entitlements,
)
from app.schema.context import Context
from app.schema.entitlement_types import Entitlement
from app.schema.input_boundary import unsafe_text
from app.web.graphql import Services, admit, error_body, json_response
from app.web.request_ids import request_id_for


def check_json(services: Services, entitlement: Entitlement) -> dict[str, Any]:
    """The GraphQL `Entitlement` of the same check, every plain field (not the nested
    `feature`, which a resolver loads), written by the schema's own serialisers."""
    return services.fast_path.serialise_all("Entitlement", entitlement)


def _bad_request(message: str, request_id: str) -> Response:
    return json_response(error_body(message, "BAD_REQUEST", request_id), 400, request_id)


def _forbidden(refused: CustomerNotReadable, request_id: str) -> Response:
    return json_response(error_body(str(refused), "FORBIDDEN", request_id), 403, request_id)


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


async def _admitted(request: Request) -> tuple[Services, Context, str] | Response:
    """What both routes start with: the request id, the caller's key (rate-limited) and
    parameters that may be stored — or the response refusing the request."""
    services: Services = request.app.state.services
    request_id = request_id_for(request)
    principal = await admit(services, request, request_id)
    if isinstance(principal, Response):
        return principal
    refused = _unsafe_input(request, request_id)
    if refused is not None:
        return refused
    return services, services.context(principal, request_id), request_id


async def entitlement_route(request: Request) -> Response:
    admitted = await _admitted(request)
    if isinstance(admitted, Response):
        return admitted
    services, context, request_id = admitted
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
    try:
        answer = await check_entitlement(
            context,
            request.path_params["customer_id"],
            request.path_params["feature_id"],
            requested,
            values,
            request.query_params.get("resourceId"),
        )
    except CustomerNotReadable as refused:
        return _forbidden(refused, request_id)
    return json_response(check_json(services, answer), request_id=request_id)


async def entitlements_route(request: Request) -> Response:
    admitted = await _admitted(request)
    if isinstance(admitted, Response):
        return admitted
    services, context, request_id = admitted
    try:
        answers = await check_entitlements(
            context,
            request.path_params["customer_id"],
            request.query_params.get("resourceId"),
        )
    except CustomerNotReadable as refused:
        return _forbidden(refused, request_id)
    if answers.deny_reason is not None:
        return json_response(
            {"entitlements": [], "denyReason": answers.deny_reason.value}, request_id=request_id
        )
    return json_response(
        {"entitlements": [check_json(services, e) for e in answers.entitlements]},
        request_id=request_id,
    )
