"""A WhatsApp (Twilio) outage loses no reply and doubles none, on SQLite and on Redis.

Twilio answers 500 for a while: some of those 500s came after the message had gone out
(Twilio's "maybe sent"). Every reply must reach each shopper exactly once: retried through the
outage (not dead-lettered), and, for a "maybe sent", looked up in Twilio's message list before
it is sent again.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.contract.conftest import (  # noqa: F401  (redis_url: the session's redis-server)
    redis_database,
    redis_url,
)
from tests.e2e.conftest import Stack, start_stack

SHOPPERS = 12
REPLIES = 2  # "hi": the greeting and the menu
OUTAGE_S = 3.0
DB = 14  # a database of its own on the session's redis-server, emptied before and after


@pytest.fixture(params=["sqlite", "redis"])
def outage_stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    with ExitStack() as cleanup:
        url = None
        if request.param == "redis":
            url = cleanup.enter_context(redis_database(request.getfixturevalue("redis_url"), DB))
        stack, stop = start_stack(tmp_path, store_url=url)
        cleanup.callback(stop)
        yield stack


def test_a_twilio_outage_loses_and_doubles_no_reply(outage_stack: Stack) -> None:
    stack = outage_stack
    shoppers = [stack.shopper("whatsapp", f"Shopper {i}") for i in range(SHOPPERS)]
    # The outage: 500s for 3 seconds; the first 3 after the message had gone out.
    stack.sandbox.fail_next("whatsapp", 500, count=3, method="messages.create", acted=True)
    stack.sandbox.fail_for("whatsapp", OUTAGE_S, 500, method="messages.create")
    for shopper in shoppers:
        stack.say("whatsapp", shopper, "hi")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(stack.sandbox.sent("whatsapp")) >= SHOPPERS * REPLIES and not pending(stack):
            break
        time.sleep(0.1)
    time.sleep(0.5)  # anything sent twice would arrive now
    for shopper in shoppers:
        texts = Counter(e["text"] for e in stack.sandbox.sent("whatsapp", to=f"whatsapp:{shopper}"))
        assert len(texts) == REPLIES, (shopper, texts)  # none lost
        assert set(texts.values()) == {1}, (shopper, texts)  # none doubled
    assert stack.gw.store.dead_letters() == []
    attempts = stack.sandbox.attempts("whatsapp")
    assert sum(1 for a in attempts if a.get("answered") == 500) == 3
    assert sum(1 for a in attempts if a.get("status") == 500) >= 1


def pending(stack: Stack) -> bool:
    return any(
        item.status == "pending"
        for shopper in stack.sandbox.state.shoppers.all()
        for item in stack.gw.store.outbox_items(f"whatsapp:{shopper.address}")
    )
