"""What the service imports is installed by `pip install .` — without the test extra.

The tests run in a virtualenv with `.[test]`, so a module that the service imports but only
the test extra (or nobody) declares passes every other test and still breaks the README's
quickstart (`pip install -e . && allot serve --demo`) on a fresh machine. This walks the
imports of `app/` and `migrations/` and checks each third-party one against the runtime
dependencies declared in pyproject.toml, followed transitively through what is installed.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("app", "migrations")
OWN = {"app", "migrations"}


def _guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Inside `if TYPE_CHECKING:` or a `try:` that handles ImportError: optional."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.If) and child in parent.body:
            if "TYPE_CHECKING" in ast.unparse(parent.test):
                return True
        if isinstance(parent, ast.Try) and child in parent.body:
            for handler in parent.handlers:
                if handler.type is not None and "ImportError" in ast.unparse(handler.type):
                    return True
        child, parent = parent, parents.get(parent)
    return False


def imported_top_level_modules() -> dict[str, str]:
    """Top-level module -> the first file importing it (third-party only, not optional)."""
    found: dict[str, str] = {}
    for source in SOURCES:
        for path in sorted((ROOT / source).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            parents = {c: p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                if _guarded(node, parents):
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in OWN or top in sys.stdlib_module_names or top == "__future__":
                        continue
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_runtime_requirements() -> list[str]:
    """[project] dependencies of pyproject.toml (not the installed metadata, which is stale
    until the next `pip install -e .`)."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        return list(tomllib.load(file)["project"]["dependencies"])


def runtime_distributions() -> set[str]:
    """Distributions the declared runtime requirements pull in (with the extras they ask
    for), as installed here; the `test` extra is not followed."""
    seen: set[str] = set()
    pending = [Requirement(line) for line in declared_runtime_requirements()]
    while pending:
        requirement = pending.pop()
        extras = frozenset(requirement.extras)
        key = f"{_canonical(requirement.name)}[{','.join(sorted(extras))}]"
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = metadata.distribution(requirement.name).requires or []
        except metadata.PackageNotFoundError:
            continue  # a marker-excluded or absent optional dependency
        for line in requires:
            child = Requirement(line)
            marker = child.marker
            if marker is not None:
                environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
                if not any(marker.evaluate(env) for env in environments):
                    continue
            pending.append(child)
    return {key.split("[", 1)[0] for key in seen}


def test_every_imported_package_is_a_runtime_dependency() -> None:
    providers = metadata.packages_distributions()
    runtime = runtime_distributions()
    missing = []
    for module, where in sorted(imported_top_level_modules().items()):
        distributions = {_canonical(d) for d in providers.get(module, [])}
        if not distributions:
            missing.append(f"{module} (imported by {where}) is not installed at all")
        elif not distributions & runtime:
            names = ", ".join(sorted(distributions))
            missing.append(f"{module} (imported by {where}): add {names} to [project] dependencies")
    assert not missing, "\n".join(missing)


def test_the_check_sees_what_it_should() -> None:
    modules = imported_top_level_modules()
    assert {"strawberry", "sqlalchemy", "uvicorn", "typer"} <= modules.keys()
    runtime = runtime_distributions()
    assert {"strawberry-graphql", "uvloop", "greenlet"} <= runtime
    assert "pytest" not in runtime  # the test extra is not followed
