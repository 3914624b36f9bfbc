"""The outbox on Redis (`Outbox`): each step on an item is one script (OUTBOX_STEP) on its
conversation's keys, then the outbox's index from the script's answer (see index.py)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from gateway.store.base import OutboxItem, SentMark, delivery_rank
from gateway.store.redis.batch import Batch
from gateway.store.redis.codec import outbox_item, pairs
from gateway.store.redis.index import add_index, lowest
from gateway.store.redis.lane import CANDIDATES
from gateway.store.redis.link import Link

ITEM_CACHE = 50_000  # outbox id -> conversation remembered between claim_outbox and its result


class RedisOutbox:
    def __init__(
        self,
        link: Link,
        outbox_ttl_s: float,
        delivery_ttl_s: float,
        delivery_channels: frozenset[str] | None,
    ) -> None:
        """See `RedisStore` for the three settings."""
        self.link = link
        self.outbox_ttl_ms = int(outbox_ttl_s * 1000)
        self._delivery_ttl_s = int(delivery_ttl_s)
        self._delivery_channels = delivery_channels
        self._item_conv: dict[str, str] = {}

    def claim_outbox(self, now: float, lease_s: float, limit: int) -> list[OutboxItem]:
        if limit <= 0:
            return []
        keys = self.link.keys
        batch = self.link.batch(flush=True)
        batch.command(*lowest(keys.due.zset, now, limit))
        found = batch.execute()[-1]
        if not found:
            return []
        batch = self.link.batch()
        for key in found:
            conv_keys = [keys.conversation(key, s) for s in ("", ":o", ":op")]
            batch.script("outbox_claim", conv_keys, [now, now + lease_s])
        results = batch.execute()
        items = [outbox_item(k, r[3], r[4]) for k, r in zip(found, results, strict=True) if r[0]]
        self.remember(items)
        self.link.later.defer(
            due=[(key, r[1], r[2]) for key, r in zip(found, results, strict=True)],
            oconv={i.id: i.conversation for i in items},
        )
        return sorted(items, key=lambda o: (o.created_at, o.seq))

    def remember(self, items: Sequence[OutboxItem]) -> None:
        """Keep the conversations of items handed to a sender, for their result's step."""
        if len(self._item_conv) > ITEM_CACHE:
            self._item_conv.clear()
        for item in items:
            self._item_conv[item.id] = item.conversation

    def _outbox_step(self, item_id: str, action: str, a: Any = "", b: Any = "") -> bool:
        """One OUTBOX_STEP on an item; False if there is no such item in a fitting status."""
        key = self.item_key(item_id)
        if key is None:
            return False
        batch = self.link.batch()
        at = self.add_step(batch, key, item_id, action, a, b)
        return self.step_done(key, item_id, action, batch.execute()[at])

    def record_sent(self, sent: Sequence[SentMark], read_ready: bool = False) -> list[str] | None:
        """`outbox_sent` of several replies in one trip; with `read_ready` the ready index is
        read in the same trip and returned (a turn worker's next claim uses it)."""
        batch = self.link.batch()
        steps = []
        for item_id, platform_id in sent:
            key = self.item_key(item_id)
            if key is not None:
                steps.append((key, item_id, self.add_step(batch, key, item_id, "sent",
                                                          platform_id or "")))  # fmt: skip
        ready_at = len(batch) if read_ready else None
        if read_ready:
            batch.command(*lowest(self.link.keys.ready.zset, time.time(), CANDIDATES))
        results = batch.execute()
        for key, item_id, at in steps:
            self.step_done(key, item_id, "sent", results[at])
        return None if ready_at is None else list(results[ready_at])

    def item_key(self, item_id: str) -> str | None:
        """The conversation of an outbox item (remembered, else from the id -> conv hash)."""
        known = self._item_conv.get(item_id)
        if known is not None:
            return known
        batch = self.link.batch()
        batch.command("HGET", self.link.keys.outbox_conversations, item_id)
        found: str | None = batch.execute()[0]
        return found

    def add_step(self, batch: Batch, key: str, item_id: str, action: str, a: Any = "",
                 b: Any = "") -> int:  # fmt: skip
        """Add an OUTBOX_STEP to `batch`; returns where its answer will be."""
        keys = self.link.keys
        if action == "sent" and a and self._reports_delivery(key):  # first: a report may race
            batch.command("SET", keys.platform_id(a), f"{key}\n{item_id}",
                          "EX", self._delivery_ttl_s)  # fmt: skip
        return batch.script(
            "outbox_step",
            [keys.conversation(key, s) for s in ("", ":o", ":op")],
            [item_id, action, self.outbox_ttl_ms, a, b],
        )

    def _reports_delivery(self, key: str) -> bool:
        """Whether the conversation's channel (its key's prefix) reports delivery."""
        channels = self._delivery_channels
        return channels is None or key.split(":", 1)[0] in channels

    def step_done(self, key: str, item_id: str, action: str, result: list[Any]) -> bool:
        """The indexes after an OUTBOX_STEP answered: deferred where that hides no work."""
        if not result[0]:
            return False
        update = (key, result[1], result[2])
        if action == "sent":
            self._item_conv.pop(item_id, None)
            if result[2] == "":  # nothing else to send: the removal can wait
                self.link.later.defer(due=[update], unmap=[item_id])
                return True
        keys = self.link.keys
        batch = self.link.batch(flush=True)
        add_index(batch, keys.due, [update])
        item = outbox_item(key, item_id, result[3])
        if action == "sent":
            batch.command("HDEL", keys.outbox_conversations, item_id)
        elif action == "dead":
            batch.command("HSET", keys.outbox_conversations, item_id, key)
            batch.command("ZADD", keys.dead, item.created_at, item_id)
        elif action == "retry_dead":
            batch.command("ZREM", keys.dead, item_id)
        batch.execute()
        return True

    def outbox_sent(self, item_id: str, platform_id: str | None, now: float) -> None:
        self._outbox_step(item_id, "sent", platform_id or "")

    def outbox_retry(self, item_id: str, next_at: float, error: str) -> None:
        self._outbox_step(item_id, "retry", next_at, error)

    def outbox_defer(self, item_id: str, next_at: float) -> None:
        self._outbox_step(item_id, "defer", next_at)

    def outbox_dead(self, item_id: str, error: str) -> None:
        self._outbox_step(item_id, "dead", "", error)

    def dead_letters(self, limit: int = 100) -> list[OutboxItem]:
        """Three trips: the dead ids, their conversations, their items."""
        keys = self.link.keys
        if limit <= 0:
            return []
        batch = self.link.batch()
        batch.command("ZRANGE", keys.dead, 0, limit - 1)
        ids: list[str] = batch.execute()[0]
        if not ids:
            return []
        batch = self.link.batch()
        batch.command("HMGET", keys.outbox_conversations, *ids)
        convs: list[str | None] = batch.execute()[0]
        found = [(i, k) for i, k in zip(ids, convs, strict=True) if k is not None]
        batch = self.link.batch()
        for item_id, key in found:
            batch.command("HGET", keys.conversation(key, ":o"), item_id)
        raws = batch.execute()
        return [outbox_item(k, i, raw) for (i, k), raw in zip(found, raws, strict=True) if raw]

    def retry_dead(self, item_id: str, now: float) -> bool:
        """The item goes to the back of its conversation's outbox (after what is pending now)."""
        return self._outbox_step(item_id, "retry_dead", now)

    def update_delivery(self, platform_id: str, status: str, error: str | None) -> bool:
        batch = self.link.batch()
        batch.command("GET", self.link.keys.platform_id(platform_id))
        found: str | None = batch.execute()[0]
        if found is None:
            return False
        key, item_id = found.split("\n", 1)
        args = [item_id, status, delivery_rank(status), error or ""]
        return bool(self.link.run("delivery", [self.link.keys.conversation(key, ":o")], args))

    def outbox_items(self, conversation: str) -> list[OutboxItem]:
        batch = self.link.batch()
        batch.command("HGETALL", self.link.keys.conversation(conversation, ":o"))
        raw = pairs(batch.execute()[0])
        items = [outbox_item(conversation, item_id, value) for item_id, value in raw]
        return sorted(items, key=lambda o: o.seq)
