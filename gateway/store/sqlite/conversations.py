"""A conversation's state, history and events on SQLite (`Conversations`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from flows.state import ConversationState
from gateway.store.base import Conversation, HistoryEntry, compact_json
from gateway.store.sqlite.file import SQLiteFile
from gateway.store.sqlite.sql import SQL_BUMP_SEQ, SQL_HISTORY


def history_rows(entries: Sequence[HistoryEntry]) -> list[tuple[Any, ...]]:
    """History rows without their seq, encoded (done before the write lock is taken)."""
    return [
        (h.at, h.direction, h.author, h.text, compact_json(h.data) if h.data else None)
        for h in entries
    ]


def insert_history(c: sqlite3.Connection, key: str, rows: list[tuple[Any, ...]], after: int
                   ) -> None:  # fmt: skip
    """`history_rows` of conversation `key`, numbered from `after + 1`."""
    if rows:
        c.executemany(SQL_HISTORY, [(key, after + i + 1, *row) for i, row in enumerate(rows)])


class SQLiteConversations:
    def __init__(self, main: SQLiteFile) -> None:
        self.main = main

    def load(self, key: str) -> Conversation:
        rows = self.main.read(
            "SELECT state, last_inbound_at, updated_at FROM conversations WHERE key = ?", (key,)
        )
        if not rows:
            return Conversation(key=key, state=ConversationState())
        state, last_inbound, updated = rows[0]
        return Conversation(key, ConversationState.from_json(state), last_inbound, updated)

    def history(
        self, key: str, before_seq: int | None = None, limit: int = 50
    ) -> list[HistoryEntry]:
        rows = self.main.read(
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
        rows = {key: history_rows(items) for key, items in by_key.items()}
        with self.main.write() as c:
            for key, items in rows.items():
                hseq = c.execute(SQL_BUMP_SEQ, (key, len(items), 0)).fetchall()[0][0]
                insert_history(c, key, items, hseq - len(items))

    def events(self, key: str, limit: int = 100) -> list[dict[str, Any]]:
        rows = self.main.read(
            "SELECT data FROM events WHERE conversation = ? "
            "ORDER BY at DESC, message_id DESC, idx DESC LIMIT ?",
            (key, limit),
        )
        return [json.loads(r[0]) for r in reversed(rows)]
