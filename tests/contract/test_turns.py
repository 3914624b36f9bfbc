"""commit_turn and what it writes: state, history, outbox, events, all or nothing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from flows.state import ConversationState
from gateway.store.base import HistoryEntry, Store
from tests.contract.helpers import LEASE, T0, TTL, commit, inbound, key, run_turn


def test_load_of_an_unknown_conversation_gives_a_fresh_state(store: Store) -> None:
    conversation = store.load("telegram:nobody")
    assert conversation.key == "telegram:nobody"
    assert conversation.state == ConversationState()
    assert conversation.last_inbound_at == 0.0
    assert store.history("telegram:nobody") == []
    assert store.outbox_items("telegram:nobody") == []
    assert store.events("telegram:nobody") == []


def test_commit_turn_saves_state_history_outbox_and_events(store: Store) -> None:
    store.enqueue(inbound("c1", 0), T0, TTL)
    claim = store.claim("w", T0 + 1, LEASE)
    assert claim is not None
    state = ConversationState(
        node="ask_size",
        mode="bot",
        vars={"name": "Ann", "n": 1.5},
        variants=(("welcome", "b"),),
        turns=1,
    )
    assert commit(store, claim, T0 + 2, replies=2, events=3, state=state)

    loaded = store.load(key("c1"))
    assert loaded.state == state
    assert loaded.last_inbound_at == claim.inbound.timestamp
    assert loaded.updated_at == T0 + 2
    history = store.history(key("c1"))
    assert [(h.seq, h.direction, h.text) for h in history] == [
        (1, "in", "m0"),
        (2, "out", "echo m0"),
    ]
    assert history[0].data == {"message_id": "c1-0"}
    assert history[1].data == {}
    assert history[0].at == T0 + 2 and history[0].conversation == key("c1")
    items = store.outbox_items(key("c1"))
    assert [(o.id, o.status, o.attempts) for o in items] == [
        ("telegram:c1:c1-0:0", "pending", 0),
        ("telegram:c1:c1-0:1", "pending", 0),
    ]
    assert items[0].seq < items[1].seq
    assert items[0].payload == {"text": "reply 0 to m0"}
    assert items[0].channel == "telegram" and items[0].created_at == T0 + 2
    assert store.events(key("c1")) == [
        {"type": "NodeEntered", "node": f"n{i}", "at": T0 + 2, "i": i} for i in range(3)
    ]
    assert store.queue_depth() == 0


def test_history_seq_keeps_increasing_across_turns(store: Store) -> None:
    for n in range(3):
        run_turn(store, "c1", n, T0 + n)
    history = store.history(key("c1"))
    assert [h.seq for h in history] == [1, 2, 3, 4, 5, 6]
    assert [h.text for h in history][::2] == ["m0", "m1", "m2"]


def test_reprocessed_message_adds_no_outbox_items_or_events_twice(store: Store) -> None:
    run_turn(store, "c1", 0, T0, replies=2)
    first_items = store.outbox_items(key("c1"))
    # The platform sends the same message again after the dedupe window: processed again.
    assert store.enqueue(inbound("c1", 0), T0 + TTL + 1, TTL)
    again = store.claim("w", T0 + TTL + 1, LEASE)
    assert again is not None
    assert commit(store, again, T0 + TTL + 2, replies=2)
    assert store.outbox_items(key("c1")) == first_items
    assert len(store.events(key("c1"))) == 1
    assert [h.seq for h in store.history(key("c1"))] == [1, 2, 3, 4]
    assert store.load(key("c1")).updated_at == T0 + TTL + 2


def test_a_lost_lease_writes_nothing(store: Store) -> None:
    store.enqueue(inbound("c1", 0), T0, TTL)
    old = store.claim("w1", T0, 10)
    assert old is not None
    assert store.claim("w2", T0 + 11, 10) is not None
    assert not commit(store, old, T0 + 12, replies=2, events=2)
    assert store.load(key("c1")).state == ConversationState()
    assert store.history(key("c1")) == []
    assert store.outbox_items(key("c1")) == []
    assert store.events(key("c1")) == []
    assert store.claim_outbox(T0 + 12, LEASE, 10) == []


def test_commit_refuses_items_of_another_conversation(store: Store) -> None:
    store.enqueue(inbound("c1", 0), T0, TTL)
    claim = store.claim("w", T0, LEASE)
    assert claim is not None
    stray = HistoryEntry(key("c2"), T0, "in", "shopper", "not mine")
    with pytest.raises(ValueError, match="own conversation"):
        store.commit_turn(claim, ConversationState(), [stray], [], [], T0)
    assert store.history(key("c2")) == []
    assert commit(store, claim, T0)


def test_history_pages_newest_last_over_1000_entries(store: Store) -> None:
    conv = key("long")
    entries = [
        HistoryEntry(
            conv,
            T0 + i,
            "in" if i % 2 else "out",
            "shopper",
            f"line {i}",
            {"i": i} if i % 3 == 0 else {},
        )
        for i in range(1000)
    ]
    for i in range(0, 1000, 250):
        store.append_history(entries[i : i + 250])

    latest = store.history(conv)
    assert [h.seq for h in latest] == list(range(951, 1001))
    assert latest[-1].text == "line 999" and latest[-1].data == {"i": 999}
    page = store.history(conv, before_seq=951, limit=100)
    assert [h.seq for h in page] == list(range(851, 951))
    assert store.history(conv, before_seq=3, limit=10)[0].seq == 1
    assert store.history(conv, before_seq=1) == []

    walked: list[HistoryEntry] = []
    before = None
    while page := store.history(conv, before_seq=before, limit=128):
        walked = page + walked
        before = page[0].seq
    assert [h.text for h in walked] == [f"line {i}" for i in range(1000)]
    assert [h.seq for h in walked] == list(range(1, 1001))
    assert walked[3].data == {"i": 3} and walked[4].data == {}


def test_append_history_numbers_each_conversation_on_its_own(store: Store) -> None:
    run_turn(store, "c1", 0, T0)
    store.append_history(
        [
            HistoryEntry(key("c1"), T0 + 1, "note", "Agent Kim", "called back"),
            HistoryEntry(key("c2"), T0 + 1, "system", "system", "delivery failed"),
            HistoryEntry(key("c1"), T0 + 2, "system", "system", "resolved"),
        ]
    )
    assert [(h.seq, h.author) for h in store.history(key("c1"))] == [
        (1, "shopper"),
        (2, "bot"),
        (3, "Agent Kim"),
        (4, "system"),
    ]
    assert [h.seq for h in store.history(key("c2"))] == [1]
    assert store.load(key("c2")).state == ConversationState()


def test_history_gives_back_every_line_as_written(store: Store) -> None:
    """Whatever shape a line has (the Redis store writes the usual ones shorter)."""
    conv = key("c1")
    lines = [
        HistoryEntry(conv, T0 + 0.123456789, "in", "shopper", "hi 👋",
                     {"kind": "text", "message_id": "m1", "name": "Ann", "payload": "P",
                      "location": [52.5, 13.4], "attachments": [{"kind": "image"}]}),
        HistoryEntry(conv, T0 + 1, "out", "bot", "Pick one", {"buttons": ["A", "B"], "x": 1}),
        HistoryEntry(conv, T0 + 2, "out", "bot", "", {"call": "tel:+1", "k": "short name"}),
        HistoryEntry(conv, T0 + 3, "out", "Dana (demo)", "Hello", {"agent": "dana"}),
        HistoryEntry(conv, T0 + 4, "note", "Dana (demo)", "called", {}),
        HistoryEntry(conv, T0 + 5, "system", "system", "resolved", {"thread": "t1"}),
        HistoryEntry(conv, T0 + 6, "in", "bot", "odd pair", {"kind": "text"}),
        HistoryEntry(conv, T0 + 7, "in", "shopper", "", {}),
    ]  # fmt: skip
    store.append_history(lines)
    got = store.history(conv)
    assert [h.seq for h in got] == list(range(1, len(lines) + 1))
    assert [replace(h, seq=0) for h in got] == lines
