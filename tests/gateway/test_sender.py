"""The outbox sender: outcomes map to sent, retry or dead letter; an adapter bug costs one retry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.base import Failed, Outgoing, RetryLater, Sent, Uncertain
from adapters.registry import BuiltAdapters
from flows.state import ConversationState
from gateway.config import Config
from gateway.context import Gateway
from gateway.flow_holder import FlowHolder
from gateway.http_services import HttpServices
from gateway.sender import OutboxSender, RetryPolicy
from gateway.store import open_store
from gateway.store.base import OutboxItem
from tests.conftest import ROOT, msg


class ScriptedAdapter:
    """A real fake: answers sends from a script and records them."""

    channel = "telegram"

    def __init__(self, *results: Any) -> None:
        self.results = list(results)
        self.sent: list[Outgoing] = []

    def send(self, out: Outgoing) -> Any:
        self.sent.append(out)
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    def close(self) -> None:
        pass


def gateway_with(tmp_path: Path, adapter: ScriptedAdapter) -> Gateway:
    config = Config.from_env({"STORE_URL": f"sqlite:///{tmp_path / 'gw.db'}"})
    gw = Gateway(config, open_store(config.store_url), BuiltAdapters({"telegram": adapter}),  # type: ignore[dict-item]
                 FlowHolder(ROOT / "flows.yaml", {}), HttpServices())  # fmt: skip
    inbound = msg("hi", conversation="42")
    gw.store.enqueue(inbound, 1.0, 60)
    claim = gw.store.claim("w", 1.0, 30)
    assert claim is not None
    item = OutboxItem(
        "telegram:42:m:0",
        "telegram:42",
        "telegram",
        Outgoing("telegram", "42", {"text": "hi"}).to_dict(),
        1.0,
    )
    gw.store.commit_turn(claim, ConversationState(), [], [item], [], 1.0)
    return gw


def status(gw: Gateway) -> tuple[str, int, str | None]:
    (item,) = gw.store.outbox_items("telegram:42")
    return item.status, item.attempts, item.last_error


def test_sent_is_recorded(tmp_path: Path) -> None:
    gw = gateway_with(tmp_path, ScriptedAdapter(Sent("p1")))
    OutboxSender(gw).run_once()
    assert status(gw)[0] == "sent"


def test_retry_later_counts_an_attempt_and_waits(tmp_path: Path) -> None:
    gw = gateway_with(tmp_path, ScriptedAdapter(RetryLater(7.0, "429")))
    OutboxSender(gw).run_once()
    assert status(gw) == ("pending", 1, "retry_later:429")
    assert OutboxSender(gw).run_once() == 0  # not due for at least Retry-After


def test_permanent_failure_is_dead_lettered_at_once(tmp_path: Path) -> None:
    gw = gateway_with(tmp_path, ScriptedAdapter(Failed("permanent", "400")))
    OutboxSender(gw).run_once()
    assert status(gw)[0] == "dead" and gw.store.dead_letters()[0].last_error == "permanent:400"


def test_uncertain_is_retried_once_then_dead(tmp_path: Path) -> None:
    adapter = ScriptedAdapter(Uncertain("read_timeout"), Uncertain("read_timeout"))
    gw = gateway_with(tmp_path, adapter)
    sender = OutboxSender(gw, RetryPolicy(base_s=0.0, jitter=0.0))
    sender.run_once()
    assert status(gw)[0] == "pending"
    sender.run_once()
    assert status(gw)[0] == "dead" and len(adapter.sent) == 2


def test_an_adapter_exception_costs_one_retry_not_the_batch(tmp_path: Path) -> None:
    gw = gateway_with(tmp_path, ScriptedAdapter(KeyError("bug"), Sent("p1")))
    sender = OutboxSender(gw, RetryPolicy(base_s=0.0, jitter=0.0))
    assert sender.run_once() == 1
    assert status(gw) == ("pending", 1, "exception")
    sender.run_once()
    assert status(gw)[0] == "sent"


def test_disabled_channel_dead_letters_with_the_reason(tmp_path: Path) -> None:
    gw = gateway_with(tmp_path, ScriptedAdapter())
    gw.adapters.adapters.clear()
    OutboxSender(gw).run_once()
    assert status(gw)[0] == "dead" and "disabled" in (gw.store.dead_letters()[0].last_error or "")
