"""An enqueue on Redis: one round trip when the conversation had nothing queued, and an index
that ends right whatever order the updates of several processes arrive in."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from gateway.store.redis import RedisStore
from tests.contract.helpers import LEASE, T0, TTL, commit, inbound, key
from tests.contract.test_redis_store import drop, round_trips


@pytest.fixture
def pair(redis_url: str) -> Iterator[tuple[RedisStore, RedisStore]]:
    """A web process's store and a turn worker's, on the same keys."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    web, worker = RedisStore(redis_url, prefix=prefix), RedisStore(redis_url, prefix=prefix)
    try:
        yield web, worker
    finally:
        worker.close()
        drop(web)


def score(store: RedisStore, conv: str) -> float | None:
    return store.client.zscore(store.keys.ready.zset, key(conv))


def test_a_message_for_a_waiting_shopper_is_one_round_trip(
    pair: tuple[RedisStore, RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    web, worker = pair
    assert web.enqueue(inbound("c0", 0), T0, TTL)  # connected, scripts loaded
    sent = round_trips(web, monkeypatch)
    assert web.enqueue(inbound("c1", 0), T0, TTL)
    assert sent[0] == 1
    assert score(web, "c1") == T0
    claims = [worker.claim("w", T0, LEASE) for _ in range(2)]
    assert {c.inbound.message_id for c in claims if c is not None} == {"c0-0", "c1-0"}


def test_a_late_removal_from_the_worker_does_not_strand_the_next_message(
    pair: tuple[RedisStore, RedisStore],
) -> None:
    """The worker's commit leaves its index removal for its next call (`Later`); the shopper's
    next message arrives before that call: the removal is older and is not applied."""
    web, worker = pair
    assert web.enqueue(inbound("c1", 0), T0, TTL)
    claim = worker.claim("w", T0, LEASE)
    assert claim is not None and commit(worker, claim, T0)
    assert worker.waiting_updates()  # the removal is still waiting
    assert web.enqueue(inbound("c1", 1), T0 + 1, TTL)
    assert worker.queue_depth() == 1  # flushes the worker's late updates
    assert score(web, "c1") == T0 + 1
    claim = worker.claim("w", T0 + 1, LEASE)
    assert claim is not None and claim.inbound.message_id == "c1-1"


def test_a_message_behind_a_leased_one_is_indexed_at_the_lease_end(
    pair: tuple[RedisStore, RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not early: claimers would ask the conversation again and again while it is busy."""
    web, worker = pair
    assert web.enqueue(inbound("c1", 0), T0, TTL)
    claim = worker.claim("w", T0, LEASE)
    assert claim is not None
    sent = round_trips(web, monkeypatch)
    assert web.enqueue(inbound("c1", 1), T0 + 1, TTL)
    assert sent[0] == 2  # the index is set from the script's answer
    assert score(web, "c1") == claim.lease_until
    assert worker.queue_depth() == 2
    assert commit(worker, claim, T0 + 2)
    claim = worker.claim("w", T0 + 2, LEASE)
    assert claim is not None and claim.inbound.message_id == "c1-1"


def test_a_duplicate_changes_neither_the_index_nor_the_depth(
    pair: tuple[RedisStore, RedisStore],
) -> None:
    web, worker = pair
    assert web.enqueue(inbound("c1", 0), T0, TTL)
    claim = worker.claim("w", T0, LEASE)
    assert claim is not None and commit(worker, claim, T0)
    assert worker.claim("w", T0, LEASE) is None  # the index has no entry for c1 now
    assert score(web, "c1") is None
    assert not web.enqueue(inbound("c1", 0), T0 + 1, TTL)  # the platform delivers it again
    assert score(web, "c1") is None
    assert web.queue_depth() == 0


def test_a_web_host_whose_clock_is_behind_still_indexes_its_message(
    pair: tuple[RedisStore, RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another host (its clock an hour ahead) proposed the conversation's last version: ours is
    older, so the script takes the next one and the index is set from its answer."""
    web, worker = pair
    real = time.time_ns
    monkeypatch.setattr(time, "time_ns", lambda: real() + 3_600_000_000_000)
    assert web.enqueue(inbound("c1", 0), T0, TTL)
    claim = worker.claim("w", T0, LEASE)
    assert claim is not None and commit(worker, claim, T0)
    monkeypatch.undo()
    worker.queue_depth()  # the worker's late updates are in
    sent = round_trips(web, monkeypatch)
    assert web.enqueue(inbound("c1", 1), T0 + 1, TTL)
    assert sent[0] == 2
    assert score(web, "c1") == T0 + 1
    claim = worker.claim("w", T0 + 1, LEASE)
    assert claim is not None and claim.inbound.message_id == "c1-1"


def test_versions_never_go_back_when_a_web_hosts_clock_is_behind(
    pair: tuple[RedisStore, RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message behind a leased one, from a host whose clock is an hour behind: the
    conversation's version still moves forward, so the index keeps taking its updates."""
    web, worker = pair
    assert web.enqueue(inbound("c1", 0), T0, TTL)
    claim = worker.claim("w", T0, LEASE)
    assert claim is not None
    conv = web.keys.conversation(key("c1"))
    before = int(web.client.hget(conv, "v") or 0)
    real = time.time_ns
    monkeypatch.setattr(time, "time_ns", lambda: real() - 3_600_000_000_000)
    assert web.enqueue(inbound("c1", 1), T0 + 1, TTL)
    assert int(web.client.hget(conv, "v") or 0) > before
    monkeypatch.undo()
    assert commit(worker, claim, T0 + 2)
    worker.queue_depth()
    claim = worker.claim("w", T0 + 2, LEASE)
    assert claim is not None and claim.inbound.message_id == "c1-1"
