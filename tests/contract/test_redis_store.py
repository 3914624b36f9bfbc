"""What only the Redis backend has: hash tags, a self-healing index, memory per conversation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from redis.crc import key_slot

from flows.messages import Inbound, Shopper
from flows.state import ConversationState
from gateway.store.base import HistoryEntry, OutboxItem
from gateway.store.redis_store import RedisStore
from tests.contract.helpers import LEASE, T0, TTL, commit, inbound, key, run_turn


@pytest.fixture
def rstore(redis_url: str) -> Iterator[RedisStore]:
    store = RedisStore(redis_url, prefix=f"t{uuid.uuid4().hex[:12]}")
    try:
        yield store
    finally:
        store.close()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{store.prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


def conversation_keys(store: RedisStore, conv_key: str) -> list[str]:
    return sorted(store._r.scan_iter(match=f"{store.prefix}:{{conv:{conv_key}}}*"))


def test_keys_of_one_conversation_share_one_cluster_slot(rstore: RedisStore) -> None:
    run_turn(rstore, "c1", 0, T0, replies=2)
    rstore.enqueue(inbound("c1", 1), T0 + 1, TTL)
    keys = conversation_keys(rstore, key("c1"))
    assert len(keys) >= 5
    assert len({key_slot(k.encode()) for k in keys}) == 1


def test_prefix_with_braces_is_refused(redis_url: str) -> None:
    with pytest.raises(ValueError, match="free of braces"):
        RedisStore(redis_url, prefix="gw{x}")


def test_an_index_entry_lost_in_a_crash_comes_back_with_the_next_message(
    rstore: RedisStore,
) -> None:
    assert rstore.enqueue(inbound("c1", 0), T0, TTL)
    rstore._r.zrem(rstore._ready_keys[0], key("c1"))  # as if the process died mid-enqueue
    rstore._r.hdel(rstore._ready_keys[1], key("c1"))
    assert rstore.claim("w", T0, LEASE) is None
    assert rstore.enqueue(inbound("c1", 1), T0 + 1, TTL)
    claim = rstore.claim("w", T0 + 1, LEASE)
    assert claim is not None and claim.inbound.text == "m0"


def test_a_stale_index_entry_is_dropped_by_the_next_claim(rstore: RedisStore) -> None:
    rstore._r.zadd(rstore._ready_keys[0], {key("ghost"): T0})
    rstore._r.zadd(rstore._due_keys[0], {key("ghost"): T0})
    assert rstore.claim("w", T0 + 1, LEASE) is None
    assert rstore.claim_outbox(T0 + 1, LEASE, 5) == []
    assert rstore.claim("w", T0 + 1, LEASE) is None  # flushes the removals
    assert rstore._r.zcard(rstore._ready_keys[0]) == 0
    assert rstore._r.zcard(rstore._due_keys[0]) == 0


def test_scripts_are_loaded_again_after_a_script_flush(rstore: RedisStore) -> None:
    run_turn(rstore, "c1", 0, T0)
    rstore._r.script_flush()
    run_turn(rstore, "c1", 1, T0 + 1)
    (item,) = rstore.claim_outbox(T0 + 2, LEASE, 5)
    rstore._r.script_flush()
    rstore.outbox_sent(item.id, "p1", T0 + 2)
    assert rstore.outbox_items(key("c1"))[0].status == "sent"


def test_an_idle_conversation_costs_under_1kb_besides_what_was_said(rstore: RedisStore) -> None:
    """After one ordinary turn, fully sent: state, history, outbox, events, dedupe."""
    message = Inbound(
        channel="whatsapp",
        conversation="+4915112345678",
        message_id="SM" + "a1b2c3d4" * 4,
        shopper=Shopper(id="+4915112345678", name="Ann Lee"),
        text="Do you have the blue sneakers in size 42?",
        timestamp=T0,
    )
    assert rstore.enqueue(message, T0, 7 * 86_400.0)
    claim = rstore.claim("w", T0, LEASE)
    assert claim is not None
    conv = claim.conversation
    reply = "Yes! The Blue Runner is in stock in 42. Shall I put a pair aside for you?"
    state = ConversationState(
        node="ask_reserve",
        mode="bot",
        vars={"size": "42"},
        turns=1,
        variants=(("welcome", "b"),),
        version="3f2a9c",
    )
    assert rstore.commit_turn(
        claim,
        state,
        [
            HistoryEntry(
                conv,
                T0,
                "in",
                "shopper",
                message.text,
                {"kind": "text", "message_id": message.message_id},
            ),
            HistoryEntry(conv, T0, "out", "bot", reply, {"buttons": ["Yes", "No"]}),
        ],
        [
            OutboxItem(
                f"{conv}:{message.message_id}:0",
                conv,
                "whatsapp",
                {
                    "channel": "whatsapp",
                    "to": "+4915112345678",
                    "payload": {"body": reply},
                    "part": 1,
                    "parts": 1,
                },
                T0,
            )
        ],
        [
            {"type": "NodeEntered", "node": "ask_reserve", "at": T0, "channel": "whatsapp", "i": 0},
            {
                "type": "IntentMatched",
                "intent": "stock",
                "node": "start",
                "at": T0,
                "channel": "whatsapp",
                "i": 1,
            },
        ],
        T0,
    )
    (item,) = rstore.claim_outbox(T0, LEASE, 5)
    rstore.outbox_sent(item.id, "SM" + "f" * 32, T0 + 1)
    assert rstore.queue_depth() == 0  # also flushes what was deferred

    sizes = {k: rstore._r.memory_usage(k, samples=0) for k in conversation_keys(rstore, conv)}
    logs = {k: n for k, n in sizes.items() if k.endswith((":h", ":o", ":e"))}
    fixed = sum(sizes.values()) - sum(logs.values())
    print(
        f"idle conversation: {fixed} bytes fixed + {sum(logs.values())} of history, outbox "
        f"and events, in {len(sizes)} keys: {sizes}"
    )
    # The fixed part (state, counters, dedupe) is what every idle conversation costs; the
    # history, sent outbox items (which expire) and events grow with what was said.
    assert fixed <= 1024, sizes
    assert sum(sizes.values()) <= 2304, sizes
    # Nothing of it is left in the global indexes.
    assert rstore._r.zscore(rstore._ready_keys[0], conv) is None
    assert rstore._r.zscore(rstore._due_keys[0], conv) is None
    assert not rstore._r.hexists(rstore._ready_keys[1], conv)
    assert rstore._r.hlen(rstore._oconv) == 0


def test_commit_of_an_unclaimed_turn_is_refused(rstore: RedisStore) -> None:
    rstore.enqueue(inbound("c1", 0), T0, TTL)
    claim = rstore.claim("w", T0, LEASE)
    assert claim is not None
    assert commit(rstore, claim, T0)
    assert not commit(rstore, claim, T0)  # the same claim twice: the lease is gone


def test_a_sent_item_keeps_its_ids_and_status_but_not_its_payload(rstore: RedisStore) -> None:
    run_turn(rstore, "c1", 0, T0, replies=2)
    (item,) = rstore.claim_outbox(T0, LEASE, 5)
    rstore.outbox_sent(item.id, "p-1", T0 + 1)
    sent, pending = rstore.outbox_items(key("c1"))
    assert (sent.status, sent.platform_id, sent.channel, sent.created_at) == (
        "sent", "p-1", "telegram", T0,
    )  # fmt: skip
    assert sent.payload == {} and pending.payload == {"text": "reply 1 to m0"}
    assert rstore.update_delivery("p-1", "delivered", None)
    assert rstore.outbox_items(key("c1"))[0].delivery == "delivered"


def test_outbox_items_written_before_the_payload_line_are_still_read(rstore: RedisStore) -> None:
    run_turn(rstore, "c1", 0, T0)
    old = '["pending",0,"0.0","",null,null,null,1]\n["telegram",{"text":"hi"},1700000000.5]'
    rstore._r.hset(rstore._k(key("c1"), ":o"), "telegram:c1:c1-0:0", old)
    (item,) = rstore.claim_outbox(T0, LEASE, 5)
    assert (item.payload, item.created_at) == ({"text": "hi"}, 1_700_000_000.5)
    rstore.outbox_sent(item.id, "p-1", T0 + 1)
    assert rstore.outbox_items(key("c1"))[0].status == "sent"


def test_load_right_after_a_claim_needs_no_round_trip(
    rstore: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_turn(rstore, "c1", 0, T0)
    assert rstore.enqueue(inbound("c1", 1), T0 + 1, TTL)
    expected = rstore.load(key("c1"))
    assert rstore.claim("w", T0 + 1, LEASE) is not None
    monkeypatch.setattr(rstore._r, "pipeline", None)  # any round trip now would fail
    assert rstore.load(key("c1")) == expected and expected.state.node == "after-m0"
