"""The domain and the store import each other's modules without circles (issue 11): a circle
means two modules that cannot be understood, tested or moved apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.import_graph import cycles, import_graph, restricted

APP = Path(__file__).resolve().parent.parent / "app"


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


@pytest.mark.parametrize("layer", ["app.domain", "app.store"])
def test_no_import_circles_in(layer: str) -> None:
    found = cycles(restricted(import_graph(APP), layer))
    assert not found, "import circles:\n" + "\n".join(" -> ".join(c) for c in found)
