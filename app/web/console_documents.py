"""The console's GraphQL documents, read from app/web/static/console/operations.js the way the
browser assembles them (an operation plus every fragment it spreads): the documents the
schema test validates (tests/web/console/test_console_operations.py) and the console
benchmark times (bench/console.py)."""

from __future__ import annotations

import re
from pathlib import Path

from app.web.console import static_files_dir

OPERATIONS_JS: Path = static_files_dir() / "operations.js"

# op("Name", `...`) and fragment("Name", `...`): template literals without interpolation.
_DEFINITION = re.compile(r'\b(op|fragment)\("(\w+)",\s*`([^`]*)`\);')
_SPREAD = re.compile(r"\.\.\.\s*([A-Za-z_]\w*)")


def definitions() -> tuple[dict[str, str], dict[str, str]]:
    """(operations, fragments), each name -> text."""
    source = OPERATIONS_JS.read_text(encoding="utf-8")
    ops: dict[str, str] = {}
    frags: dict[str, str] = {}
    for kind, name, text in _DEFINITION.findall(source):
        target = ops if kind == "op" else frags
        assert name not in target, f"{kind} {name} defined twice in operations.js"
        assert "${" not in text, f"{kind} {name}: no interpolation in documents"
        target[name] = text
    return ops, frags


def document_of(name: str) -> str:
    """What `documentOf(name)` in operations.js sends."""
    ops, frags = definitions()
    needed: list[str] = []

    def visit(text: str) -> None:
        for frag in _SPREAD.findall(text):
            if frag != "on" and frag in frags and frag not in needed:
                needed.append(frag)
                visit(frags[frag])

    visit(ops[name])
    return "\n".join([ops[name], *(frags[f] for f in needed)])
