"""The SQLite store's two files, and how what arrives moves from one to the other.

Two files, each with its own writer lock (`SQLiteFile`): `<file>-ingress`, where webhooks
dedupe and append what arrives, and `<file>` itself, where the workers keep the queue, the
conversations, history and the outbox. So a webhook never waits while a worker commits a
turn; it waits only for other webhooks. A worker moves what has arrived into the queue (the
*pump*) inside its own claim transaction, and records there, in the same commit, how far it
has moved (`pumped`): a crash before that commit just means the rows are moved again, and rows
up to the mark are never moved twice. Ingress ids only grow (AUTOINCREMENT) and a reader sees
whole commits in id order, so everything past the mark is exactly what is still to move. The
web side deletes moved rows now and then. JSON is encoded before a write lock is taken.
"""

from __future__ import annotations

import itertools
import sqlite3
from typing import Any

from flows.messages import Inbound, to_dict
from gateway.redaction import redact_inbound
from gateway.store.base import compact_json
from gateway.store.sqlite.file import SQLiteFile
from gateway.store.sqlite.sql import (
    SQL_ARRIVED,
    SQL_ARRIVED_COUNT,
    SQL_DEDUPE,
    SQL_ENQUEUE,
    SQL_INGRESS,
    SQL_PUMPED,
)

PURGE_EVERY = 256  # enqueues between two purges of expired dedupe keys and moved ingress rows
PURGE_BATCH = 500  # at most this many rows per purge, so a purge never stalls a request
PUMP_BATCH = 500  # at most this many arrived messages moved into the queue by one claim
MIGRATE_BATCH = 10_000


class Ingress:
    """The ingress file (`file`) and the pump into the queue of the main file (`main`)."""

    def __init__(self, file: SQLiteFile, main: SQLiteFile) -> None:
        self.file = file
        self.main = main
        self._enqueues = itertools.count(1)
        self._epoch: str = file.read("SELECT epoch FROM meta")[0][0]
        self._upto = self._pumped_upto()  # how far the queue has moved; may lag, never lead
        self._migrate_dedupe()

    def _pumped_upto(self) -> int:
        """The last ingress id moved into the queue (0 for an ingress file it never saw)."""
        rows = self.main.read("SELECT epoch, upto FROM pumped")
        return self._mark(*rows[0]) if rows else 0

    def _mark(self, epoch: str | None, upto: int | None) -> int:
        """The `pumped` mark if it is this ingress file's; a new file is read from its start."""
        return (upto or 0) if epoch == self._epoch else 0

    def _migrate_dedupe(self) -> None:
        """Dedupe keys of a store written before the ingress file existed move there, so a
        platform's retry of a message that came in before an upgrade still meets its key."""
        old = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'dedupe'"
        if not self.main.read(old):
            return
        last = 0
        while rows := self.main.read(
            "SELECT rowid, channel, message_id, expires_at FROM dedupe WHERE rowid > ? "
            "ORDER BY rowid LIMIT ?", (last, MIGRATE_BATCH),
        ):  # fmt: skip
            with self.file.write() as c:
                c.executemany(
                    "INSERT OR IGNORE INTO dedupe(channel, message_id, expires_at) "
                    "VALUES (?, ?, ?)", [r[1:] for r in rows],
                )  # fmt: skip
            last = rows[-1][0]
        with self.main.write() as c:
            c.execute("DROP TABLE IF EXISTS dedupe")

    def enqueue(self, inbound: Inbound, now: float, dedupe_ttl_s: float) -> bool:
        """`Store.enqueue`: a write of the ingress file only."""
        # Cards and CVVs go before the first write: the ingress file never holds them.
        message = compact_json(to_dict(redact_inbound(inbound)))
        purge = next(self._enqueues) % PURGE_EVERY == 0
        moved = self._pumped_upto() if purge else 0  # read before the lock: only grows
        with self.file.write() as c:
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

    def requeue(self, conversation: str, message: str, now: float) -> None:
        """A message back through the ingress, as if it arrived now (a buried one retried)."""
        with self.file.write() as c:
            c.execute(SQL_INGRESS, (conversation, message, now))

    def arrived(self) -> list[Any]:
        """What came in past the mark this process last saw (a read of the ingress file)."""
        return self.file.read(SQL_ARRIVED, (self._upto, PUMP_BATCH))

    def pump(self, c: sqlite3.Connection, arrived: list[Any]) -> int:
        """Inside a write transaction of the main file: move the `arrived` rows not yet moved
        (another process may have) into the queue, in arrival order, and the mark with them.
        Returns the mark, which the caller hands to `moved` once the transaction has
        committed."""
        row = c.execute("SELECT epoch, upto FROM pumped").fetchone()
        upto = self._mark(*row) if row is not None else 0
        fresh = [(key, message, at) for i, key, message, at in arrived if i > upto]
        if fresh:
            c.executemany(SQL_ENQUEUE, fresh)
            upto = arrived[-1][0]
            c.execute(SQL_PUMPED, (self._epoch, upto))
        return upto

    def moved(self, upto: int) -> None:
        """A pump's mark, committed: what this process knows has moved."""
        self._upto = max(self._upto, upto)

    def waiting(self, epoch: str | None, upto: int | None) -> int:
        """How many arrived messages are past the `pumped` mark read as (`epoch`, `upto`)."""
        return int(self.file.read(SQL_ARRIVED_COUNT, (self._mark(epoch, upto),))[0][0])
