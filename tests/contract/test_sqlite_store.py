"""What only the SQLite backend has: pooled connections, our write lock, checkpoints beside the
writers."""

from __future__ import annotations

import sqlite3
import statistics
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.store.sqlite import SQLiteStore
from gateway.store.sqlite import file as sqlite_module
from tests.contract.helpers import LEASE, T0, TTL, inbound, run_turn


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(str(tmp_path / "gateway.db"))
    try:
        yield s
    finally:
        s.close()


def test_threads_that_come_and_go_reuse_the_pooled_connections(store: SQLiteStore) -> None:
    ingress = store.ingress_file  # the file webhooks write
    opened = ingress.opened
    for n in range(40):  # a thread per request, as a threaded HTTP server runs them
        thread = threading.Thread(target=store.enqueue, args=(inbound("c1", n), T0 + n, TTL))
        thread.start()
        thread.join()
    assert store.queue_depth() == 40
    assert ingress.opened - opened <= 1  # the connection of the first thread serves all others


def test_close_closes_idle_connections_and_those_in_use_when_given_back(
    store: SQLiteStore,
) -> None:
    run_turn(store, "c1", 0, T0)
    with store.main_file.conn() as in_use:
        idle = store.main_file.idle()
        store.close()
        assert in_use.execute("SELECT 1").fetchone() == (1,)  # still serving its block
    for conn in [in_use, *idle]:
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")
    with pytest.raises(RuntimeError, match="is closed"):
        store.load("telegram:c1")


def test_idle_connections_are_capped(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_module, "IDLE_CONNECTIONS", 2)
    barrier = threading.Barrier(5)

    def hold() -> None:
        with store.main_file.conn():
            barrier.wait(10)  # five connections in use at once

    threads = [threading.Thread(target=hold) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.main_file.idle()) == 2


def test_a_writer_of_another_store_waits_for_our_lock_instead_of_failing(tmp_path: Path) -> None:
    """Two stores on one file (as two processes have): the second writer queues on the lock
    file, so even a busy_timeout far shorter than the first writer's transaction is enough."""
    path = str(tmp_path / "gateway.db")
    first, second = SQLiteStore(path), SQLiteStore(path, busy_timeout_s=0.01)
    started, errors = threading.Event(), []

    def enqueue() -> None:
        started.set()
        try:
            assert second.enqueue(inbound("c2", 0), T0, TTL)
        except sqlite3.OperationalError as exc:  # "database is locked": nobody queued
            errors.append(exc)

    try:
        with first.ingress_file.write() as c:
            c.execute("INSERT INTO dedupe(channel, message_id, expires_at) VALUES ('x', 'y', 0)")
            thread = threading.Thread(target=enqueue)
            thread.start()
            started.wait(5)
            thread.join(0.2)  # it cannot finish while we hold the write lock
            assert thread.is_alive()
        thread.join(10)
        assert errors == [] and second.queue_depth() == 1
    finally:
        first.close()
        second.close()


def test_checkpoint_copies_the_whole_wal_back(store: SQLiteStore) -> None:
    for n in range(20):
        run_turn(store, f"c{n}", 0, T0 + n)
    busy, frames, done = store.checkpoint()
    assert busy == 0 and frames > 0 and done == frames
    claim = store.claim("w", T0 + 100, LEASE)
    assert claim is None  # every turn was committed; the data is all there
    assert len(store.outbox_items("telegram:c7")) == 1


def test_the_wal_starts_over_while_writers_keep_appending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite restarts the WAL only when a writer finds it wholly copied back; with a writer
    always busy, passive checkpoints alone let it grow without end (by 40 MB/s under the bench).
    Past WAL_RESTART_FRAMES the checkpoint resets it, and the file is cut back, with readers
    reading all the while."""
    monkeypatch.setattr(sqlite_module, "CHECKPOINT_EVERY_S", 3600.0)  # only the calls below
    monkeypatch.setattr(sqlite_module, "WAL_RESTART_FRAMES", 40)
    monkeypatch.setattr(sqlite_module, "WAL_KEEP_BYTES", 256 * 1024)
    store = SQLiteStore(str(tmp_path / "gateway.db"))
    wal = tmp_path / "gateway.db-wal"
    turns, stop, progress = [0], threading.Event(), threading.Condition()

    def write() -> None:
        while not stop.is_set():
            run_turn(store, f"c{turns[0]}", 0, T0 + turns[0])
            with progress:
                turns[0] += 1
                progress.notify_all()

    def read() -> None:  # readers all the while, as the worker's loads and the metrics are
        while not stop.is_set():
            store.load(f"telegram:c{turns[0] // 2}")
            store.queue_depth()

    writer = threading.Thread(target=write)
    readers = [threading.Thread(target=read) for _ in range(2)]
    for thread in [writer, *readers]:
        thread.start()
    sizes: list[int] = []  # the WAL's size after each checkpoint
    try:
        for _ in range(40):
            with progress:  # a checkpoint after every few turns, the writer never stopping
                seen = turns[0]
                assert progress.wait_for(lambda seen=seen: turns[0] >= seen + 4, timeout=30)
            store.checkpoint()
            sizes.append(wal.stat().st_size)
    finally:
        stop.set()
        for thread in [writer, *readers]:
            thread.join(30)
    # A turn writes about 16 pages to the main file, each a 4 KiB frame. Without the reset
    # the WAL holds every frame: after each checkpoint it is larger, its median about half of
    # all that was written. The median, not the largest: on a busy machine one checkpoint may
    # come late, and the writer never waits for it.
    written = turns[0] * 16 * 4096
    assert statistics.median(sizes) < 2 * 1024 * 1024 < written / 4
    assert store.claim("w", T0 + 10**6, LEASE) is None  # every turn is there, committed
    assert len(store.outbox_items(f"telegram:c{turns[0] - 1}")) == 1
    store.close()
