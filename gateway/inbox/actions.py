"""A worker's side of an agent action: what it writes and sends, in the conversation's order.

Platform windows are checked again here, at send time: the composer checked when the agent
typed, but a reply can sit in the queue across the 24-hour edge. Nothing is dropped silently:
a message the platform would refuse becomes a system line in the history saying why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flows.engine import resume
from flows.messages import Inbound, Reply, event_to_dict
from flows.state import ConversationState
from gateway.context import Gateway
from gateway.history import reply_entry
from gateway.store.base import Conversation, HistoryEntry


@dataclass
class ActionTurn:
    """What one agent action commits: the same shape as a bot turn."""

    state: ConversationState
    replies: list[tuple[Reply, str]] = field(default_factory=list)  # (reply, window author)
    history: list[HistoryEntry] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def agent_turn(gw: Gateway, inbound: Inbound, conversation: Conversation, now: float) -> ActionTurn:
    action = inbound.extra("action") or ""
    author = inbound.extra("author") or "Agent"
    thread = inbound.extra("thread") or ""
    turn = ActionTurn(conversation.state)
    event = {"kind": f"agent_{action}", "thread": thread, "agent": inbound.extra("agent"),
             "at": now, "channel": inbound.channel}  # fmt: skip
    if action == "reply":
        turn.replies.append((Reply(inbound.text, author=author), "agent"))
    elif action == "joined":
        shop = gw.flows.flow.shop.get("name") or "our team"
        text = f"👋 {author} from {shop} has joined the chat. You're talking to a person now."
        turn.replies.append((Reply(text), "agent"))
    elif action == "resolve":
        if conversation.state.mode == "handoff":
            node = inbound.extra("resume_at") or None
            result = resume(gw.flows.flow, conversation.state, inbound, gw.services, node)
            turn.state = result.state
            turn.replies += [(r, "bot") for r in result.replies]
            turn.events += [
                {**event_to_dict(e), "at": now, "channel": inbound.channel} for e in result.events
            ]
        turn.history.append(
            HistoryEntry(
                inbound.key,
                now,
                "system",
                "system",
                f"{author} resolved the thread; the bot takes over again.",
                {"thread": thread},
            )
        )
    turn.history += [reply_entry(inbound.key, r, now, gw.redact) for r, _ in turn.replies]
    turn.events.append(event)
    return turn
