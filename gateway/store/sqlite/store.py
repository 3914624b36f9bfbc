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
    Claim,
    Committed,
    HistoryEntry,
    Lane,
    OutboxItem,
    SentMark,
    Turn,
)
from gateway.store.forwarding import ForwardingStore
from gateway.store.sqlite.commit import SQLiteCommits
from gateway.store.sqlite.conversations import SQLiteConversations
from gateway.store.sqlite.file import SQLiteFile
from gateway.store.sqlite.ingress import Ingress
from gateway.store.sqlite.lane import LaneTerms, SQLiteLane
from gateway.store.sqlite.outbox import SQLiteOutbox
from gateway.store.sqlite.queue import SQLiteQueue
from gateway.store.sqlite.sql import INGRESS_SCHEMA, SCHEMA


class SQLiteStore(ForwardingStore):
    """`Store` on SQLite: each method is its part's (see the module docstring)."""

    queue: SQLiteQueue
    conversations: SQLiteConversations
    outbox: SQLiteOutbox

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

    # ---- outbox ----

    def record_sent(self, sent: Sequence[SentMark]) -> None:
        self.outbox.record_sent(sent)

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
