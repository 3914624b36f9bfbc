"""The embedded store: SQLite in WAL mode, shared by threads and processes on one machine.

`SQLiteStore` is its parts on two files (ingress.py says why two): the ingress and its pump
into the queue (ingress.py), the queue (queue.py, and the turn's commit in commit.py), the
conversations (conversations.py) and the outbox (outbox.py). One file, its connections, its
writer lock and its checkpoints are `SQLiteFile` (file.py); the schema is in sql.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from flows.messages import Inbound
from flows.state import ConversationState
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
)
from gateway.store.sqlite.commit import SQLiteCommits
from gateway.store.sqlite.conversations import SQLiteConversations
from gateway.store.sqlite.file import SQLiteFile
from gateway.store.sqlite.ingress import Ingress
from gateway.store.sqlite.lane import LaneTerms, SQLiteLane
from gateway.store.sqlite.outbox import SQLiteOutbox
from gateway.store.sqlite.queue import SQLiteQueue
from gateway.store.sqlite.sql import INGRESS_SCHEMA, SCHEMA


class SQLiteStore:
    """`Store` on SQLite: each method is its part's (see the module docstring)."""

    def __init__(self, path: str, busy_timeout_s: float = 10.0) -> None:
        self.path = path
        self.ingress_file = SQLiteFile(f"{path}-ingress", INGRESS_SCHEMA, busy_timeout_s)
        self.main_file = SQLiteFile(path, SCHEMA, busy_timeout_s)
        self.ingress = Ingress(self.ingress_file, self.main_file)
        self.queue = SQLiteQueue(self.main_file, self.ingress)
        self.conversations = SQLiteConversations(self.main_file)
        self.outbox = SQLiteOutbox(self.main_file)
        self.commits = SQLiteCommits(self.main_file, self.ingress, self.outbox)

    # ---- inbound queue ----

    def enqueue(self, inbound: Inbound, now: float, dedupe_ttl_s: float) -> bool:
        return self.ingress.enqueue(inbound, now, dedupe_ttl_s)

    def claim(self, worker: str, now: float, lease_s: float) -> Claim | None:
        return self.queue.claim(worker, now, lease_s)

    def claim_next(self, worker: str, now: float, lease_s: float, busy: bool) -> Claim | None:
        return self.queue.claim_next(worker, now, lease_s, busy)

    def lane(self, worker: str, lease_s: float, send_lease_s: float) -> Lane:
        return SQLiteLane(self, worker, lease_s, send_lease_s)

    def unclaim(self, claim: Claim) -> None:
        self.queue.unclaim(claim)

    def commit_turn(
        self,
        claim: Claim,
        state: ConversationState,
        history: Sequence[HistoryEntry],
        outbox: Sequence[OutboxItem],
        events: Sequence[dict[str, Any]],
        now: float,
    ) -> bool:
        return self.commits.commit_pipelined(Turn(claim, state, history, outbox, events, now)).ok

    def commit_pipelined(
        self, turn: Turn, sent: Sequence[SentMark] = (), terms: LaneTerms | None = None
    ) -> Committed:
        return self.commits.commit_pipelined(turn, sent, terms)

    def release(self, claim: Claim, retry_at: float, error: str) -> None:
        self.queue.release(claim, retry_at, error)

    def bury(self, claim: Claim, error: str, now: float) -> None:
        self.queue.bury(claim, error, now)

    def buried(self, limit: int = 100) -> list[Buried]:
        return self.queue.buried(limit)

    def buried_count(self) -> int:
        return self.queue.buried_count()

    def retry_buried(self, conversation: str, buried_id: str, now: float) -> bool:
        return self.queue.retry_buried(conversation, buried_id, now)

    def discard_buried(self, conversation: str, buried_id: str) -> bool:
        return self.queue.discard_buried(conversation, buried_id)

    def queue_depth(self) -> int:
        return self.queue.queue_depth()

    # ---- conversations and history ----

    def load(self, key: str) -> Conversation:
        return self.conversations.load(key)

    def history(
        self, key: str, before_seq: int | None = None, limit: int = 50
    ) -> list[HistoryEntry]:
        return self.conversations.history(key, before_seq, limit)

    def append_history(self, entries: Sequence[HistoryEntry]) -> None:
        self.conversations.append_history(entries)

    def events(self, key: str, limit: int = 100) -> list[dict[str, Any]]:
        return self.conversations.events(key, limit)

    # ---- outbox ----

    def claim_outbox(self, now: float, lease_s: float, limit: int) -> list[OutboxItem]:
        return self.outbox.claim_outbox(now, lease_s, limit)

    def outbox_sent(self, item_id: str, platform_id: str | None, now: float) -> None:
        self.outbox.outbox_sent(item_id, platform_id, now)

    def record_sent(self, sent: Sequence[SentMark]) -> None:
        self.outbox.record_sent(sent)

    def outbox_retry(self, item_id: str, next_at: float, error: str) -> None:
        self.outbox.outbox_retry(item_id, next_at, error)

    def outbox_defer(self, item_id: str, next_at: float) -> None:
        self.outbox.outbox_defer(item_id, next_at)

    def outbox_dead(self, item_id: str, error: str) -> None:
        self.outbox.outbox_dead(item_id, error)

    def dead_letters(self, limit: int = 100) -> list[OutboxItem]:
        return self.outbox.dead_letters(limit)

    def retry_dead(self, item_id: str, now: float) -> bool:
        return self.outbox.retry_dead(item_id, now)

    def update_delivery(self, platform_id: str, status: str, error: str | None) -> bool:
        return self.outbox.update_delivery(platform_id, status, error)

    def outbox_items(self, conversation: str) -> list[OutboxItem]:
        return self.outbox.outbox_items(conversation)

    # ---- operations ----

    def ping(self) -> bool:
        try:
            main, ingress = self.main_file, self.ingress_file
            return main.read("SELECT 1")[0][0] == 1 and ingress.read("SELECT 1")[0][0] == 1
        except sqlite3.Error:
            return False

    def checkpoint(self) -> tuple[int, int, int]:
        """Checkpoint both files now (each also has a thread doing it every 0.25 s, see
        `SQLiteFile.checkpoint`); returns SQLite's (busy, WAL frames, frames copied) of the
        main file."""
        self.ingress_file.checkpoint()
        return self.main_file.checkpoint()

    def close(self) -> None:
        """Close every connection (those in use when they are given back) and the lock files."""
        self.ingress_file.close()
        self.main_file.close()
