"""The inbound queue: dedupe, order, one message in flight per conversation, leases."""

from __future__ import annotations

from gateway.store.base import Store
from tests.contract.helpers import LEASE, T0, TTL, commit, inbound, key


def test_enqueued_message_is_claimed_with_a_lease(store: Store) -> None:
    message = inbound("c1", 0, text="hello ☕")
    assert store.enqueue(message, T0, TTL)
    claim = store.claim("w1", T0 + 1, LEASE)
    assert claim is not None
    assert claim.inbound == message
    assert claim.conversation == key("c1")
    assert claim.attempts == 1
    assert claim.lease_until == T0 + 1 + LEASE
    assert claim.token and claim.id


def test_claim_on_an_empty_queue_gives_none(store: Store) -> None:
    assert store.claim("w1", T0, LEASE) is None
    assert store.queue_depth() == 0


def test_duplicate_message_id_is_enqueued_once(store: Store) -> None:
    assert store.enqueue(inbound("c1", 0), T0, TTL)
    assert not store.enqueue(inbound("c1", 0), T0 + 1, TTL)
    assert store.queue_depth() == 1


def test_duplicate_is_accepted_again_after_the_ttl(store: Store) -> None:
    assert store.enqueue(inbound("c1", 0), T0, 60)
    assert not store.enqueue(inbound("c1", 0), T0 + 59, 60)
    assert store.enqueue(inbound("c1", 0), T0 + 61, 60)
    assert store.queue_depth() == 2


def test_same_message_id_on_another_channel_is_not_a_duplicate(store: Store) -> None:
    assert store.enqueue(inbound("c1", 0, channel="telegram"), T0, TTL)
    assert store.enqueue(inbound("c1", 0, channel="messenger"), T0, TTL)
    assert store.queue_depth() == 2


def test_messages_of_a_conversation_are_claimed_in_arrival_order(store: Store) -> None:
    for n in range(5):
        assert store.enqueue(inbound("c1", n), T0 + n, TTL)
    seen = []
    for _ in range(5):
        claim = store.claim("w1", T0 + 10, LEASE)
        assert claim is not None
        seen.append(claim.inbound.text)
        assert commit(store, claim, T0 + 10)
    assert seen == ["m0", "m1", "m2", "m3", "m4"]
    assert store.claim("w1", T0 + 10, LEASE) is None


def test_one_message_per_conversation_is_in_flight(store: Store) -> None:
    store.enqueue(inbound("c1", 0), T0, TTL)
    store.enqueue(inbound("c1", 1), T0 + 1, TTL)
    first = store.claim("w1", T0 + 2, LEASE)
    assert first is not None and first.inbound.text == "m0"
    assert store.claim("w2", T0 + 2, LEASE) is None
    assert commit(store, first, T0 + 3)
    second = store.claim("w2", T0 + 3, LEASE)
    assert second is not None and second.inbound.text == "m1"


def test_different_conversations_are_claimed_in_parallel(store: Store) -> None:
    for n in range(2):
        store.enqueue(inbound("c1", n), T0 + n, TTL)
        store.enqueue(inbound("c2", n), T0 + n + 0.5, TTL)
    a = store.claim("w1", T0 + 5, LEASE)
    b = store.claim("w2", T0 + 5, LEASE)
    assert a is not None and b is not None
    assert {(a.conversation, a.inbound.text), (b.conversation, b.inbound.text)} == {
        (key("c1"), "m0"),
        (key("c2"), "m0"),
    }
    assert store.claim("w3", T0 + 5, LEASE) is None
    assert store.queue_depth() == 4


def test_the_oldest_waiting_conversation_is_claimed_first(store: Store) -> None:
    store.enqueue(inbound("late", 0), T0 + 2, TTL)
    store.enqueue(inbound("early", 0), T0 + 1, TTL)
    store.enqueue(inbound("middle", 0), T0 + 1.5, TTL)
    order = []
    while (claim := store.claim("w", T0 + 5, LEASE)) is not None:
        order.append(claim.conversation)
    assert order == [key("early"), key("middle"), key("late")]


def test_expired_lease_is_claimed_again_and_the_old_token_refused(store: Store) -> None:
    store.enqueue(inbound("c1", 0), T0, TTL)
    store.enqueue(inbound("c1", 1), T0, TTL)
    old = store.claim("dead-worker", T0, 10)
    assert old is not None
    assert store.claim("w2", T0 + 9, 10) is None  # still leased
    new = store.claim("w2", T0 + 11, 10)
    assert new is not None
    assert new.inbound == old.inbound
    assert new.attempts == 2
    assert new.token != old.token
    assert not commit(store, old, T0 + 12)
    assert store.history(key("c1")) == []
    assert store.outbox_items(key("c1")) == []
    assert commit(store, new, T0 + 12)
    assert store.load(key("c1")).state.node == "after-m0"
    nxt = store.claim("w2", T0 + 13, 10)
    assert nxt is not None and nxt.inbound.text == "m1" and nxt.attempts == 1


def test_release_makes_the_message_available_at_retry_at(store: Store) -> None:
    store.enqueue(inbound("c1", 0), T0, TTL)
    store.enqueue(inbound("c1", 1), T0, TTL)
    claim = store.claim("w1", T0, LEASE)
    assert claim is not None
    store.release(claim, T0 + 100, "flow raised")
    assert store.claim("w1", T0 + 50, LEASE) is None  # m1 must not overtake m0
    assert store.queue_depth() == 2
    again = store.claim("w1", T0 + 100, LEASE)
    assert again is not None
    assert again.inbound.text == "m0"
    assert again.attempts == 2
    assert not commit(store, claim, T0 + 101)  # the released lease is gone
    assert commit(store, again, T0 + 101)


def test_release_with_a_stale_token_changes_nothing(store: Store) -> None:
    store.enqueue(inbound("c1", 0), T0, TTL)
    old = store.claim("w1", T0, 10)
    assert old is not None
    new = store.claim("w2", T0 + 11, 10)
    assert new is not None
    store.release(old, T0 + 500, "late")
    store.bury(old, "late", T0 + 12)
    assert store.queue_depth() == 1
    assert commit(store, new, T0 + 12)


def test_buried_message_is_no_longer_claimed_and_unblocks_the_conversation(store: Store) -> None:
    store.enqueue(inbound("c1", 0), T0, TTL)
    store.enqueue(inbound("c1", 1), T0 + 1, TTL)
    claim = store.claim("w1", T0 + 2, LEASE)
    assert claim is not None
    store.bury(claim, "failed 5 times", T0 + 2)
    assert store.queue_depth() == 1
    nxt = store.claim("w1", T0 + 3, LEASE)
    assert nxt is not None and nxt.inbound.text == "m1"
    assert not commit(store, claim, T0 + 4)
    assert commit(store, nxt, T0 + 4)
    assert store.queue_depth() == 0
    assert store.claim("w1", T0 + 1000, LEASE) is None


def test_queue_depth_counts_queued_and_leased_messages(store: Store) -> None:
    for n in range(3):
        store.enqueue(inbound("c1", n), T0, TTL)
    store.enqueue(inbound("c2", 0), T0, TTL)
    assert store.queue_depth() == 4
    claim = store.claim("w", T0, LEASE)
    assert claim is not None
    assert store.queue_depth() == 4
    assert commit(store, claim, T0)
    assert store.queue_depth() == 3


def test_ping(store: Store) -> None:
    assert store.ping()
