"""What a turn adds to the saved history: the shopper's message and the bot's replies, redacted."""

from __future__ import annotations

from collections.abc import Callable

from flows.messages import Inbound, Reply
from gateway.store.base import HistoryEntry


def inbound_entry(inbound: Inbound, at: float, redact: Callable[[str], str]) -> HistoryEntry:
    data: dict[str, object] = {"kind": inbound.kind, "message_id": inbound.message_id}
    if inbound.payload:
        data["payload"] = inbound.payload
    if inbound.attachments:
        data["attachments"] = [
            {"kind": a.kind, "mime_type": a.mime_type} for a in inbound.attachments
        ]
    if inbound.location:
        data["location"] = [inbound.location.latitude, inbound.location.longitude]
    if inbound.shopper.name:
        data["name"] = redact(inbound.shopper.name)
    return HistoryEntry(
        conversation=inbound.key,
        at=at,
        direction="in",
        author="shopper",
        text=redact(inbound.text),
        data=data,
    )


def reply_entry(
    conversation: str, reply: Reply, at: float, redact: Callable[[str], str]
) -> HistoryEntry:
    """A bot or agent message; redacted too, since a template may echo what the shopper typed."""
    data: dict[str, object] = {}
    if reply.buttons:
        data["buttons"] = [b.title for b in reply.buttons]
    if reply.call:
        data["call"] = reply.call
    return HistoryEntry(
        conversation=conversation,
        at=at,
        direction="out",
        author=reply.author,
        text=redact(reply.text),
        data=data,
    )
