"""GraphQL over HTTP as its spec describes, checked by a client no one here wrote: the audit
of the `graphql-http` npm package (`auditServer`), run under Node against a real
`allot serve`. Every MUST (errors) and every SHOULD (warnings) passes.

The Node packages are installed by `.ci/run` (`npm ci --prefix tests/e2e/node`). Without
them this test skips locally, and fails under CI (`CI` set), where they must be there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.process import Served

pytestmark = pytest.mark.e2e

NODE_DIR = Path(__file__).resolve().parent / "node"


def node_or_fail(package: str) -> str:
    """The `node` binary, when `package` is installed in tests/e2e/node; else a skip (a
    developer's machine) or a failure (CI, where `.ci/run` installs them)."""
    node = shutil.which("node")
    missing = None
    if node is None:
        missing = "node is not installed"
    elif not (NODE_DIR / "node_modules" / package).is_dir():
        missing = f"{package} is not installed: run `npm ci --prefix tests/e2e/node`"
    if missing is None:
        assert node is not None
        return node
    if os.environ.get("CI"):
        pytest.fail(f"{missing} (CI must install it: .ci/run)")
    pytest.skip(missing)


def test_graphql_http_audit_passes_every_must_and_should(served: Served) -> None:
    node = node_or_fail("graphql-http")
    completed = subprocess.run(
        [node, str(NODE_DIR / "graphql_http_audit.mjs"), f"{served.base_url}/graphql"],
        env={**os.environ, "ALLOT_AUDIT_KEY": served.dev_key},
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.stdout, completed.stderr
    report = json.loads(completed.stdout)
    failing = [r for r in report["results"] if r["status"] in ("error", "warn")]
    assert not failing, json.dumps(failing, indent=2)
    assert report["summary"]["error"] == report["summary"]["warn"] == 0
    assert report["summary"]["ok"] >= 40, report["summary"]  # the audit did run
    assert completed.returncode == 0, completed.stderr
