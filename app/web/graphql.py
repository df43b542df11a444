"""The GraphQL endpoint over HTTP: body limits, authentication, batching, error masking.

Written as a plain Starlette endpoint (rather than strawberry's ASGI view) so that auth (401),
limits (413, 400) and the response encoding are ours and cheap.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson
from graphql import GraphQLError, OperationDefinitionNode, OperationType
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app.auth import Principal, principal_with_token
from app.clock import Clock
from app.customer_tokens import TokenRefused
from app.db import Database
from app.schema.context import Context
from app.schema.documents import (
    CheckedDocument,
    cost_limit,
    count_tokens,
    input_values_limit,
    refusal_for_key,
)
from app.schema.input_boundary import unsafe_variable
from app.schema.introspection import Introspection, introspection_only
from app.schema.loaders import Loaders
from app.settings import Settings
from app.store.key_revocations import RevocationListener
from app.store.tenancy import principal_for_key
from app.web.fast_path import FastPath, MutationFailed
from app.web.graphiql import graphiql_html
from app.web.media_types import APPLICATION_JSON, Answer, negotiate
from app.web.rate_limits import RateLimits
from app.web.request_ids import log_client_error, request_id_for
from app.web.sessions import CSRF_HEADER, ENVIRONMENT_HEADER, live_session, session_token

log = logging.getLogger("allot.http")

AUTH_CACHE_SECONDS = 5.0
CUSTOMER_TOKEN_HEADER = "x-allot-customer-token"


def json_response(
    payload: Any,
    status: int = 200,
    request_id: str | None = None,
    media_type: str = APPLICATION_JSON,
) -> Response:
    headers = {"X-Request-Id": request_id} if request_id else None
    return Response(
        orjson.dumps(payload), status_code=status, media_type=media_type, headers=headers
    )


def error_body(message: str, code: str, request_id: str | None = None) -> dict[str, Any]:
    extensions: dict[str, Any] = {"code": code}
    log_client_error(code, message)  # every body built here answers a client mistake
    if request_id:
        extensions["requestId"] = request_id
    return {"errors": [{"message": message, "extensions": extensions}]}


@dataclass
class Services:
    """What every request needs, built once by the app's lifespan."""

    db: Database
    settings: Settings
    clock: Clock
    schema: Any
    rate_limits: RateLimits
    _auth_cache: dict[str, tuple[Principal, float]] = field(default_factory=dict)
    _auth_lookups: dict[str, asyncio.Future[Principal | None]] = field(default_factory=dict)
    _fast_path: FastPath | None = None
    _introspection: Introspection | None = None
    # Set by the app's lifespan: while it does not listen, revocations could be missed, so
    # the key cache is not used (app/store/key_revocations.py).
    revocations: RevocationListener | None = None
    # Set by the app's lifespan: the process's push fan-out (app/workers/push.py).
    push: Any = None

    @property
    def introspection(self) -> Introspection:
        if self._introspection is None:
            self._introspection = Introspection(self.schema._schema)
        return self._introspection

    @property
    def fast_path(self) -> FastPath:
        if self._fast_path is None:
            self._fast_path = FastPath(self.schema._schema, self.schema.documents)
        return self._fast_path

    async def authenticate(self, request: Request) -> Principal | None:
        """The principal for the request's key (Bearer or X-API-Key), or None.

        Found keys are cached for a few seconds per process, so the hot path skips a round
        trip; a revocation drops the key from every process's cache at once (NOTIFY), and a
        process that cannot hear revocations does not use its cache."""
        secret = presented_key(request)
        if secret is None:
            return None
        return await self.principal_for(secret)

    async def principal_for(self, secret: str) -> Principal | None:
        """The principal of a key (cached a few seconds, as `authenticate`), or None."""
        cached = self.cached_principal(secret)
        if cached is not None:
            return cached
        # One lookup per key at a time: when a busy key's entry expires, every request in
        # flight misses at once, and each running its own lookup made a latency spike.
        lookup = self._auth_lookups.get(secret)
        if lookup is None:
            lookup = asyncio.ensure_future(self._look_up(secret))
            self._auth_lookups[secret] = lookup
            lookup.add_done_callback(lambda _: self._auth_lookups.pop(secret, None))
        return await asyncio.shield(lookup)

    async def _look_up(self, secret: str) -> Principal | None:
        now = time.monotonic()
        async with self.db.raw() as conn:
            principal = await principal_for_key(conn, secret)
        if principal is None:
            self._auth_cache.pop(secret, None)
            return None
        if len(self._auth_cache) > 10_000:
            self._auth_cache.clear()
        self._auth_cache[secret] = (principal, now + AUTH_CACHE_SECONDS)
        return principal

    def cached_principal(self, secret: str) -> Principal | None:
        """The principal of a key found a few seconds ago, when the cache may be trusted."""
        if self.revocations is not None and not self.revocations.listening:
            return None
        cached = self._auth_cache.get(secret)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        return None

    def forget_key(self, key_pk: uuid.UUID) -> None:
        for secret, (principal, _) in list(self._auth_cache.items()):
            if principal.key_pk == key_pk:
                del self._auth_cache[secret]

    def forget_all_keys(self) -> None:
        self._auth_cache.clear()

    def context(self, principal: Principal, request_id: str) -> Context:
        return Context(
            db=self.db,
            principal=principal,
            settings=self.settings,
            clock=self.clock,
            request_id=request_id,
            services=self,
            make_loaders=Loaders,
        )


def presented_key(request: Request) -> str | None:
    """The key a request presents (X-API-Key, or Authorization: Bearer), if it could be one."""
    secret = request.headers.get("x-api-key")
    if not secret:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            secret = value.strip()
    if not secret or len(secret) > 200:
        return None
    return secret


def unauthenticated(request_id: str) -> Response:
    return json_response(
        error_body(
            "A valid API key is required (Authorization: Bearer <key> or X-API-Key).",
            "UNAUTHENTICATED",
            request_id,
        ),
        status=401,
        request_id=request_id,
    )


def rate_limited(message: str, wait: float, request_id: str) -> Response:
    """HTTP 429, with the seconds to wait (rounded up, at least 1) in `Retry-After` and in
    `extensions.retryAfter`."""
    seconds = max(1, math.ceil(wait))
    body = error_body(message, "RATE_LIMITED", request_id)
    body["errors"][0]["extensions"]["retryAfter"] = seconds
    response = json_response(body, status=429, request_id=request_id)
    response.headers["Retry-After"] = str(seconds)
    return response


def _over_key_limit(
    services: Services, principal: Principal, wait: float, request_id: str
) -> Response:
    rate = services.rate_limits.rate_of(principal)
    return rate_limited(
        f"Rate limit exceeded for this {principal.kind.value} key: {rate.per_second:g} "
        f"requests a second, bursts of {rate.burst} (a batch counts each operation).",
        wait,
        request_id,
    )


async def admit(services: Services, request: Request, request_id: str) -> Principal | Response:
    """Authentication and the key's rate limit, before anything of the body is read: the
    principal (one token taken from its key's bucket; narrowed to the customer of an
    `X-Allot-Customer-Token`, docs/security.md#customer-tokens), or the 401/429 refusing the
    request (401 too for a token that is forged, expired or another environment's).

    A key the process would have to look up in the database is refused while its client
    address is over the limit of failed authentications (a flood of made-up keys would cost
    a round trip each); keys it has cached still pass (docs/security.md#rate-limits)."""
    address = request.client.host if request.client else ""
    failures = services.rate_limits.auth_failures
    secret = presented_key(request)
    if secret is None and session_token(request) is not None:
        # A session is looked up in the database as a key is: made-up cookies count as
        # failed authentications of the address, and are refused while it is over the limit.
        if wait := failures.wait(address):
            return rate_limited(
                "Rate limit of failed authentications from this address exceeded.",
                wait,
                request_id,
            )
        admitted = await _admit_session(services, request, request_id)
        if isinstance(admitted, Response) and admitted.status_code == 401:
            failures.take(address)
        return admitted
    if secret is not None and (wait := failures.wait(address)):
        if services.cached_principal(secret) is None:
            return rate_limited(
                "Rate limit of failed authentications from this address exceeded.",
                wait,
                request_id,
            )
    principal = await services.authenticate(request)
    if principal is None:
        if secret is not None:  # looked up and not found
            failures.take(address)
        return unauthenticated(request_id)
    wait = services.rate_limits.take(principal)
    if wait:
        return _over_key_limit(services, principal, wait, request_id)
    token = request.headers.get(CUSTOMER_TOKEN_HEADER)
    if token is None:
        return principal
    narrowed = principal_with_token(principal, token)
    if isinstance(narrowed, TokenRefused):  # forged, expired, or another environment's
        return json_response(
            error_body(str(narrowed), "UNAUTHENTICATED", request_id),
            status=401,
            request_id=request_id,
        )
    return narrowed


async def _admit_session(
    services: Services, request: Request, request_id: str
) -> Principal | Response:
    """A console session (the `allot_session` cookie, no API key): the CSRF token in
    X-CSRF-Token, the environment in X-Allot-Environment (its id or slug; absent: the
    account's first), then the session's rate limit (docs/console.md)."""
    session = await live_session(services, request)
    if session is None:
        return json_response(
            error_body(
                "The session has ended or expired: log in again (/console/login).",
                "UNAUTHENTICATED",
                request_id,
            ),
            status=401,
            request_id=request_id,
        )
    if not session.csrf_matches(request.headers.get(CSRF_HEADER)):
        return json_response(
            error_body(
                "A session's requests carry its CSRF token in X-CSRF-Token "
                "(GET /console/session gives it).",
                "FORBIDDEN",
                request_id,
            ),
            status=403,
            request_id=request_id,
        )
    environment = session.environment(request.headers.get(ENVIRONMENT_HEADER))
    if environment is None:
        return json_response(
            error_body(
                "No environment with that id or slug in your account (X-Allot-Environment).",
                "ENVIRONMENT_NOT_FOUND",
                request_id,
            ),
            status=404,
            request_id=request_id,
        )
    principal = session.principal(environment)
    wait = services.rate_limits.take(principal)
    if wait:
        rate = services.rate_limits.rate_of(principal)
        return rate_limited(
            f"Rate limit exceeded for this session: {rate.per_second:g} requests a second, "
            f"bursts of {rate.burst} (a batch counts each operation).",
            wait,
            request_id,
        )
    return principal


def charge_batch(
    services: Services, principal: Principal, operations: int, request_id: str
) -> Response | None:
    """A batch of N operations costs N tokens (at most the burst), all or none; `admit`
    took the first. A refused batch keeps that one: reading it had a cost."""
    wait = services.rate_limits.take(principal, operations - 1, then=1)
    return _over_key_limit(services, principal, wait, request_id) if wait else None


async def read_limited_body(request: Request, limit: int) -> bytes | None:
    """The body, or None when it exceeds `limit` bytes (checked while reading)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _format_error(error: GraphQLError, request_id: str) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    original = error.original_error
    extensions = dict(formatted.get("extensions") or {})
    if original is not None and hasattr(original, "extensions"):
        extensions.update(original.extensions or {})
    if "code" not in extensions:
        extensions["code"] = "BAD_REQUEST" if error.path is None else "INTERNAL_SERVER_ERROR"
    if extensions["code"] == "INTERNAL_SERVER_ERROR":
        extensions["requestId"] = request_id  # logged with its traceback (app/resolvers/root.py)
    else:
        log_client_error(extensions["code"], error.message, error.path)
    formatted["extensions"] = extensions
    return formatted


class Outcome(Enum):
    """What became of one operation, for its status code (app/web/media_types.py)."""

    EXECUTED = "executed"  # execution started: 200, whatever its field errors
    REQUEST_ERROR = "request error"  # a GraphQL request error: nothing executed
    MALFORMED = "malformed"  # not a GraphQL-over-HTTP request at all: always 400
    NOT_A_QUERY = "not a query"  # a mutation sent with GET: 405


def _operation_type(document: Any, operation_name: str | None) -> OperationType | None:
    """The type of the operation `operation_name` selects (None when none is selected:
    the executor reports that)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for operation in operations:
        if operation_name is None and len(operations) == 1:
            return operation.operation
        if operation.name is not None and operation.name.value == operation_name:
            return operation.operation
    return None


async def _execute_one(
    services: Services,
    payload: Any,
    context: Context,
    checked: CheckedDocument | None = None,
    queries_only: bool = False,
) -> tuple[dict[str, Any], Outcome]:
    """Run one operation (`checked`: its query's verdict, when the batch's budget already
    checked it; `queries_only`: a GET, which never runs a mutation). Returns its response
    body and what became of it."""
    if not isinstance(payload, dict):
        return error_body("Each request must be a JSON object.", "BAD_REQUEST"), Outcome.MALFORMED
    query = payload.get("query")
    variables = payload.get("variables")
    operation_name = payload.get("operationName")
    extensions = payload.get("extensions")
    if not isinstance(query, str) or not query.strip():
        return (
            error_body("`query` must be a non-empty string.", "BAD_REQUEST"),
            Outcome.MALFORMED,
        )
    if variables is not None and not isinstance(variables, dict):
        return error_body("`variables` must be an object.", "BAD_REQUEST"), Outcome.MALFORMED
    if operation_name is not None and not isinstance(operation_name, str):
        return error_body("`operationName` must be a string.", "BAD_REQUEST"), Outcome.MALFORMED
    if extensions is not None and not isinstance(extensions, dict):
        return error_body("`extensions` must be an object.", "BAD_REQUEST"), Outcome.MALFORMED
    # The input boundary for variables (literals: a validation rule; app/schema/input_boundary).
    unsafe = (
        unsafe_variable(
            variables, input_values_limit(context.settings, context.principal.is_server)
        )
        if variables
        else None
    )
    if unsafe is not None:
        return error_body(unsafe, "INVALID_INPUT"), Outcome.REQUEST_ERROR
    # Checked once (a long new text on a worker thread); the executor and the fast path
    # are handed this verdict.
    if checked is None:
        checked = await services.schema.documents.check_off_loop(query)
    if (
        queries_only
        and checked.document is not None
        and _operation_type(checked.document, operation_name) not in (None, OperationType.QUERY)
    ):
        message = "GET runs queries only: send mutations with POST."
        return error_body(message, "METHOD_NOT_ALLOWED"), Outcome.NOT_A_QUERY
    if _introspection_only(checked, operation_name, context):
        assert checked.document is not None
        kept = await services.introspection.answer(
            query, checked.document, variables, operation_name
        )
        if kept is not None:
            return kept, Outcome.EXECUTED
    context.checked = (query, checked)
    plan = services.fast_path.plan_for(query, operation_name, checked)
    if plan is not None:
        try:
            answer = await services.fast_path.run(plan, variables, context)
        except MutationFailed as failed:  # it may have written: never run it twice
            errors = [_format_error(failed.error, context.request_id)]
            return {"data": None, "errors": errors}, Outcome.EXECUTED
        except Exception:  # the executor answers instead, and masks/logs what went wrong
            log.debug("fast path declined", exc_info=True)
            answer = None
        if answer is not None:
            return answer, Outcome.EXECUTED
    result = await services.schema.execute(
        query, variable_values=variables, context_value=context, operation_name=operation_name
    )
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [_format_error(e, context.request_id) for e in result.errors]
    body["data"] = result.data
    request_error = (
        result.data is None and bool(result.errors) and all(e.path is None for e in result.errors)
    )
    return body, Outcome.REQUEST_ERROR if request_error else Outcome.EXECUTED


def _introspection_only(
    checked: CheckedDocument, operation_name: str | None, context: Context
) -> bool:
    if not checked.introspects or checked.document is None or checked.errors:
        return False
    if refusal_for_key(checked, context.settings, context.principal.is_server):
        return False
    return introspection_only(checked.document, operation_name)


async def _check_batch(
    services: Services, batch: list[Any], principal: Principal
) -> list[CheckedDocument | None] | str:
    """Each operation's checked document (None for an item without a query string, which is
    answered as malformed), or why the batch is refused as a whole. Its tokens are counted
    first, at C speed and without parsing (parsing costs 4 to 10 µs a token); then its
    documents are checked, as any operation is, and their costs summed."""
    settings = services.settings
    documents = services.schema.documents
    queries = [item.get("query") if isinstance(item, dict) else None for item in batch]
    tokens = 0
    for query in queries:
        if not isinstance(query, str):
            continue
        cached = documents.cached(query)
        left = settings.max_request_tokens - tokens
        tokens += cached.tokens if cached is not None else count_tokens(query, left)
        if tokens > settings.max_request_tokens:
            return f"The batch holds over {settings.max_request_tokens} tokens."
    limit = cost_limit(settings, principal.is_server)
    cost = 0
    checks: list[CheckedDocument | None] = []
    for query in queries:
        if not isinstance(query, str) or not query.strip():
            checks.append(None)
            continue
        checked = await documents.check_off_loop(query)
        cost += checked.cost
        if cost > limit:
            return f"The batch costs over {limit} (summed over its operations)."
        checks.append(checked)
    return checks


def _answer(body: dict[str, Any], outcome: Outcome, answer: Answer, request_id: str) -> Response:
    """One operation's response in the negotiated media type, with its status code."""
    if outcome is Outcome.MALFORMED:
        status = 400
    elif outcome is Outcome.NOT_A_QUERY:
        response = json_response(body, 405, request_id, answer.media_type)
        response.headers["Allow"] = "POST"
        return response
    elif outcome is Outcome.REQUEST_ERROR:
        status = answer.request_error_status()
        if answer is Answer.GRAPHQL_RESPONSE:
            body.pop("data", None)  # nothing executed: no data entry (the spec's rule)
    else:
        status = 200
    return json_response(body, status, request_id, answer.media_type)


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        return False
    return content_type.partition(";")[0].strip().lower() == APPLICATION_JSON


async def graphql_post(request: Request) -> Response:
    services: Services = request.app.state.services
    request_id = request_id_for(request)
    principal = await admit(services, request, request_id)
    if isinstance(principal, Response):
        return principal
    answer = negotiate(request.headers.get("accept"))
    body = await read_limited_body(request, services.settings.max_body_bytes)
    if body is None:
        return json_response(
            error_body(
                f"Request body over {services.settings.max_body_bytes} bytes.",
                "PAYLOAD_TOO_LARGE",
                request_id,
            ),
            status=413,
            request_id=request_id,
        )
    if not _is_json(request.headers.get("content-type")):
        return json_response(
            error_body(
                "A GraphQL request is sent as Content-Type: application/json.",
                "UNSUPPORTED_MEDIA_TYPE",
                request_id,
            ),
            status=415,
            request_id=request_id,
        )
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return json_response(
            error_body("The body is not valid JSON.", "BAD_REQUEST", request_id),
            status=400,
            request_id=request_id,
        )
    context = services.context(principal, request_id)
    if isinstance(payload, list):
        if not payload or len(payload) > services.settings.max_batch:
            return json_response(
                error_body(
                    f"A batch holds 1 to {services.settings.max_batch} operations.",
                    "BAD_REQUEST",
                    request_id,
                ),
                status=400,
                request_id=request_id,
            )
        refused = charge_batch(services, principal, len(payload), request_id)
        if refused is not None:
            return refused
        checks = await _check_batch(services, payload, principal)
        if isinstance(checks, str):
            return json_response(
                error_body(checks, "QUERY_TOO_COMPLEX", request_id),
                status=400,
                request_id=request_id,
            )
        results = []
        for item, checked in zip(payload, checks, strict=True):
            # Each operation of a batch gets fresh loaders: nothing leaks between them.
            context = services.context(principal, request_id)
            results.append((await _execute_one(services, item, context, checked))[0])
        return json_response(results, request_id=request_id, media_type=answer.media_type)
    result, outcome = await _execute_one(services, payload, context)
    return _answer(result, outcome, answer, request_id)


def _json_parameter(raw: str | None) -> Any:
    """A GET parameter holding JSON (`variables`, `extensions`); a string that is not JSON
    stays a string (refused as malformed by the checks of `_execute_one`)."""
    if raw is None:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


async def graphql_get(request: Request) -> Response:
    """GET /graphql: GraphiQL for browsers (`Accept: text/html`); for everyone else a query
    from the URL's parameters (`query`, `variables` and `extensions` as JSON,
    `operationName`), never a mutation (405, `Allow: POST`)."""
    answer = negotiate(request.headers.get("accept"), html=True)
    if answer is Answer.HTML:
        return HTMLResponse(graphiql_html())
    services: Services = request.app.state.services
    request_id = request_id_for(request)
    principal = await admit(services, request, request_id)
    if isinstance(principal, Response):
        return principal
    params = request.query_params
    if "query" not in params:
        return json_response(
            error_body(
                "GET /graphql runs the query given as ?query=… (browsers asking for "
                "text/html get GraphiQL).",
                "BAD_REQUEST",
                request_id,
            ),
            status=400,
            request_id=request_id,
            media_type=answer.media_type,
        )
    payload = {
        "query": params.get("query"),
        "variables": _json_parameter(params.get("variables")),
        "operationName": params.get("operationName"),
        "extensions": _json_parameter(params.get("extensions")),
    }
    context = services.context(principal, request_id)
    result, outcome = await _execute_one(services, payload, context, queries_only=True)
    return _answer(result, outcome, answer, request_id)
