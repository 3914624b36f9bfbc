"""Buried messages: listed for an operator, queued again or dropped, on both stores."""

from __future__ import annotations

from gateway.store.base import Claim, Store
from tests.contract.helpers import LEASE, T0, TTL, commit, inbound, key


def _bury(store: Store, conv: str, n: int, now: float, error: str = "boom") -> Claim:
    store.enqueue(inbound(conv, n, text=f"{conv} m{n}"), now, TTL)
    claim = store.claim("w1", now, LEASE)
    assert claim is not None and claim.inbound.text == f"{conv} m{n}"
    store.bury(claim, error, now + 1)
    return claim


def test_a_buried_message_is_listed_with_why_and_when(store: Store) -> None:
    claim = _bury(store, "c1", 0, T0, error="turn failed 5 times, last: KeyError: 'x'")
    [buried] = store.buried()
    assert buried.id == claim.id
    assert buried.conversation == key("c1")
    assert buried.inbound == claim.inbound
    assert buried.error == "turn failed 5 times, last: KeyError: 'x'"
    assert buried.attempts == 1
    assert buried.buried_at == T0 + 1
    assert store.buried_count() == 1
    assert store.queue_depth() == 0


def test_nothing_buried_lists_nothing(store: Store) -> None:
    assert store.buried() == []
    assert store.buried_count() == 0
    assert not store.retry_buried(key("c1"), "1", T0)
    assert not store.discard_buried(key("c1"), "1")


def test_buried_messages_come_oldest_burial_first_across_conversations(store: Store) -> None:
    _bury(store, "c1", 0, T0)
    _bury(store, "c2", 0, T0 + 10)
    _bury(store, "c1", 1, T0 + 20)
    _bury(store, "c3", 0, T0 + 30)
    texts = [b.inbound.text for b in store.buried()]
    assert texts == ["c1 m0", "c2 m0", "c1 m1", "c3 m0"]
    assert [b.inbound.text for b in store.buried(limit=2)] == ["c1 m0", "c2 m0"]
    assert store.buried_count() == 4


def test_a_retried_message_is_claimed_again_with_fresh_attempts(store: Store) -> None:
    buried = _bury(store, "c1", 0, T0)
    assert store.retry_buried(buried.conversation, buried.id, T0 + 100)
    assert store.buried() == []
    assert store.buried_count() == 0
    assert store.queue_depth() == 1
    again = store.claim("w2", T0 + 100, LEASE)
    assert again is not None
    assert again.inbound == buried.inbound
    assert again.attempts == 1
    assert commit(store, again, T0 + 101)
    assert store.queue_depth() == 0


def test_a_retried_message_goes_behind_what_arrived_since(store: Store) -> None:
    buried = _bury(store, "c1", 0, T0)
    store.enqueue(inbound("c1", 1, text="later"), T0 + 5, TTL)
    assert store.retry_buried(buried.conversation, buried.id, T0 + 6)
    first = store.claim("w1", T0 + 7, LEASE)
    assert first is not None and first.inbound.text == "later"
    assert store.claim("w2", T0 + 7, LEASE) is None  # one message in flight per conversation
    assert commit(store, first, T0 + 8)
    second = store.claim("w1", T0 + 9, LEASE)
    assert second is not None and second.inbound == buried.inbound


def test_a_message_is_retried_once_only(store: Store) -> None:
    buried = _bury(store, "c1", 0, T0)
    assert store.retry_buried(buried.conversation, buried.id, T0 + 5)
    assert not store.retry_buried(buried.conversation, buried.id, T0 + 6)
    assert not store.discard_buried(buried.conversation, buried.id)
    assert store.queue_depth() == 1


def test_a_discarded_message_is_gone_and_never_claimed(store: Store) -> None:
    first = _bury(store, "c1", 0, T0)
    _bury(store, "c1", 1, T0 + 10)
    assert store.discard_buried(first.conversation, first.id)
    assert [b.inbound.text for b in store.buried()] == ["c1 m1"]
    assert store.buried_count() == 1
    assert store.claim("w1", T0 + 1000, LEASE) is None
    assert store.queue_depth() == 0


def test_an_id_from_another_conversation_is_refused(store: Store) -> None:
    buried = _bury(store, "c1", 0, T0)
    assert not store.retry_buried(key("c2"), buried.id, T0 + 5)
    assert not store.discard_buried(key("c2"), buried.id)
    assert not store.retry_buried(buried.conversation, "no-such-id", T0 + 5)
    assert store.buried_count() == 1


def test_a_lost_lease_buries_nothing(store: Store) -> None:
    store.enqueue(inbound("c1", 0), T0, TTL)
    old = store.claim("w1", T0, LEASE)
    assert old is not None
    new = store.claim("w2", T0 + LEASE + 1, LEASE)
    assert new is not None
    store.bury(old, "late", T0 + LEASE + 2)
    assert store.buried() == []
    assert store.buried_count() == 0
    assert commit(store, new, T0 + LEASE + 3)
