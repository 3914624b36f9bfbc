"""The `Store` methods each backend answers from one of its parts, forwarded once for both.

A backend's store class is made of parts (a queue, the conversations, the outbox); what is
the same call on the same part in both backends is written here, and each store class keeps
only what differs (its enqueue, commits, lanes and operations).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from gateway.store.base import (
    Buried,
    Claim,
    Conversation,
    Conversations,
    HistoryEntry,
    Outbox,
    OutboxItem,
)


class QueuePart(Protocol):
    """What a backend's queue part answers for the store as it is."""

    def claim(self, worker: str, now: float, lease_s: float) -> Claim | None: ...

    def release(self, claim: Claim, retry_at: float, error: str) -> None: ...

    def bury(self, claim: Claim, error: str, now: float) -> None: ...

    def buried(self, limit: int = 100) -> list[Buried]: ...

    def buried_count(self) -> int: ...

    def retry_buried(self, conversation: str, buried_id: str, now: float) -> bool: ...

    def discard_buried(self, conversation: str, buried_id: str) -> bool: ...

    def queue_depth(self) -> int: ...


class ForwardingStore:
    """Forwards to `queue`, `conversations` and `outbox`, which the subclass sets."""

    queue: QueuePart
    conversations: Conversations
    outbox: Outbox

    # ---- inbound queue ----

    def claim(self, worker: str, now: float, lease_s: float) -> Claim | None:
        return self.queue.claim(worker, now, lease_s)

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
