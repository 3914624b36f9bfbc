"""A turn worker's lane on SQLite: its commit records what was sent, hands over its reply
and claims its next message in one transaction, and its next claim is no write at all."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.store.sqlite import SQLiteStore
from tests.contract.helpers import LEASE, TTL, inbound, key, turn_for
from tests.contract.test_lane import busy, started


@pytest.fixture
def t0() -> float:
    return time.time()


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[SQLiteStore, SQLiteStore]]:
    """The turn worker's store and another process's, on the same files."""
    worker, other = (
        SQLiteStore(str(tmp_path / "gateway.db")),
        SQLiteStore(str(tmp_path / "gateway.db")),
    )
    try:
        yield worker, other
    finally:
        worker.close()
        other.close()


def test_a_lanes_next_claim_was_taken_by_its_commit_and_costs_no_write(
    stores: tuple[SQLiteStore, SQLiteStore], t0: float
) -> None:
    worker, other = stores
    lane = worker.lane("w", LEASE, LEASE)
    _first, done = started(other, lane, "ab", t0)  # queued by another process
    assert done.next_claim is not None
    assert other.claim("o", t0 + 1, LEASE) is None  # b-0 is leased already
    writes = worker.main_file.writes
    claim = lane.claim(t0 + 1)
    assert claim == done.next_claim and claim.inbound.message_id == "b-0"
    assert lane.load(claim).key == key("b")
    assert worker.main_file.writes == writes  # no transaction of its own
    assert lane.commit(turn_for(claim, t0 + 1)).ok
    assert worker.queue_depth() == 0


def test_a_busy_lanes_turn_is_one_write(stores: tuple[SQLiteStore, SQLiteStore], t0: float) -> None:
    """The commit records the reply sent before it, hands over its own and claims the next
    message, all in its one transaction; the next claim and load write nothing."""
    worker, other = stores
    lane = worker.lane("w", LEASE, LEASE)
    first, second = busy(other, lane, "abc", t0)
    assert first.handed is not None
    writes = worker.main_file.writes
    done = lane.commit(turn_for(second, t0 + 1), sent=[(first.handed.id, "p-1")])
    assert done.ok and done.handed is not None and done.next_claim is not None
    third = lane.claim(t0 + 1)
    assert third == done.next_claim
    assert lane.load(third).key == third.conversation
    assert worker.main_file.writes == writes + 1
    assert [o.status for o in worker.outbox_items(key("a"))] == ["sent"]


def test_another_process_queues_what_a_lanes_commit_claims_ahead(
    stores: tuple[SQLiteStore, SQLiteStore], t0: float
) -> None:
    """A message that arrived in another process since the lane's claim is moved into the
    queue and claimed by the commit itself."""
    worker, other = stores
    lane = worker.lane("w", LEASE, LEASE)
    assert other.enqueue(inbound("a", 0), t0 - 2, TTL)
    first = lane.claim(t0)
    assert first is not None and first.conversation == key("a")
    assert other.enqueue(inbound("b", 0), t0 - 1, TTL)
    done = lane.commit(turn_for(first, t0))
    assert done.ok and done.next_claim is not None
    assert done.next_claim.inbound.message_id == "b-0"
