"""One SQLite file in WAL mode, shared by threads and processes: pooled connections, one writer
at a time, and checkpoints that keep the WAL short. The store keeps two of them (ingress.py).

Writers take turns on a lock of our own before `BEGIN IMMEDIATE`: a `threading.Lock` for the
threads of this process and an exclusive `flock` on `<file>-lock` for the other processes.
Both wake the next waiter the moment the holder is done. SQLite's own wait for its write lock
(`busy_timeout`) polls with sleeps of 1 to 100 ms instead: under load those sleeps were a fifth
of the gateway's wall time and most of its p99 (py-spy). `busy_timeout` stays as the fallback
for a writer that does not take our lock (the sqlite3 shell, a filesystem without flock).
Readers never take it (WAL: they see the last commit). Connections come from a small pool, so
threads that come and go (a threaded HTTP server) reuse them instead of leaving one behind each.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from gateway.store_health import StoreHealth

try:
    import fcntl
except ImportError:  # pragma: no cover (not on Windows: busy_timeout alone serialises)
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)
IDLE_CONNECTIONS = 16  # connections kept open between uses; more threads open and close extra
CHECKPOINT_EVERY_S = 0.25  # how often a file this process wrote to is checkpointed
# Past this many frames (4 KiB each; SQLite's own autocheckpoint size) the checkpointer has
# the WAL start over (see `checkpoint`), and the file is cut back to WAL_KEEP_BYTES. A commit
# that takes it past WAL_KEEP_BYTES checkpoints it itself (see `_connect`).
WAL_RESTART_FRAMES = 1000
WAL_KEEP_BYTES = 16 * 1024 * 1024
WAL_FRAME_HEADER = 24  # bytes before each page in the WAL
FILE_MODE = 0o600  # a new database file (and so its -wal, -shm and -lock): the owner only
# Failed checkpoints, for the log: one line a minute per file, however many SQLiteFiles (the
# store and the outage board share one) and ticks fail.
CHECKPOINTS = StoreHealth()


class SQLiteFile:
    """One database file: `read`, `write` (a transaction), `write_one` (one statement)."""

    def __init__(self, path: str, schema: str, busy_timeout_s: float = 10.0) -> None:
        self.path = path
        self._busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()  # guards the pool
        self._idle: list[sqlite3.Connection] = []
        self._closed = False
        self._write_lock = threading.Lock()  # writers of this process, one at a time
        self._lock_fd: int | None = None  # flock: writers of other processes
        self.writes = 0  # write transactions so far; the checkpointer compares
        self.opened = 0  # connections opened so far (the pool keeps IDLE_CONNECTIONS of them)
        self._stop = threading.Event()
        create_private(path)
        with self.conn() as conn:
            # WAL is a property of the file: set once, every later connection finds it.
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
        self._lock_fd = self._open_lock_file()
        with self.write() as c:
            for statement in schema.split(";"):
                if statement.strip():
                    c.execute(statement)
        self._checkpointer = threading.Thread(
            target=_checkpoints, args=(weakref.ref(self), self._stop),
            name="sqlite-checkpoint", daemon=True,
        )  # fmt: skip
        self._checkpointer.start()

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
        # Checkpoints run beside the writers (`_checkpoints`), not inside a commit, as long as
        # they keep up. A commit that takes the WAL past WAL_KEEP_BYTES all the same (writes
        # faster than the checkpointer's ticks: the backlog after a full disk) checkpoints it
        # itself, so the WAL stays that size whatever the write rate. Without this it took all
        # the space a freed disk had, and the checkpoint, which must grow the database file,
        # found none: writes failed for good.
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_KEEP_BYTES // (page + WAL_FRAME_HEADER)}")
        conn.execute(f"PRAGMA journal_size_limit={WAL_KEEP_BYTES}")
        return conn

    def _take(self) -> sqlite3.Connection:
        """A connection of the pool (a new one if none is idle); give it back with `_give`."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"SQLiteStore({self.path!r}) is closed")
            if self._idle:
                return self._idle.pop()
            self.opened += 1
        return self._connect()

    def _give(self, conn: sqlite3.Connection) -> None:
        if not conn.in_transaction:  # a failed ROLLBACK leaves it unusable
            with self._lock:
                if not self._closed and len(self._idle) < IDLE_CONNECTIONS:
                    self._idle.append(conn)
                    return
        conn.close()

    def idle(self) -> list[sqlite3.Connection]:
        """The pooled connections no thread is using now."""
        with self._lock:
            return list(self._idle)

    @contextmanager
    def conn(self) -> Iterator[sqlite3.Connection]:
        """A connection of the pool for the duration of the block."""
        conn = self._take()
        try:
            yield conn
        finally:
            self._give(conn)

    def lock_writers(self) -> None:
        """This process's turn to write: first among our threads, then among processes. Always
        paired with `unlock_writers`."""
        self._write_lock.acquire()
        self.writes += 1
        if self._lock_fd is not None:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            except BaseException:
                self._write_lock.release()
                raise

    def unlock_writers(self) -> None:
        try:
            if self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        finally:
            self._write_lock.release()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; the write lock is taken up front, so it never deadlocks."""
        conn = self._take()
        try:
            self.lock_writers()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                self.unlock_writers()
        finally:
            self._give(conn)

    def write_one(self, sql: str, args: Sequence[Any]) -> list[Any]:
        """One writing statement, committed on its own (its rows fetched before the commit)."""
        conn = self._take()
        try:
            self.lock_writers()
            try:
                return conn.execute(sql, args).fetchall()
            finally:
                self.unlock_writers()
        finally:
            self._give(conn)

    def read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        conn = self._take()
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            self._give(conn)

    def checkpoint(self) -> tuple[int, int, int]:
        """Copy what the WAL holds back into the database file, and keep the WAL short.

        Autocheckpoint runs inside the commit that crosses its threshold, while our write lock
        is held: every writer waits for its fsyncs, so it is only the safety valve past
        WAL_KEEP_BYTES (see `_connect`). This runs beside the writers instead (a PASSIVE
        checkpoint lets them append meanwhile), from `_checkpoints`. But SQLite
        starts the WAL over only when a writer finds it wholly copied, and under steady load
        someone has always appended since: the WAL grew by 40 MB a second under the bench,
        without end, and every read searches its whole index. So once it is past
        WAL_RESTART_FRAMES, a second pass copies what came in during the first, and a third
        under our write lock copies the little that is left: the next writer finds the WAL
        wholly copied and starts it over (cut back to WAL_KEEP_BYTES). Our writers queue on
        the lock for that moment. The third pass is PASSIVE too: a RESTART checkpoint would
        also wait, lock held, until no reader is left in the WAL, and its waits are SQLite's
        sleeps of 1 ms and more (webhooks stalled up to 24 ms behind one). A reader still in
        the WAL at that moment only puts the start-over off to a later write. Returns
        SQLite's (busy, WAL frames, frames copied) of the last pass."""
        with self.conn() as conn:
            busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if busy or frames < WAL_RESTART_FRAMES:
                return busy, frames, done  # short, or another process is checkpointing
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.lock_writers()
            try:
                busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            finally:
                self.unlock_writers()
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


def create_private(path: str) -> None:
    """Create the file readable by its owner only (0600) if it is not there yet: it holds
    shoppers' messages. SQLite gives its -wal and -shm the database file's mode, and so does
    `_open_lock_file` the -lock file. A file that exists keeps the mode it has."""
    if os.path.exists(path):
        return
    with contextlib.suppress(FileExistsError):  # another process was first
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE))


def _checkpoints(ref: weakref.ref[SQLiteFile], stop: threading.Event) -> None:
    """Every CHECKPOINT_EVERY_S, a checkpoint if this process wrote since the last one; ends
    when the file is closed or forgotten. Each process that writes runs one: at most one
    checkpoint runs at a time (SQLite's own lock), the others find it busy or done. One that
    fails (a full disk) is tried again at the next tick, but logged once a minute: a line
    per tick was four a second for each file."""
    seen = 0
    while not stop.wait(CHECKPOINT_EVERY_S):
        db = ref()
        if db is None:
            return
        writes, where = db.writes, f"checkpoint of {db.path}"
        if writes != seen:
            try:
                db.checkpoint()
                seen = writes
                CHECKPOINTS.succeeded(where)
            except (sqlite3.Error, RuntimeError) as exc:  # closed meanwhile, or a disk error
                CHECKPOINTS.failed(where, exc)
        del db
