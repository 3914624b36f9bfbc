"""A conversation's state, history and events on Redis (`Conversations`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gateway.store.base import Conversation, HistoryEntry
from gateway.store.redis.codec import conversation_of, history_entry, history_line
from gateway.store.redis.link import Link


class RedisConversations:
    def __init__(self, link: Link) -> None:
        self.link = link

    def load(self, key: str) -> Conversation:
        """One script reads the hash and the state kept apart (LOAD): a commit may move the
        state from one to the other in between two reads."""
        keys = self.link.keys
        last_inbound, updated, state = self.link.run(
            "load", [keys.conversation(key), keys.conversation(key, ":s")], []
        )
        return conversation_of(key, state, last_inbound, updated)

    def history(
        self, key: str, before_seq: int | None = None, limit: int = 50
    ) -> list[HistoryEntry]:
        if limit <= 0:
            return []
        before = "" if before_seq is None else before_seq
        h = self.link.keys.conversation(key, ":h")
        first, *lines = self.link.run("history", [h], [before, limit])
        return [history_entry(key, seq, line) for seq, line in enumerate(lines, start=int(first))]

    def append_history(self, entries: Sequence[HistoryEntry]) -> None:
        """One trip: an RPUSH per conversation."""
        by_key: dict[str, list[str]] = {}
        for h in entries:
            line = history_line(h)
            by_key.setdefault(h.conversation, []).append(line)
        batch = self.link.batch()
        for key, lines in by_key.items():
            batch.command("RPUSH", self.link.keys.conversation(key, ":h"), *lines)
        batch.execute()

    def events(self, key: str, limit: int = 100) -> list[dict[str, Any]]:
        if limit <= 0:
            return []
        # The list is [marker, turn, marker, turn...]; the last `limit` turns hold enough events.
        batch = self.link.batch()
        batch.command("LRANGE", self.link.keys.conversation(key, ":e"), -2 * limit, -1)
        lines: list[str] = batch.execute()[0]
        turns = [json.loads(line) for line in lines if not line.startswith("#")]
        # A turn is its list of events, or [at, events] as written before the events expired.
        return [e for t in turns for e in (t if isinstance(t[0], dict) else t[1])][-limit:]
