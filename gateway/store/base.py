"""The one storage interface, with two backends (SQLite, Redis) that pass the same contract tests.

A shopper message is always somewhere: queued, in flight under a lease, or done. A turn's
results (state, history, outbox, events) are written in one atomic step, and only then sent,
so a crash anywhere means the message is processed again and nothing is sent twice.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from flows.messages import Inbound
from flows.state import ConversationState

Direction = Literal["in", "out", "note", "system"]
OutboxStatus = Literal["pending", "sent", "dead"]
DELIVERY_ORDER = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "read": 4}
# A failure report beats queued/sending/sent but never a delivered or read message.
DELIVERY_FAILED = frozenset({"failed", "undelivered"})
# An item handed over by commit_turn is leased this much longer than asked, so that the lease
# its thread's claim_outbox returns it with is never shorter than that call asks for.
HAND_OVER_SLACK_S = 1.0
# The last error of a pending outbox item claimed while still leased: the sender that held it
# ended without an answer recorded (it died, or its send outlived the lease), so it may have
# gone out. Claiming such an item counts an attempt and sets this; the sender asks the
# platform (`Adapter.find_sent`) before sending it again.
STRANDED = "uncertain:lease_ended"


def delivery_rank(status: str | None) -> float:
    """Where a delivery status sits; a report only applies when it ranks higher (never down)."""
    if status is None:
        return -2.0
    if status in DELIVERY_FAILED:
        return 2.5
    return float(DELIVERY_ORDER.get(status, -1))


@dataclass(frozen=True, slots=True)
class Claim:
    """A queued shopper message leased to one worker until `lease_until`."""

    id: str  # the store's id for this queue entry
    conversation: str  # Inbound.key, e.g. "telegram:12345"
    inbound: Inbound
    attempts: int  # how many times it was claimed, this one included
    lease_until: float
    token: str  # proves the lease in commit/release; a stale token is refused


@dataclass(frozen=True, slots=True)
class Buried:
    """A shopper message whose turn failed too often: kept for an operator, who can queue it
    again (`retry_buried`, after a fix) or drop it (`discard_buried`)."""

    id: str  # the store's id for it (a Claim's id, kept), unique within the store
    conversation: str
    inbound: Inbound
    error: str  # why it was buried
    attempts: int  # how many times its turn was tried
    buried_at: float


@dataclass(frozen=True, slots=True)
class Conversation:
    """What a worker loads before a turn."""

    key: str
    state: ConversationState
    last_inbound_at: float = 0.0  # for platform windows (24 h)
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of a conversation's saved history. `text` is already redacted."""

    conversation: str
    at: float
    direction: Direction
    author: str  # "shopper", "bot", an agent's display name, or "system"
    text: str
    data: dict[str, Any] = field(default_factory=dict)  # buttons, payload, kind, platform ids
    seq: int = 0  # assigned by the store: increasing within a conversation


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One platform message to send, in conversation order.

    `id` is deterministic (the inbound's id plus a counter), so a turn processed twice puts the
    same items, and the store keeps the first: the second attempt sends nothing twice.
    """

    id: str
    conversation: str
    channel: str
    payload: dict[str, Any]  # adapters.base.Outgoing.to_dict()
    created_at: float
    status: OutboxStatus = "pending"
    attempts: int = 0
    next_at: float = 0.0
    last_error: str | None = None
    platform_id: str | None = None
    delivery: str | None = None  # queued, sent, delivered, read, failed (platform callbacks)
    seq: int = 0  # assigned by the store: order within the conversation


def compact_json(value: Any) -> str:
    """The stores' one JSON form: compact and UTF-8 (smaller rows and Redis values)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class HandOver:
    """The per-thread side of `hand_over_commits`, the same for every backend."""

    def __init__(self) -> None:
        self._local = threading.local()

    def enable(self, lease_s: float | None) -> None:
        self._local.lease_s, self._local.items = lease_s, []

    def lease_until(self) -> float | None:
        """Until when a commit of this thread claims the head item; None: it does not."""
        lease_s = getattr(self._local, "lease_s", None)
        return None if lease_s is None else time.time() + lease_s + HAND_OVER_SLACK_S

    def keep(self, item: OutboxItem, lease_until: float) -> None:
        self._local.items.append((item, lease_until))

    def take(self, now: float, lease_s: float, limit: int) -> list[OutboxItem]:
        """What this thread's commits claimed and still holds for `now + lease_s`, at most
        `limit` (the rest stays for the next call); a stale one is let go: its lease ends."""
        kept: list[tuple[OutboxItem, float]] = getattr(self._local, "items", None) or []
        fresh = [(item, until) for item, until in kept if until >= now + lease_s]
        self._local.items = fresh[limit:]
        return [item for item, _ in fresh[:limit]]


def check_same_conversation(
    conversation: str, what: Sequence[HistoryEntry] | Sequence[OutboxItem]
) -> None:
    """A turn writes only its own conversation (its keys share one Redis Cluster slot)."""
    for item in what:
        if item.conversation != conversation:
            raise ValueError(
                f"commit_turn for {conversation!r} got an item of {item.conversation!r}: "
                "a turn writes only its own conversation"
            )


class Store(Protocol):
    # ---- inbound queue ----
    def enqueue(self, inbound: Inbound, now: float, dedupe_ttl_s: float) -> bool:
        """Queue a shopper message unless its (channel, message_id) was seen within the TTL.

        Durable when it returns True; False means a duplicate (a platform retry): nothing done.
        """

    def claim(self, worker: str, now: float, lease_s: float) -> Claim | None:
        """The oldest queued message of a conversation that has nothing in flight, leased.

        Messages of one conversation are claimed one at a time and in arrival order; an expired
        lease makes its message claimable again (the worker died).
        """

    def commit_turn(
        self,
        claim: Claim,
        state: ConversationState,
        history: Sequence[HistoryEntry],
        outbox: Sequence[OutboxItem],
        events: Sequence[dict[str, Any]],
        now: float,
        sent: Sequence[tuple[str, str | None]] = (),
    ) -> bool:
        """Atomically: save state, append history, add outbox items (ignoring ids already
        present), record events (ignoring a second recording of the same claim's message),
        set last_inbound_at, and mark the message done. False (and nothing of the turn
        written) if the lease was lost to another worker.

        First, whatever the lease: `sent` (outbox id, platform id) pairs are recorded as
        `outbox_sent` would, in the same write: the replies of earlier turns whose answers
        the worker read since its last commit (TurnWorker), one write a turn fewer."""

    def release(self, claim: Claim, retry_at: float, error: str) -> None:
        """Give the message back to the queue after a failure, available again at `retry_at`."""

    def bury(self, claim: Claim, error: str, now: float) -> None:
        """A message that failed too often: kept for an operator (`buried`), no longer claimed;
        the conversation's next message becomes its head. Nothing if the lease was lost."""

    def queue_depth(self) -> int: ...

    def buried(self, limit: int = 100) -> list[Buried]:
        """Buried messages, oldest burial first."""

    def buried_count(self) -> int:
        """How many messages are buried (for /metrics: cheap, no listing)."""

    def retry_buried(self, conversation: str, buried_id: str, now: float) -> bool:
        """Queue a buried message again, at the end of its conversation's queue, with its
        attempts counted afresh (False if there is no such buried message)."""

    def discard_buried(self, conversation: str, buried_id: str) -> bool:
        """Drop a buried message for good (False if there is no such buried message)."""

    # ---- conversations and history ----
    def load(self, key: str) -> Conversation:
        """The conversation's state (a fresh `ConversationState()` if it has none)."""

    def history(
        self, key: str, before_seq: int | None = None, limit: int = 50
    ) -> list[HistoryEntry]:
        """Newest-last page of history ending before `before_seq` (None: the latest page)."""

    def append_history(self, entries: Sequence[HistoryEntry]) -> None:
        """History written outside a turn (agent notes, deliveries); assigns `seq`."""

    # ---- outbox ----
    def claim_outbox(self, now: float, lease_s: float, limit: int) -> list[OutboxItem]:
        """Due outbox items, at most one per conversation (the earliest unsent one), leased so
        no other sender takes them until `now + lease_s`. In a thread that `hand_over_commits`,
        the items its last commits claimed come first, without asking the store again."""

    def hand_over_commits(self, lease_s: float | None) -> None:
        """For the calling thread from now on (None: no longer): `commit_turn` also claims its
        conversation's due head outbox item, leased for `lease_s` (and HAND_OVER_SLACK_S) from
        the commit, and keeps it for this thread's next `claim_outbox`. For a thread that sends
        what it just committed (a turn worker): one write less a turn. Should that thread not
        call `claim_outbox`, the item waits for its lease to end, as after a crash."""

    def outbox_sent(self, item_id: str, platform_id: str | None, now: float) -> None: ...

    def outbox_retry(self, item_id: str, next_at: float, error: str) -> None:
        """Count an attempt and make the item due again at `next_at`."""

    def outbox_defer(self, item_id: str, next_at: float) -> None:
        """Not sent yet, on purpose (per-chat pacing): due again at `next_at`, no attempt
        counted, its lease released."""

    def outbox_dead(self, item_id: str, error: str) -> None:
        """Dead-letter: kept for an operator (`gateway outbox --failed`), never sent again
        unless retried. Later items of the same conversation are not blocked by it."""

    def dead_letters(self, limit: int = 100) -> list[OutboxItem]: ...

    def retry_dead(self, item_id: str, now: float) -> bool:
        """Put a dead item back as pending (False if there is no such dead item)."""

    def update_delivery(self, platform_id: str, status: str, error: str | None) -> bool:
        """A platform's delivery report; never downgrades (read stays read). False if unknown."""

    def outbox_items(self, conversation: str) -> list[OutboxItem]:
        """Every outbox item of a conversation in order (for tests and the inbox). A sent item
        may come without its payload (`{}`: the Redis store drops it to save memory; what was
        said is in the history); pending and dead ones always have it."""

    def events(self, key: str, limit: int = 100) -> list[dict[str, Any]]:
        """The latest `limit` event dicts recorded by commit_turn, oldest first, as given.

        For tests and debugging; reports read the analytics, which record each message's
        events once on their own. SQLite keeps them all; Redis keeps a conversation's latest
        turns (EVENT_TURNS) while it is active, and they expire with its sent outbox."""

    # ---- operations ----
    def ping(self) -> bool: ...

    def close(self) -> None: ...
