"""Threads opened and kept current by the turn workers as shoppers hand off and write, and
reopened when a shopper writes again just after a resolve (INBOX_REOPEN_S)."""

from __future__ import annotations

import logging
from typing import Any

from flows.engine import Handback, StepResult, reopen
from flows.messages import Fallback, FlowResumed, HandoffRequested, Inbound, InputInvalid
from flows.services import Services
from flows.state import ConversationState
from gateway.context import Gateway
from gateway.inbox.model import InboxError, Thread
from gateway.inbox.service import InboxService

logger = logging.getLogger(__name__)
REOPEN_REASON = "reopened: the shopper wrote again after resolve"
# What a step says when the message was not an answer to the bot's question.
NOT_AN_ANSWER = (Fallback, InputInvalid, FlowResumed, HandoffRequested)


def open_thread(
    gw: Gateway, inbound: Inbound, state: ConversationState, handoff: HandoffRequested, now: float
) -> Thread:
    """The thread for a handoff, with what the bot collected (redacted) for the agent."""
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
    if gw.inbox.touch(inbound.key, inbound.timestamp or now) is None:
        reopened = HandoffRequested(state.queue or "support", "shopper wrote while waiting", "")
        open_thread(gw, inbound, state, reopened, now)


def reopen_step(
    gw: Gateway,
    inbound: Inbound,
    state: ConversationState,
    result: StepResult,
    services: Services,
    now: float,
) -> tuple[StepResult, Thread | None]:
    """With INBOX_REOPEN_S, a shopper who writes again soon after a resolve goes back to a
    person: the step becomes a handoff to the resolved thread's queue (the bot stays quiet,
    the shopper gets the handoff notice). Returns the step to commit and the resolved thread
    it continues, or the bot's own step when reopening does not apply."""
    if gw.config.reopen_s <= 0 or _answers_the_bot(state, result):
        return result, None  # (most turns stop here, before reading the inbox)
    previous = _resolved_recently(gw, inbound, state, now)
    if previous is None:
        return result, None
    back = Handback(previous.queue, REOPEN_REASON, previous.resume_at)
    logger.info("thread_reopened", extra={"conversation": inbound.key, "queue": previous.queue})
    return reopen(gw.flows.flow, state, inbound, services, back), previous


def give_back(gw: Gateway, conversation: str, previous: Thread, now: float) -> Thread | None:
    """The reopened thread goes straight to the agent who had it when they are on duty with
    room; otherwise it waits in the queue like any other (auto-assignment may take it)."""
    thread = gw.inbox.open_thread_of(conversation)
    agent = gw.inbox.agent(previous.agent) if previous.agent else None
    if thread is None or thread.status != "waiting" or agent is None or not agent.on_duty:
        return None
    try:
        return InboxService(gw, gw.inbox).claim(agent, thread.id, now)
    except InboxError:  # full, or someone was quicker: it waits in the queue
        return None


def _resolved_recently(
    gw: Gateway, inbound: Inbound, state: ConversationState, now: float
) -> Thread | None:
    """The conversation's latest resolved thread, if resolved at most INBOX_REOPEN_S before
    this message (spam stays closed); None while a person has the conversation."""
    if state.mode == "handoff":
        return None
    at, limit = inbound.timestamp or now, gw.config.reopen_s
    for thread in gw.inbox.threads_of(inbound.key, limit=3):
        if thread.status == "resolved":
            recent = thread.resolved_at is not None and at - thread.resolved_at <= limit
            return thread if recent and thread.outcome != "spam" else None
    return None


def _answers_the_bot(state: ConversationState, result: StepResult) -> bool:
    """A tap or a valid answer to the question the bot asked after the resolve ("anything
    else?", the 1-5 rating) stays with the bot; whatever it would not understand, a restart
    after the goodbye, or asking for a person goes back to the person."""
    if state.mode != "bot" or state.node is None:
        return False
    return not any(isinstance(e, NOT_AN_ANSWER) for e in result.events)


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
