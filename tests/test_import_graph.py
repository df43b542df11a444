"""The data flows one way (docs/architecture.md): the import graph of `app/` has no circles,
and no module imports from a layer above its own. A circle means modules that cannot be
understood, tested or moved apart; an upward import means a lower layer knows its callers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.import_graph import Graph, cycles, import_graph, restricted

APP = Path(__file__).resolve().parent.parent / "app"

# Top to bottom. A module may import its own layer and the layers below it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("entry points", ("app.cli", "app.main")),
    ("web", ("app.web",)),
    ("workers", ("app.workers",)),
    ("resolvers", ("app.resolvers",)),
    ("schema", ("app.schema",)),
    ("domain", ("app.domain",)),
    ("store", ("app.store",)),
    ("models", ("app.models",)),
    (
        "foundation",
        (
            "app.settings",
            "app.clock",
            "app.errors",
            "app.db",
            "app.auth",
            "app.customer_tokens",
            "app.secrets_at_rest",
            "app.request_context",
        ),
    ),
]


def layer_of(module: str) -> int | None:
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    return None


def upward_imports(graph: Graph) -> list[str]:
    found = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            own, theirs = layer_of(module), layer_of(target)
            if own is not None and theirs is not None and theirs < own:
                found.append(f"{module} ({LAYERS[own][0]}) imports {target} ({LAYERS[theirs][0]})")
    return found


def test_the_cycle_finder_finds_circles_and_nothing_else() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_imports_inside_functions_and_relative_ones_count(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "one.py").write_text("def f() -> None:\n    from pkg import two\n")
    (package / "two.py").write_text("from .one import f\n")
    assert cycles(import_graph(package)) == [["pkg.one", "pkg.two", "pkg.one"]]


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in import_graph(APP) if m != "app" and layer_of(m) is None]
    assert not unplaced, f"modules outside every layer (add them to LAYERS): {unplaced}"


def test_no_import_circles_in_app() -> None:
    found = cycles(import_graph(APP))
    assert not found, "import circles:\n" + "\n".join(" -> ".join(c) for c in found)


@pytest.mark.parametrize("package", ["app.domain", "app.store", "app.schema", "app.web"])
def test_no_import_circles_in(package: str) -> None:
    found = cycles(restricted(import_graph(APP), package))
    assert not found, "import circles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_no_layer_imports_from_a_layer_above() -> None:
    found = upward_imports(import_graph(APP))
    assert not found, "imports from a higher layer:\n" + "\n".join(found)


def test_the_direction_check_catches_an_upward_import() -> None:
    graph = {"app.store.x": {"app.domain.y"}, "app.domain.y": {"app.store.x"}}
    assert upward_imports(graph) == ["app.store.x (store) imports app.domain.y (domain)"]
