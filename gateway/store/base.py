"""The one storage interface, with two backends (SQLite, Redis) that pass the same contract tests.

A shopper message is always somewhere: queued, in flight under a lease, or done. A turn's
results (state, history, outbox, events) are written in one atomic step, and only then sent,
so a crash anywhere means the message is processed again and nothing is sent twice.
"""

from __future__ import annotations

import json
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
# The last error of a pending outbox item claimed while still leased: the sender that held it
# ended without an answer recorded (it died, or its send outlived the lease), so it may have
# gone out. Claiming such an item counts an attempt and sets this; the sender asks the
# platform (`Adapter.find_sent`) before sending it again.
STRANDED = "uncertain:lease_ended"
SentMark = tuple[str, str | None]  # (outbox id, platform id) of a reply the platform accepted


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


@dataclass(frozen=True, slots=True)
class Turn:
    """What one turn writes: the new state, its history lines, its replies and its events."""

    claim: Claim
    state: ConversationState
    history: Sequence[HistoryEntry]
    outbox: Sequence[OutboxItem]
    events: Sequence[dict[str, Any]]
    now: float


@dataclass(frozen=True, slots=True)
class Committed:
    """What a lane's commit did besides writing the turn (see `Lane.commit`)."""

    ok: bool  # False: the lease was lost and nothing of the turn written (its `sent` was)
    handed: OutboxItem | None = None  # the turn's first reply, leased to this lane's sender
    next_claim: Claim | None = None  # this worker's next message, claimed by the same write


def compact_json(value: Any) -> str:
    """The stores' one JSON form: compact and UTF-8 (smaller rows and Redis values)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


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


class Queue(Protocol):
    """The inbound queue: shopper messages queued, leased to one worker at a time per
    conversation, committed with their turn, released after a failure, or buried."""

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
    ) -> bool:
        """Atomically: save state, append history, add outbox items (ignoring ids already
        present), record events (ignoring a second recording of the same claim's message),
        set last_inbound_at, and mark the message done. False (and nothing of the turn
        written) if the lease was lost to another worker."""

    def lane(self, worker: str, lease_s: float, send_lease_s: float) -> Lane:
        """A turn worker's own line to the store (see `Lane`): its claims leased for
        `lease_s`, the replies its commits hand it for `send_lease_s`."""

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


class Conversations(Protocol):
    """What a conversation has kept: its state, its history and the events of its turns."""

    def load(self, key: str) -> Conversation:
        """The conversation's state (a fresh `ConversationState()` if it has none)."""

    def history(
        self, key: str, before_seq: int | None = None, limit: int = 50
    ) -> list[HistoryEntry]:
        """Newest-last page of history ending before `before_seq` (None: the latest page)."""

    def append_history(self, entries: Sequence[HistoryEntry]) -> None:
        """History written outside a turn (agent notes, deliveries); assigns `seq`."""

    def events(self, key: str, limit: int = 100) -> list[dict[str, Any]]:
        """The latest `limit` event dicts recorded by commit_turn, oldest first, as given.

        For tests and debugging; reports read the analytics, which record each message's
        events once on their own. SQLite keeps them all; Redis keeps a conversation's latest
        turns (EVENT_TURNS) while it is active, and they expire with its sent outbox."""


class Outbox(Protocol):
    """The platform messages turns wrote, sent in conversation order after their commit."""

    def claim_outbox(self, now: float, lease_s: float, limit: int) -> list[OutboxItem]:
        """Due outbox items, at most one per conversation (the earliest unsent one), leased so
        no other sender takes them until `now + lease_s`."""

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


class Store(Queue, Conversations, Outbox, Protocol):
    """The one storage interface: the inbound queue, the conversations and the outbox, on one
    backend, so that a turn's commit writes all three at once."""

    def ping(self) -> bool: ...

    def close(self) -> None: ...


class Lane(Protocol):
    """One turn worker's own line to the store, pipelined so that a busy worker's turn costs
    one write (SQLite) or one round trip (Redis): its commit also records the replies it sent
    since the last one, claims the reply it just wrote for it to send, and claims its next
    message. Everything it holds is returned as values (`Committed`) and kept in this object,
    one per worker: never shared between threads."""

    def claim(self, now: float) -> Claim | None:
        """The worker's next message: the one its last commit claimed ahead while more than
        half of that lease is left, else one claimed afresh as `Store.claim` does (a claim
        ahead whose lease ran down, after a slow send, is given back first)."""

    def load(self, claim: Claim) -> Conversation:
        """The claimed message's conversation (Redis: as the claim read it, no trip)."""

    def commit(self, turn: Turn, sent: Sequence[SentMark] = ()) -> Committed:
        """`Store.commit_turn` of `turn`, and in the same write:

        - first, whatever the lease: `sent` recorded as `Store.outbox_sent` would (the
          replies of earlier turns whose answers the worker read since its last write);
        - the turn's conversation's due head reply claimed for this worker's sender, leased
          for `send_lease_s` from the commit: `handed` (None if it has none due, or another
          sender holds an earlier one). Not sent, it waits for its lease to end, as after a
          crash, and is then claimed as maybe sent;
        - another conversation's next message claimed for this worker, leased for `lease_s`
          from the commit (not from the turn's start): `next_claim`, which the next `claim`
          returns. It is never the committed conversation's own next message: that one
          becomes claimable by any worker, in order.
        """

    def record_sent(self, sent: Sequence[SentMark]) -> None:
        """Record replies as sent on their own, when no commit follows soon to carry them."""

    def close(self) -> None:
        """Give back a message claimed ahead and never worked on: claimable at once, its
        attempt taken back (a stopping worker costs a message no attempt)."""
