"""What only the Redis backend has: hash tags, a self-healing index, memory per conversation."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from redis.crc import key_slot

from flows.messages import Inbound, Shopper
from flows.state import ConversationState
from gateway.store.base import HistoryEntry, OutboxItem
from gateway.store.redis import RedisStore
from gateway.store.redis.codec import state_in, state_out
from gateway.store.redis.lua import EVENT_TURNS, SCRIPTS
from tests.contract.helpers import LEASE, T0, TTL, commit, inbound, key, run_turn


@pytest.fixture
def rstore(redis_url: str) -> Iterator[RedisStore]:
    store = RedisStore(redis_url, prefix=f"t{uuid.uuid4().hex[:12]}")
    try:
        yield store
    finally:
        drop(store)


def drop(store: RedisStore) -> None:
    """Close the store and delete its keys."""
    keys = list(store.client.scan_iter(match=f"{store.prefix}:*"))
    if keys:
        store.client.delete(*keys)
    store.close()


def conversation_keys(store: RedisStore, conv_key: str) -> list[str]:
    return sorted(store.client.scan_iter(match=f"{store.prefix}:{{conv:{conv_key}}}*"))


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
    rstore.client.zrem(rstore.keys.ready.zset, key("c1"))  # as if the process died mid-enqueue
    rstore.client.hdel(rstore.keys.ready.versions, key("c1"))
    assert rstore.claim("w", T0, LEASE) is None
    assert rstore.enqueue(inbound("c1", 1), T0 + 1, TTL)
    claim = rstore.claim("w", T0 + 1, LEASE)
    assert claim is not None and claim.inbound.text == "m0"


def test_a_stale_index_entry_is_dropped_by_the_next_claim(rstore: RedisStore) -> None:
    rstore.client.zadd(rstore.keys.ready.zset, {key("ghost"): T0})
    rstore.client.zadd(rstore.keys.due.zset, {key("ghost"): T0})
    assert rstore.claim("w", T0 + 1, LEASE) is None
    assert rstore.claim_outbox(T0 + 1, LEASE, 5) == []
    assert rstore.claim("w", T0 + 1, LEASE) is None  # flushes the removals
    assert rstore.client.zcard(rstore.keys.ready.zset) == 0
    assert rstore.client.zcard(rstore.keys.due.zset) == 0


def test_scripts_are_loaded_again_after_a_script_flush(rstore: RedisStore) -> None:
    run_turn(rstore, "c1", 0, T0)
    rstore.client.script_flush()
    run_turn(rstore, "c1", 1, T0 + 1)
    (item,) = rstore.claim_outbox(T0 + 2, LEASE, 5)
    rstore.client.script_flush()
    rstore.outbox_sent(item.id, "p1", T0 + 2)
    assert rstore.outbox_items(key("c1"))[0].status == "sent"


def test_an_idle_conversation_keeps_under_1kb_once_its_short_lived_keys_expire(
    rstore: RedisStore,
) -> None:
    """After one ordinary turn, fully sent: what stays (counters, state, history) is under
    1 KiB; the sent outbox, the events and the dedupe hash expire on their own."""
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

    sizes = {k: rstore.client.memory_usage(k, samples=0) for k in conversation_keys(rstore, conv)}
    ttls = {k[k.index("}") + 1 :]: rstore.client.pttl(k) for k in sizes}
    assert ttls == {"": -1, ":h": -1, ":o": ttls[":o"], ":e": ttls[":e"], ":d": ttls[":d"]}
    assert 0 < ttls[":o"] <= 3 * 86_400_000 and 0 < ttls[":e"] <= 3 * 86_400_000
    assert 6 * 86_400_000 < ttls[":d"] <= 7 * 86_400_000
    stays = sum(n for k, n in sizes.items() if ttls[k[k.index("}") + 1 :]] == -1)
    print(f"idle conversation: {stays} bytes stay, {sum(sizes.values())} at first: {sizes}")
    assert stays <= 1024, sizes
    assert sum(sizes.values()) <= 2048, sizes
    hash_key = rstore.keys.conversation(conv)
    assert rstore.client.object("encoding", hash_key) == "listpack"  # the state rides in it
    # Nothing of it is left in the global indexes.
    assert rstore.client.zscore(rstore.keys.ready.zset, conv) is None
    assert rstore.client.zscore(rstore.keys.due.zset, conv) is None
    assert not rstore.client.hexists(rstore.keys.ready.versions, conv)
    assert rstore.client.hlen(rstore.keys.outbox_conversations) == 0


def test_events_expire_with_the_sent_outbox_and_the_rest_stays(redis_url: str) -> None:
    store = RedisStore(redis_url, prefix=f"t{uuid.uuid4().hex[:12]}", outbox_ttl_s=0.2)
    try:
        run_turn(store, "c1", 0, T0)
        assert store.events(key("c1"))
        (item,) = store.claim_outbox(T0, LEASE, 5)
        store.outbox_sent(item.id, None, T0)
        time.sleep(0.4)
        assert store.events(key("c1")) == [] and store.outbox_items(key("c1")) == []
        assert [h.text for h in store.history(key("c1"))] == ["m0", "echo m0"]
        assert store.load(key("c1")).state.node == "after-m0"
        assert [k[k.index("}") + 1 :] for k in conversation_keys(store, key("c1"))] == [
            "",
            ":d",
            ":h",
        ]
    finally:
        drop(store)


def test_events_keep_the_latest_turns(rstore: RedisStore) -> None:
    for n in range(EVENT_TURNS + 5):
        run_turn(rstore, "c1", n, T0 + n, replies=0)
    assert rstore.client.llen(rstore.keys.conversation(key("c1"), ":e")) == 2 * EVENT_TURNS
    events = rstore.events(key("c1"), limit=EVENT_TURNS + 5)
    assert len(events) == EVENT_TURNS and events[0]["at"] == T0 + 5


def test_a_large_state_lives_apart_and_the_hash_stays_compact(rstore: RedisStore) -> None:
    conv = key("c1")
    big = ConversationState(node="ask", mode="bot", vars={"note": "x" * 200}, turns=1)
    small = ConversationState(node="menu", mode="bot", turns=2)
    for n, state in enumerate([small, big, small, big]):
        assert rstore.enqueue(inbound("c1", n), T0 + n, TTL)
        claim = rstore.claim("w", T0 + n, LEASE)
        assert claim is not None and commit(rstore, claim, T0 + n, state=state)
        assert rstore.load(conv).state == state
        assert rstore.client.exists(rstore.keys.conversation(conv, ":s")) == (state is big)
        assert rstore.client.hexists(rstore.keys.conversation(conv), "s") == (state is small)
        assert rstore.client.object("encoding", rstore.keys.conversation(conv)) == "listpack"
    assert rstore.enqueue(inbound("c1", 9), T0 + 9, TTL)
    claim = rstore.claim("w", T0 + 9, LEASE)  # the claim reads it too
    assert claim is not None and rstore.load(conv).state == big
    rstore.release(claim, T0 + 10, "x" * 500)  # a long error is cut, for the same reason
    assert len(rstore.client.hget(rstore.keys.conversation(conv), "he")) == 64
    assert rstore.client.object("encoding", rstore.keys.conversation(conv)) == "listpack"


def test_state_and_history_written_in_the_old_forms_are_still_read(rstore: RedisStore) -> None:
    conv = key("c1")
    state = ConversationState(node="ask", mode="bot", vars={"n": 1}, variants=(("e", "b"),))
    rstore.client.set(rstore.keys.conversation(conv, ":s"), state.to_json())
    old = ['[1700000000.5,"in","shopper","hi",{"kind":"text","message_id":"7"}]',
           '[1700000001.25,"out","bot","Hello"]']  # fmt: skip
    rstore.client.rpush(rstore.keys.conversation(conv, ":h"), *old)
    events = '[1700000000.5,[{"type":"NodeEntered"}]]'
    rstore.client.rpush(rstore.keys.conversation(conv, ":e"), "#7", events)
    assert rstore.load(conv).state == state
    assert [(h.seq, h.at, h.direction, h.author, h.text, h.data) for h in rstore.history(conv)] == [
        (1, 1_700_000_000.5, "in", "shopper", "hi", {"kind": "text", "message_id": "7"}),
        (2, 1_700_000_001.25, "out", "bot", "Hello", {}),
    ]
    assert rstore.events(conv) == [{"type": "NodeEntered"}]
    assert rstore.enqueue(inbound("c1", 0), T0, TTL)
    claim = rstore.claim("w", T0, LEASE)
    assert claim is not None and rstore.load(conv).state == state
    assert commit(rstore, claim, T0, state=state)  # the next commit moves it into the hash
    assert not rstore.client.exists(rstore.keys.conversation(conv, ":s"))
    assert rstore.load(conv).state == state
    assert [h.text for h in rstore.history(conv)] == ["hi", "Hello", "m0", "echo m0"]


def test_a_load_and_an_append_to_several_conversations_are_one_round_trip_each(
    rstore: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The load reads the hash and the state kept apart in one script (a commit cannot move
    the state between two reads); the append is one batch whatever the conversations."""
    run_turn(rstore, "c1", 0, T0)
    rstore.client.script_load(SCRIPTS["load"])
    trips = round_trips(rstore, monkeypatch)
    assert rstore.load(key("c1")).state.node == "after-m0"
    assert trips[0] == 1
    rstore.append_history(
        [HistoryEntry(key(c), T0 + 1, "note", "Dana", f"note on {c}") for c in ("c1", "c2")]
    )
    assert trips[0] == 2
    assert [h.text for h in rstore.history(key("c2"))] == ["note on c2"]


def test_every_state_field_has_its_place_in_the_compact_form() -> None:
    state = ConversationState(node="a", mode="handoff", vars={"k": [1, "ü"]}, misses=1,
                              retries=2, variants=(("e", "b"),), version="v1", turns=3,
                              queue="q", resume="r")  # fmt: skip
    text = state_out(state)
    assert text.startswith("[") and state_in(text) == state
    assert state_out(ConversationState(node="menu", mode="bot", version="33e2927e591f",
                                        turns=1)) == '["menu","bot","33e2927e591f",1]'  # fmt: skip
    assert state_in(state_out(ConversationState())) == ConversationState()


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
    rstore.client.hset(rstore.keys.conversation(key("c1"), ":o"), "telegram:c1:c1-0:0", old)
    (item,) = rstore.claim_outbox(T0, LEASE, 5)
    assert (item.payload, item.created_at) == ({"text": "hi"}, 1_700_000_000.5)
    rstore.outbox_sent(item.id, "p-1", T0 + 1)
    assert rstore.outbox_items(key("c1"))[0].status == "sent"


def round_trips(store: RedisStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A counter of the commands (or pipelines) this store's connections send from now on."""
    sent = [0]
    pool = store.client.connection_pool
    connection = pool.get_connection()
    pool.release(connection)
    send = type(connection).send_packed_command

    def counting(self: object, command: object, check_health: bool = True) -> None:
        sent[0] += 1
        send(self, command, check_health)

    monkeypatch.setattr(type(connection), "send_packed_command", counting)
    return sent


def test_only_channels_that_report_delivery_keep_a_platform_id_lookup(redis_url: str) -> None:
    """Telegram and Messenger never post a delivery report: a `pid:` key for each of their
    sent messages would be a write a turn and memory for days that nothing reads."""
    store = RedisStore(
        redis_url, prefix=f"t{uuid.uuid4().hex[:12]}", delivery_channels=frozenset({"whatsapp"})
    )
    try:
        for channel, platform_id in (("telegram", "4711:12"), ("whatsapp", "SM1")):
            claim_at = T0 + (channel == "whatsapp")
            assert store.enqueue(inbound("c1", 0, channel=channel), claim_at, TTL)
            claim = store.claim("w", claim_at, LEASE)
            assert claim is not None and commit(store, claim, claim_at)
            (item,) = store.claim_outbox(claim_at, LEASE, 5)
            store.outbox_sent(item.id, platform_id, claim_at)
            (sent,) = store.outbox_items(key("c1", channel))
            assert (sent.status, sent.platform_id) == ("sent", platform_id)  # kept on the item
        assert list(store.client.scan_iter(match=f"{store.prefix}:pid:*")) == [
            f"{store.prefix}:pid:SM1"
        ]
        assert store.update_delivery("SM1", "delivered", None)
        assert not store.update_delivery("4711:12", "delivered", None)
    finally:
        drop(store)
