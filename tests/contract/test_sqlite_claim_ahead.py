"""A turn worker's read-ahead on SQLite: its commit claims its next message, in the same
transaction, so its next claim is no write at all (see `SQLiteStore.claim_ahead`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.store.sqlite import SQLiteStore
from tests.contract.helpers import LEASE, T0, TTL, commit, inbound


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[SQLiteStore, SQLiteStore]]:
    """The turn worker's store and another process's, on the same files."""
    worker, other = (
        SQLiteStore(str(tmp_path / "gateway.db")),
        SQLiteStore(str(tmp_path / "gateway.db")),
    )
    try:
        worker.claim_ahead("w", LEASE)
        for conv in ("a", "b"):
            assert other.enqueue(inbound(conv, 0), T0, TTL)
        yield worker, other
    finally:
        worker.close()
        other.close()


def _commit_a(worker: SQLiteStore) -> None:
    claim = worker.claim("w", T0, LEASE)
    assert claim is not None and claim.inbound.message_id == "a-0"
    assert commit(worker, claim, T0)  # claims b-0 for this thread on the way


def test_the_next_claim_was_taken_by_the_commit_and_costs_no_write(
    stores: tuple[SQLiteStore, SQLiteStore],
) -> None:
    worker, other = stores
    _commit_a(worker)
    assert other.claim("o", T0 + 1, LEASE) is None  # b-0 is leased already
    writes = worker._db.writes
    claim = worker.claim("w", T0 + 1, LEASE)
    assert claim is not None and claim.inbound.message_id == "b-0" and claim.attempts == 1
    assert worker._db.writes == writes  # no transaction of its own
    assert commit(worker, claim, T0 + 1)
    assert worker.queue_depth() == 0


def test_a_read_ahead_claim_whose_lease_ran_down_is_claimed_afresh(
    stores: tuple[SQLiteStore, SQLiteStore],
) -> None:
    """The replies of the turn before took long (a slow platform): past half its lease the
    claim is given back and taken again with a full lease; the delay costs no attempt."""
    worker, _other = stores
    _commit_a(worker)
    late = time.time() + LEASE * 0.6  # the read-ahead lease runs from the commit, by the clock
    claim = worker.claim("w", late, LEASE)
    assert claim is not None and claim.inbound.message_id == "b-0"
    assert claim.lease_until == late + LEASE and claim.attempts == 1
    assert commit(worker, claim, late)


def test_a_stopping_worker_gives_its_read_ahead_claim_back_at_once(
    stores: tuple[SQLiteStore, SQLiteStore],
) -> None:
    worker, other = stores
    _commit_a(worker)
    worker.claim_ahead(None)
    claim = other.claim("o", T0 + 1, LEASE)  # not after the lease: now
    assert claim is not None and claim.inbound.message_id == "b-0" and claim.attempts == 1


def test_a_read_ahead_claim_is_leased_from_the_commit_not_from_the_turns_start(
    stores: tuple[SQLiteStore, SQLiteStore],
) -> None:
    """A long turn (a slow `call` node) must not eat into its next message's lease."""
    worker, _other = stores
    before = time.time()
    _commit_a(worker)  # the turn began at T0, long ago
    writes = worker._db.writes
    claim = worker.claim("w", time.time(), LEASE)
    assert claim is not None and claim.inbound.message_id == "b-0"
    assert claim.lease_until >= before + LEASE
    assert worker._db.writes == writes  # the read-ahead claim itself, not one taken afresh
