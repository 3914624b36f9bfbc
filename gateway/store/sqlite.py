"""The embedded store: SQLite in WAL mode, shared by threads and processes on one machine.

Two files, each with its own writer lock (`SQLiteFile`): `<file>-ingress`, where webhooks
dedupe and append what arrives, and `<file>` itself, where the workers keep the queue, the
conversations, history and the outbox. So a webhook never waits while a worker commits a
turn; it waits only for other webhooks. A worker moves what has arrived into the queue (the
*pump*) inside its own claim transaction, and records there, in the same commit, how far it
has moved (`pumped`): a crash before that commit just means the rows are moved again, and rows
up to the mark are never moved twice. Ingress ids only grow (AUTOINCREMENT) and a reader sees
whole commits in id order, so everything past the mark is exactly what is still to move. The
web side deletes moved rows now and then. JSON is encoded before a write lock is taken.

Queue: a conversation's oldest active row (its *head*) carries `due`, the time it can be
claimed: its `available_at` while queued, its `lease_until` while leased (so an expired lease
is simply due again). Other rows have `due` NULL. `claim()` is one UPDATE of the row with the
smallest `due` in a partial index: never two rows of one conversation, in arrival order, no
scan. The outbox uses the same trick for "the earliest pending item of each conversation".
A committed message's row is deleted in the commit itself: the cheapest purge there is. A turn
worker's commit also claims its next message (`SQLiteLane`): two write transactions a turn.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from flows.messages import Inbound, from_dict, to_dict
from flows.state import ConversationState
from gateway.redaction import redact_inbound
from gateway.store.base import (
    Buried,
    Claim,
    Committed,
    Conversation,
    HistoryEntry,
    Lane,
    OutboxItem,
    SentMark,
    Turn,
    check_same_conversation,
    compact_json,
    delivery_rank,
)
from gateway.store.sqlite_file import SQLiteFile
from gateway.store.sqlite_lane import LaneTerms, SQLiteLane
from gateway.store.sqlite_sql import (
    ACTIVE,
    INGRESS_SCHEMA,
    OUTBOX_COLUMNS,
    SCHEMA,
    SQL_ANY_DUE,
    SQL_ANY_OUTBOX_DUE,
    SQL_ARRIVED,
    SQL_ARRIVED_COUNT,
    SQL_BUMP_SEQ,
    SQL_CLAIM,
    SQL_CLAIM_HEAD,
    SQL_CLAIM_OTHER,
    SQL_CLAIM_OUTBOX,
    SQL_DEDUPE,
    SQL_ENQUEUE,
    SQL_EVENT,
    SQL_HISTORY,
    SQL_INGRESS,
    SQL_NEXT_HEAD,
    SQL_OUTBOX,
    SQL_OUTBOX_HEAD,
    SQL_OUTBOX_SENT,
    SQL_PUMPED,
    SQL_SAVE_CONVERSATION,
)

PURGE_EVERY = 256  # enqueues between two purges of expired dedupe keys and moved ingress rows
PURGE_BATCH = 500  # at most this many rows per purge, so a purge never stalls a request
PUMP_BATCH = 500  # at most this many arrived messages moved into the queue by one claim
MIGRATE_BATCH = 10_000


def _outbox_item(row: Any) -> OutboxItem:
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


def _claim(row: Any, token: str, lease_until: float) -> Claim:
    row_id, conversation, message, attempts = row
    return Claim(
        id=str(row_id),
        conversation=conversation,
        inbound=from_dict(Inbound, json.loads(message)),
        attempts=attempts,
        lease_until=lease_until,
        token=token,
    )


def _buried(row: Any) -> Buried:
    row_id, conversation, message, error, attempts, buried_at = row
    return Buried(
        id=str(row_id), conversation=conversation, inbound=from_dict(Inbound, json.loads(message)),
        error=error or "", attempts=attempts, buried_at=buried_at,
    )  # fmt: skip


class SQLiteStore:
    """`Store` on SQLite (see the module docstring for the two files and the queue design)."""

    def __init__(self, path: str, busy_timeout_s: float = 10.0) -> None:
        self.path = path
        self._in = SQLiteFile(f"{path}-ingress", INGRESS_SCHEMA, busy_timeout_s)
        self._db = SQLiteFile(path, SCHEMA, busy_timeout_s)
        self._enqueues = itertools.count(1)
        self._unrecorded: dict[str, str | None] = {}  # sent, not recorded: see _kept_if_failed
        self._unrecorded_lock = threading.Lock()
        self._epoch: str = self._in.read("SELECT epoch FROM meta")[0][0]
        self._upto = self._pumped_upto()  # how far the queue has moved; may lag, never lead
        self._migrate_dedupe()

    def _pumped_upto(self) -> int:
        """The last ingress id moved into the queue (0 for an ingress file it never saw)."""
        rows = self._db.read("SELECT epoch, upto FROM pumped")
        return self._mark(*rows[0]) if rows else 0

    def _mark(self, epoch: str | None, upto: int | None) -> int:
        """The `pumped` mark if it is this ingress file's; a new file is read from its start."""
        return (upto or 0) if epoch == self._epoch else 0

    def _migrate_dedupe(self) -> None:
        """Dedupe keys of a store written before the ingress file existed move there, so a
        platform's retry of a message that came in before an upgrade still meets its key."""
        old = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'dedupe'"
        if not self._db.read(old):
            return
        last = 0
        while rows := self._db.read(
            "SELECT rowid, channel, message_id, expires_at FROM dedupe WHERE rowid > ? "
            "ORDER BY rowid LIMIT ?", (last, MIGRATE_BATCH),
        ):  # fmt: skip
            with self._in.write() as c:
                c.executemany(
                    "INSERT OR IGNORE INTO dedupe(channel, message_id, expires_at) "
                    "VALUES (?, ?, ?)", [r[1:] for r in rows],
                )  # fmt: skip
            last = rows[-1][0]
        with self._db.write() as c:
            c.execute("DROP TABLE IF EXISTS dedupe")

    # ---- inbound queue ----

    def enqueue(self, inbound: Inbound, now: float, dedupe_ttl_s: float) -> bool:
        # Cards and CVVs go before the first write: the ingress file never holds them.
        message = compact_json(to_dict(redact_inbound(inbound)))
        purge = next(self._enqueues) % PURGE_EVERY == 0
        moved = self._pumped_upto() if purge else 0  # read before the lock: only grows
        with self._in.write() as c:
            fresh = c.execute(
                SQL_DEDUPE, (inbound.channel, inbound.message_id, now + dedupe_ttl_s, now)
            ).fetchall()
            if not fresh:
                return False
            c.execute(SQL_INGRESS, (inbound.key, message, now))
            if purge:
                c.execute(
                    "DELETE FROM dedupe WHERE (channel, message_id) IN (SELECT channel, "
                    "message_id FROM dedupe WHERE expires_at <= ? LIMIT ?)",
                    (now, PURGE_BATCH),
                )
                c.execute(
                    "DELETE FROM ingress WHERE id IN (SELECT id FROM ingress WHERE id <= ? "
                    "ORDER BY id LIMIT ?)",
                    (moved, PURGE_BATCH),
                )
        return True

    def _arrived(self) -> list[Any]:
        """What came in past the mark this process last saw (a read of the ingress file)."""
        return self._in.read(SQL_ARRIVED, (self._upto, PUMP_BATCH))

    def _pump(self, c: Any, arrived: list[Any]) -> int:
        """Inside a write transaction of the main file: move the `arrived` rows not yet moved
        (another process may have) into the queue, in arrival order, and the mark with them.
        Returns the mark, which the caller keeps once the transaction has committed."""
        row = c.execute("SELECT epoch, upto FROM pumped").fetchone()
        upto = self._mark(*row) if row is not None else 0
        fresh = [(key, message, at) for i, key, message, at in arrived if i > upto]
        if fresh:
            c.executemany(SQL_ENQUEUE, fresh)
            upto = arrived[-1][0]
            c.execute(SQL_PUMPED, (self._epoch, upto))
        return upto

    def claim(self, worker: str, now: float, lease_s: float) -> Claim | None:
        return self.claim_next(worker, now, lease_s, busy=False)

    def claim_next(self, worker: str, now: float, lease_s: float, busy: bool) -> Claim | None:
        """`claim`; a claimer that found nothing last time (not `busy`) reads first and takes
        no write lock while nothing is due (idle workers poll here); a busy one goes
        straight to the write."""
        arrived = self._arrived()
        if not arrived and not busy and not self._db.read(SQL_ANY_DUE, (now,)):
            return None
        token = uuid.uuid4().hex
        lease_until = now + lease_s
        args = (now, token, lease_until, worker)
        if arrived:  # moved and claimed in one transaction: one commit, one lock
            with self._db.write() as c:
                upto = self._pump(c, arrived)
                rows = c.execute(SQL_CLAIM, args).fetchall()
            self._upto = max(self._upto, upto)
        else:  # one statement under the write lock, so two claimers never pick one row
            rows = self._db.write_one(SQL_CLAIM, args)
        return _claim(rows[0], token, lease_until) if rows else None

    def lane(self, worker: str, lease_s: float, send_lease_s: float) -> Lane:
        return SQLiteLane(self, worker, lease_s, send_lease_s)

    def unclaim(self, claim: Claim) -> None:
        """Give back a claim ahead that was never worked on: queued again at once, and the
        attempt it counted taken back (a stopping worker costs a message no attempt)."""
        self._db.write_one(
            "UPDATE queue SET status = 'queued', token = NULL, lease_until = NULL, "
            "worker = NULL, due = available_at, attempts = attempts - 1 "
            "WHERE id = ? AND token = ? AND status = 'leased'",
            (int(claim.id), claim.token),
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
        return self.commit_pipelined(Turn(claim, state, history, outbox, events, now)).ok

    def commit_pipelined(
        self, turn: Turn, sent: Sequence[SentMark] = (), terms: LaneTerms | None = None
    ) -> Committed:
        """`commit_turn`, and for a lane (`terms`) what `Lane.commit` adds, in the same
        transaction: two write transactions a busy worker's turn (this and its send)."""
        claim, now = turn.claim, turn.now
        key = claim.conversation
        check_same_conversation(key, turn.history)
        check_same_conversation(key, turn.outbox)
        # Everything is encoded before the write lock is taken; only the seqs come from inside.
        state_json = turn.state.to_json()
        history_rows = _history_rows(turn.history)
        outbox_rows = [
            (o.id, key, o.channel, compact_json(o.payload), o.next_at, o.created_at)
            for o in turn.outbox
        ]
        message_id = claim.inbound.message_id
        event_rows = [
            (key, message_id, i, e.get("at", now), e.get("type"), compact_json(e))
            for i, e in enumerate(turn.events)
        ]
        last_inbound = claim.inbound.timestamp or now
        head: list[Any] = []
        arrived: list[Any] = []
        token, lease_until, send_until, claim_now = "", 0.0, 0.0, now
        if terms is not None:  # leased from the commit on, not from the turn's start
            arrived, token = self._arrived(), uuid.uuid4().hex
            claim_now = time.time()
            lease_until = claim_now + terms.lease_s
            send_until = claim_now + terms.send_lease_s
        upto, following = 0, []
        self._record_unrecorded()  # before this commit can hand over (claim) a reply again
        with self._kept_if_failed(sent), self._db.write() as c:
            for item_id, platform_id in sent:  # committed even if the lease was lost below
                _record_sent(c, item_id, platform_id)
            done = c.execute(
                "DELETE FROM queue WHERE id = ? AND token = ? AND status = 'leased'",
                (int(claim.id), claim.token),
            )
            if done.rowcount == 1:
                c.execute(SQL_NEXT_HEAD, (key,))
                hseq, oseq = c.execute(
                    SQL_SAVE_CONVERSATION,
                    (key, state_json, last_inbound, now, len(history_rows), len(outbox_rows)),
                ).fetchall()[0]
                _insert_history(c, key, history_rows, hseq - len(history_rows))
                if outbox_rows:
                    first = oseq - len(outbox_rows)
                    c.executemany(
                        SQL_OUTBOX,
                        [(i, k, first + n + 1, *rest)
                         for n, (i, k, *rest) in enumerate(outbox_rows)],
                    )  # fmt: skip
                    c.execute(SQL_OUTBOX_HEAD, (key,))
                    if terms is not None:  # as claim_outbox would, for this conversation
                        head = c.execute(SQL_CLAIM_HEAD, (send_until, key, claim_now)).fetchall()
                if event_rows:
                    c.executemany(SQL_EVENT, event_rows)
            if terms is not None:  # this worker's next message, whatever became of the turn
                upto = self._pump(c, arrived) if arrived else 0
                claim_args = (claim_now, token, lease_until, terms.worker, key)
                following = c.execute(SQL_CLAIM_OTHER, claim_args).fetchall()
        self._upto = max(self._upto, upto)
        return Committed(
            ok=done.rowcount == 1,
            handed=_outbox_item(head[0]) if head else None,
            next_claim=_claim(following[0], token, lease_until) if following else None,
        )

    def release(self, claim: Claim, retry_at: float, error: str) -> None:
        self._db.write_one(
            "UPDATE queue SET status = 'queued', token = NULL, lease_until = NULL, worker = NULL, "
            "available_at = ?1, due = ?1, error = ?2 "
            "WHERE id = ?3 AND token = ?4 AND status = 'leased'",
            (retry_at, error, int(claim.id), claim.token),
        )

    def bury(self, claim: Claim, error: str, now: float) -> None:
        with self._db.write() as c:
            cur = c.execute(  # available_at: when it was buried (a dead row is never due)
                "UPDATE queue SET status = 'dead', token = NULL, lease_until = NULL, due = NULL, "
                "worker = NULL, available_at = ?, error = ? "
                "WHERE id = ? AND token = ? AND status = 'leased'",
                (now, error, int(claim.id), claim.token),
            )
            if cur.rowcount == 1:
                c.execute(SQL_NEXT_HEAD, (claim.conversation,))

    def buried(self, limit: int = 100) -> list[Buried]:
        rows = self._db.read(
            "SELECT id, conversation, message, error, attempts, available_at FROM queue "
            "WHERE status = 'dead' ORDER BY available_at, id LIMIT ?", (limit,),
        )  # fmt: skip
        return [_buried(row) for row in rows]

    def buried_count(self) -> int:
        return int(self._db.read("SELECT count(*) FROM queue WHERE status = 'dead'")[0][0])

    def retry_buried(self, conversation: str, buried_id: str, now: float) -> bool:
        if not buried_id.isdigit():
            return False
        # Back through the ingress, as if it arrived now: behind whatever came in meanwhile,
        # pumped and claimed the usual way. The ingress commits first (it never waits for the
        # main file), so a crash between the two leaves it queued and still listed, not lost.
        with self._db.write() as c:
            row = c.execute(
                "DELETE FROM queue WHERE id = ? AND conversation = ? AND status = 'dead' "
                "RETURNING message", (int(buried_id), conversation),
            ).fetchall()  # fmt: skip
            if not row:
                return False
            with self._in.write() as ingress:
                ingress.execute(SQL_INGRESS, (conversation, row[0][0], now))
        return True

    def discard_buried(self, conversation: str, buried_id: str) -> bool:
        if not buried_id.isdigit():
            return False
        return bool(self._db.write_one(
            "DELETE FROM queue WHERE id = ? AND conversation = ? AND status = 'dead' RETURNING 1",
            (int(buried_id), conversation),
        ))  # fmt: skip

    def queue_depth(self) -> int:
        # The queue and the mark in one snapshot, then what arrived past that mark: a row a
        # worker moves meanwhile is counted once, not twice or never.
        queued, epoch, upto = self._db.read(
            f"SELECT (SELECT count(*) FROM queue WHERE {ACTIVE}), "
            "(SELECT epoch FROM pumped), (SELECT upto FROM pumped)"
        )[0]
        return queued + self._in.read(SQL_ARRIVED_COUNT, (self._mark(epoch, upto),))[0][0]

    # ---- conversations and history ----

    def load(self, key: str) -> Conversation:
        rows = self._db.read(
            "SELECT state, last_inbound_at, updated_at FROM conversations WHERE key = ?", (key,)
        )
        if not rows:
            return Conversation(key=key, state=ConversationState())
        state, last_inbound, updated = rows[0]
        return Conversation(key, ConversationState.from_json(state), last_inbound, updated)

    def history(
        self, key: str, before_seq: int | None = None, limit: int = 50
    ) -> list[HistoryEntry]:
        rows = self._db.read(
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
        with self._db.write() as c:
            for key, items in rows.items():
                hseq = c.execute(SQL_BUMP_SEQ, (key, len(items), 0)).fetchall()[0][0]
                _insert_history(c, key, items, hseq - len(items))

    # ---- outbox ----

    def claim_outbox(self, now: float, lease_s: float, limit: int) -> list[OutboxItem]:
        self._record_unrecorded()  # before any reply can be claimed from the file again
        if limit <= 0 or not self._db.read(SQL_ANY_OUTBOX_DUE, (now,)):
            return []  # nothing due: no write lock taken (the sender thread polls here)
        rows = self._db.write_one(SQL_CLAIM_OUTBOX, (now + lease_s, now, limit))
        return sorted((_outbox_item(r) for r in rows), key=lambda o: (o.created_at, o.seq))

    def _outbox_change(self, sql: str, args: tuple[Any, ...]) -> bool:
        """Apply `sql` (which RETURNs the conversation) and hand the head on if it moved."""
        with self._db.write() as c:
            return _outbox_change(c, sql, args)

    def outbox_sent(self, item_id: str, platform_id: str | None, now: float) -> None:
        self.record_sent([(item_id, platform_id)])

    def record_sent(self, sent: Sequence[SentMark]) -> None:
        """`outbox_sent` of several replies in one write."""
        with self._kept_if_failed(sent), self._db.write() as c:
            for item_id, platform_id in sent:
                _record_sent(c, item_id, platform_id)

    @contextmanager
    def _kept_if_failed(self, sent: Sequence[tuple[str, str | None]]) -> Iterator[None]:
        """Around a write that records replies as sent. If it fails (a full disk), they went
        out all the same: kept here, they are recorded before this process claims outbox
        items again (`_record_unrecorded`). Otherwise a reply's lease runs out while the disk
        is full and it is claimed and sent again: the shopper got it twice. (Another process
        has only the lease to keep it off, as for any reply in flight.)"""
        try:
            yield
        except sqlite3.Error:
            with self._unrecorded_lock:
                self._unrecorded.update(sent)
            raise

    def _record_unrecorded(self) -> None:
        """Record the replies `_kept_if_failed` kept, in a write of their own; raises while
        the store still cannot write. Costs nothing when there are none (nearly always)."""
        if not self._unrecorded:
            return
        with self._unrecorded_lock:
            marks = list(self._unrecorded.items())
        with self._db.write() as c:
            for item_id, platform_id in marks:
                _record_sent(c, item_id, platform_id)
        with self._unrecorded_lock:
            for item_id, _ in marks:
                self._unrecorded.pop(item_id, None)

    def outbox_retry(self, item_id: str, next_at: float, error: str) -> None:
        # Only the head carries `due`; a retried item is the head (it was claimed).
        self._db.write_one(
            "UPDATE outbox SET attempts = attempts + 1, next_at = ?1, lease_until = NULL, "
            "last_error = ?2, due = CASE WHEN due IS NULL THEN NULL ELSE ?1 END "
            "WHERE id = ?3 AND status = 'pending'",
            (next_at, error, item_id),
        )

    def outbox_defer(self, item_id: str, next_at: float) -> None:
        self._db.write_one(
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
        rows = self._db.read(
            f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE status = 'dead' "
            "ORDER BY created_at LIMIT ?",
            (limit,),
        )
        return [_outbox_item(r) for r in rows]

    def retry_dead(self, item_id: str, now: float) -> bool:
        """The item goes to the back of its conversation's outbox (after what is pending now),
        with a fresh retry budget: an operator's retry is a new start, not the last attempt."""
        with self._db.write() as c:
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
        with self._db.write() as c:
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
        rows = self._db.read(
            f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE conversation = ? ORDER BY seq",
            (conversation,),
        )
        return [_outbox_item(r) for r in rows]

    def events(self, key: str, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._db.read(
            "SELECT data FROM events WHERE conversation = ? "
            "ORDER BY at DESC, message_id DESC, idx DESC LIMIT ?",
            (key, limit),
        )
        return [json.loads(r[0]) for r in reversed(rows)]

    # ---- operations ----

    def ping(self) -> bool:
        try:
            return self._db.read("SELECT 1")[0][0] == 1 and self._in.read("SELECT 1")[0][0] == 1
        except sqlite3.Error:
            return False

    def checkpoint(self) -> tuple[int, int, int]:
        """Checkpoint both files now (each also has a thread doing it every 0.25 s, see
        `SQLiteFile.checkpoint`); returns SQLite's (busy, WAL frames, frames copied) of the
        main file."""
        self._in.checkpoint()
        return self._db.checkpoint()

    def close(self) -> None:
        """Close every connection (those in use when they are given back) and the lock files."""
        self._in.close()
        self._db.close()


def _history_rows(entries: Sequence[HistoryEntry]) -> list[tuple[Any, ...]]:
    """History rows without their seq, encoded (done before the write lock is taken)."""
    return [
        (h.at, h.direction, h.author, h.text, compact_json(h.data) if h.data else None)
        for h in entries
    ]


def _outbox_change(c: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> bool:
    rows = c.execute(sql, args).fetchall()
    if rows:
        c.execute(SQL_OUTBOX_HEAD, (rows[0][0],))
    return bool(rows)


def _record_sent(c: sqlite3.Connection, item_id: str, platform_id: str | None) -> None:
    _outbox_change(c, SQL_OUTBOX_SENT, (platform_id, item_id))


def _insert_history(c: Any, key: str, rows: list[tuple[Any, ...]], after: int
                    ) -> None:  # fmt: skip
    if rows:
        c.executemany(SQL_HISTORY, [(key, after + i + 1, *row) for i, row in enumerate(rows)])
