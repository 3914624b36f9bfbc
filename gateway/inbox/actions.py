"""A worker's side of an agent action: what it writes and sends, in the conversation's order.

Platform windows are checked again here, at send time: the composer checked when the agent
typed, but a reply can sit in the queue across the 24-hour edge. Nothing is dropped silently:
a message the platform would refuse becomes a system line in the history saying why. Where
the platform takes only an approved template (WhatsApp after 24 hours), a resolution asks the
satisfaction question as that template when one is configured.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from adapters.base import WindowDecision
from flows.engine import StepResult, resume
from flows.i18n.system_texts import system_text
from flows.messages import Attachment, Inbound, Reply, event_to_dict
from flows.services import Services
from flows.state import ConversationState
from gateway.context import Gateway
from gateway.inbox.outside_window import (
    CSAT,
    REOPEN,
    csat_hint,
    csat_reply,
    has_template,
    reopen_hint,
    reopen_reply,
    satisfaction_node,
)
from gateway.store.base import Conversation, HistoryEntry
from gateway.turns.history import reply_entry


@dataclass
class ActionTurn:
    """What one agent action commits: the same shape as a bot turn."""

    state: ConversationState
    replies: list[tuple[Reply, str]] = field(default_factory=list)  # (reply, window author)
    history: list[HistoryEntry] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    send: list[tuple[Reply, WindowDecision | None]] = field(default_factory=list)  # checked


def agent_turn(
    gw: Gateway, inbound: Inbound, conversation: Conversation, services: Services, now: float
) -> ActionTurn:
    """An agent's action as a turn; `services` are the flow's, for the bot taking over."""
    action = inbound.extra("action") or ""
    author = inbound.extra("author") or "Agent"
    thread = inbound.extra("thread") or ""
    turn = ActionTurn(conversation.state)
    event = {"kind": f"agent_{action}", "thread": thread, "agent": inbound.extra("agent"),
             "at": now, "channel": inbound.channel}  # fmt: skip
    if action == "reply":
        turn.replies.append((Reply(inbound.text, author=author), "agent"))
    elif action == "joined":
        language = conversation.state.language
        joined = _joined(gw, author, inbound.extra("photo") or "", language)
        turn.replies.append((joined, "agent"))
    elif action == "template" and (inbound.extra("template") or REOPEN) == REOPEN:
        turn.replies.append((reopen_reply(inbound.shopper, author), "agent"))
    elif action == "resolve":
        if conversation.state.mode == "handoff":
            result = _resume(gw, inbound, conversation, services, now)
            turn.state = result.state
            turn.replies += [(r, "bot") for r in result.replies]
            turn.events += [
                {**event_to_dict(e), "at": now, "channel": inbound.channel} for e in result.events
            ]
        done = f"{author} resolved the thread; the bot takes over again."
        turn.history.append(_line(inbound.key, now, done, thread))
    login = inbound.extra("agent") or ""
    for reply, _ in turn.replies:
        entry = reply_entry(inbound.key, reply, now, gw.redact)
        if reply.author != "bot" and login:  # whose photo goes beside it in the inbox
            entry = replace(entry, data={**entry.data, "agent": login})
        turn.history.append(entry)
    turn.events.append(event)
    _check_windows(gw, inbound, conversation, turn, now)
    return turn


def _joined(gw: Gateway, author: str, photo: str, language: str | None) -> Reply:
    """ "Bea from Acme Shoes has joined", in the shopper's language, with her photo where she
    has one, so every platform shows who is answering now."""
    shop = gw.flows.flow.shop.get("name") or "our team"
    text = system_text("agent_joined", language).format(agent=author, shop=shop)
    media = (Attachment("image", photo),) if photo else ()
    return Reply(text, media=media)


def _resume(
    gw: Gateway, inbound: Inbound, conversation: Conversation, services: Services, now: float
) -> StepResult:
    """The bot takes over at the handoff's `then:` node; but if the platform now takes only a
    template and a satisfaction template is configured, it asks that question as the template
    and waits at the flow's satisfaction node for the shopper's answer."""
    flow, state = gw.flows.flow, conversation.state
    node = inbound.extra("resume_at") or None
    late = _needs_template(gw, inbound.channel, conversation, now)
    csat_node = satisfaction_node(flow)
    if not (late and csat_node and has_template(gw, inbound.channel, CSAT)):
        return resume(flow, state, inbound, services, node)
    result = resume(flow, state, inbound, services, csat_node)
    author = inbound.extra("author") or "Agent"
    return replace(result, replies=(csat_reply(inbound.shopper, author, csat_node),))


def _needs_template(gw: Gateway, channel: str, conversation: Conversation, now: float) -> bool:
    adapter = gw.adapters.adapters.get(channel)
    if adapter is None:
        return False
    window = adapter.window(conversation.last_inbound_at or None, now, "bot")
    return not window.allowed and window.needs_template


def _check_windows(
    gw: Gateway, inbound: Inbound, conversation: Conversation, turn: ActionTurn, now: float
) -> None:
    """Keep what the platform takes now (templates where it wants one); say why for the rest."""
    adapter = gw.adapters.adapters.get(inbound.channel)
    last = conversation.last_inbound_at or None
    for reply, author in turn.replies:
        window = adapter.window(last, now, author) if adapter is not None else None
        if reply.template is not None:
            if not has_template(gw, inbound.channel, reply.template.name):
                turn.history.append(_line(inbound.key, now, _unconfigured(gw, inbound, reply)))
                continue
        elif window is not None and not window.allowed:
            turn.history.append(_line(inbound.key, now, _not_sent(gw, inbound, author, window)))
            continue
        turn.send.append((reply, window))


def _not_sent(gw: Gateway, inbound: Inbound, author: str, window: WindowDecision) -> str:
    """The honest line for a refused message, naming what would have let it through."""
    hint = None
    if window.needs_template:
        channel = inbound.channel
        hint = csat_hint(gw, channel) if author == "bot" else reopen_hint(gw, channel)
    return f"Not sent: {window.reason}" + (f"; {hint}." if hint else ".")


def _unconfigured(gw: Gateway, inbound: Inbound, reply: Reply) -> str:
    """A template queued on one process and processed where it is not configured."""
    assert reply.template is not None
    name, channel = reply.template.name, inbound.channel
    hint = reopen_hint(gw, channel) if name == REOPEN else csat_hint(gw, channel)
    return f"Not sent: this gateway has no {name} template for {channel}; " + (
        f"{hint}." if hint else "check its settings."
    )


def _line(conversation: str, now: float, text: str, thread: str = "") -> HistoryEntry:
    data = {"thread": thread} if thread else {}
    return HistoryEntry(conversation, now, "system", "system", text, data)
