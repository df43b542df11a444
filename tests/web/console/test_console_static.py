"""The console's shell and files, served by allot itself: deep links, CSP, no CDN, and every
ES module import resolving to a file allot serves (there is no build step to catch it)."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import httpx
import pytest

from app.web.console import CONSOLE_CSP, STATIC_PREFIX, static_files_dir

# `import … from "x"` / `export … from "x"` / `import "x"` (minified too: `from"x"`).
IMPORT = re.compile(r"""(?:\bimport|\bfrom)\s*["']([^"'\s]+)["']""")
EXTERNAL = re.compile(r"""["'(]\s*(?:https?:)?//[a-z0-9]""", re.IGNORECASE)


@pytest.mark.parametrize(
    "path",
    [
        "/console",
        "/console/",
        "/console/customers/acme%20inc",
        "/console/catalog/plans/pro",
        "/console/no-such-page",
    ],
)
async def test_every_console_path_serves_the_shell(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CONSOLE_CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert f'<script type="module" src="{STATIC_PREFIX}/app.js"></script>' in page
    assert "<script>" not in page and "<style" not in page  # nothing inline: CSP 'self' only


def test_the_policy_allows_only_self() -> None:
    for directive in CONSOLE_CSP.split(";"):
        sources = directive.split()[1:]
        assert set(sources) <= {"'self'", "'none'", "data:"}, directive
    assert "unsafe" not in CONSOLE_CSP


async def test_every_module_import_resolves_to_a_served_javascript_file(
    http: httpx.AsyncClient,
) -> None:
    seen: set[str] = set()
    todo = [f"{STATIC_PREFIX}/app.js"]
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        response = await http.get(url)
        assert response.status_code == 200, url
        assert "javascript" in response.headers["content-type"], (url, response.headers)
        assert response.headers["content-security-policy"] == CONSOLE_CSP
        for spec in IMPORT.findall(response.text):
            assert spec.startswith("./") or spec.startswith("../"), (
                f"{url} imports {spec!r}: only relative module paths work without an import map"
            )
            todo.append(urljoin(url, spec))
    served = {
        f"{STATIC_PREFIX}/{p.relative_to(static_files_dir()).as_posix()}"
        for p in static_files_dir().rglob("*.js")
    }
    assert seen == served, f"unused or unreachable modules: {served ^ seen}"


def test_no_console_file_refers_to_another_origin() -> None:
    for path in static_files_dir().rglob("*"):
        if path.suffix in {".js", ".css"} and "vendor" not in path.parts:
            text = path.read_text(encoding="utf-8")
            assert not EXTERNAL.search(text), f"{path}: {EXTERNAL.search(text)}"


async def test_the_stylesheet_and_vendored_licenses_are_served(http: httpx.AsyncClient) -> None:
    css = await http.get(f"{STATIC_PREFIX}/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    for name in ("LICENSE.preact", "LICENSE.htm", "README.md"):
        assert (static_files_dir() / "vendor" / name).is_file()
    assert (await http.get(f"{STATIC_PREFIX}/nope.js")).status_code == 404
