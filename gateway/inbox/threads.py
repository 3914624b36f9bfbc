"""Threads opened and kept current by the turn workers as shoppers hand off and write."""

from __future__ import annotations

import logging
from typing import Any

from flows.messages import HandoffRequested, Inbound
from flows.state import ConversationState
from gateway.context import Gateway
from gateway.inbox.model import Thread

logger = logging.getLogger(__name__)


def open_thread(
    gw: Gateway, inbound: Inbound, state: ConversationState, handoff: HandoffRequested, now: float
) -> Thread:
    """The thread for a handoff, with what the bot collected (redacted) for the agent."""
    assert gw.inbox is not None
    thread = Thread(
        id=f"{inbound.key}:{inbound.message_id}",
        conversation=inbound.key,
        channel=inbound.channel,
        queue=handoff.queue,
        reason=handoff.reason,
        created_at=now,
        shopper_name=gw.redact(inbound.shopper.name or inbound.shopper.first_name or ""),
        resume_at=state.resume,
        variants=state.variants,
        vars=_redacted(gw, state.vars),
        last_message_at=inbound.timestamp or now,
        updated_at=now,
    )
    opened = gw.inbox.open_thread(thread)
    logger.info("thread_opened", extra={"conversation": inbound.key, "queue": handoff.queue})
    return opened


def shopper_wrote(gw: Gateway, inbound: Inbound, state: ConversationState, now: float) -> None:
    """A shopper wrote while a person has the conversation: the thread shows it; a conversation
    in handoff without an open thread (lost, or from before the inbox) gets one again."""
    assert gw.inbox is not None
    if gw.inbox.touch(inbound.key, inbound.timestamp or now) is None:
        reopened = HandoffRequested(state.queue or "support", "shopper wrote while waiting", "")
        open_thread(gw, inbound, state, reopened, now)


def _redacted(gw: Gateway, values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, str):
            out[name] = gw.redact(value)
        elif isinstance(value, (int, float, bool)) or value is None:
            out[name] = value
        else:  # API answers saved by call nodes: shown as text, redacted
            out[name] = gw.redact(str(value))[:500]
    return out
