"""The SQLite store's ingress file: webhooks write it, workers move it into the queue.

Two stores on one path stand for two processes (the web process and a worker process)."""

from __future__ import annotations

import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.store.sqlite import SQLiteStore
from gateway.store.sqlite import ingress as sqlite_module
from tests.contract.helpers import LEASE, T0, TTL, commit, inbound, run_turn


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "gateway.db")


def _open(path: str) -> Iterator[SQLiteStore]:
    store = SQLiteStore(path)
    try:
        yield store
    finally:
        store.close()


web = pytest.fixture(_open, name="web")  # the web process's store
worker = pytest.fixture(_open, name="worker")  # a worker process's store, on the same files


def test_a_webhook_does_not_wait_while_a_worker_commits(
    web: SQLiteStore, worker: SQLiteStore
) -> None:
    """The point of the second file: the webhook's durable write takes the ingress lock only,
    so a worker's long transaction on the main file never holds up an answer to a platform."""
    done = threading.Event()

    def enqueue() -> None:
        assert web.enqueue(inbound("c1", 0), T0, TTL)
        done.set()

    with worker.main_file.write():  # a worker in the middle of a commit, for as long as we like
        thread = threading.Thread(target=enqueue)
        thread.start()
        assert done.wait(10)  # answered while the main file's write lock is held
    thread.join(10)
    claim = worker.claim("w", T0, LEASE)
    assert claim is not None and claim.inbound.message_id == "c1-0"


def test_messages_of_two_web_processes_are_claimed_once_each_in_arrival_order(
    path: str, web: SQLiteStore, worker: SQLiteStore
) -> None:
    """Two web processes append while two workers (each its own store) move and claim: every
    message is processed once, and each conversation's in the order it arrived."""
    other_web, other_worker = SQLiteStore(path), SQLiteStore(path)
    processed: dict[str, list[int]] = defaultdict(list)
    sent = threading.Event()

    def post(store: SQLiteStore, convs: range) -> None:
        for n in range(30):
            for c in convs:
                assert store.enqueue(inbound(f"c{c}", n), T0 + n, TTL)

    def work(store: SQLiteStore) -> None:
        while True:
            claim = store.claim(f"w{id(store)}", T0 + 100, LEASE)
            if claim is None:
                if sent.is_set() and store.queue_depth() == 0:
                    return
                continue
            conv, n = claim.inbound.message_id.rsplit("-", 1)
            processed[conv].append(int(n))
            assert commit(store, claim, T0 + 100)

    try:
        posters = [threading.Thread(target=post, args=(s, r))
                   for s, r in ((web, range(0, 5)), (other_web, range(5, 10)))]  # fmt: skip
        workers = [threading.Thread(target=work, args=(s,)) for s in (worker, other_worker)]
        for thread in [*posters, *workers]:
            thread.start()
        for thread in posters:
            thread.join(60)
        sent.set()
        for thread in workers:
            thread.join(60)
            assert not thread.is_alive()
    finally:
        other_web.close()
        other_worker.close()
    assert processed == {f"c{c}": list(range(30)) for c in range(10)}


def test_the_queue_depth_counts_what_has_not_been_moved_yet(
    web: SQLiteStore, worker: SQLiteStore
) -> None:
    for n in range(3):
        assert web.enqueue(inbound(f"c{n}", 0), T0, TTL)
    assert worker.queue_depth() == web.queue_depth() == 3  # all still in the ingress file
    claim = worker.claim("w", T0, LEASE)  # moves all three, leases one
    assert claim is not None and worker.queue_depth() == 3
    assert commit(worker, claim, T0)
    assert web.queue_depth() == 2


def test_moved_rows_leave_the_ingress_file(
    web: SQLiteStore, worker: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "PURGE_EVERY", 1)  # every enqueue purges
    for n in range(3):
        run_turn(worker, f"c{n}", 0, T0 + n)  # enqueued by the worker's store: the same file
    assert web.enqueue(inbound("c9", 0), T0 + 10, TTL)  # purges what was moved
    rows = web.ingress_file.read("SELECT conversation FROM ingress")
    assert rows == [("telegram:c9",)]  # only what is still to move
    claim = worker.claim("w", T0 + 10, LEASE)
    assert claim is not None and claim.inbound.message_id == "c9-0"


def test_a_new_ingress_file_is_read_from_its_start(path: str) -> None:
    """An operator who deletes the ingress file (or restores an old one) must not lose what
    comes next: its ids start over, and the main file's mark belongs to the file it saw."""
    store = SQLiteStore(path)
    for n in range(5):
        run_turn(store, f"c{n}", 0, T0 + n)
    store.close()
    for leftover in Path(path).parent.glob("gateway.db-ingress*"):
        leftover.unlink()
    store = SQLiteStore(path)
    try:
        assert store.enqueue(inbound("late", 0), T0 + 10, TTL)
        claim = store.claim("w", T0 + 10, LEASE)
        assert claim is not None and claim.inbound.message_id == "late-0"
    finally:
        store.close()


def test_dedupe_keys_of_a_store_from_before_the_ingress_file_still_count(path: str) -> None:
    """An upgrade keeps its promise: a platform retry of a message that came in before it
    (its key in the old `dedupe` table of the main file) is still dropped."""
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE dedupe (channel TEXT NOT NULL, message_id TEXT NOT NULL, "
                    "expires_at REAL NOT NULL, PRIMARY KEY (channel, message_id))")  # fmt: skip
        old.execute("INSERT INTO dedupe VALUES ('telegram', 'c1-0', ?)", (T0 + TTL,))
    old.close()
    store = SQLiteStore(path)
    try:
        assert not store.enqueue(inbound("c1", 0), T0, TTL)  # seen before the upgrade
        assert store.enqueue(inbound("c1", 1), T0, TTL)
        tables = store.main_file.read("SELECT name FROM sqlite_master WHERE name = 'dedupe'")
        assert tables == []  # moved once, not read on every request
    finally:
        store.close()
