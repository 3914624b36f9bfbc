"""Who may import whom: no import cycles in the product (lazy imports inside functions count:
they only hide a cycle), and `flows/` stays pure (no web, storage or platform code)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PRODUCT = ("gateway", "flows", "adapters")
NOT_YET = ("adapters.sandbox",)  # the fake platforms; leaving the product package (issue 17)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for package in PRODUCT for p in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            graph[name] |= {t for t in targets if t in files and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_product_has_no_import_cycles() -> None:
    found = [c for c in cycles(import_graph()) if not all(m.startswith(NOT_YET) for m in c)]
    assert found == []


def test_flows_imports_nothing_of_the_gateway_or_the_adapters() -> None:
    graph = import_graph()
    leaks = {m: sorted(t for t in graph[m] if not t.startswith("flows"))
             for m in graph if m.startswith("flows")}  # fmt: skip
    assert {m: t for m, t in leaks.items() if t} == {}
