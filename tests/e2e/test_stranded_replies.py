"""A reply whose sender died after the platform took it, before its answer was recorded: the
next sender finds its lease ended unanswered and asks the platform before sending it again.
Twilio can say (its message list): the shopper gets it once. Telegram cannot: it goes again,
the documented crash double, and never zero times.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.base import Outgoing
from gateway.store.base import STRANDED
from gateway.turns.sender import OutboxSender
from gateway.turns.worker import TurnWorker
from tests.e2e.conftest import Stack, start_stack

LEASE_S = 1.0  # the dead sender's lease, short so that the test need not wait 30 s


@pytest.fixture
def stopped(tmp_path: Path) -> Iterator[Stack]:
    stack, stop = start_stack(tmp_path, run=False)
    yield stack
    stop()


def die_after_sending_the_first_reply(stack: Stack, channel: str, shopper: str) -> str:
    """The turn is committed; a sender takes its first reply, the platform accepts it, and the
    sender dies before recording the answer. Returns that reply's outbox id."""
    stack.say(channel, shopper, "hi")
    worker = TurnWorker(stack.gw, "w", OutboxSender(stack.gw, lease_s=LEASE_S))
    deadline = time.monotonic() + 10
    claim = None
    while claim is None and time.monotonic() < deadline:
        claim = stack.gw.store.claim("w", time.time(), 30)
    assert claim is not None
    committed, _ = worker.process(claim, time.time())
    item = committed.handed  # the commit leased it to this worker's sender
    assert committed.ok and item is not None
    adapter = stack.gw.adapters.adapters[channel]
    adapter.send(Outgoing.from_dict(item.payload))  # accepted; then the process is killed
    assert len(stack.sandbox.sent(channel, to=item.payload["to"])) == 1
    time.sleep(LEASE_S + 0.1)
    return item.id


def send_everything(stack: Stack) -> None:
    sender = OutboxSender(stack.gw)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and sender.run_once():
        pass


def test_a_stranded_whatsapp_reply_is_found_at_twilio_and_not_sent_again(stopped: Stack) -> None:
    stack = stopped
    shopper = stack.shopper("whatsapp")
    item_id = die_after_sending_the_first_reply(stack, "whatsapp", shopper)
    send_everything(stack)
    texts = Counter(e["text"] for e in stack.sandbox.sent("whatsapp", to=f"whatsapp:{shopper}"))
    assert len(texts) == 2 and set(texts.values()) == {1}, texts  # greeting and menu, once each
    [stranded] = [o for o in stack.gw.store.outbox_items(f"whatsapp:{shopper}") if o.id == item_id]
    assert stranded.status == "sent" and (stranded.platform_id or "").startswith("SM")
    assert stranded.attempts == 1 and stranded.last_error == STRANDED


def test_a_stranded_telegram_reply_goes_again_rather_than_never(stopped: Stack) -> None:
    stack = stopped
    shopper = stack.shopper("telegram")
    die_after_sending_the_first_reply(stack, "telegram", shopper)
    send_everything(stack)
    texts = Counter(e["text"] for e in stack.sandbox.sent("telegram", to=shopper))
    assert len(texts) == 2, texts
    assert sorted(texts.values()) == [1, 2]  # Telegram cannot be asked: the greeting twice
