"""Crashes, reloads and expiry: nothing lost, nothing doubled, no restart loops."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
import requests
from flask import Flask, jsonify

from gateway.web.serving import ServerThread
from tests.conftest import ROOT
from tests.contract.conftest import redis_url  # noqa: F401  (the session's own redis-server)
from tests.e2e.conftest import Stack, start_stack

REDIS_DB = 11  # a database of its own on the session's redis-server, emptied before


def _slow_shop(entered: threading.Event) -> Flask:
    app = Flask(__name__)

    @app.get("/shop-api/orders/<order_id>")
    def order(order_id: str):
        entered.set()
        time.sleep(1.5)
        return jsonify(
            id=order_id,
            status="shipped",
            carrier="UPS",
            eta="on Friday",
            tracking_url="https://t.example/1",
        )

    return app


def _worker_process(stack: Stack, tmp: Path, shop_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, **stack.gw.config.env, "SHOP_API_URL": f"{shop_url}/shop-api", "LEASE_S": "2",
           "WORKERS": "1", "LOG_LEVEL": "WARNING"}  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", "gateway", "worker"], cwd=tmp, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_worker_killed_mid_message_loses_nothing_and_doubles_nothing(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    url = None
    if kind == "redis":
        url = request.getfixturevalue("redis_url").rsplit("/", 1)[0] + f"/{REDIS_DB}"
        redis.Redis.from_url(url).flushdb()
    entered = threading.Event()
    with ServerThread(_slow_shop(entered)) as shop:
        # The web part only; the workers are processes, one of them killed.
        stack, stop = start_stack(tmp_path, store_url=url, run=False)
        try:
            first = _worker_process(stack, tmp_path, shop.url)
            shopper = stack.shopper("telegram")
            stack.say("telegram", shopper, "hi")
            stack.wait_sent("telegram", shopper, 2, timeout=30)
            stack.say("telegram", shopper, "Track my order")
            stack.wait_sent("telegram", shopper, 3)
            stack.say("telegram", shopper, "A1234")
            assert entered.wait(15), "the worker never reached the shop API call"
            first.send_signal(
                signal.SIGKILL
            )  # mid-message: the call is in flight, nothing committed
            first.wait(10)
            second = _worker_process(stack, tmp_path, shop.url)
            try:
                sent = stack.wait_sent("telegram", shopper, 5, timeout=30)
                time.sleep(1.0)
                texts = [m["text"] for m in stack.sandbox.sent("telegram", to=shopper)]
                assert sum("A1234 is on its way" in t for t in texts) == 1
                assert len(texts) == 5, texts
                inbound = [
                    h.text
                    for h in stack.gw.store.history(f"telegram:{shopper}")
                    if h.direction == "in"
                ]
                assert inbound == ["hi", "Track my order", "A1234"]
                assert "A1234 is on its way" in sent[3]["text"]
            finally:
                second.terminate()
                second.wait(10)
        finally:
            stop()
            if url:
                redis.Redis.from_url(url).flushdb()


def test_broken_flows_reload_is_refused_and_the_last_good_version_serves(tmp_path: Path) -> None:
    flows = tmp_path / "flows.yaml"
    shutil.copy(ROOT / "flows.yaml", flows)
    stack, stop = start_stack(tmp_path)
    try:
        stack.gw.flows.path = flows
        assert stack.gw.flows.reload() is False  # same content, same version
        good = stack.gw.flows.flow.version
        flows.write_text(flows.read_text().replace("next: route", "next: rout"))
        assert stack.gw.flows.reload() is False
        assert stack.gw.flows.flow.version == good
        flows.write_text(
            flows.read_text()
            .replace("next: rout", "next: route")
            .replace("Welcome to", "Welcome back to")
        )
        assert stack.gw.flows.reload() is True
        shopper = stack.shopper("telegram")
        stack.say("telegram", shopper, "hi")
        assert "Welcome back to Acme Shoes" in stack.wait_sent("telegram", shopper, 1)[0]["text"]
    finally:
        stop()


def test_an_answer_to_an_expired_question_restarts_cleanly_once(tmp_path: Path) -> None:
    stack, stop = start_stack(tmp_path)
    try:
        shopper = stack.shopper("telegram")
        stack.say("telegram", shopper, "hi")
        stack.wait_sent("telegram", shopper, 2)
        stack.say("telegram", shopper, "Track my order")
        stack.wait_sent("telegram", shopper, 3)
        object.__setattr__(stack.gw.config, "idle_expiry_s", 0.0)  # everything is now idle
        time.sleep(0.05)
        stack.say("telegram", shopper, "A1234")
        sent = stack.wait_sent("telegram", shopper, 6)
        # One clean restart: the greeting, then "A1234" understood as a new conversation's
        # opener (an order number: its status), not as the answer to the expired question.
        assert sent[3]["text"].startswith("Hi Ann!")
        assert sent[4]["text"].startswith("📦 Order A1234")
        object.__setattr__(stack.gw.config, "idle_expiry_s", 86_400.0)
        stack.say("telegram", shopper, "Track my order")
        assert stack.wait_sent("telegram", shopper, 7)[6]["text"].startswith(
            "What's your order number?"
        )
        history = stack.gw.store.history(f"telegram:{shopper}")
        assert [h.text for h in history if h.direction == "in"] == [
            "hi",
            "Track my order",
            "A1234",
            "Track my order",
        ]
    finally:
        stop()


def test_twilio_status_callback_updates_the_sent_message(stack: Stack) -> None:
    shopper = stack.shopper("whatsapp")
    stack.say("whatsapp", shopper, "hi")
    stack.wait_sent("whatsapp", shopper, 1)
    deadline = time.monotonic() + 10
    items = []
    while time.monotonic() < deadline:  # the sandbox posts a signed "delivered" callback
        items = stack.gw.store.outbox_items(f"whatsapp:{shopper}")
        if items and items[0].delivery in ("delivered", "read"):
            break
        time.sleep(0.05)
    assert items[0].platform_id and items[0].delivery in ("delivered", "read")
    assert requests.get(stack.url + "/healthz", timeout=5).status_code == 200
