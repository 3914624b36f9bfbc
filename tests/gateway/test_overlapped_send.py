"""A turn worker reads the answer to its last reply after its next turn (TurnWorker.run_once):
the request has left, the platform answers while the next turn runs; a success is recorded
by the commit after that. Real SQLite store, the real Telegram adapter (PTB over
PooledRequest) against a loopback server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from adapters.telegram.adapter import TelegramAdapter, TelegramConfig
from flows.messages import Inbound, Shopper
from flows.state import ConversationState
from gateway.context import Gateway
from gateway.turns import send_pipeline
from gateway.turns.runtime import Runtime
from gateway.turns.worker import TurnWorker
from tests.conftest import ROOT, msg
from tests.harness import MakeGateway
from tests.scripted_server import Scripted, answer, error


@pytest.fixture
def gateway(make_gateway: MakeGateway, tmp_path: Path) -> Callable[..., Gateway]:
    """`gateway(api_url, flows=the bench's flow)`: overlapped sends to Telegram at `api_url`."""

    def make(api_url: str, flows: Path = ROOT / "bench" / "flows_bench.yaml") -> Gateway:
        adapter = TelegramAdapter(TelegramConfig("1:T", "secret", api_base_url=api_url))
        return make_gateway(tmp_path, flows=flows, adapters={"telegram": adapter},
                            SEND_OVERLAP="1")  # fmt: skip

    return make


def shopper_writes(gw: Gateway, chat: str) -> None:
    message = replace(msg("/start", conversation=chat), message_id=f"{chat}-1")
    assert gw.store.enqueue(message, time.time(), 60)


Outbox = tuple[str, int, str | None]  # an outbox item's status, attempts, platform id or error


def outbox(gw: Gateway, chat: str) -> list[Outbox]:
    items = gw.store.outbox_items(f"telegram:{chat}")
    return [(i.status, i.attempts, i.platform_id or i.last_error) for i in items]


def arrived(server: Scripted, n: int) -> bool:
    deadline = time.monotonic() + 5
    while len(server.requests) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return len(server.requests) == n


def test_a_reply_is_read_after_the_next_turn_recorded_by_the_one_after_or_when_idle(
    gateway: Callable[..., Gateway], scripted: Callable[..., Scripted]
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
    assert [platform_id for _, platform_id in worker.pipeline.ledger.marks] == ["1:7"]
    assert outbox(gw, "1") == [("pending", 0, None)]  # recorded by the next commit
    assert worker.run_once()
    assert arrived(server, 3)
    assert outbox(gw, "1") == [("sent", 0, "1:7")]
    assert outbox(gw, "2") == [("pending", 0, None)]
    assert not worker.run_once()  # nothing to overlap with: read and recorded now
    assert outbox(gw, "2") == [("sent", 0, "2:7")]
    assert outbox(gw, "3") == [("sent", 0, "3:7")]
    assert worker.pipeline.ledger.marks == [] and worker.pipeline.in_flight is None


def test_an_error_answer_read_later_is_retried_as_any_other(
    gateway: Callable[..., Gateway], scripted: Callable[..., Scripted]
) -> None:
    server = scripted(answer(error(429, "Too Many", retry_after=3), status="429 Too Many"))
    gw = gateway(server.url)
    shopper_writes(gw, "1")
    worker = TurnWorker(gw, "w1")
    assert worker.run_once()
    assert not worker.run_once()
    assert outbox(gw, "1") == [("pending", 1, "retry_later:429")]


def test_a_stopping_worker_reads_the_answer_of_its_last_reply(
    gateway: Callable[..., Gateway], scripted: Callable[..., Scripted]
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


CALLING_FLOW = """\
version: 1
shop:
  name: Test Shop
env:
  SHOP_API_URL: http://127.0.0.1:9
settings:
  start: lookup
nodes:
  lookup:
    call:
      url: "{{ env.SHOP_API_URL }}/orders"
      timeout: 2
      on_error: done
    next: done
  done:
    say: "Done."
    end: true
"""


@contextmanager
def shop_recording(flows: Path, gw_box: list[Gateway]) -> Iterator[list[list[Outbox]]]:
    """A shop API for CALLING_FLOW (written to `flows`) that notes chat 1's outbox, as the
    store holds it, whenever the flow calls it."""
    seen: list[list[Outbox]] = []

    class Shop(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(outbox(gw_box[0], "1"))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Shop) as shop:
        threading.Thread(target=shop.serve_forever, daemon=True).start()
        flows.write_text(
            CALLING_FLOW.replace("http://127.0.0.1:9", f"http://127.0.0.1:{shop.server_port}")
        )
        try:
            yield seen
        finally:
            shop.shutdown()


def test_what_a_worker_holds_is_recorded_before_a_flow_calls_out(
    gateway: Callable[..., Gateway], scripted: Callable[..., Scripted], tmp_path: Path
) -> None:
    """A flow's HTTP call may take seconds: the reply sent before it must not wait for the
    commit after it (its outbox lease could run out and another sender send it again)."""
    gw_box: list[Gateway] = []
    with shop_recording(tmp_path / "calling.yaml", gw_box) as seen_at_call:
        server = scripted(answer(), answer())
        gw = gateway(server.url, tmp_path / "calling.yaml")
        gw_box.append(gw)
        shopper_writes(gw, "1")
        shopper_writes(gw, "2")
        worker = TurnWorker(gw, "w1")
        assert worker.run_once() and worker.run_once()
    assert seen_at_call[1] == [("sent", 0, "1:7")]  # recorded before chat 2's call went out


def test_what_a_worker_holds_is_recorded_before_an_agents_resolve_calls_out(
    gateway: Callable[..., Gateway], scripted: Callable[..., Scripted], tmp_path: Path
) -> None:
    """The agent path runs flow services too: a resolve hands chat 2 back to the bot at a
    `call` node, and chat 1's reply, sent the turn before, is recorded before that call."""
    gw_box: list[Gateway] = []
    with shop_recording(tmp_path / "calling.yaml", gw_box) as seen_at_call:
        server = scripted(answer(), answer())
        gw = gateway(server.url, tmp_path / "calling.yaml")
        gw_box.append(gw)
        in_handoff(gw, "2")
        shopper_writes(gw, "1")
        resolve = Inbound("telegram", "2", "agent:1", Shopper("2", name="Ann"), kind="agent",
                          extras=(("action", "resolve"), ("resume_at", "lookup"),
                                  ("author", "Bea")))  # fmt: skip
        assert gw.store.enqueue(resolve, time.time(), 60)
        worker = TurnWorker(gw, "w1")
        assert worker.run_once() and worker.run_once()
    assert len(seen_at_call) == 2  # chat 1's turn, then the bot taking chat 2 back
    assert seen_at_call[1] == [("sent", 0, "1:7")]
    assert gw.store.load("telegram:2").state.mode == "ended"  # the bot ran the flow to its end


def in_handoff(gw: Gateway, chat: str) -> None:
    """Chat `chat` waits for a person (as after a handoff), written as a turn would."""
    shopper_writes(gw, chat)
    claim = gw.store.claim("setup", time.time(), 30)
    assert claim is not None and claim.conversation == f"telegram:{chat}"
    handoff = ConversationState(node="lookup", mode="handoff")
    assert gw.store.commit_turn(claim, handoff, [], [], [], time.time())


def test_a_success_that_waited_too_long_is_recorded_on_its_own(
    gateway: Callable[..., Gateway],
    scripted: Callable[..., Scripted],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(send_pipeline, "DEFER_MAX_S", 0.0)
    server = scripted(answer(), answer())
    gw = gateway(server.url)
    shopper_writes(gw, "1")
    shopper_writes(gw, "2")
    worker = TurnWorker(gw, "w1")
    assert worker.run_once() and worker.run_once()
    assert outbox(gw, "1") == [("sent", 0, "1:7")]  # not left for the next commit
    assert worker.pipeline.ledger.marks == []


def test_a_reply_of_the_conversation_being_committed_rides_with_its_commit(
    gateway: Callable[..., Gateway], scripted: Callable[..., Scripted]
) -> None:
    """The shopper wrote again before the answer was read: the commit records the reply
    first, so it can hand the new one over to this worker."""
    server = scripted(answer(), answer())
    gw = gateway(server.url)
    shopper_writes(gw, "1")
    worker = TurnWorker(gw, "w1")
    assert worker.run_once()
    second = replace(msg("Track my order", conversation="1"), message_id="1-2")
    assert gw.store.enqueue(second, time.time(), 60)
    assert worker.run_once()
    assert arrived(server, 2)  # sent by this worker, not left for the sender thread
    assert [o[0] for o in outbox(gw, "1")] == ["sent", "pending"]


TWO_REPLY_FLOW = """\
version: 1
shop:
  name: Test Shop
settings:
  start: first
nodes:
  first:
    say: "One."
    next: second
  second:
    say: "Two."
    end: true
"""


def test_a_turn_with_several_replies_records_the_first_at_once(
    gateway: Callable[..., Gateway], scripted: Callable[..., Scripted], tmp_path: Path
) -> None:
    """The second reply is due only once the first is recorded: no waiting for two turns."""
    flows = tmp_path / "two.yaml"
    flows.write_text(TWO_REPLY_FLOW)
    server = scripted(answer())
    gw = gateway(server.url, flows)
    shopper_writes(gw, "1")
    shopper_writes(gw, "2")
    assert TurnWorker(gw, "w1").run_once()
    assert outbox(gw, "1") == [("sent", 0, "1:7"), ("pending", 0, None)]
    (due,) = gw.store.claim_outbox(time.time(), 30.0, 5)  # for the sender thread, now
    assert due.id.endswith(":1") and due.conversation == "telegram:1"


def test_what_a_worker_holds_is_recorded_before_a_profile_lookup(
    gateway: Callable[..., Gateway], scripted: Callable[..., Scripted]
) -> None:
    """A shopper without a name is looked up on the platform (Messenger): an HTTP call."""
    server = scripted(answer(), answer())
    gw = gateway(server.url)
    seen_at_lookup: list[list[tuple[str, int, str | None]]] = []

    class Lookup:  # as Messenger's User Profile API, on this channel
        def profile(self, shopper_id: str) -> None:
            seen_at_lookup.append(outbox(gw, "1"))

    gw.adapters.profiles["telegram"] = Lookup()
    shopper_writes(gw, "1")
    nameless = replace(msg("/start", conversation="2", name=None), message_id="2-1")
    assert gw.store.enqueue(nameless, time.time(), 60)
    worker = TurnWorker(gw, "w1")
    assert worker.run_once() and worker.run_once()
    assert seen_at_lookup == [[("sent", 0, "1:7")]]
