"""The shape of the code: module sizes by room, which room imports which, and import cycles.

`python -m devtools architecture` prints it; tests/test_architecture.py holds the rules (no
cycles, no fakes in the product, `flows/` pure) on the same graph.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("gateway", "flows", "adapters")
FAKES = ("sandbox", "devtools")  # the local stand-ins: test and demo equipment
ROOM_DEPTH = 2  # gateway.turns.worker is in room gateway.turns
LARGE_LINES = 350  # a module past this likely does more than one job


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(packages: tuple[str, ...]) -> dict[str, Path]:
    return {
        module_name(p): p for package in packages for p in sorted((ROOT / package).rglob("*.py"))
    }


def import_graph(packages: tuple[str, ...] = PRODUCT) -> dict[str, set[str]]:
    """Module -> the modules of `packages` and FAKES it imports (lazy imports count: they
    only hide a cycle)."""
    files = modules(packages)
    known = files.keys() | modules(FAKES).keys()
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


def room(module: str) -> str:
    """The folder a module lives in, as far down as ROOM_DEPTH (`gateway` for its top)."""
    parts = module.split(".")
    return ".".join(parts[: min(ROOM_DEPTH, len(parts) - 1)] or parts[:1])


def report(packages: tuple[str, ...] = PRODUCT) -> Iterator[str]:
    files = modules(packages)
    sizes = {name: len(path.read_text().splitlines()) for name, path in files.items()}
    graph = import_graph(packages)
    rooms: dict[str, list[str]] = {}
    for name in files:
        rooms.setdefault(room(name), []).append(name)
    yield "rooms (lines, modules, largest):"
    for name, members in sorted(rooms.items()):
        largest = max(members, key=sizes.__getitem__)
        total = sum(sizes[m] for m in members)
        yield f"  {name:<22} {total:>6} lines {len(members):>3} modules  {largest} {sizes[largest]}"
    large = sorted((m for m in files if sizes[m] > LARGE_LINES), key=lambda m: -sizes[m])
    yield f"modules over {LARGE_LINES} lines: {len(large)}"
    for name in large:
        yield f"  {name} {sizes[name]}"
    yield "room imports room:"
    for name in sorted(rooms):
        targets = {room(t) for m in rooms[name] for t in graph[m]} - {name}
        yield f"  {name:<22} -> {', '.join(sorted(targets)) or '-'}"
    found = cycles(graph)
    yield f"import cycles: {len(found)}"
    for component in found:
        yield "  " + " <-> ".join(component)
