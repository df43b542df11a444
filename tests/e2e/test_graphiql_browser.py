"""GraphiQL, opened by a real headless Chromium on the real `allot serve` process.

Skipped when no Chromium is installed (`apt-get install -y chromium`; .ci/run does it).
The screenshot is kept in the test's temporary directory; set ALLOT_SCREENSHOT_DIR to keep a
copy somewhere to look at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.browser import needs_chromium, render_page
from tests.e2e.process import Served

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@needs_chromium
def test_graphiql_renders_with_the_key_from_the_url(served: Served, tmp_path: Path) -> None:
    png = tmp_path / "graphiql.png"
    dom = render_page(f"{served.base_url}/graphql?key={served.dev_key}", png, timeout=60)

    assert "graphiql-container" in dom, dom[:2000]
    assert "allot GraphiQL" in dom
    # ?key= was taken: the status next to the key box says so (GraphiQL then sends it).
    assert "key set" in dom
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    assert png.stat().st_size > 10_000  # a rendered page, not a blank one

    keep = os.environ.get("ALLOT_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / png.name)
