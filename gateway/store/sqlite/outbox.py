"""The outbox on SQLite (`Outbox`): a conversation's earliest pending item carries `due`, as a
queue head does (see queue.py), so a claim is one UPDATE of the smallest `due`s."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from gateway.store.base import OutboxItem, SentMark, delivery_rank
from gateway.store.sqlite.file import SQLiteFile
from gateway.store.sqlite.sql import (
    OUTBOX_COLUMNS,
    SQL_ANY_OUTBOX_DUE,
    SQL_BUMP_SEQ,
    SQL_CLAIM_OUTBOX,
    SQL_OUTBOX_HEAD,
    SQL_OUTBOX_SENT,
)


def outbox_item(row: Any) -> OutboxItem:
    """An outbox row (OUTBOX_COLUMNS) as an `OutboxItem`."""
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


def _outbox_change(c: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> bool:
    """Apply `sql` (which RETURNs the conversation) and hand the head on if it moved."""
    rows = c.execute(sql, args).fetchall()
    if rows:
        c.execute(SQL_OUTBOX_HEAD, (rows[0][0],))
    return bool(rows)


def record_sent(c: sqlite3.Connection, item_id: str, platform_id: str | None) -> None:
    """Inside a write transaction: the item is sent, and the next one its conversation's head."""
    _outbox_change(c, SQL_OUTBOX_SENT, (platform_id, item_id))


class SQLiteOutbox:
    def __init__(self, main: SQLiteFile) -> None:
        self.main = main
        self._unrecorded: dict[str, str | None] = {}  # sent, not recorded: see kept_if_failed
        self._unrecorded_lock = threading.Lock()

    def claim_outbox(self, now: float, lease_s: float, limit: int) -> list[OutboxItem]:
        self.record_unrecorded()  # before any reply can be claimed from the file again
        if limit <= 0 or not self.main.read(SQL_ANY_OUTBOX_DUE, (now,)):
            return []  # nothing due: no write lock taken (the sender thread polls here)
        rows = self.main.write_one(SQL_CLAIM_OUTBOX, (now + lease_s, now, limit))
        return sorted((outbox_item(r) for r in rows), key=lambda o: (o.created_at, o.seq))

    def outbox_sent(self, item_id: str, platform_id: str | None, now: float) -> None:
        self.record_sent([(item_id, platform_id)])

    def record_sent(self, sent: Sequence[SentMark]) -> None:
        """`outbox_sent` of several replies in one write."""
        with self.kept_if_failed(sent), self.main.write() as c:
            for item_id, platform_id in sent:
                record_sent(c, item_id, platform_id)

    @contextmanager
    def kept_if_failed(self, sent: Sequence[SentMark]) -> Iterator[None]:
        """Around a write that records replies as sent. If it fails (a full disk), they went
        out all the same: kept here, they are recorded before this process claims outbox
        items again (`record_unrecorded`). Otherwise a reply's lease runs out while the disk
        is full and it is claimed and sent again: the shopper got it twice. (Another process
        has only the lease to keep it off, as for any reply in flight.)"""
        try:
            yield
        except sqlite3.Error:
            with self._unrecorded_lock:
                self._unrecorded.update(sent)
            raise

    def record_unrecorded(self) -> None:
        """Record the replies `kept_if_failed` kept, in a write of their own; raises while
        the store still cannot write. Costs nothing when there are none (nearly always)."""
        if not self._unrecorded:
            return
        with self._unrecorded_lock:
            marks = list(self._unrecorded.items())
        with self.main.write() as c:
            for item_id, platform_id in marks:
                record_sent(c, item_id, platform_id)
        with self._unrecorded_lock:
            for item_id, _ in marks:
                self._unrecorded.pop(item_id, None)

    def outbox_retry(self, item_id: str, next_at: float, error: str) -> None:
        # Only the head carries `due`; a retried item is the head (it was claimed).
        self.main.write_one(
            "UPDATE outbox SET attempts = attempts + 1, next_at = ?1, lease_until = NULL, "
            "last_error = ?2, due = CASE WHEN due IS NULL THEN NULL ELSE ?1 END "
            "WHERE id = ?3 AND status = 'pending'",
            (next_at, error, item_id),
        )

    def outbox_defer(self, item_id: str, next_at: float) -> None:
        self.main.write_one(
            "UPDATE outbox SET next_at = ?1, lease_until = NULL, "
            "due = CASE WHEN due IS NULL THEN NULL ELSE ?1 END "
            "WHERE id = ?2 AND status = 'pending'",
            (next_at, item_id),
        )

    def outbox_dead(self, item_id: str, error: str) -> None:
        with self.main.write() as c:
            _outbox_change(
                c,
                "UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = ?, "
                "due = NULL, lease_until = NULL "
                "WHERE id = ? AND status = 'pending' RETURNING conversation",
                (error, item_id),
            )

    def dead_letters(self, limit: int = 100) -> list[OutboxItem]:
        rows = self.main.read(
            f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE status = 'dead' "
            "ORDER BY created_at LIMIT ?",
            (limit,),
        )
        return [outbox_item(r) for r in rows]

    def retry_dead(self, item_id: str, now: float) -> bool:
        """The item goes to the back of its conversation's outbox (after what is pending now),
        with a fresh retry budget: an operator's retry is a new start, not the last attempt."""
        with self.main.write() as c:
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
        with self.main.write() as c:
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
        rows = self.main.read(
            f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE conversation = ? ORDER BY seq",
            (conversation,),
        )
        return [outbox_item(r) for r in rows]
