"""The sandbox's memory: every API call the bot made and every webhook the simulator sent, in order.

One lock and one sequence number cover both kinds, so a conversation can be replayed in the order
things really happened (a bot reply that overtakes the gateway's 200 still sorts after the
shopper's message). Readers get deep copies: a test can never change what was recorded.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

Entry = dict[str, Any]

MAX_ENTRIES = 50_000  # benchmarks send a lot; the oldest entries go first


def strip_prefix(address: str) -> str:
    """`whatsapp:+1202...` and `+1202...` name the same shopper."""
    return address.removeprefix("whatsapp:")


class Recorder:
    """Thread-safe, ordered log of `send` entries (fake APIs) and `webhook` entries (simulator)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self._entries: deque[Entry] = deque(maxlen=max_entries)
        self._by_seq: dict[int, Entry] = {}

    def add(self, kind: str, entry: Entry) -> Entry:
        """Store `entry` with the next sequence number and the time; returns a copy."""
        with self._lock:
            self._seq += 1
            stored = {"seq": self._seq, "kind": kind, "time": time.time(), **entry}
            if len(self._entries) == self._entries.maxlen:
                self._by_seq.pop(self._entries[0]["seq"], None)
            self._entries.append(stored)
            self._by_seq[self._seq] = stored
            return copy.deepcopy(stored)

    def update(self, seq: int, **fields: Any) -> None:
        """Complete an entry later (the gateway's answer arrives after the webhook is logged)."""
        with self._lock:
            entry = self._by_seq.get(seq)
            if entry is not None:
                entry.update(fields)

    def get(self, seq: int) -> Entry | None:
        with self._lock:
            entry = self._by_seq.get(seq)
            return copy.deepcopy(entry) if entry is not None else None

    def select(
        self,
        kinds: Iterable[str] = ("send",),
        channel: str | None = None,
        conversation: str | None = None,
        accepted_only: bool = False,
    ) -> list[Entry]:
        """Entries of the given kinds, oldest first, optionally for one channel and shopper address.

        Both kinds carry `conversation`: the shopper's number, PSID or chat id, without `whatsapp:`.
        """
        wanted = set(kinds)
        target = strip_prefix(conversation) if conversation is not None else None
        with self._lock:
            found = [
                e
                for e in self._entries
                if e["kind"] in wanted
                and (channel is None or e.get("channel") == channel)
                and (target is None or e.get("conversation") == target)
                and (not accepted_only or int(e.get("status") or 0) < 300)
            ]
            return copy.deepcopy(found)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._by_seq.clear()
