"""The Redis store's global indexes: which conversation has work, kept right across processes.

Which conversation has work is a global sorted set per queue, `<p>:{<p>:q}:ready` (inbound) and
`<p>:{<p>:o}:due` (outbox), scored by when the conversation's head can next be taken: its
arrival or retry time, or its lease_until while leased, so a dead worker's lease simply comes
due. A claimer reads the lowest scores and asks each conversation's script for its head; the
script is the judge (leased? not due yet? empty?), so the index is only a hint and may lag.
It cannot sit in the conversation's slot, so it is updated right after the script, from the
script's answer, with a per-conversation version: every script that changes the head bumps `v`,
and the index applies an update only if its version is newer. Updates from racing clients can
arrive in any order and the index still ends at the newest state. A message for a conversation
with nothing queued (a shopper waiting for a reply) needs no second trip: the enqueue proposes
the version itself, the time in microseconds, and its index update rides in the same trip after
the script, which takes that version (ENQUEUE). Before a message or an outbox item is written,
its conversation is added to the index (ZADD NX), and the next message of a conversation
restores a missing entry, so a crash between a script and its index update leaves an early
entry or, at worst, one message waiting for the next. Updates that can only leave an
entry early (a lease taken, an emptied queue) ride along with the store's next call instead of
costing a round trip of their own (`Later`): an early entry just makes a claimer ask the
script, hear "busy", and correct it. A stream with a
consumer group (DESIGN.md) gives one entry per message, not per conversation, and cannot express
"not while this conversation has one in flight" without the same per-conversation lease, so the
sorted set is the simpler shape.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from gateway.store.redis.batch import Batch
from gateway.store.redis.codec import flat_pairs
from gateway.store.redis.keys import IndexKeys, RedisKeys

Update = tuple[str, Any, Any]  # (conversation, version, score or "") for INDEX


def lowest(index: str, now: float, limit: int) -> tuple[Any, ...]:
    """ZRANGEBYSCORE: the first `limit` members due at `now`."""
    return ("ZRANGEBYSCORE", index, "-inf", now, "LIMIT", 0, limit)


def add_index(batch: Batch, index: IndexKeys, updates: Sequence[Update], delta: int = 0) -> int:
    """Add an INDEX script applying `updates` (and `delta` to the counter) to `batch`."""
    args: list[Any] = [delta]
    for update in updates:
        args.extend(update)
    return batch.script("index", index.script_keys(), args)


class Later:
    """Index updates that may wait for this store's next call instead of costing a trip.

    Only those whose delay hides no work: an index entry that stays *earlier* than the
    truth (a claimer asks the conversation's script, hears "busy", "not yet" or "empty",
    and fixes the entry), a removal, a lookup entry, the depth counter.
    """

    def __init__(self, keys: RedisKeys) -> None:
        self._keys = keys
        self._lock = threading.Lock()  # every thread of the process shares one store
        self._ready: list[Update] = []
        self._due: list[Update] = []
        self._oconv: dict[str, str] = {}
        self._unmap: list[str] = []
        self._depth = 0

    def defer(
        self,
        ready: Sequence[Update] = (),
        due: Sequence[Update] = (),
        oconv: dict[str, str] | None = None,
        unmap: Sequence[str] = (),
        depth: int = 0,
    ) -> None:
        """Keep updates for the next batch that `flush`es: `ready` and `due` index updates,
        outbox ids to map to (`oconv`) or unmap from their conversation, a depth change."""
        with self._lock:
            self._ready.extend(ready)
            self._due.extend(due)
            self._oconv.update(oconv or {})
            self._unmap.extend(unmap)
            self._depth += depth

    def flush(self, batch: Batch) -> None:
        """Add every waiting update to `batch` (and forget them here)."""
        with self._lock:
            ready, self._ready = self._ready, []
            due, self._due = self._due, []
            oconv, self._oconv = self._oconv, {}
            unmap, self._unmap = self._unmap, []
            depth, self._depth = self._depth, 0
        keys = self._keys
        if ready or depth:
            add_index(batch, keys.ready, ready, depth)
        if due:
            add_index(batch, keys.due, due)
        if oconv:
            batch.command("HSET", keys.outbox_conversations, *flat_pairs(oconv))
        if unmap:
            batch.command("HDEL", keys.outbox_conversations, *unmap)

    def waiting(self) -> int:
        """How many updates wait for the next flush (the depth change counts as one)."""
        with self._lock:
            changes = (self._ready, self._due, self._oconv, self._unmap)
            return sum(len(c) for c in changes) + (self._depth != 0)
