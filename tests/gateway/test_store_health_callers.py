"""Only a write that went tells /readyz the store takes writes again: a duplicate webhook
(answered 200, nothing stored) and an idle worker or sender (a read) say nothing of it. A full
disk still answers those, so counting them flipped /readyz to ok while writes failed."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.turns.runtime import Runtime
from tests.e2e.conftest import Stack, start_stack

FULL = sqlite3.OperationalError("database or disk is full")


@pytest.fixture
def idle(tmp_path: Path) -> Iterator[Stack]:
    stack, stop = start_stack(tmp_path, run=False)
    yield stack
    stop()


def test_a_duplicate_webhook_does_not_count_as_a_write(idle: Stack) -> None:
    assert idle.post_fixture("telegram/text_private.json").status_code == 200  # stored
    idle.gw.store_health.failed("webhook", FULL)  # then the disk filled
    assert idle.post_fixture("telegram/text_private.json").status_code == 200  # a duplicate
    assert "webhook writes failing" in (idle.gw.store_health.problem() or "")
    shopper = idle.shopper("telegram")
    idle.say("telegram", shopper, "hi")  # a message stored: that write went
    assert idle.gw.store_health.problem() is None


def test_idle_workers_and_sender_do_not_count_as_writes(idle: Stack) -> None:
    idle.gw.store_health.failed("worker", FULL)
    idle.gw.store_health.failed("sender", FULL)
    runtime = Runtime(idle.gw, 2).start()
    try:
        time.sleep(0.5)  # many idle polls of the queue and the outbox
        problem = idle.gw.store_health.problem() or ""
        assert "worker writes failing" in problem and "sender writes failing" in problem
        shopper = idle.shopper("telegram")
        idle.say("telegram", shopper, "hi")
        idle.wait_sent("telegram", shopper, 2)  # a turn and its sends: writes that went
        deadline = time.monotonic() + 10
        while idle.gw.store_health.problem() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert idle.gw.store_health.problem() is None
    finally:
        runtime.stop()
