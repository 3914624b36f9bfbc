"""One way for tests to build a gateway: `make_gateway`, through the product's own wiring.

Tests take the `make_gateway` fixture (tests/conftest.py), which has the same signature and
closes every gateway it made at teardown; code that manages its own lifetimes (`start_stack`
in tests/e2e/conftest.py, the benches) calls `make_gateway` here and closes what it gets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from adapters.base import Adapter
from adapters.registry import BuiltAdapters
from gateway.assemble import build_gateway
from gateway.config import Config
from gateway.context import Gateway
from tests.conftest import always_open_flows

MakeGateway = Callable[..., Gateway]  # the fixture: make_gateway(tmp_path, *, store=..., ...)
OWN_PARAMETERS = {"STORE_URL": "store", "FLOWS_PATH": "flows"}


def make_gateway(
    tmp_path: Path,
    *,
    store: str = "sqlite",
    flows: Path | None = None,
    adapters: Mapping[str, Adapter] | None = None,
    **settings: str,
) -> Gateway:
    """A gateway as `gateway serve` builds it (`gateway.assemble.build_gateway`), the caller
    closes it.

    store: "sqlite" (the file tmp_path/gw.db) or a store URL (redis://host:port/db, sqlite:///...).
    flows: the flows file; by default the sample without its office hours, written into
        tmp_path (`always_open_flows`), so turns do not depend on the time of day.
    settings: environment names as `Config.from_env` reads them, e.g. SEND_OVERLAP="1",
        INBOX_REOPEN_S="600", SECRET_KEY=...; the adapters these enable are the real ones.
    adapters: {channel: adapter} instead of the ones the settings enable (a scripted
        adapter, one pointed at a test's server); the rest is built as above.
    """
    for name, parameter in OWN_PARAMETERS.items():
        if name in settings:
            raise TypeError(f"make_gateway takes {name} as {parameter}=, not as a setting")
    tmp_path.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{tmp_path / 'gw.db'}" if store == "sqlite" else store
    flows_path = flows or always_open_flows(tmp_path)
    config = Config.from_env({**settings, "STORE_URL": url, "FLOWS_PATH": str(flows_path)})
    gw = build_gateway(config)
    if adapters is not None:
        gw.adapters.close()
        gw.adapters = BuiltAdapters(dict(adapters))
    return gw


def metric(gw: Gateway, name: str, **labels: str) -> float:
    """A counter's or gauge's value in the gateway's registry as /metrics shows it (a counter
    by its exported name: gw_sent_total), 0.0 when never counted."""
    return gw.metrics.registry.get_sample_value(name, labels) or 0.0
