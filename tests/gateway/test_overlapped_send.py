"""A turn worker reads the answer to its last reply after its next turn (TurnWorker.run_once):
the request has left, the platform answers while the next turn runs; a success is recorded
by the commit after that. Real SQLite store, the real Telegram adapter (PTB over
PooledRequest) against a loopback server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from adapters.registry import BuiltAdapters
from adapters.telegram import TelegramAdapter, TelegramConfig
from gateway.config import Config
from gateway.context import Gateway
from gateway.flow_holder import FlowHolder
from gateway.http_services import HttpServices
from gateway.runtime import Runtime
from gateway.store import open_store
from gateway.worker import TurnWorker
from tests.conftest import ROOT, msg
from tests.scripted_server import Scripted, answer, error


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Callable[[str], Gateway]]:
    made: list[Gateway] = []

    def make(api_url: str) -> Gateway:
        config = Config.from_env({"STORE_URL": f"sqlite:///{tmp_path / 'gw.db'}"})
        adapter = TelegramAdapter(TelegramConfig("1:T", "secret", api_base_url=api_url))
        gw = Gateway(config, open_store(config.store_url), BuiltAdapters({"telegram": adapter}),
                     FlowHolder(ROOT / "bench" / "flows_bench.yaml", {}), HttpServices())  # fmt: skip
        gw.store.hand_over_commits(30.0)  # as Runtime does: the commit claims the reply
        made.append(gw)
        return gw

    yield make
    for gw in made:
        gw.close()


def shopper_writes(gw: Gateway, chat: str) -> None:
    message = replace(msg("/start", conversation=chat), message_id=f"{chat}-1")
    assert gw.store.enqueue(message, time.time(), 60)


def outbox(gw: Gateway, chat: str) -> list[tuple[str, int, str | None]]:
    items = gw.store.outbox_items(f"telegram:{chat}")
    return [(i.status, i.attempts, i.platform_id or i.last_error) for i in items]


def arrived(server: Scripted, n: int) -> bool:
    deadline = time.monotonic() + 5
    while len(server.requests) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return len(server.requests) == n


def test_a_reply_is_read_after_the_next_turn_recorded_by_the_one_after_or_when_idle(
    gateway: Callable[[str], Gateway], scripted: Callable[..., Scripted]
) -> None:
    server = scripted(answer(), answer(), answer())
    gw = gateway(server.url)
    for chat in ("1", "2", "3"):
        shopper_writes(gw, chat)
    worker = TurnWorker(gw, "w1")
    assert worker.run_once()
    assert arrived(server, 1)  # the reply went out...
    assert outbox(gw, "1") == [("pending", 0, None)]  # ...and its answer is not read yet
    assert worker.run_once()  # the next turn, then the answer of the one before
    assert [platform_id for _, platform_id in worker.answered] == ["1:7"]
    assert outbox(gw, "1") == [("pending", 0, None)]  # recorded by the next commit
    assert worker.run_once()
    assert arrived(server, 3)
    assert outbox(gw, "1") == [("sent", 0, "1:7")]
    assert outbox(gw, "2") == [("pending", 0, None)]
    assert not worker.run_once()  # nothing to overlap with: read and recorded now
    assert outbox(gw, "2") == [("sent", 0, "2:7")]
    assert outbox(gw, "3") == [("sent", 0, "3:7")]
    assert worker.answered == [] and worker.in_flight is None


def test_an_error_answer_read_later_is_retried_as_any_other(
    gateway: Callable[[str], Gateway], scripted: Callable[..., Scripted]
) -> None:
    server = scripted(answer(error(429, "Too Many", retry_after=3), status="429 Too Many"))
    gw = gateway(server.url)
    shopper_writes(gw, "1")
    worker = TurnWorker(gw, "w1")
    assert worker.run_once()
    assert not worker.run_once()
    assert outbox(gw, "1") == [("pending", 1, "retry_later:429")]


def test_a_stopping_worker_reads_the_answer_of_its_last_reply(
    gateway: Callable[[str], Gateway], scripted: Callable[..., Scripted]
) -> None:
    server = scripted(answer())
    gw = gateway(server.url)
    shopper_writes(gw, "1")
    runtime = Runtime(gw, 1)
    worker = TurnWorker(gw, "w1", runtime.sender)
    assert worker.run_once()
    assert outbox(gw, "1") == [("pending", 0, None)]
    runtime.stop_event.set()
    runtime._work(worker)  # the loop ends at once, as after stop()
    assert outbox(gw, "1") == [("sent", 0, "1:7")]
