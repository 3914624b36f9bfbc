"""A whole gateway on real HTTP: the platform sandbox, the gateway on a free port, a real store."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.demo import demo_environment
from devtools.shop_stub import create_shop_app
from flows.model import Flow
from flows.split import choose_variant
from gateway.context import Gateway
from gateway.turns.runtime import Runtime
from gateway.web.app import create_app
from gateway.web.serving import ServerThread
from sandbox.server import Sandbox
from tests.conftest import ROOT
from tests.harness import make_gateway

sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
import sign


class LateApp:
    """A WSGI app set after the server starts, so the sandbox can know the gateway's URL first."""

    app: Any = None

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        return self.app(environ, start_response)


@dataclass
class Stack:
    url: str
    sandbox: Sandbox
    gw: Gateway
    runtime: Runtime | None

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> requests.Response:
        return requests.post(self.url + path, data=body, headers=headers, timeout=10)

    def post_fixture(self, rel: str, body: bytes | None = None) -> requests.Response:
        info = sign.headers_for(rel, url=None)
        public = info["url"].replace("https://gateway.example.test", self.url)
        info = sign.headers_for(rel, url=public) if body is None else info
        data = sign.read_fixture(rel) if body is None else body
        return requests.post(public, data=data, headers=info["headers"], timeout=10)

    def shopper(self, channel: str, name: str = "Ann Lee", variant: str | None = "bot") -> str:
        """A simulated shopper's address; with `variant`, one the A/B split puts in it."""
        flow: Flow = self.gw.flows.flow
        split = flow.nodes["route"].split
        for i in range(50):  # the sandbox keeps one shopper per name: vary the surname
            r = requests.post(f"{self.sandbox.base_url}/_sim/api/shoppers",
                              json={"channel": channel, "name": f"{name}{'-' * i}"}, timeout=5)  # fmt: skip
            address = r.json()["address"]
            if variant is None or split is None:
                return address
            if choose_variant(split, f"{channel}:{address}").name == variant:
                return address
        raise AssertionError("no shopper landed in the variant")

    def say(self, channel: str, address: str, text: str = "", action: dict | None = None) -> None:
        body: dict[str, Any] = {"channel": channel, "address": address, "text": text}
        if action:
            body["action"] = action
        r = requests.post(f"{self.sandbox.base_url}/_sim/api/send", json=body, timeout=10)
        assert r.status_code == 201, r.text
        assert r.json()["status"] == 200, r.json()  # the gateway accepted the signed webhook

    def wait_inbound(
        self, channel: str, address: str, count: int, timeout: float = 20.0
    ) -> list[str]:
        """The shopper's messages in the saved history, once `count` of them are there."""
        deadline = time.monotonic() + timeout
        texts: list[str] = []
        while time.monotonic() < deadline:
            history = self.gw.store.history(f"{channel}:{address}", limit=max(50, count * 4))
            texts = [h.text for h in history if h.direction == "in"]
            if len(texts) >= count:
                break
            time.sleep(0.05)
        return texts

    def wait_sent(
        self, channel: str, address: str, count: int, timeout: float = 15.0
    ) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sent = self.sandbox.sent(channel, to=address)
            if len(sent) >= count:
                return sent
            time.sleep(0.02)
        raise AssertionError(
            f"{len(self.sandbox.sent(channel, to=address))} of {count} replies arrived"
        )


def start_stack(
    tmp: Path,
    store_url: str | None = None,
    workers: int = 4,
    run: bool = True,
    flows: Path | None = None,
    env: dict[str, str] | None = None,
) -> tuple[Stack, Callable[[], None]]:
    """The gateway on `store_url` (default: SQLite in `tmp`) with the sandbox and the demo shop,
    built by `tests.harness.make_gateway`; `env` adds settings. `stop` closes it all."""
    late = LateApp()
    web = ServerThread(late).start()  # type: ignore[arg-type]
    shop = ServerThread(create_shop_app()).start()
    sandbox = Sandbox(gateway_url=web.url, env={"PUBLIC_BASE_URL": web.url}).start()
    settings = demo_environment({}, web.url, sandbox.base_url, shop.url)
    del settings["STORE_URL"]  # the demo's own file: `store_url` instead
    settings.update({"WORKERS": str(workers), **(env or {})})
    gw = make_gateway(tmp, store=store_url or "sqlite", flows=flows, **settings)
    late.app = create_app(gw)
    runtime = Runtime(gw, workers).start() if run else None

    def stop() -> None:
        if runtime:
            runtime.stop()
        web.stop()
        sandbox.stop()
        shop.stop()
        gw.close()

    return Stack(web.url, sandbox, gw, runtime), stop


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s, stop = start_stack(tmp_path)
    yield s
    stop()
