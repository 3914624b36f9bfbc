"""Shared fixtures: flows built from inline YAML, inbound messages, the sample flow, gateways
(`make_gateway`, see tests/harness.py)."""

from __future__ import annotations

import socket
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flows.loader import CheckResult, check_text, load_flow
from flows.messages import Inbound, Shopper
from flows.model import Flow
from tests.scripted_server import Scripted

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A loopback port nobody listens on right now (for a server started in a child process)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_yaml(text: str) -> CheckResult:
    return check_text(textwrap.dedent(text), "flows.yaml")


def flow_from(text: str) -> Flow:
    result = check_yaml(text)
    assert result.flow is not None, [d.format() for d in result.errors]
    return result.flow


def msg(text: str = "", payload: str | None = None, *, channel: str = "telegram",
        conversation: str = "c1", name: str | None = "Ann Lee", kind: str | None = None) -> Inbound:  # fmt: skip
    return Inbound(
        channel=channel,
        conversation=conversation,
        message_id=f"m-{text}-{payload}",
        shopper=Shopper(id=conversation, name=name),
        kind=kind or ("button" if payload else "text"),  # type: ignore[arg-type]
        text=text,
        payload=payload,
    )


def always_open_flows(folder: Path) -> Path:
    """The sample flows.yaml without its `hours:` section, for tests that must not depend on
    the time of day they run at (the sample's team works New York office hours)."""
    lines, skipping = [], False
    for line in (ROOT / "flows.yaml").read_text(encoding="utf-8").splitlines(keepends=True):
        if line.startswith("hours:"):
            skipping = True
        elif skipping and line.strip() and not line[0].isspace():
            skipping = False
        if not skipping:
            lines.append(line)
    path = folder / "flows.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def sample_flow() -> Flow:
    return load_flow(ROOT / "flows.yaml", {"SHOP_API_URL": "http://shop.test"})


# Debian's chromium, never a downloaded browser; the flags keep it off the closed network.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless chromium driven by Playwright, shared by one test module."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make debian does it)")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def make_gateway() -> Iterator[Callable[..., Any]]:
    """`make_gateway(tmp_path, *, store=..., flows=..., adapters=..., **settings)` from
    tests/harness.py; every gateway it made is closed at teardown (closing it earlier is fine)."""
    from tests import harness  # imported when used: it imports the whole gateway

    made: list[Any] = []

    def make(tmp_path: Path, **options: Any) -> Any:
        made.append(harness.make_gateway(tmp_path, **options))
        return made[-1]

    yield make
    for gw in reversed(made):
        gw.close()


@pytest.fixture
def scripted() -> Iterator[Callable[..., Scripted]]:
    """Loopback servers answering from a script (tests/scripted_server.py), closed after."""
    servers: list[Scripted] = []

    def make(*script: bytes | None, close_after: bool = False) -> Scripted:
        servers.append(Scripted(*script, close_after=close_after))
        return servers[-1]

    yield make
    for server in servers:
        server.close()
