"""The layout of GUIDE.md holds: imports flow terminal -> drivers -> apdu and simulator -> apdu,
and no module of the project imports itself back through others (no import cycles).

Every import counts, at module level or inside a function (a deferred import is still a
dependency); imports under ``if TYPE_CHECKING:`` are annotations only and are not followed.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("apdu", "drivers", "simulator", "terminal")
#: package -> the packages it may import (drivers hosts the simulator in-process, GUIDE.md).
ALLOWED = {
    "apdu": {"apdu"},
    "simulator": {"apdu", "simulator"},
    "drivers": {"apdu", "drivers", "simulator"},
    "terminal": {"apdu", "drivers", "terminal"},
}


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The project module ``name`` is (or lives in: ``apdu.status.check`` -> ``apdu.status``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {
        id(sub)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for sub in ast.walk(node)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name)
            if target is not None:
                found.add(target)
    return found


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_the_project() -> None:
    assert "simulator.usercard" in GRAPH and "simulator.cardos" in GRAPH["simulator.usercard"]
    assert "apdu.status" in GRAPH["simulator.cardos"]


def test_no_import_cycles() -> None:
    assert _cycles(GRAPH) == []


def test_a_planted_cycle_is_found() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_follow_the_layers(package: str) -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.split(".")[0] == package
        for target in targets
        if target.split(".")[0] not in ALLOWED[package]
    )
    assert wrong == []


#: a status word written as a two-byte literal (b"\x6a\x82"): the card OS and the readers take
#: status words from apdu.status (issue 11: never redeclared).
_SW_LITERAL = re.compile(r"""b["']\\x[69][0-9a-fA-F]\\x[0-9a-fA-F]{2}["']""")


@pytest.mark.parametrize("package", ["simulator", "drivers"])
def test_status_words_are_not_redeclared_as_bytes(package: str) -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _SW_LITERAL.search(line)
    ]
    assert found == []
