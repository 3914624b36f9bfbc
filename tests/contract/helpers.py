"""Small builders shared by the contract tests."""

from __future__ import annotations

from typing import Any

from flows.messages import Inbound, Shopper
from flows.state import ConversationState
from gateway.store.base import Claim, HistoryEntry, OutboxItem, Store, Turn

T0 = 1_700_000_000.0
LEASE = 30.0
TTL = 3600.0


def inbound(conv: str = "c1", n: int = 0, *, channel: str = "telegram", text: str = "") -> Inbound:
    return Inbound(
        channel=channel,
        conversation=conv,
        message_id=f"{conv}-{n}",
        shopper=Shopper(id=conv, name="Ann"),
        text=text or f"m{n}",
        timestamp=T0 + n,
    )


def key(conv: str = "c1", channel: str = "telegram") -> str:
    return f"{channel}:{conv}"


def outbox_for(claim: Claim, count: int, now: float) -> list[OutboxItem]:
    return [
        OutboxItem(
            id=f"{claim.conversation}:{claim.inbound.message_id}:{i}",
            conversation=claim.conversation,
            channel=claim.inbound.channel,
            payload={"text": f"reply {i} to {claim.inbound.text}"},
            created_at=now,
        )
        for i in range(count)
    ]


def history_for(claim: Claim, now: float) -> list[HistoryEntry]:
    return [
        HistoryEntry(
            claim.conversation,
            now,
            "in",
            "shopper",
            claim.inbound.text,
            {"message_id": claim.inbound.message_id},
        ),
        HistoryEntry(claim.conversation, now, "out", "bot", f"echo {claim.inbound.text}"),
    ]


def events_for(claim: Claim, count: int, now: float) -> list[dict[str, Any]]:
    return [{"type": "NodeEntered", "node": f"n{i}", "at": now, "i": i} for i in range(count)]


def turn_for(
    claim: Claim,
    now: float,
    *,
    replies: int = 1,
    events: int = 1,
    state: ConversationState | None = None,
) -> Turn:
    """A turn as the worker writes it: state, two history lines, outbox items and events."""
    return Turn(
        claim,
        state or ConversationState(node=f"after-{claim.inbound.text}", mode="bot"),
        history_for(claim, now),
        outbox_for(claim, replies, now),
        events_for(claim, events, now),
        now,
    )


def commit(
    store: Store,
    claim: Claim,
    now: float,
    *,
    replies: int = 1,
    events: int = 1,
    state: ConversationState | None = None,
) -> bool:
    """`turn_for`'s turn committed by `Store.commit_turn` (no lane)."""
    t = turn_for(claim, now, replies=replies, events=events, state=state)
    return store.commit_turn(t.claim, t.state, t.history, t.outbox, t.events, t.now)


def run_turn(store: Store, conv: str, n: int, now: float, *, replies: int = 1) -> Claim:
    """Enqueue, claim and commit one message (the conversation must be idle)."""
    assert store.enqueue(inbound(conv, n), now, TTL)
    claim = store.claim("w", now, LEASE)
    assert claim is not None and claim.inbound.message_id == f"{conv}-{n}"
    assert commit(store, claim, now, replies=replies)
    return claim
