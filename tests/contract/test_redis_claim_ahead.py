"""A turn worker's read-ahead on Redis: its commit claims its next message in the same round
trip, so its next claim costs no trip at all (see `RedisStore.claim_ahead`).

The read-ahead claim is leased from the commit on, by the clock, so these tests run on the
clock too (`t0`), not on the fixed past time of the other contract tests."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from flows.state import ConversationState
from gateway.store.base import Claim
from gateway.store.redis_store import RedisStore
from tests.contract.cutting_proxy import CuttingProxy
from tests.contract.helpers import LEASE, TTL, commit, inbound, key
from tests.contract.test_redis_store import drop, round_trips


@pytest.fixture
def t0() -> float:
    return time.time()


@pytest.fixture
def stores(redis_url: str) -> Iterator[tuple[RedisStore, RedisStore]]:
    """The turn worker's store and another process's, on the same keys."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    worker, other = RedisStore(redis_url, prefix=prefix), RedisStore(redis_url, prefix=prefix)
    try:
        worker.claim_ahead("w", LEASE)
        yield worker, other
    finally:
        other.close()
        drop(worker)


def _busy(worker: RedisStore, other: RedisStore, convs: tuple[str, ...], t0: float) -> Claim:
    """Messages waiting in `convs`; the worker has done one turn (its commit read the index
    ahead) and claimed the next: the state of a busy worker. Returns that claim."""
    for conv in convs:
        assert other.enqueue(inbound(conv, 0), t0, TTL)
    first = worker.claim("w", t0, LEASE)
    assert first is not None and commit(worker, first, t0)
    second = worker.claim("w", t0, LEASE)
    assert second is not None and second.conversation != first.conversation
    return second


def test_the_commit_claims_the_next_message_and_the_claim_costs_no_trip(
    stores: tuple[RedisStore, RedisStore], monkeypatch: pytest.MonkeyPatch, t0: float
) -> None:
    worker, other = stores
    second = _busy(worker, other, ("a", "b", "c"), t0)
    sent = round_trips(worker, monkeypatch)
    assert commit(worker, second, t0 + 1)  # one trip: the commit, and the third message claimed
    assert sent[0] == 1
    third = worker.claim("w", t0 + 1, LEASE)
    assert third is not None and third.attempts == 1
    assert worker.load(third.conversation).key == third.conversation
    assert sent[0] == 1  # neither the claim nor the load cost a trip
    assert {third.conversation, second.conversation} <= {key(c) for c in "abc"}
    assert third.conversation != second.conversation
    assert other.claim("o", t0 + 1, LEASE) is None  # it is leased
    assert commit(worker, third, t0 + 1)
    other.queue_depth()  # (each store's own counts are flushed by its next call)
    assert worker.queue_depth() == 0


def test_a_read_ahead_claim_whose_lease_ran_down_is_claimed_afresh(
    stores: tuple[RedisStore, RedisStore], t0: float
) -> None:
    """The replies of the turn before took long (a slow platform): past half its lease the
    claim is given back and taken again with a full lease; the delay costs no attempt."""
    worker, other = stores
    second = _busy(worker, other, ("a", "b", "c"), t0)
    assert commit(worker, second, t0)
    late = t0 + LEASE * 0.6
    claim = worker.claim("w", late, LEASE)
    assert claim is not None and claim.lease_until == late + LEASE and claim.attempts == 1
    assert commit(worker, claim, late)
    assert worker.queue_depth() == 0


def test_a_stopping_worker_gives_its_read_ahead_claim_back_at_once(
    stores: tuple[RedisStore, RedisStore], t0: float
) -> None:
    worker, other = stores
    second = _busy(worker, other, ("a", "b", "c"), t0)
    assert commit(worker, second, t0)
    worker.queue_depth()  # the index has the read-ahead claim's lease now
    worker.claim_ahead(None)
    claim = other.claim("o", t0 + 1, LEASE)  # not after the lease: now
    assert claim is not None and claim.attempts == 1
    assert claim.conversation not in (second.conversation,)
    assert commit(other, claim, t0 + 1)
    worker.queue_depth()  # (each store's own counts are flushed by its next call)
    assert other.queue_depth() == 0


def test_a_conversation_another_worker_took_is_not_claimed_twice(
    stores: tuple[RedisStore, RedisStore], t0: float
) -> None:
    """The index read ahead is only a hint: the conversation's own script refuses a leased
    one, and the worker's next claim reads the index afresh."""
    worker, other = stores
    second = _busy(worker, other, ("a", "b", "c"), t0)
    taken = other.claim("o", t0, LEASE)  # the one the worker's commit would claim ahead
    assert taken is not None and taken.conversation != second.conversation
    assert commit(worker, second, t0 + 1)
    assert worker.claim("w", t0 + 1, LEASE) is None  # nothing else is waiting
    assert other.enqueue(inbound("d", 0), t0 + 2, TTL)
    claim = worker.claim("w", t0 + 2, LEASE)
    assert claim is not None and claim.conversation == key("d")


def test_the_next_message_of_the_committed_conversation_is_not_claimed_ahead(
    stores: tuple[RedisStore, RedisStore], t0: float
) -> None:
    """Its message becomes claimable by the commit itself, in order, for any worker."""
    worker, other = stores
    second = _busy(worker, other, ("a", "b"), t0)
    assert other.enqueue(inbound(second.conversation.split(":")[1], 1), t0, TTL)
    assert commit(worker, second, t0 + 1)
    assert worker._ahead.claim is None
    claim = other.claim("o", t0 + 1, LEASE)
    assert claim is not None and claim.conversation == second.conversation
    assert claim.inbound.message_id.endswith("-1")


def test_a_read_ahead_claim_is_leased_from_the_commit_not_from_the_turns_start(
    stores: tuple[RedisStore, RedisStore], monkeypatch: pytest.MonkeyPatch, t0: float
) -> None:
    """A long turn (a slow `call` node) must not eat into its next message's lease."""
    worker, other = stores
    second = _busy(worker, other, ("a", "b", "c"), t0)
    before = time.time()
    assert commit(worker, second, t0 - 20)  # the turn began 20 s ago
    sent = round_trips(worker, monkeypatch)
    third = worker.claim("w", time.time(), LEASE)
    assert third is not None and third.lease_until >= before + LEASE
    assert sent[0] == 0  # the read-ahead claim itself, not one taken afresh


def test_a_commit_that_lost_its_lease_keeps_what_it_claimed_ahead(
    stores: tuple[RedisStore, RedisStore], t0: float
) -> None:
    """The commit is refused, the claim in the same trip is not: it holds a lease."""
    worker, other = stores
    second = _busy(worker, other, ("a", "b", "c"), t0)
    taken = other.claim("o", second.lease_until + 1, LEASE)  # its lease ran out: taken over
    assert taken is not None and taken.conversation == second.conversation
    assert not commit(worker, second, t0 + 1)
    third = worker.claim("w", t0 + 1, LEASE)
    assert third is not None and third.attempts == 1
    assert third.conversation not in (second.conversation,)


def test_each_worker_thread_has_its_own_read_ahead(
    stores: tuple[RedisStore, RedisStore], t0: float
) -> None:
    worker, other = stores
    second = _busy(worker, other, ("a", "b", "c"), t0)
    assert commit(worker, second, t0)  # this thread holds the third message
    found: list[Claim | None] = []

    def another_worker_thread() -> None:
        worker.claim_ahead("w2", LEASE)
        found.append(worker.claim("w2", t0 + 1, LEASE))

    thread = threading.Thread(target=another_worker_thread)
    thread.start()
    thread.join()
    assert found == [None]  # nothing for it: the third message is this thread's
    third = worker.claim("w", t0 + 1, LEASE)
    assert third is not None and third.conversation != second.conversation


def test_a_claim_ahead_whose_answer_was_lost_is_given_back_on_the_next_call(
    redis_url: str, t0: float
) -> None:
    """The commit's trip ran in Redis but its answer never came back: the worker cannot know
    whether it holds the next message, so it gives it back before anything else rather than
    leave it leased to nobody until the lease runs out."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    with CuttingProxy(redis_url) as proxy:
        worker, other = RedisStore(proxy.url, prefix=prefix), RedisStore(redis_url, prefix=prefix)
        try:
            worker.claim_ahead("w", LEASE)
            second = _busy(worker, other, ("a", "b", "c"), t0)
            proxy.cut_answer_to(b"cut-here")
            with pytest.raises(redis.ConnectionError):
                commit(worker, second, t0 + 1, state=ConversationState(node="cut-here"))
            assert proxy.cuts == 1
            leased = [c for c in ("a", "b", "c") if other._r.hget(other._k(key(c)), "lt")]
            assert len(leased) == 1 and key(leased[0]) != second.conversation  # it did claim
            assert worker.claim("w", t0 + 2, LEASE) is not None  # gives it back, claims afresh
            assert other.claim("o", t0 + 2, LEASE) is None  # and nothing is left leased idle
        finally:
            other.close()
            drop(worker)
