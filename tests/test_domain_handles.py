"""The domain holds database handles only to pass them on: it opens them through `Database`
(`read()`, `raw()`, `session()`, `transaction()`, or `audit.transaction`) and hands them to the
store, which alone calls their methods (app/store/units.py for adding to the unit of work,
savepoints and a raw connection's transaction). Nor does it import a driver: only the type
of the unit of work, for annotations. The exception is `app/domain/audit.py`, the ORM's flush
hook that turns every change into an entry (docs/architecture.md says why)."""

from __future__ import annotations

import ast
from pathlib import Path

DOMAIN = Path(__file__).resolve().parent.parent / "app" / "domain"
EXEMPT = {DOMAIN / "audit.py"}
# What the domain names its handles; none may have a method called on it here.
HANDLES = {"session", "conn", "connection", "pool", "sync", "tx", "savepoint"}
ALLOWED_IMPORTS = {("sqlalchemy.ext.asyncio", "AsyncSession")}
DRIVERS = ("asyncpg", "sqlalchemy", "sqlmodel", "psycopg")


def _findings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in HANDLES:
                found.append(f"{path.name}:{node.lineno} uses {node.value.id}.{node.attr}")
            if node.value.id == "db" and node.attr in ("pool", "engine"):
                found.append(f"{path.name}:{node.lineno} reaches into db.{node.attr}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in DRIVERS:
                    found.append(f"{path.name}:{node.lineno} imports {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in DRIVERS:
                for alias in node.names:
                    if (node.module, alias.name) not in ALLOWED_IMPORTS:
                        found.append(
                            f"{path.name}:{node.lineno} imports {alias.name} from {node.module}"
                        )
    return found


def test_the_domain_only_passes_handles_on() -> None:
    files = [p for p in sorted(DOMAIN.rglob("*.py")) if p not in EXEMPT]
    assert len(files) > 20  # the walk found the domain
    findings = [f for p in files for f in _findings(p)]
    assert findings == []


def test_the_check_finds_what_it_forbids(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import asyncpg\nfrom sqlalchemy import text\n"
        "async def f(session, db):\n"
        "    session.add(1)\n    await session.flush()\n    pool = await db.pool()\n"
    )
    assert len(_findings(sample)) == 5
