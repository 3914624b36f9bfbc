"""Who may import whom: no import cycles in the product (lazy imports inside functions count:
they only hide a cycle), and `flows/` stays pure (no web, storage or platform code)."""

from __future__ import annotations

from devtools.architecture import FAKES, cycles, import_graph


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
