"""The embedded store: one SQLite file in WAL mode, shared by threads and processes on one machine.

Writers take turns on a lock of our own before `BEGIN IMMEDIATE`: a `threading.Lock` for the
threads of this process and an exclusive `flock` on `<file>-lock` for the other processes.
Both wake the next waiter the moment the holder is done. SQLite's own wait for its write lock
(`busy_timeout`) polls with sleeps of 1 to 100 ms instead: under load those sleeps were a fifth
of the gateway's wall time and most of its p99 (py-spy). `busy_timeout` stays as the fallback
for a writer that does not take our lock (the sqlite3 shell, a filesystem without flock).
JSON is encoded before the lock is taken; readers never take it (WAL: they see the last
commit). Connections come from a small pool, so threads that come and go (a threaded HTTP
server) reuse them instead of leaving one behind each.

Queue: a conversation's oldest active row (its *head*) carries `due`, the time it can be
claimed: its `available_at` while queued, its `lease_until` while leased (so an expired lease
is simply due again). Other rows have `due` NULL. `claim()` is one UPDATE of the row with the
smallest `due` in a partial index: never two rows of one conversation, in arrival order, no
scan. The outbox uses the same trick for "the earliest pending item of each conversation".
A committed message's row is deleted in the commit itself: the cheapest purge there is.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from flows.messages import Inbound, from_dict, to_dict
from flows.state import ConversationState
from gateway.store.base import (
    Claim,
    Conversation,
    HandOver,
    HistoryEntry,
    OutboxItem,
    check_same_conversation,
    compact_json,
    delivery_rank,
)
from gateway.store.sqlite_sql import (
    ACTIVE,
    OUTBOX_COLUMNS,
    SCHEMA,
    SQL_ANY_DUE,
    SQL_ANY_OUTBOX_DUE,
    SQL_BUMP_SEQ,
    SQL_CLAIM,
    SQL_CLAIM_HEAD,
    SQL_CLAIM_OUTBOX,
    SQL_DEDUPE,
    SQL_ENQUEUE,
    SQL_EVENT,
    SQL_HISTORY,
    SQL_NEXT_HEAD,
    SQL_OUTBOX,
    SQL_OUTBOX_HEAD,
    SQL_SAVE_CONVERSATION,
)

try:
    import fcntl
except ImportError:  # pragma: no cover (not on Windows: busy_timeout alone serialises)
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)
PURGE_EVERY = 256  # enqueues between two purges of expired dedupe keys
PURGE_BATCH = 500  # at most this many rows per purge, so a purge never stalls a request
IDLE_CONNECTIONS = 16  # connections kept open between uses; more threads open and close extra
CHECKPOINT_EVERY_S = 0.25  # how often a store that wrote copies the WAL back into the file
# Past this many frames (4 KiB each; SQLite's own autocheckpoint size) the checkpointer resets
# the WAL under our write lock (see `checkpoint`), and the file is cut back to WAL_KEEP_BYTES.
WAL_RESTART_FRAMES = 1000
WAL_KEEP_BYTES = 16 * 1024 * 1024
RESTART_WAIT_MS = 200  # the most a reset waits for readers (our writers queue meanwhile)


def _outbox_item(row: sqlite3.Row | tuple[Any, ...]) -> OutboxItem:
    return OutboxItem(
        id=row[0],
        conversation=row[1],
        channel=row[2],
        payload=json.loads(row[3]),
        created_at=row[4],
        status=row[5],
        attempts=row[6],
        next_at=row[7],
        last_error=row[8],
        platform_id=row[9],
        delivery=row[10],
        seq=row[11],
    )


class SQLiteStore:
    """`Store` on one SQLite file (see the module docstring for the queue design)."""

    def __init__(self, path: str, busy_timeout_s: float = 10.0) -> None:
        self.path = path
        self._busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()  # guards the pool
        self._idle: list[sqlite3.Connection] = []
        self._closed = False
        self._write_lock = threading.Lock()  # writers of this process, one at a time
        self._lock_fd: int | None = None  # flock: writers of other processes
        self._enqueues = itertools.count(1)
        self._writes = 0  # write transactions so far; the checkpointer compares
        self._hand_over = HandOver()
        self._claimer = threading.local()  # whether this thread's last claim found a message
        self._stop = threading.Event()
        with self._conn() as conn:
            # WAL is a property of the file: set once, every later connection finds it.
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
        self._lock_fd = self._open_lock_file()
        with self._write() as c:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    c.execute(statement)
        self._checkpointer = threading.Thread(
            target=_checkpoints, args=(weakref.ref(self), self._stop),
            name="sqlite-checkpoint", daemon=True,
        )  # fmt: skip
        self._checkpointer.start()

    # ---- connections and transactions ----

    def _open_lock_file(self) -> int | None:
        if fcntl is None:
            return None
        try:
            mode = os.stat(self.path).st_mode & 0o666  # whoever may write the file may lock it
            return os.open(f"{self.path}-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, mode)
        except OSError as exc:
            logger.warning("sqlite_lock_file_unavailable", extra={"error": str(exc)})
            return None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout_s,
            isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
            check_same_thread=False,  # pooled: a connection serves one thread at a time
            cached_statements=256,
        )
        conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_s * 1000)}")
        # NORMAL with WAL: a commit survives a crash of the process (the OS has the WAL pages);
        # only a power loss or OS crash can lose the last commits. FULL would fsync each one.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-16000")  # 16 MB per connection
        # No checkpoint inside a commit: `_checkpoints` runs them beside the writers (see there).
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute(f"PRAGMA journal_size_limit={WAL_KEEP_BYTES}")
        return conn

    def _take(self) -> sqlite3.Connection:
        """A connection of the pool (a new one if none is idle); give it back with `_give`."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"SQLiteStore({self.path!r}) is closed")
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _give(self, conn: sqlite3.Connection) -> None:
        if not conn.in_transaction:  # a failed ROLLBACK leaves it unusable
            with self._lock:
                if not self._closed and len(self._idle) < IDLE_CONNECTIONS:
                    self._idle.append(conn)
                    return
        conn.close()

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        """A connection of the pool for the duration of the block."""
        conn = self._take()
        try:
            yield conn
        finally:
            self._give(conn)

    def _lock_writers(self) -> None:
        """This store's turn to write: first among our threads, then among processes. Always
        paired with `_unlock_writers`."""
        self._write_lock.acquire()
        self._writes += 1
        if self._lock_fd is not None:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            except BaseException:
                self._write_lock.release()
                raise

    def _unlock_writers(self) -> None:
        try:
            if self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        finally:
            self._write_lock.release()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; the write lock is taken up front, so it never deadlocks."""
        conn = self._take()
        try:
            self._lock_writers()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                self._unlock_writers()
        finally:
            self._give(conn)

    def _write_one(self, sql: str, args: Sequence[Any]) -> list[Any]:
        """One writing statement, committed on its own (its rows fetched before the commit)."""
        conn = self._take()
        try:
            self._lock_writers()
            try:
                return conn.execute(sql, args).fetchall()
            finally:
                self._unlock_writers()
        finally:
            self._give(conn)

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        conn = self._take()
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            self._give(conn)

    # ---- inbound queue ----

    def enqueue(self, inbound: Inbound, now: float, dedupe_ttl_s: float) -> bool:
        message = compact_json(to_dict(inbound))
        with self._write() as c:
            fresh = c.execute(
                SQL_DEDUPE, (inbound.channel, inbound.message_id, now + dedupe_ttl_s, now)
            ).fetchall()
            if not fresh:
                return False
            c.execute(SQL_ENQUEUE, (inbound.key, message, now))
            if next(self._enqueues) % PURGE_EVERY == 0:
                c.execute(
                    "DELETE FROM dedupe WHERE rowid IN (SELECT rowid FROM dedupe "
                    "WHERE expires_at <= ? LIMIT ?)",
                    (now, PURGE_BATCH),
                )
        return True

    def claim(self, worker: str, now: float, lease_s: float) -> Claim | None:
        # A claimer that found nothing last time reads first and takes no write lock while
        # nothing is due (idle workers poll here); one that is busy goes straight to the write.
        if not getattr(self._claimer, "busy", False) and not self._read(SQL_ANY_DUE, (now,)):
            return None
        token = uuid.uuid4().hex
        lease_until = now + lease_s
        # One statement under the write lock, so two claimers never pick one row.
        rows = self._write_one(SQL_CLAIM, (now, token, lease_until, worker))
        self._claimer.busy = bool(rows)
        if not rows:
            return None
        row_id, conversation, message, attempts = rows[0]
        return Claim(
            id=str(row_id),
            conversation=conversation,
            inbound=from_dict(Inbound, json.loads(message)),
            attempts=attempts,
            lease_until=lease_until,
            token=token,
        )

    def commit_turn(
        self,
        claim: Claim,
        state: ConversationState,
        history: Sequence[HistoryEntry],
        outbox: Sequence[OutboxItem],
        events: Sequence[dict[str, Any]],
        now: float,
    ) -> bool:
        key = claim.conversation
        check_same_conversation(key, history)
        check_same_conversation(key, outbox)
        # Everything is encoded before the write lock is taken; only the seqs come from inside.
        state_json = state.to_json()
        history_rows = _history_rows(history)
        outbox_rows = [
            (o.id, key, o.channel, compact_json(o.payload), o.next_at, o.created_at) for o in outbox
        ]
        message_id = claim.inbound.message_id
        event_rows = [
            (key, message_id, i, e.get("at", now), e.get("type"), compact_json(e))
            for i, e in enumerate(events)
        ]
        last_inbound = claim.inbound.timestamp or now
        hand_over = self._hand_over.lease_until() if outbox else None
        head: list[Any] = []
        with self._write() as c:
            done = c.execute(
                "DELETE FROM queue WHERE id = ? AND token = ? AND status = 'leased'",
                (int(claim.id), claim.token),
            )
            if done.rowcount != 1:
                return False  # the lease went to another worker; nothing written
            c.execute(SQL_NEXT_HEAD, (key,))
            hseq, oseq = c.execute(
                SQL_SAVE_CONVERSATION,
                (key, state_json, last_inbound, now, len(history), len(outbox)),
            ).fetchall()[0]
            _insert_history(c, key, history_rows, hseq - len(history))
            if outbox_rows:
                first = oseq - len(outbox_rows)
                c.executemany(
                    SQL_OUTBOX,
                    [(i, k, first + n + 1, *rest) for n, (i, k, *rest) in enumerate(outbox_rows)],
                )
                c.execute(SQL_OUTBOX_HEAD, (key,))
            if hand_over is not None:  # as claim_outbox would, for this conversation
                head = c.execute(SQL_CLAIM_HEAD, (hand_over, key, time.time())).fetchall()
            if event_rows:
                c.executemany(SQL_EVENT, event_rows)
        if head and hand_over is not None:
            self._hand_over.keep(_outbox_item(head[0]), hand_over)
        return True

    def release(self, claim: Claim, retry_at: float, error: str) -> None:
        self._write_one(
            "UPDATE queue SET status = 'queued', token = NULL, lease_until = NULL, worker = NULL, "
            "available_at = ?1, due = ?1, error = ?2 "
            "WHERE id = ?3 AND token = ?4 AND status = 'leased'",
            (retry_at, error, int(claim.id), claim.token),
        )

    def bury(self, claim: Claim, error: str) -> None:
        with self._write() as c:
            cur = c.execute(
                "UPDATE queue SET status = 'dead', token = NULL, lease_until = NULL, due = NULL, "
                "error = ? WHERE id = ? AND token = ? AND status = 'leased'",
                (error, int(claim.id), claim.token),
            )
            if cur.rowcount == 1:
                c.execute(SQL_NEXT_HEAD, (claim.conversation,))

    def queue_depth(self) -> int:
        return self._read(f"SELECT count(*) FROM queue WHERE {ACTIVE}")[0][0]

    # ---- conversations and history ----

    def load(self, key: str) -> Conversation:
        rows = self._read(
            "SELECT state, last_inbound_at, updated_at FROM conversations WHERE key = ?", (key,)
        )
        if not rows:
            return Conversation(key=key, state=ConversationState())
        state, last_inbound, updated = rows[0]
        return Conversation(key, ConversationState.from_json(state), last_inbound, updated)

    def history(
        self, key: str, before_seq: int | None = None, limit: int = 50
    ) -> list[HistoryEntry]:
        rows = self._read(
            "SELECT seq, at, direction, author, text, data FROM history "
            "WHERE conversation = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
            (key, before_seq if before_seq is not None else 2**62, max(limit, 0)),
        )
        return [
            HistoryEntry(key, at, direction, author, text, json.loads(data) if data else {}, seq)
            for seq, at, direction, author, text, data in reversed(rows)
        ]

    def append_history(self, entries: Sequence[HistoryEntry]) -> None:
        by_key: dict[str, list[HistoryEntry]] = {}
        for entry in entries:
            by_key.setdefault(entry.conversation, []).append(entry)
        if not by_key:
            return
        rows = {key: _history_rows(items) for key, items in by_key.items()}
        with self._write() as c:
            for key, items in rows.items():
                hseq = c.execute(SQL_BUMP_SEQ, (key, len(items), 0)).fetchall()[0][0]
                _insert_history(c, key, items, hseq - len(items))

    # ---- outbox ----

    def hand_over_commits(self, lease_s: float | None) -> None:
        self._hand_over.enable(lease_s)

    def claim_outbox(self, now: float, lease_s: float, limit: int) -> list[OutboxItem]:
        handed = self._hand_over.take(now, lease_s, limit)
        if handed:
            return handed
        if limit <= 0 or not self._read(SQL_ANY_OUTBOX_DUE, (now,)):
            return []  # nothing due: no write lock taken (the sender thread polls here)
        rows = self._write_one(SQL_CLAIM_OUTBOX, (now + lease_s, now, limit))
        return sorted((_outbox_item(r) for r in rows), key=lambda o: (o.created_at, o.seq))

    def _outbox_change(self, sql: str, args: tuple[Any, ...]) -> bool:
        """Apply `sql` (which RETURNs the conversation) and hand the head on if it moved."""
        with self._write() as c:
            rows = c.execute(sql, args).fetchall()
            if rows:
                c.execute(SQL_OUTBOX_HEAD, (rows[0][0],))
        return bool(rows)

    def outbox_sent(self, item_id: str, platform_id: str | None, now: float) -> None:
        self._outbox_change(
            "UPDATE outbox SET status = 'sent', platform_id = ?, due = NULL, lease_until = NULL "
            "WHERE id = ? AND status = 'pending' RETURNING conversation",
            (platform_id, item_id),
        )

    def outbox_retry(self, item_id: str, next_at: float, error: str) -> None:
        # Only the head carries `due`; a retried item is the head (it was claimed).
        self._write_one(
            "UPDATE outbox SET attempts = attempts + 1, next_at = ?1, lease_until = NULL, "
            "last_error = ?2, due = CASE WHEN due IS NULL THEN NULL ELSE ?1 END "
            "WHERE id = ?3 AND status = 'pending'",
            (next_at, error, item_id),
        )

    def outbox_defer(self, item_id: str, next_at: float) -> None:
        self._write_one(
            "UPDATE outbox SET next_at = ?1, lease_until = NULL, "
            "due = CASE WHEN due IS NULL THEN NULL ELSE ?1 END "
            "WHERE id = ?2 AND status = 'pending'",
            (next_at, item_id),
        )

    def outbox_dead(self, item_id: str, error: str) -> None:
        self._outbox_change(
            "UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = ?, "
            "due = NULL, lease_until = NULL "
            "WHERE id = ? AND status = 'pending' RETURNING conversation",
            (error, item_id),
        )

    def dead_letters(self, limit: int = 100) -> list[OutboxItem]:
        rows = self._read(
            f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE status = 'dead' "
            "ORDER BY created_at LIMIT ?",
            (limit,),
        )
        return [_outbox_item(r) for r in rows]

    def retry_dead(self, item_id: str, now: float) -> bool:
        """The item goes to the back of its conversation's outbox (after what is pending now),
        with a fresh retry budget: an operator's retry is a new start, not the last attempt."""
        with self._write() as c:
            row = c.execute(
                "SELECT conversation FROM outbox WHERE id = ? AND status = 'dead'", (item_id,)
            ).fetchone()
            if row is None:
                return False
            oseq = c.execute(SQL_BUMP_SEQ, (row[0], 0, 1)).fetchall()[0][1]
            c.execute(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_at = ?, seq = ?"
                " WHERE id = ?",
                (now, oseq, item_id),
            )
            c.execute(SQL_OUTBOX_HEAD, (row[0],))
        return True

    def update_delivery(self, platform_id: str, status: str, error: str | None) -> bool:
        with self._write() as c:
            rows = c.execute(
                "SELECT id, delivery FROM outbox WHERE platform_id = ?", (platform_id,)
            ).fetchall()
            rank = delivery_rank(status)
            for item_id, delivery in rows:
                if rank > delivery_rank(delivery):
                    c.execute(
                        "UPDATE outbox SET delivery = ?, last_error = coalesce(?, last_error) "
                        "WHERE id = ?",
                        (status, error, item_id),
                    )
        return bool(rows)

    def outbox_items(self, conversation: str) -> list[OutboxItem]:
        rows = self._read(
            f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE conversation = ? ORDER BY seq",
            (conversation,),
        )
        return [_outbox_item(r) for r in rows]

    def events(self, key: str, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._read(
            "SELECT data FROM events WHERE conversation = ? "
            "ORDER BY at DESC, message_id DESC, idx DESC LIMIT ?",
            (key, limit),
        )
        return [json.loads(r[0]) for r in reversed(rows)]

    # ---- operations ----

    def ping(self) -> bool:
        try:
            return self._read("SELECT 1")[0][0] == 1
        except sqlite3.Error:
            return False

    def checkpoint(self) -> tuple[int, int, int]:
        """Copy what the WAL holds back into the database file, and keep the WAL short.

        Autocheckpoint would run inside the commit that crosses its threshold, while our write
        lock is held: every writer (and so every webhook) would wait for its fsyncs. This runs
        beside them instead (a PASSIVE checkpoint lets writers append meanwhile), from
        `_checkpoints`. But SQLite starts the WAL over only when a writer finds it wholly
        copied, and under steady load someone has always appended since: the WAL grew by
        40 MB a second under the bench, without end, and every read searches its whole index.
        So once it is past WAL_RESTART_FRAMES, a second pass copies what came in during the
        first, and a RESTART checkpoint under our write lock copies the little that is left
        and lets the next writer start the WAL over (cut back to WAL_KEEP_BYTES). Our writers
        queue on the lock for that moment. Returns SQLite's (busy, WAL frames, frames copied)
        of the last checkpoint run."""
        with self._conn() as conn:
            busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if busy or frames < WAL_RESTART_FRAMES:
                return busy, frames, done  # short, or another process is checkpointing
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self._lock_writers()
            try:
                conn.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")  # readers: not for long
                busy, frames, done = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            finally:
                try:
                    conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_s * 1000)}")
                finally:
                    self._unlock_writers()
        return busy, frames, done

    def close(self) -> None:
        """Close every connection (those in use when they are given back) and the lock file."""
        self._stop.set()
        if self._checkpointer is not threading.current_thread():
            self._checkpointer.join(5)
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        with self._write_lock:  # not while a writer of ours holds the flock
            fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def _checkpoints(ref: weakref.ref[SQLiteStore], stop: threading.Event) -> None:
    """Every CHECKPOINT_EVERY_S, a checkpoint if the store wrote since the last one; ends when
    the store is closed or forgotten. Each process that writes runs one: at most one
    checkpoint runs at a time (SQLite's own lock), the others find it busy or done."""
    seen = 0
    while not stop.wait(CHECKPOINT_EVERY_S):
        store = ref()
        if store is None:
            return
        writes = store._writes
        if writes != seen:
            try:
                store.checkpoint()
                seen = writes
            except (sqlite3.Error, RuntimeError):  # closed meanwhile, or a disk error: next time
                logger.warning("sqlite_checkpoint_failed", exc_info=True)
        del store


def _history_rows(entries: Sequence[HistoryEntry]) -> list[tuple[Any, ...]]:
    """History rows without their seq, encoded (done before the write lock is taken)."""
    return [
        (h.at, h.direction, h.author, h.text, compact_json(h.data) if h.data else None)
        for h in entries
    ]


def _insert_history(c: sqlite3.Connection, key: str, rows: list[tuple[Any, ...]], after: int
                    ) -> None:  # fmt: skip
    if rows:
        c.executemany(SQL_HISTORY, [(key, after + i + 1, *row) for i, row in enumerate(rows)])
