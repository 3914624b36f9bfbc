"""A Messenger reply whose sender died after Graph took it, before its answer was recorded: the
next sender finds its lease ended unanswered and asks the Conversations API before sending it
again. With the page token's permissions the shopper gets it once; without them (Graph refuses)
it goes again, the documented crash double, and never zero times.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.store.base import STRANDED
from tests.e2e.conftest import Stack, start_stack
from tests.e2e.test_stranded_replies import die_after_sending_the_first_reply, send_everything


@pytest.fixture
def stopped(tmp_path: Path) -> Iterator[Stack]:
    stack, stop = start_stack(tmp_path, run=False)
    yield stack
    stop()


def replies(stack: Stack, shopper: str) -> Counter[str]:
    """What the shopper got, by text (typing indicators left out)."""
    sent = stack.sandbox.sent("messenger", to=shopper)
    return Counter(e["text"] for e in sent if e["method"] == "messages")


def test_a_stranded_messenger_reply_is_found_in_the_conversation_and_not_sent_again(
    stopped: Stack,
) -> None:
    stack = stopped
    shopper = stack.shopper("messenger")
    item_id = die_after_sending_the_first_reply(stack, "messenger", shopper)
    [first] = stack.sandbox.sent("messenger", to=shopper)
    send_everything(stack)
    texts = replies(stack, shopper)
    assert len(texts) == 2 and set(texts.values()) == {1}, texts  # greeting and menu, once each
    [stranded] = [o for o in stack.gw.store.outbox_items(f"messenger:{shopper}") if o.id == item_id]
    assert stranded.status == "sent" and stranded.platform_id == first["id"]
    assert stranded.attempts == 1 and stranded.last_error == STRANDED
    asked = [(r["method"], r["status"]) for r in stack.sandbox.reads("messenger", to=shopper)]
    assert ("conversations", 200) in asked and ("conversation", 200) in asked


def test_without_the_permissions_a_stranded_messenger_reply_goes_again_rather_than_never(
    stopped: Stack,
) -> None:
    stack = stopped
    stack.sandbox.deny_conversations_api(code=200)
    shopper = stack.shopper("messenger")
    item_id = die_after_sending_the_first_reply(stack, "messenger", shopper)
    [first] = stack.sandbox.sent("messenger", to=shopper)
    send_everything(stack)
    texts = replies(stack, shopper)
    assert len(texts) == 2, texts
    assert sorted(texts.values()) == [1, 2]  # Graph refused the lookup: the greeting twice
    assert texts[first["text"]] == 2
    [stranded] = [o for o in stack.gw.store.outbox_items(f"messenger:{shopper}") if o.id == item_id]
    assert stranded.status == "sent" and stranded.platform_id not in (None, "", first["id"])
    asked = [(r["method"], r["status"]) for r in stack.sandbox.reads("messenger", to=shopper)]
    assert asked == [("conversations", 400)]  # asked once, refused, then sent again
