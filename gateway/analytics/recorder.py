"""Recording what each turn did into the analytics tables, once per message.

Turns are queued in memory and written by one thread per process in batches (every
`FLUSH_S`, one transaction each), so the turn workers never wait on the analytics file and
several processes take its write lock a few times a second rather than once per turn. The
file is apart from the message store's: a report's long reads never hold up a turn's commit.

With Redis the batches go to a shared stream instead (`turn_log.py`), and whoever reports
copies them into their own file first, so gateways on several hosts report as one.

Exactly once: a turn is recorded only if its (conversation, message id) is new in `a_seen`,
inside the same transaction, so a message processed twice (a worker died after committing,
or lost its lease) counts once. Keys are kept SEEN_KEEP_S (8 days), not for ever. A hard
crash can lose the last batch (at most `FLUSH_S` of turns), never double one; what was said
stays in the message store's history either way.

Phone calls (`calls.CallRecord`) take the same path, so they reach every reporter as turns do;
a call is a state rather than a count, so it is an upsert on its id and needs no `a_seen` key.
Webhooks and imports write them with `write_now`, which raises when they could not be.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from gateway.analytics.calls import CallRecord, apply_call
from gateway.analytics.schema import SCHEMA
from gateway.inbox.model import Thread
from gateway.redaction import redact_contacts
from gateway.store.sqlite.file import create_private
from gateway.store_health import StoreHealth

logger = logging.getLogger(__name__)
FLUSH_S = 0.2
BATCH_MAX = 2000
PENDING_MAX = 200_000  # records kept in memory while the analytics store is unreachable
PHRASE_MAX = 120
LANGUAGE_MAX = 35  # a BCP 47 code (zh-Hant) is far shorter; more is not a language
SEEN_KEEP_S = 8 * 86_400.0  # how long a message's key guards against counting it twice
SEEN_FORGET_BATCH = 1000  # at most this many expired keys deleted by one batch


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """What the analytics need from one processed message (a shopper's, or an agent action)."""

    conversation: str
    message_id: str
    channel: str
    at: float
    events: Sequence[dict[str, Any]]  # event_to_dict form, shopper text already redacted
    shopper_turn: bool = True  # False: an agent action (no turn counted, no new session)
    fresh: bool = False  # the conversation started (again) with this message
    mode: str = "bot"  # the conversation's mode after the turn
    variants: tuple[tuple[str, str], ...] = ()
    phone_nodes: frozenset[str] = field(default_factory=frozenset)  # nodes with a call link
    thread: Thread | None = None  # a thread that was resolved by this action


# What the recorder writes: a turn (counted once by `a_seen`) or a call (an upsert on its id).
Record = TurnRecord | CallRecord


def analytics_path(store_url: str, analytics_url: str | None) -> str:
    """ANALYTICS_URL, or a file beside the SQLite store, or var/analytics.db beside Redis."""
    url = analytics_url or ""
    if not url:
        if store_url.startswith("sqlite:///"):
            base, _ext = os.path.splitext(store_url[len("sqlite:///") :])
            return f"{base}-analytics.db"
        return "var/analytics.db"
    if not url.startswith("sqlite:///"):
        raise ValueError(f"ANALYTICS_URL {url!r}: write sqlite:///path/to/analytics.db")
    return url[len("sqlite:///") :]


def connect(path: str) -> sqlite3.Connection:
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    if path != ":memory:" and not path.startswith("file:"):
        create_private(path)  # 0600: what shoppers did, phrases they wrote
    db = sqlite3.connect(path, timeout=30.0, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    columns = {row[1] for row in db.execute("PRAGMA table_info(a_seen)")}
    if "seen_at" not in columns:  # a file from before keys expired: its keys go first (at 0)
        with contextlib.suppress(sqlite3.OperationalError):  # another process was first
            db.execute("ALTER TABLE a_seen ADD COLUMN seen_at REAL NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX IF NOT EXISTS a_seen_expiry ON a_seen(seen_at)")
    columns = {row[1] for row in db.execute("PRAGMA table_info(a_fallback)")}
    if "language" not in columns:  # a file from before fallbacks had a language: theirs is ''
        with contextlib.suppress(sqlite3.OperationalError):  # another process was first
            db.execute("ALTER TABLE a_fallback ADD COLUMN language TEXT NOT NULL DEFAULT ''")
    return db


class TurnSink(Protocol):
    """Where a process's turn records go instead of its own file (the Redis turn log)."""

    def append(self, records: Sequence[Record]) -> None: ...

    def ingest(self, db: sqlite3.Connection) -> int: ...

    def close(self) -> None: ...


class Analytics:
    """The per-process recorder; `flush()` writes what is queued now (tests, shutdown).

    With a `sink` (Redis) the batches go there, and `reader()` first copies what every
    gateway shipped into this process's file; without one they go straight into the file.
    """

    def __init__(self, path: str, flush_s: float = FLUSH_S, sink: TurnSink | None = None) -> None:
        self.path = path
        self.sink = sink
        self._db = connect(path)
        self._pending: queue.SimpleQueue[Record] = queue.SimpleQueue()
        self._write_lock = threading.Lock()
        self._writes = StoreHealth(log=logger)  # failing writes, logged once a minute
        self._flush_s = flush_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def record(self, record: Record) -> None:
        self._pending.put(record)
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="analytics-writer", daemon=True
                    )
                    self._thread.start()

    def flush(self) -> None:
        with self._write_lock:
            while True:
                batch = _drain(self._pending, BATCH_MAX)
                if not batch:
                    return
                try:
                    if self.sink is not None:
                        self.sink.append(batch)
                    else:
                        write_batch(self._db, batch)
                except Exception as exc:  # Redis or the file away: kept for the next flush
                    if self._pending.qsize() + len(batch) <= PENDING_MAX:
                        for record in batch:
                            self._pending.put(record)
                    self._writes.failed("analytics", exc)  # one line a minute, not a flush
                    return
                self._writes.succeeded("analytics")

    def write_now(self, records: Sequence[Record]) -> None:
        """Write `records` before returning, raising if they could not be (a webhook that
        must answer 503 so it is redelivered, an import that must say it failed)."""
        with self._write_lock:
            if self.sink is not None:
                self.sink.append(records)
            else:
                write_batch(self._db, records)

    def reader(self) -> sqlite3.Connection:
        """A connection for reports, with everything shipped so far copied in."""
        db = connect(self.path)
        if self.sink is not None:
            self.sink.ingest(db)
        return db

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()
        self._db.close()
        if self.sink is not None:
            self.sink.close()

    def _run(self) -> None:
        while not self._stop.wait(self._flush_s):
            self.flush()


def _drain(pending: queue.SimpleQueue[Record], limit: int) -> list[Record]:
    out: list[Record] = []
    while len(out) < limit:
        try:
            out.append(pending.get_nowait())
        except queue.Empty:
            break
    return out


def write_batch(
    db: sqlite3.Connection,
    batch: Iterable[Record],
    after: Callable[[sqlite3.Connection], object] | None = None,
    now: float | None = None,
) -> int:
    """Apply the records that are new (by conversation and message id) in one transaction,
    then `after` inside it (a reader's cursor); how many were new (a call: whose row changed)."""
    now = time.time() if now is None else now
    new = 0
    db.execute("BEGIN IMMEDIATE")
    try:
        for record in batch:
            if isinstance(record, CallRecord):
                new += apply_call(db, record)
                continue
            seen = db.execute(
                "INSERT OR IGNORE INTO a_seen(conversation, message_id, seen_at) VALUES (?, ?, ?)",
                (record.conversation, record.message_id, now),
            )
            if seen.rowcount:
                _apply(db, record)
                new += 1
        _forget_seen(db, now)
        if after is not None:
            after(db)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return new


def _forget_seen(db: sqlite3.Connection, now: float) -> None:
    """Keys recorded more than SEEN_KEEP_S ago go, a bounded number a batch: a message is
    recorded twice only minutes apart (a lease run out, a retry, two hosts; a reporter copies
    both from the turn log in one go), so the table need not keep a row per message for
    ever. By when the key was recorded, not the turn's time: a late copy still dedupes."""
    db.execute(
        "DELETE FROM a_seen WHERE (conversation, message_id) IN (SELECT conversation, "
        "message_id FROM a_seen WHERE seen_at < ? LIMIT ?)",
        (now - SEEN_KEEP_S, SEEN_FORGET_BATCH),
    )


def _session(db: sqlite3.Connection, record: TurnRecord) -> int:
    row = db.execute(
        "SELECT id FROM a_session WHERE conversation = ? ORDER BY started_at DESC LIMIT 1",
        (record.conversation,),
    ).fetchone()
    if row is not None and not (record.fresh and record.shopper_turn):
        return int(row[0])
    cursor = db.execute(
        "INSERT INTO a_session(conversation, channel, started_at, last_at) VALUES (?, ?, ?, ?)",
        (record.conversation, record.channel, record.at, record.at),
    )
    return int(cursor.lastrowid or 0)


# What `_apply` reads of an event: its type, and for these types these fields; keep the two in
# step (`recorded` below, and so the Redis turn log, keep only this).
READ_FIELDS: dict[str, tuple[str, ...]] = {
    "NodeEntered": ("node",),
    "GoalReached": ("goal",),
    "HandoffRequested": (),
    "ConversationEnded": (),
    "ConversationStopped": (),
    "Fallback": ("node", "text", "language"),  # language: '' or absent before it was known
    "Rated": ("kind", "score"),
}


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def _phrase(text: str) -> str:
    """A not-understood phrase as stored: without emails and phone numbers (the event's text
    is redacted already as history is; these two stay there for agents, never here)."""
    return _normal(redact_contacts(text))


def recorded(record: TurnRecord) -> TurnRecord:
    """`record` cut to what `_apply` reads: writing either records the same rows.

    Events of other types go, and the fields it does not read (at, channel, i, misses...); a
    fallback's text is normalised and cut one character past what becomes its phrase (so the
    phrase comes out the same); of the call-link nodes only those entered; of a thread what
    `_thread` stores, and its status.
    """
    events = []
    for event in record.events:
        names = READ_FIELDS.get(str(event.get("type")))
        if names is None:
            continue
        kept = {"type": event["type"]} | {n: event[n] for n in names if n in event}
        if "text" in kept:
            kept["text"] = _phrase(str(kept["text"]))[: PHRASE_MAX + 1]
        events.append(kept)
    entered = {str(e.get("node")) for e in events if e["type"] == "NodeEntered"}
    thread = record.thread
    if thread is not None:
        thread = Thread(
            thread.id, thread.conversation, thread.channel, thread.queue, "", thread.created_at,
            status=thread.status, agent=thread.agent, claimed_at=thread.claimed_at,
            first_response_at=thread.first_response_at, resolved_at=thread.resolved_at,
            outcome=thread.outcome,
        )  # fmt: skip
    return replace(record, events=events, phone_nodes=record.phone_nodes & entered, thread=thread)


def _apply(db: sqlite3.Connection, record: TurnRecord) -> None:
    session = _session(db, record)
    handoff = phone = ended = goal = 0
    csat = nps = last_node = None
    for event in record.events:
        kind = event.get("type")
        if kind == "NodeEntered":
            node = str(event.get("node"))
            db.execute("INSERT OR IGNORE INTO a_node(session, node) VALUES (?, ?)", (session, node))
            phone |= node in record.phone_nodes
            last_node = node
        elif kind == "GoalReached":
            goal = 1
            db.execute(
                "INSERT OR IGNORE INTO a_goal(session, goal) VALUES (?, ?)",
                (session, str(event.get("goal"))),
            )
        elif kind == "HandoffRequested":
            handoff = 1
        elif kind in ("ConversationEnded", "ConversationStopped"):
            ended = 1
        elif kind == "Fallback":
            phrase = _phrase(str(event.get("text", "")))[:PHRASE_MAX]
            if phrase:
                language = str(event.get("language") or "")[:LANGUAGE_MAX]
                db.execute(
                    "INSERT INTO a_fallback(session, at, node, channel, phrase, language) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (session, record.at, str(event.get("node")), record.channel, phrase, language),
                )
        elif kind == "Rated":
            if event.get("kind") == "csat":
                csat = int(event.get("score", 0))
            elif event.get("kind") == "nps":
                nps = int(event.get("score", 0))
    for experiment, variant in record.variants:
        db.execute(
            "INSERT OR IGNORE INTO a_variant(session, experiment, variant) VALUES (?, ?, ?)",
            (session, experiment, variant),
        )
    agent_s = 0.0
    if record.thread is not None:
        agent_s = _thread(db, session, record.thread)
    db.execute(
        """UPDATE a_session SET
            last_at = MAX(last_at, ?), turns = turns + ?, handoff = MAX(handoff, ?),
            phone = MAX(phone, ?), ended = MAX(ended, ?), goal = MAX(goal, ?),
            waiting = ?, csat = COALESCE(?, csat), nps = COALESCE(?, nps),
            last_node = COALESCE(?, last_node), agent_s = agent_s + ?
           WHERE id = ?""",
        (
            record.at,
            int(record.shopper_turn),
            handoff,
            phone,
            ended,
            goal,
            int(record.mode == "bot"),
            csat,
            nps,
            last_node,
            agent_s,
            session,
        ),
    )


def _thread(db: sqlite3.Connection, session: int, thread: Thread) -> float:
    """Store a resolved thread; the agent time it adds to its session (once per thread)."""
    known = db.execute("SELECT 1 FROM a_thread WHERE id = ?", (thread.id,)).fetchone()
    db.execute(
        """INSERT OR REPLACE INTO a_thread(id, session, conversation, channel, queue, agent,
               created_at, claimed_at, first_response_at, resolved_at, outcome)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            thread.id,
            session,
            thread.conversation,
            thread.channel,
            thread.queue,
            thread.agent,
            thread.created_at,
            thread.claimed_at,
            thread.first_response_at,
            thread.resolved_at,
            thread.outcome,
        ),
    )
    if known or thread.claimed_at is None or thread.resolved_at is None:
        return 0.0
    return max(thread.resolved_at - thread.claimed_at, 0.0)
