"""Outages every process sees: a circuit opened in one process shows in another's /readyz,
on SQLite and on Redis, and an entry left by a process that died expires."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from gateway.turns.circuit import BOARD_GRACE_S, Circuits
from gateway.turns.outages import Outage, OutageBoard, open_outage_board
from tests.contract.conftest import (  # noqa: F401  (redis_url: the session's redis-server)
    redis_database,
    redis_url,
)
from tests.e2e.conftest import start_stack

DB = 10  # a database of its own on the session's redis-server, emptied before and after


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gw.db'}"
        return
    with redis_database(request.getfixturevalue("redis_url"), DB) as url:
        yield url


@pytest.fixture
def boards(store_url: str) -> Iterator[tuple[OutageBoard, OutageBoard]]:
    """Two boards on one store, as two processes have."""
    one, two = open_outage_board(store_url), open_outage_board(store_url)
    yield one, two
    one.close()
    two.close()


def test_an_outage_published_by_one_is_seen_by_the_other_until_cleared(boards) -> None:
    one, two = boards
    assert two.current(1000.0) == []
    one.publish(Outage("whatsapp", 990.0, 1005.0, "500 HTTP 500"), expires_at=1035.0)
    assert two.current(1000.0) == [Outage("whatsapp", 990.0, 1005.0, "500 HTTP 500")]
    assert two.current(1035.0) == []  # expired: its process is gone or it was not renewed
    one.publish(Outage("whatsapp", 1040.0, 1050.0, "timeout"), expires_at=1080.0)
    two.clear("whatsapp")
    assert one.current(1041.0) == []


def test_a_circuit_opened_in_one_process_shows_in_the_other(boards) -> None:
    clock = Clock()
    sender = Circuits(threshold=2, cooldown_s=5, clock=clock, board=boards[0])
    web = Circuits(threshold=2, cooldown_s=5, clock=clock, board=boards[1])
    sender.failed("telegram", "502")
    assert web.outages() == []  # not open yet
    sender.failed("telegram", "502 Bad Gateway")
    [seen] = web.outages()
    assert (seen.channel, seen.since, seen.reason) == ("telegram", 1000.0, "502 Bad Gateway")
    assert web.wait_s("telegram") == 0  # the board is for showing: only senders hold replies
    clock.now += 5
    assert sender.wait_s("telegram") == 0  # the probe
    clock.now += 1
    sender.failed("telegram", "503")  # it failed: renewed, with the new reason
    assert [o.reason for o in web.outages()] == ["503"]
    clock.now += 10 + BOARD_GRACE_S - 1
    assert [o.channel for o in web.outages()] == ["telegram"]
    assert sender.wait_s("telegram") == 0
    sender.succeeded("telegram")
    assert web.outages() == [] and sender.outages() == []


def test_an_entry_of_a_process_that_died_expires(boards) -> None:
    clock = Clock()
    dying = Circuits(threshold=1, cooldown_s=5, clock=clock, board=boards[0])
    web = Circuits(threshold=1, cooldown_s=5, clock=clock, board=boards[1])
    dying.failed("messenger", "500")
    assert [o.channel for o in web.outages()] == ["messenger"]
    clock.now += 5 + BOARD_GRACE_S
    assert web.outages() == []


def test_a_web_only_process_reports_an_outage_its_worker_process_met(
    store_url: str, tmp_path: Path
) -> None:
    stack, stop = start_stack(tmp_path, store_url=store_url, run=False)  # the web part only
    env = {**os.environ, **stack.gw.config.env, "WORKERS": "2", "LOG_LEVEL": "WARNING"}
    worker = subprocess.Popen([sys.executable, "-m", "gateway", "worker"], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        stack.sandbox.fail_for("telegram", 8.0, 502)
        shoppers = [stack.shopper("telegram", f"Shopper {i}") for i in range(6)]
        for shopper in shoppers:
            stack.say("telegram", shopper, "hi")
        ready = wait_ready(stack.url, "degraded")
        assert ready.status_code == 200
        [down] = ready.json()["platforms_down"]
        assert down["channel"] == "telegram" and "502" in down["reason"]
        metrics = requests.get(stack.url + "/metrics", timeout=5).text
        assert 'gw_platform_down{channel="telegram"} 1.0' in metrics
        assert wait_ready(stack.url, "ok", timeout=40).json()["platforms_down"] == []
        for shopper in shoppers:  # and nothing was lost meanwhile
            stack.wait_sent("telegram", shopper, 2, timeout=30)
    finally:
        worker.terminate()
        worker.wait(10)
        stop()


def wait_ready(url: str, status: str, timeout: float = 30.0) -> requests.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = requests.get(url + "/readyz", timeout=5)
        if r.json()["status"] == status:
            return r
        time.sleep(0.1)
    raise AssertionError(f"/readyz never said {status!r}: {r.json()}")
