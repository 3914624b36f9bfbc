"""A turn worker's read-ahead on Redis: its commit claims its next message in the same round
trip, so its next claim costs no trip at all (see `RedisStore.claim_ahead`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from gateway.store.base import Claim
from gateway.store.redis_store import RedisStore
from tests.contract.helpers import LEASE, T0, TTL, commit, inbound, key
from tests.contract.test_redis_store import drop, round_trips


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


def _busy(worker: RedisStore, other: RedisStore, convs: tuple[str, ...]) -> Claim:
    """Messages waiting in `convs`; the worker has done one turn (its commit read the index
    ahead) and claimed the next: the state of a busy worker. Returns that claim."""
    for conv in convs:
        assert other.enqueue(inbound(conv, 0), T0, TTL)
    first = worker.claim("w", T0, LEASE)
    assert first is not None and commit(worker, first, T0)
    second = worker.claim("w", T0, LEASE)
    assert second is not None and second.conversation != first.conversation
    return second


def test_the_commit_claims_the_next_message_and_the_claim_costs_no_trip(
    stores: tuple[RedisStore, RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, other = stores
    second = _busy(worker, other, ("a", "b", "c"))
    sent = round_trips(worker, monkeypatch)
    assert commit(worker, second, T0 + 1)  # one trip: the commit, and the third message claimed
    assert sent[0] == 1
    third = worker.claim("w", T0 + 1, LEASE)
    assert third is not None and third.attempts == 1
    assert worker.load(third.conversation).key == third.conversation
    assert sent[0] == 1  # neither the claim nor the load cost a trip
    assert {third.conversation, second.conversation} <= {key(c) for c in "abc"}
    assert third.conversation != second.conversation
    assert other.claim("o", T0 + 1, LEASE) is None  # it is leased
    assert commit(worker, third, T0 + 1)
    other.queue_depth()  # (each store's own counts are flushed by its next call)
    assert worker.queue_depth() == 0


def test_a_read_ahead_claim_whose_lease_ran_down_is_claimed_afresh(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    """The replies of the turn before took long (a slow platform): past half its lease the
    claim is given back and taken again with a full lease; the delay costs no attempt."""
    worker, other = stores
    second = _busy(worker, other, ("a", "b", "c"))
    assert commit(worker, second, T0)
    late = T0 + LEASE * 0.6
    claim = worker.claim("w", late, LEASE)
    assert claim is not None and claim.lease_until == late + LEASE and claim.attempts == 1
    assert commit(worker, claim, late)
    assert worker.queue_depth() == 0


def test_a_stopping_worker_gives_its_read_ahead_claim_back_at_once(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    worker, other = stores
    second = _busy(worker, other, ("a", "b", "c"))
    assert commit(worker, second, T0)
    worker.claim_ahead(None)
    claim = other.claim("o", T0 + 1, LEASE)  # not after the lease: now
    assert claim is not None and claim.attempts == 1
    assert claim.conversation not in (second.conversation,)
    assert commit(other, claim, T0 + 1)
    worker.queue_depth()  # (each store's own counts are flushed by its next call)
    assert other.queue_depth() == 0


def test_a_conversation_another_worker_took_is_not_claimed_twice(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    """The index read ahead is only a hint: the conversation's own script refuses a leased
    one, and the worker's next claim reads the index afresh."""
    worker, other = stores
    second = _busy(worker, other, ("a", "b", "c"))
    taken = other.claim("o", T0, LEASE)  # the one the worker's commit would claim ahead
    assert taken is not None and taken.conversation != second.conversation
    assert commit(worker, second, T0 + 1)
    assert worker.claim("w", T0 + 1, LEASE) is None  # nothing else is waiting
    assert other.enqueue(inbound("d", 0), T0 + 2, TTL)
    claim = worker.claim("w", T0 + 2, LEASE)
    assert claim is not None and claim.conversation == key("d")


def test_the_next_message_of_the_committed_conversation_is_not_claimed_ahead(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    """Its message becomes claimable by the commit itself, in order, for any worker."""
    worker, other = stores
    second = _busy(worker, other, ("a", "b"))
    assert other.enqueue(inbound(second.conversation.split(":")[1], 1), T0, TTL)
    assert commit(worker, second, T0 + 1)
    assert worker._ahead.claim is None
    claim = other.claim("o", T0 + 1, LEASE)
    assert claim is not None and claim.conversation == second.conversation
    assert claim.inbound.message_id.endswith("-1")
