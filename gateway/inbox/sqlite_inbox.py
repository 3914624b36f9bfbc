"""The inbox on SQLite: tables beside the message store's, in the same file.

Inbox traffic is human-scale (clicks, not webhooks), so one connection per store behind a
lock is plenty; `BEGIN IMMEDIATE` makes claim's check-and-write atomic across processes too.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from gateway.inbox.codec import agent_from_json, agent_to_json, thread_from_json, thread_to_json
from gateway.inbox.model import (
    Agent,
    CapacityFull,
    NotWaiting,
    Thread,
    UnknownAgent,
)
from gateway.store.sqlite.file import create_private

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox_agents (
    login TEXT PRIMARY KEY, data TEXT NOT NULL, on_duty INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS inbox_sessions (
    token TEXT PRIMARY KEY, login TEXT NOT NULL, expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_sessions_login ON inbox_sessions(login);
CREATE TABLE IF NOT EXISTS inbox_threads (
    id TEXT PRIMARY KEY,
    conversation TEXT NOT NULL,
    queue TEXT NOT NULL,
    status TEXT NOT NULL,
    agent TEXT,
    created_at REAL NOT NULL,
    claimed_at REAL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_waiting ON inbox_threads(status, queue, created_at);
CREATE INDEX IF NOT EXISTS inbox_by_agent ON inbox_threads(agent, status);
CREATE INDEX IF NOT EXISTS inbox_by_conversation ON inbox_threads(conversation, created_at);
CREATE INDEX IF NOT EXISTS inbox_claims ON inbox_threads(queue, claimed_at);
CREATE TABLE IF NOT EXISTS inbox_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS inbox_login_attempts (
    key TEXT NOT NULL, attempt TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (key, attempt)
);
CREATE INDEX IF NOT EXISTS inbox_login_attempts_at ON inbox_login_attempts(at);
"""
LOGIN_ATTEMPTS_KEPT_S = 86_400.0  # older attempts of any key are pruned whatever the window
OPEN = ("waiting", "assigned")


class SQLiteInbox:
    def __init__(self, path: str) -> None:
        if path != ":memory:" and not path.startswith("file:"):
            create_private(path)  # 0600: agents' password hashes and shoppers' threads
        self._db = sqlite3.connect(
            path, timeout=10.0, check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.Lock()
        with self._lock:
            self._db.executescript(SCHEMA)

    @contextmanager
    def _write(self, *, bump: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction; `bump`: it changes what pages show, so their version moves on."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            if bump:
                self._db.execute(
                    "INSERT INTO inbox_meta(name, value) VALUES ('version', 1) "
                    "ON CONFLICT(name) DO UPDATE SET value = value + 1"
                )
            self._db.execute("COMMIT")

    def _read(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # ---- agents ----
    def put_agent(self, agent: Agent) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO inbox_agents(login, data, on_duty) VALUES (?, ?, ?) "
                "ON CONFLICT(login) DO UPDATE SET data = excluded.data",
                (agent.login, agent_to_json(agent), int(agent.on_duty)),
            )

    def remove_agent(self, login: str) -> bool:
        with self._write() as db:
            db.execute("DELETE FROM inbox_sessions WHERE login = ?", (login,))
            return db.execute("DELETE FROM inbox_agents WHERE login = ?", (login,)).rowcount == 1

    def agent(self, login: str) -> Agent | None:
        rows = self._read("SELECT data, on_duty FROM inbox_agents WHERE login = ?", (login,))
        return agent_from_json(rows[0][0], bool(rows[0][1])) if rows else None

    def agents(self) -> list[Agent]:
        rows = self._read("SELECT data, on_duty FROM inbox_agents ORDER BY login")
        return [agent_from_json(data, bool(on)) for data, on in rows]

    def set_on_duty(self, login: str, on_duty: bool) -> None:
        with self._write() as db:
            db.execute("UPDATE inbox_agents SET on_duty = ? WHERE login = ?", (int(on_duty), login))

    # ---- sessions ----
    def create_session(self, token: str, login: str, expires_at: float) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO inbox_sessions(token, login, expires_at) VALUES (?, ?, ?)",
                (token, login, expires_at),
            )

    def session_agent(self, token: str, now: float) -> str | None:
        rows = self._read(
            "SELECT login FROM inbox_sessions WHERE token = ? AND expires_at > ?", (token, now)
        )
        return rows[0][0] if rows else None

    def end_session(self, token: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM inbox_sessions WHERE token = ?", (token,))

    # ---- login throttling (no version bump: no thread changes) ----

    def login_attempt(self, key: str, attempt: str, now: float, window_s: float, limit: int
                      ) -> float:  # fmt: skip
        with self._write(bump=False) as db:
            db.execute("DELETE FROM inbox_login_attempts WHERE at <= ?",
                       (now - max(window_s, LOGIN_ATTEMPTS_KEPT_S),))  # fmt: skip
            count, oldest = db.execute(
                "SELECT count(*), min(at) FROM inbox_login_attempts WHERE key = ? AND at > ?",
                (key, now - window_s),
            ).fetchone()
            if count >= limit:
                return max(float(oldest) + window_s - now, 0.001)
            db.execute(
                "INSERT OR REPLACE INTO inbox_login_attempts(key, attempt, at) VALUES (?, ?, ?)",
                (key, attempt, now),
            )
            return 0.0

    def login_failures(self, key: str, now: float, window_s: float) -> int:
        rows = self._read(
            "SELECT count(*) FROM inbox_login_attempts WHERE key = ? AND at > ?",
            (key, now - window_s),
        )
        return int(rows[0][0])

    def clear_login_failures(self, key: str, attempt: str | None = None) -> int:
        with self._write(bump=False) as db:
            if attempt is None:
                cursor = db.execute("DELETE FROM inbox_login_attempts WHERE key = ?", (key,))
            else:
                cursor = db.execute(
                    "DELETE FROM inbox_login_attempts WHERE key = ? AND attempt = ?",
                    (key, attempt),
                )
            return cursor.rowcount

    # ---- threads ----
    def _save(self, db: sqlite3.Connection, thread: Thread) -> None:
        db.execute(
            "INSERT OR REPLACE INTO inbox_threads"
            "(id, conversation, queue, status, agent, created_at, claimed_at, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (thread.id, thread.conversation, thread.queue, thread.status, thread.agent,
             thread.created_at, thread.claimed_at, thread_to_json(thread)),
        )  # fmt: skip

    def _get(self, db: sqlite3.Connection, thread_id: str) -> Thread | None:
        row = db.execute("SELECT data FROM inbox_threads WHERE id = ?", (thread_id,)).fetchone()
        return thread_from_json(row[0]) if row else None

    def _open_of(self, db: sqlite3.Connection, conversation: str) -> Thread | None:
        row = db.execute(
            "SELECT data FROM inbox_threads WHERE conversation = ? AND status IN (?, ?) "
            "ORDER BY created_at DESC LIMIT 1",
            (conversation, *OPEN),
        ).fetchone()
        return thread_from_json(row[0]) if row else None

    def open_thread(self, thread: Thread) -> Thread:
        with self._write() as db:
            existing = self._get(db, thread.id) or self._open_of(db, thread.conversation)
            if existing is not None:
                return existing
            self._save(db, thread)
            return thread

    def thread(self, thread_id: str) -> Thread | None:
        with self._lock:
            return self._get(self._db, thread_id)

    def open_thread_of(self, conversation: str) -> Thread | None:
        with self._lock:
            return self._open_of(self._db, conversation)

    def threads_of(self, conversation: str, limit: int = 20) -> list[Thread]:
        rows = self._read(
            "SELECT data FROM inbox_threads WHERE conversation = ? "
            "ORDER BY created_at DESC LIMIT ?",
            (conversation, limit),
        )
        return [thread_from_json(r[0]) for r in rows]

    def waiting(self, queue: str | None = None, limit: int = 50, offset: int = 0) -> list[Thread]:
        where, args = ("status = 'waiting' AND queue = ?", (queue,)) if queue else (
            "status = 'waiting'", ())  # fmt: skip
        rows = self._read(
            f"SELECT data FROM inbox_threads WHERE {where} ORDER BY created_at, id "
            "LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        return [thread_from_json(r[0]) for r in rows]

    def count_waiting(self, queue: str | None = None) -> int:
        args: tuple[str, ...]
        if queue:
            sql, args = "status = 'waiting' AND queue = ?", (queue,)
        else:
            sql, args = "status = 'waiting'", ()
        return int(self._read(f"SELECT count(*) FROM inbox_threads WHERE {sql}", args)[0][0])

    def assigned_to(self, login: str) -> list[Thread]:
        rows = self._read(
            "SELECT data FROM inbox_threads WHERE agent = ? AND status = 'assigned' "
            "ORDER BY created_at",
            (login,),
        )
        return [thread_from_json(r[0]) for r in rows]

    def _give(self, db: sqlite3.Connection, thread: Thread, login: str, now: float) -> Thread:
        row = db.execute("SELECT data, on_duty FROM inbox_agents WHERE login = ?", (login,))
        found = row.fetchone()
        if found is None:
            raise UnknownAgent(f"there is no agent '{login}'")
        agent = agent_from_json(found[0], bool(found[1]))
        load = db.execute(
            "SELECT count(*) FROM inbox_threads WHERE agent = ? AND status = 'assigned'", (login,)
        ).fetchone()[0]
        if load >= agent.capacity:
            raise CapacityFull(
                f"{agent.display_name} already has {load} of {agent.capacity} threads; "
                "resolve or transfer one first"
            )
        claimed = _claimed(thread, login, now)
        self._save(db, claimed)
        return claimed

    def claim(self, thread_id: str, login: str, now: float) -> Thread:
        with self._write() as db:
            thread = self._get(db, thread_id)
            if thread is None or thread.status != "waiting":
                who = f" by {thread.agent}" if thread and thread.agent else ""
                raise NotWaiting(f"this thread is no longer waiting (taken{who} or resolved)")
            return self._give(db, thread, login, now)

    def transfer(
        self, thread_id: str, to_agent: str | None, to_queue: str | None, now: float
    ) -> Thread:
        with self._write() as db:
            thread = self._get(db, thread_id)
            if thread is None or thread.status not in OPEN:
                raise NotWaiting("this thread is resolved; it cannot be transferred")
            if to_agent:
                moved = thread if not to_queue else _requeued(thread, to_queue, now)
                return self._give(db, moved, to_agent, now)
            back = _requeued(thread, to_queue or thread.queue, now)
            self._save(db, back)
            return back

    def responded(self, thread_id: str, now: float) -> None:
        with self._write() as db:
            thread = self._get(db, thread_id)
            if thread is not None and thread.first_response_at is None:
                self._save(db, _with(thread, first_response_at=now, updated_at=now))

    def resolve(self, thread_id: str, outcome: str, now: float) -> Thread:
        with self._write() as db:
            thread = self._get(db, thread_id)
            if thread is None or thread.status not in OPEN:
                raise NotWaiting("this thread is already resolved")
            done = _with(thread, status="resolved", outcome=outcome, resolved_at=now,
                         updated_at=now)  # fmt: skip
            self._save(db, done)
            return done

    def touch(self, conversation: str, at: float) -> Thread | None:
        with self._write() as db:
            thread = self._open_of(db, conversation)
            if thread is None:
                return None
            touched = _with(thread, last_message_at=max(at, thread.last_message_at), updated_at=at)
            self._save(db, touched)
            return touched

    def recent_waits(self, queue: str, limit: int = 20) -> list[float]:
        rows = self._read(
            "SELECT claimed_at - created_at FROM inbox_threads WHERE queue = ? "
            "AND claimed_at IS NOT NULL ORDER BY claimed_at DESC LIMIT ?",
            (queue, limit),
        )
        return [float(r[0]) for r in rows]

    def version(self) -> int:
        rows = self._read("SELECT value FROM inbox_meta WHERE name = 'version'")
        return int(rows[0][0]) if rows else 0

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _with(thread: Thread, **changes: Any) -> Thread:
    return replace(thread, **changes)


def _claimed(thread: Thread, login: str, now: float) -> Thread:
    return _with(thread, status="assigned", agent=login, claimed_at=thread.claimed_at or now,
                 updated_at=now)  # fmt: skip


def _requeued(thread: Thread, queue: str, now: float) -> Thread:
    return _with(thread, status="waiting", agent=None, queue=queue, updated_at=now)
