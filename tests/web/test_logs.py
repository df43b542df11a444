"""What the service logs for a request, through real HTTP requests against the app: client
mistakes at INFO on one line without a traceback, internal errors at ERROR with the traceback
and the request id the client was given, a safe incoming X-Request-Id reused, and the JSON
log format (docs/operations.md#logs)."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.cli.base import log_config
from app.domain.checks import answers as checks
from app.domain.usage import calculated as usage
from app.settings import Settings
from app.store import catalog as catalog_store
from tests.support import GraphQLClient, Tenant

CREATE = 'mutation { createFeature(input: {id: "f", type: BOOLEAN}) { errors { code } } }'
REPORT = (
    'mutation { reportUsage(input: {customerId: "acme", featureId: "seats", value: 1}) '
    "{ accepted } }"
)


def _ours(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The records of the service and of the GraphQL library it runs on."""
    return [r for r in caplog.records if r.name.startswith(("allot", "app", "strawberry"))]


def _one_info_line(caplog: pytest.LogCaptureFixture, code: str, request_id: str) -> None:
    records = _ours(caplog)
    assert [r for r in records if r.levelno >= logging.WARNING] == []
    (record,) = [r for r in records if code in r.getMessage()]
    assert record.levelno == logging.INFO
    assert record.exc_info is None and record.exc_text is None
    assert request_id in record.getMessage()
    assert "\n" not in record.getMessage()


def _broken(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("secret detail")


async def test_forbidden_is_info_without_traceback(
    gql: GraphQLClient, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await gql.with_key(tenant.client_key).post(CREATE)
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    _one_info_line(caplog, "FORBIDDEN", response.headers["x-request-id"])


async def test_forbidden_on_the_fast_path_is_info(
    gql: GraphQLClient, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await gql.with_key(tenant.client_key).post(REPORT)
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    _one_info_line(caplog, "FORBIDDEN", response.headers["x-request-id"])


async def test_bad_cursor_is_info_without_traceback(
    gql: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await gql.post('{ features(after: "a") { totalCount } }')
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "INVALID_INPUT"
    _one_info_line(caplog, "INVALID_INPUT", response.headers["x-request-id"])


async def test_validation_error_is_info_without_traceback(
    gql: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await gql.post("{ noSuchField }")
    assert response.status_code == 400
    _one_info_line(caplog, "BAD_REQUEST", response.headers["x-request-id"])


async def test_rest_client_errors_are_info(
    http: httpx.AsyncClient, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await http.get("/v1/customers/acme/entitlements")
    assert response.status_code == 401
    _one_info_line(caplog, "UNAUTHENTICATED", response.headers["x-request-id"])
    caplog.clear()
    response = await http.get(
        "/v1/customers/acme/entitlements/seats?requestedUsage=lots",
        headers={"Authorization": f"Bearer {tenant.server_key}"},
    )
    assert response.status_code == 400
    _one_info_line(caplog, "BAD_REQUEST", response.headers["x-request-id"])


def _one_error_with_traceback(caplog: pytest.LogCaptureFixture, request_id: str) -> None:
    records = [r for r in _ours(caplog) if r.levelno >= logging.WARNING]
    (record,) = records
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and "secret detail" in str(record.exc_info[1])
    assert request_id in record.getMessage()


async def test_internal_error_is_error_with_traceback_and_request_id(
    gql: GraphQLClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalog_store, "list_features", _broken)
    response = await gql.post("{ features { totalCount } }")
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    request_id = error["extensions"]["requestId"]
    assert request_id == response.headers["x-request-id"]
    _one_error_with_traceback(caplog, request_id)


async def test_internal_error_on_the_fast_path_has_the_request_id(
    gql: GraphQLClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(usage, "report_usage", _broken)
    response = await gql.post(REPORT)
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    _one_error_with_traceback(caplog, error["extensions"]["requestId"])


async def test_internal_error_in_rest_is_json_with_the_request_id(
    http: httpx.AsyncClient,
    tenant: Tenant,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(checks, "check_one", _broken)
    response = await http.get(
        "/v1/customers/acme/entitlements/seats",
        headers={"Authorization": f"Bearer {tenant.server_key}", "X-Request-Id": "rest-1"},
    )
    assert response.status_code == 500
    assert "secret detail" not in response.text
    (error,) = response.json()["errors"]
    assert error["message"] == "Internal server error."
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "rest-1"}
    assert response.headers["x-request-id"] == "rest-1"
    _one_error_with_traceback(caplog, "rest-1")


# --- the incoming X-Request-Id ----------------------------------------------------------------


async def test_a_safe_incoming_request_id_is_used(
    gql: GraphQLClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalog_store, "list_features", _broken)
    incoming = "lb-7f3a.9_Z-" + "x" * 52  # 64 characters, every allowed kind
    response = await gql.http.post(
        "/graphql",
        json={"query": "{ features { totalCount } }"},
        headers={"Authorization": f"Bearer {gql.key}", "X-Request-Id": incoming},
    )
    assert response.headers["x-request-id"] == incoming
    (error,) = response.json()["errors"]
    assert error["extensions"]["requestId"] == incoming
    _one_error_with_traceback(caplog, incoming)


@pytest.mark.parametrize(
    "incoming",
    [
        "",
        "has space",
        "line\nbreak",
        "cr\rlf",
        "semi;colon",
        'quote"d',
        "x" * 65,
        "tab\there",
        "ünïcode",
    ],
)
async def test_an_unsafe_incoming_request_id_is_replaced(
    http: httpx.AsyncClient, tenant: Tenant, incoming: str
) -> None:
    raw = [
        (b"authorization", f"Bearer {tenant.server_key}".encode()),
        (b"x-request-id", incoming.encode()),  # as sent: bytes, even when not ASCII
    ]
    for path in ("/v1/customers/nobody/entitlements", "/graphql"):
        if path == "/graphql":
            response = await http.post(path, json={"query": "{ __typename }"}, headers=raw)
        else:
            response = await http.get(path, headers=raw)
        assert response.status_code == 200, response.text
        given = response.headers["x-request-id"]
        assert given and given != incoming and len(given) <= 64
        assert given.replace("-", "").isalnum() and given.isascii()


async def test_the_rest_routes_use_a_safe_incoming_request_id(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await http.get(
        "/v1/customers/nobody/entitlements",
        headers={"Authorization": f"Bearer {tenant.server_key}", "X-Request-Id": "abc-123"},
    )
    assert response.headers["x-request-id"] == "abc-123"


# --- JSON format ------------------------------------------------------------------------------


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The `allot serve` JSON formatter (as configured by ALLOT_LOG_FORMAT=json) on a handler
    of the root logger, for the length of a test."""
    config = log_config("INFO", "json")
    formatter = logging.config.DictConfigurator(config).configure_formatter(
        config["formatters"]["default"]
    )
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


async def test_json_format_lines(
    gql: GraphQLClient,
    tenant: Tenant,
    json_log: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forbidden = await gql.with_key(tenant.client_key).post(CREATE)
    monkeypatch.setattr(catalog_store, "list_features", _broken)
    internal = await gql.post("{ features { totalCount } }")
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= set(x) for x in lines)
    (info,) = [x for x in lines if "FORBIDDEN" in x["message"]]
    assert info["level"] == "INFO" and "exc_info" not in info
    assert info["request_id"] == forbidden.headers["x-request-id"]
    (error,) = [x for x in lines if x["level"] == "ERROR"]
    assert error["request_id"] == internal.headers["x-request-id"]
    assert "RuntimeError: secret detail" in error["exc_info"]
    assert error["logger"].startswith("allot") and error["time"].endswith("Z")


def test_log_format_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALLOT_LOG_FORMAT", raising=False)
    assert Settings.from_env().log_format == "text"
    monkeypatch.setenv("ALLOT_LOG_FORMAT", "JSON")
    assert Settings.from_env().log_format == "json"
    monkeypatch.setenv("ALLOT_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="ALLOT_LOG_FORMAT"):
        Settings.from_env()
