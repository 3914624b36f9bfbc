"""The Redis store's key names (and Redis Cluster): what lives under which key.

Every key of one conversation carries the hash tag `{conv:<key>}`, so one Lua script can change
all of them atomically (enqueue with dedupe, claim of the head, commit_turn, release, bury, each
outbox step) and the conversation lives on one Cluster node:

    <p>:{conv:K}     hash of small values (so Redis keeps it a compact listpack): li last
                     inbound, u updated, v version, oq outbox seq, od dead outbox items, s the
                     state when it fits (INLINE_MAX bytes, see below), and while a message is
                     in flight its lease: lt token, lu lease_until, lw worker, hn attempts, ha
                     available_at, he last error (cut to INLINE_MAX bytes)
    <p>:{conv:K}:s   the state when it is longer than INLINE_MAX (one longer value would turn
                     the hash above into a hashtable, several times larger, for good)
    <p>:{conv:K}:q   list of queued messages, oldest first: [arrived_at, id, inbound]
    <p>:{conv:K}:x   list of buried messages (for an operator)
    <p>:{conv:K}:d   hash message_id -> dedupe expiry; the key expires with the last message
    <p>:{conv:K}:h   list of history lines; seq is the position (1-based), so pages are LRANGEs;
                     a line is [at, who, text, data?] with the usual (direction, author) pairs
                     as one digit and data's usual keys as one letter (see codec.history_line)
    <p>:{conv:K}:o   hash outbox id -> "<mutable JSON>\\n[channel, created_at]\\n<payload JSON>";
                     a sent item loses its payload line (what was said is in the history;
                     the payload was two thirds of an idle conversation's memory); the hash
                     expires when idle
    <p>:{conv:K}:op  zset of pending outbox ids by seq (the head is the first)
    <p>:{conv:K}:e   list "#<message id>", that turn's events, ...: LPOS finds a message
                     already recorded, so a turn processed twice records its events once; the
                     latest EVENT_TURNS turns, and the list expires with the sent outbox: it
                     is for tests and debugging while a retry can still come (the analytics
                     turn log has every turn's events, counted once by message id)
    <p>:pid:<id>     "<K>\\n<outbox id>" for delivery reports, expires after delivery_ttl_s; only
                     for channels whose platform reports delivery (WhatsApp through Twilio)

What stays of an idle conversation once the sent outbox, its events and the dedupe hash have
expired is the hash (with the state in it) and the history: about 560 bytes after the bench's
`/start` turn (bench/bench_store.py).

The global indexes (index.py) each have a hash tag of their own: `{<p>:q}` for the ready
index, `{<p>:o}` for the outbox's, `{<p>:x}` for the buried messages'.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IndexKeys:
    """One global index: conversations scored by when their head is next due, the version of
    each conversation it last applied, and a counter beside it (the queue's depth, the buried
    messages' count; the outbox's index has none)."""

    zset: str
    versions: str
    counter: str | None = None

    def script_keys(self) -> list[str]:
        """The KEYS of the INDEX script for this index."""
        return [self.zset, self.versions] + ([self.counter] if self.counter else [])


class RedisKeys:
    """The key names of one store (one prefix: several gateways may share a Redis)."""

    def __init__(self, prefix: str) -> None:
        if not prefix or "{" in prefix or "}" in prefix:
            raise ValueError(f"Redis key prefix {prefix!r} must be non-empty and free of braces")
        self.prefix = prefix
        q, o = f"{prefix}:{{{prefix}:q}}", f"{prefix}:{{{prefix}:o}}"
        x = f"{prefix}:{{{prefix}:x}}"
        self.ready = IndexKeys(f"{q}:ready", f"{q}:ver", f"{q}:depth")  # queued messages
        self.due = IndexKeys(f"{o}:due", f"{o}:ver")  # pending outbox items
        self.buried = IndexKeys(f"{x}:buried", f"{x}:ver", f"{x}:count")  # buried messages
        self.outbox_conversations = f"{o}:conv"  # outbox id -> conversation, until sent
        self.dead = f"{o}:dead"  # dead outbox ids by created_at

    def conversation(self, key: str, suffix: str = "") -> str:
        """A key of conversation `key`: its hash (no suffix) or one of `:s`, `:q`, `:x`, ..."""
        return f"{self.prefix}:{{conv:{key}}}{suffix}"

    def platform_id(self, platform_id: str) -> str:
        """The delivery report lookup of a sent message."""
        return f"{self.prefix}:pid:{platform_id}"
