"""`allot serve` with ALLOT_LOG_FORMAT=json: every line it logs is one JSON object, and the
line of a request's client error carries the request id the client sent (docs/operations.md)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.e2e.process import demo_server


def test_json_log_lines(tmp_path: Path) -> None:
    with demo_server(tmp_path, {"ALLOT_LOG_FORMAT": "json"}) as served:
        response = httpx.post(
            f"{served.base_url}/graphql",
            json={"query": "{ noSuchField }"},
            headers={"Authorization": f"Bearer {served.dev_key}", "X-Request-Id": "e2e-json-1"},
        )
        assert response.status_code == 400
        assert response.headers["x-request-id"] == "e2e-json-1"
        text = served.server.log_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines), lines
    assert any(line["message"].startswith("allot serving http://") for line in lines)
    (error,) = [line for line in lines if "BAD_REQUEST" in line["message"]]
    assert error["level"] == "INFO" and error["request_id"] == "e2e-json-1"
    assert "exc_info" not in error
