"""The shared store: Redis, for several gateway processes on several hosts (and Redis Cluster).

`RedisStore` is its parts on one `Link` (a connection, the key names, the index updates waiting
for the next trip): the queue (queue.py, and the turn's commit in commit.py), the conversations
(conversations.py) and the outbox (outbox.py). Where each thing lives under which key is in
keys.py, how the global indexes stay right across processes in index.py, the Lua scripts in
lua.py. Every command goes in a `Batch` (batch.py): one round trip of raw commands on a
connection the thread keeps (`wire.Wire`), not a redis-py pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import redis

from flows.messages import Inbound
from flows.state import ConversationState
from gateway.store.base import (
    Claim,
    HistoryEntry,
    Lane,
    OutboxItem,
    SentMark,
    Turn,
)
from gateway.store.forwarding import ForwardingStore
from gateway.store.redis.commit import RedisCommits
from gateway.store.redis.conversations import RedisConversations
from gateway.store.redis.keys import RedisKeys
from gateway.store.redis.lane import ClaimAhead, ClaimRead, CommitTrip, RedisLane
from gateway.store.redis.link import Link
from gateway.store.redis.outbox import RedisOutbox
from gateway.store.redis.queue import RedisQueue

logger = logging.getLogger(__name__)


class RedisStore(ForwardingStore):
    """`Store` on Redis: each method is its part's (see the module docstring)."""

    queue: RedisQueue
    conversations: RedisConversations
    outbox: RedisOutbox

    def __init__(
        self,
        url: str,
        prefix: str = "gw",
        *,
        outbox_ttl_s: float = 3 * 86_400.0,
        delivery_ttl_s: float = 3 * 86_400.0,
        delivery_channels: frozenset[str] | None = None,
    ) -> None:
        """`outbox_ttl_s`: how long a conversation's sent outbox stays after its last send,
        and its recent events after its last turn that had some; `delivery_ttl_s`: how long a
        platform id still finds its item for delivery reports; `delivery_channels`: the
        channels whose platform reports delivery (None: all). Only their sent messages get a
        `pid:` key: on the others it would be a write a turn and memory for 3 days that
        nothing ever looks up."""
        self.link = Link(url, RedisKeys(prefix))
        self.queue = RedisQueue(self.link)
        self.conversations = RedisConversations(self.link)
        self.outbox = RedisOutbox(self.link, outbox_ttl_s, delivery_ttl_s, delivery_channels)
        self.commits = RedisCommits(self.link, self.queue, self.outbox)

    # ---- what tests and tools look at ----

    @property
    def prefix(self) -> str:
        return self.link.keys.prefix

    @property
    def keys(self) -> RedisKeys:
        """The names of the store's keys."""
        return self.link.keys

    @property
    def client(self) -> redis.Redis:
        """A redis-py client on the store's connection pool (the store itself sends batches)."""
        return self.link.client

    def waiting_updates(self) -> int:
        """How many index updates wait for this store's next call (see index.Later)."""
        return self.link.later.waiting()

    # ---- inbound queue ----

    def enqueue(self, inbound: Inbound, now: float, dedupe_ttl_s: float) -> bool:
        return self.queue.enqueue(inbound, now, dedupe_ttl_s)

    def lane(self, worker: str, lease_s: float, send_lease_s: float) -> Lane:
        return RedisLane(self, worker, lease_s, send_lease_s)

    def ready(self, now: float) -> list[str]:
        return self.queue.ready(now)

    def claim_from(
        self, found: list[str], worker: str, now: float, lease_s: float
    ) -> ClaimRead | None:
        return self.queue.claim_from(found, worker, now, lease_s)

    def unclaim(self, key: str, token: str) -> None:
        self.queue.unclaim(key, token)

    def commit_turn(
        self,
        claim: Claim,
        state: ConversationState,
        history: Sequence[HistoryEntry],
        outbox: Sequence[OutboxItem],
        events: Sequence[dict[str, Any]],
        now: float,
    ) -> bool:
        turn = Turn(claim, state, history, outbox, events, now)
        return self.commits.commit_pipelined(turn).committed.ok

    def commit_pipelined(
        self,
        turn: Turn,
        sent: Sequence[SentMark] = (),
        send_lease_s: float | None = None,
        ahead: ClaimAhead | None = None,
        read_ready: bool = False,
    ) -> CommitTrip:
        return self.commits.commit_pipelined(turn, sent, send_lease_s, ahead, read_ready)

    # ---- outbox ----

    def record_sent(self, sent: Sequence[SentMark], read_ready: bool = False) -> list[str] | None:
        return self.outbox.record_sent(sent, read_ready)

    # ---- operations ----

    def ping(self) -> bool:
        try:
            batch = self.link.batch()
            batch.command("PING")
            return bool(batch.execute()[0])
        except redis.RedisError:
            return False

    def close(self) -> None:
        try:
            self.link.batch(flush=True).execute()
        except redis.RedisError:  # the entries it would have fixed heal on the next claim
            logger.warning("redis_store_flush_failed", exc_info=True)
        finally:
            self.link.close()
