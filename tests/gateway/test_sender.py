"""The outbox sender: outcomes map to sent, retry or dead letter; an adapter bug costs one retry."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.base import CannotTell, Failed, NotSent, Outgoing, RetryLater, Sent, Uncertain
from flows.state import ConversationState
from gateway.context import Gateway
from gateway.store.base import OutboxItem
from gateway.turns.circuit import Circuits
from gateway.turns.sender import OutboxSender, RetryPolicy
from tests.conftest import msg
from tests.harness import MakeGateway, metric


class ScriptedAdapter:
    """A real fake: answers sends from a script and records them; `found` is what it says of
    a send whose answer was lost (Telegram: it cannot tell)."""

    channel = "telegram"

    def __init__(self, *results: Any, found: Any = None) -> None:
        self.results = list(results)
        self.sent: list[Outgoing] = []
        self.found = found or CannotTell()
        self.asked: list[tuple[Outgoing, float]] = []

    def find_sent(self, out: Outgoing, since: float) -> Any:
        self.asked.append((out, since))
        return self.found

    def send(self, out: Outgoing) -> Any:
        self.sent.append(out)
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    def close(self) -> None:
        pass


GatewayWith = Callable[..., Gateway]


@pytest.fixture
def gateway_with(make_gateway: MakeGateway, tmp_path: Path) -> GatewayWith:
    """`gateway_with(adapter, created=None, folder=tmp_path)`: a gateway sending through
    `adapter`, with one reply to chat 42 in its outbox (created at `created`)."""

    def make(adapter: ScriptedAdapter, created: float | None = None,
             folder: Path = tmp_path) -> Gateway:  # fmt: skip
        gw = make_gateway(folder, adapters={"telegram": adapter})
        inbound = msg("hi", conversation="42")
        gw.store.enqueue(inbound, 1.0, 60)
        claim = gw.store.claim("w", 1.0, 30)
        assert claim is not None
        item = OutboxItem(
            "telegram:42:m:0",
            "telegram:42",
            "telegram",
            Outgoing("telegram", "42", {"text": "hi"}).to_dict(),
            time.time() if created is None else created,
        )
        gw.store.commit_turn(claim, ConversationState(), [], [item], [], 1.0)
        return gw

    return make


def status(gw: Gateway) -> tuple[str, int, str | None]:
    (item,) = gw.store.outbox_items("telegram:42")
    return item.status, item.attempts, item.last_error


def test_sent_is_recorded(gateway_with: GatewayWith) -> None:
    gw = gateway_with(ScriptedAdapter(Sent("p1")))
    OutboxSender(gw).run_once()
    assert status(gw)[0] == "sent"


def test_retry_later_counts_an_attempt_and_waits(gateway_with: GatewayWith) -> None:
    gw = gateway_with(ScriptedAdapter(RetryLater(7.0, "429")))
    OutboxSender(gw).run_once()
    assert status(gw) == ("pending", 1, "retry_later:429")
    assert OutboxSender(gw).run_once() == 0  # not due for at least Retry-After


def test_permanent_failure_is_dead_lettered_at_once(gateway_with: GatewayWith) -> None:
    gw = gateway_with(ScriptedAdapter(Failed("permanent", "400")))
    OutboxSender(gw).run_once()
    assert status(gw)[0] == "dead" and gw.store.dead_letters()[0].last_error == "permanent:400"


def test_a_maybe_sent_reply_is_sent_again_where_the_platform_cannot_tell(
    gateway_with: GatewayWith,
) -> None:
    adapter = ScriptedAdapter(Uncertain("read_timeout"), Uncertain("read_timeout"), Sent("p1"))
    gw = gateway_with(adapter)
    sender = OutboxSender(gw, RetryPolicy(base_s=0.0, jitter=0.0))
    for _ in range(3):
        sender.run_once()
    assert status(gw)[0] == "sent" and len(adapter.sent) == 3 and len(adapter.asked) == 2


def test_a_maybe_sent_reply_the_platform_has_is_recorded_not_sent_again(
    gateway_with: GatewayWith,
) -> None:
    adapter = ScriptedAdapter(Uncertain("500"), found=Sent("SM1"))
    gw = gateway_with(adapter)
    sender = OutboxSender(gw, RetryPolicy(base_s=0.0, jitter=0.0))
    sender.run_once()
    sender.run_once()
    (item,) = gw.store.outbox_items("telegram:42")
    assert (item.status, item.platform_id, len(adapter.sent)) == ("sent", "SM1", 1)


def test_a_maybe_sent_reply_is_asked_about_again_while_the_platform_is_down(
    gateway_with: GatewayWith,
) -> None:
    adapter = ScriptedAdapter(Uncertain("500"), Sent("p1"), found=RetryLater(1, "find_sent"))
    gw = gateway_with(adapter)
    sender = OutboxSender(gw, RetryPolicy(base_s=0.0, jitter=0.0, retry_after_max_s=0.0))
    sender.run_once()
    sender.run_once()
    assert status(gw)[2] == "uncertain:find_sent" and len(adapter.sent) == 1
    adapter.found = NotSent()
    sender.run_once()
    assert status(gw)[0] == "sent" and len(adapter.sent) == 2


def test_an_outage_is_retried_for_the_whole_budget_then_dead_lettered(
    gateway_with: GatewayWith, tmp_path: Path
) -> None:
    adapter = ScriptedAdapter(*[RetryLater(0, "500")] * 3)
    gw = gateway_with(adapter, created=time.time() - 3000)
    sender = OutboxSender(gw, RetryPolicy(base_s=0.0, jitter=0.0, budget_s=3600))
    sender.run_once()
    assert status(gw)[0] == "pending"  # 50 minutes into an outage: still trying
    gw2 = gateway_with(ScriptedAdapter(RetryLater(0, "500")), created=time.time() - 3601,
                       folder=tmp_path / "late")  # fmt: skip
    OutboxSender(gw2, RetryPolicy(base_s=0.0, jitter=0.0, budget_s=3600)).run_once()
    (dead,) = gw2.store.dead_letters()
    assert dead.last_error is not None and dead.last_error.startswith("retry_later:500")


def test_an_open_circuit_holds_replies_without_charging_an_attempt(
    gateway_with: GatewayWith,
) -> None:
    adapter = ScriptedAdapter(Sent("p1"))
    gw = gateway_with(adapter)
    for _ in range(gw.circuits.threshold):
        gw.circuits.failed("telegram", "500")
    OutboxSender(gw).run_once()
    assert status(gw) == ("pending", 0, None) and adapter.sent == []
    assert metric(gw, "gw_send_held_total", channel="telegram") == 1


def test_an_adapter_exception_costs_one_retry_not_the_batch(gateway_with: GatewayWith) -> None:
    gw = gateway_with(ScriptedAdapter(KeyError("bug"), Sent("p1")))
    sender = OutboxSender(gw, RetryPolicy(base_s=0.0, jitter=0.0))
    assert sender.run_once() == 1
    assert status(gw) == ("pending", 1, "exception")
    sender.run_once()
    assert status(gw)[0] == "sent"


def test_disabled_channel_dead_letters_with_the_reason(gateway_with: GatewayWith) -> None:
    gw = gateway_with(ScriptedAdapter())
    gw.adapters.adapters.clear()
    OutboxSender(gw).run_once()
    assert status(gw)[0] == "dead" and "disabled" in (gw.store.dead_letters()[0].last_error or "")


def test_a_probe_sent_by_a_turn_worker_closes_the_circuit(gateway_with: GatewayWith) -> None:
    gw = gateway_with(ScriptedAdapter(Sent("p1")))
    gw.circuits = Circuits(threshold=1, cooldown_s=0.0)
    gw.circuits.failed("telegram", "500")
    sender = OutboxSender(gw)
    (item,) = gw.store.claim_outbox(time.time(), 30, 1)
    flight = sender.start(item)  # the probe: the cooldown is over
    assert flight is not None
    assert sender.finish(flight) == (item.id, "p1")  # for the worker's ledger to record
    assert gw.circuits.outages() == []


def test_a_maybe_sent_reply_is_not_sent_again_and_again_where_nobody_can_tell(
    gateway_with: GatewayWith,
) -> None:
    adapter = ScriptedAdapter(*[Uncertain("read_timeout")] * 3)
    gw = gateway_with(adapter)
    sender = OutboxSender(gw, RetryPolicy(base_s=0.0, jitter=0.0))
    for _ in range(4):
        sender.run_once()
    assert len(adapter.sent) == 3  # the first try and two blind resends: no more copies
    (dead,) = gw.store.dead_letters()
    assert dead.last_error == "uncertain:read_timeout: maybe sent, not sent again"
