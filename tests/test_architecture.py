"""Who may import whom: no import cycles in the product (lazy imports inside functions count:
they only hide a cycle), and `flows/` stays pure (no web, storage or platform code)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PRODUCT = ("gateway", "flows", "adapters")
FAKES = ("sandbox", "devtools")  # the local stand-ins: test and demo equipment


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(packages: tuple[str, ...] = PRODUCT) -> dict[str, set[str]]:
    """Module -> the modules of `packages` and FAKES it imports."""
    files = {module_name(p): p for package in packages for p in (ROOT / package).rglob("*.py")}
    known = files.keys() | {
        module_name(p) for package in FAKES for p in (ROOT / package).rglob("*.py")
    }
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            graph[name] |= {t for t in targets if t in known and t != name}
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
        for w in graph.get(v, ()):
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

    for v in sorted(graph):  # targets outside `graph` end there
        if v not in index:
            visit(v)
    return found


def test_the_product_imports_no_fake() -> None:
    graph = import_graph()
    leaks = {m: sorted(t for t in targets if t.startswith(FAKES)) for m, targets in graph.items()}
    assert {m: t for m, t in leaks.items() if t} == {}


def test_the_fakes_have_no_import_cycles_either() -> None:
    graph = import_graph(FAKES)
    assert cycles({m: {t for t in ts if t in graph} for m, ts in graph.items()}) == []


def test_the_product_has_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_flows_imports_nothing_of_the_gateway_or_the_adapters() -> None:
    graph = import_graph()
    leaks = {m: sorted(t for t in graph[m] if not t.startswith("flows"))
             for m in graph if m.startswith("flows")}  # fmt: skip
    assert {m: t for m, t in leaks.items() if t} == {}
