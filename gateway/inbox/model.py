"""What the inbox keeps: agents and threads. Small frozen records, the same in every backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ThreadStatus = Literal["waiting", "assigned", "resolved"]
Role = Literal["agent", "supervisor", "admin"]
DEFAULT_CAPACITY = 3


@dataclass(frozen=True, slots=True)
class Agent:
    login: str
    display_name: str  # what shoppers see beside the agent's replies
    password_hash: str
    role: Role = "agent"
    capacity: int = DEFAULT_CAPACITY  # threads at once; the inbox refuses more
    queues: tuple[str, ...] = ()  # the queues this agent serves; () means every queue
    photo_url: str | None = None
    on_duty: bool = False  # accepting threads (set at login, cleared at logout)
    # Sessions remember the version they began with; a new password bumps it, ending them all.
    session_version: int = 0

    def serves(self, queue: str) -> bool:
        return not self.queues or queue in self.queues


@dataclass(frozen=True, slots=True)
class Thread:
    """One handoff: from the bot asking for a person until an agent resolves it.

    `id` is deterministic (the conversation and the message that caused the handoff), so a
    turn processed twice opens the thread once.
    """

    id: str
    conversation: str  # Inbound.key, e.g. "whatsapp:+14155550100"
    channel: str
    queue: str
    reason: str
    created_at: float
    shopper_name: str = ""
    status: ThreadStatus = "waiting"
    agent: str | None = None  # login of the agent who has it
    claimed_at: float | None = None
    first_response_at: float | None = None
    resolved_at: float | None = None
    outcome: str | None = None  # "solved", "not_solved", ... set at resolve
    resume_at: str | None = None  # the node the bot resumes at
    variants: tuple[tuple[str, str], ...] = ()  # the shopper's experiment variants
    vars: dict[str, Any] = field(default_factory=dict)  # what the bot collected (redacted)
    last_message_at: float = 0.0  # the shopper's latest message
    updated_at: float = 0.0


class InboxError(Exception):
    """An action the inbox refuses, with a message an agent can read."""


class CapacityFull(InboxError):
    pass


class NotWaiting(InboxError):
    pass


class NotYours(InboxError):
    pass


class UnknownAgent(InboxError):
    pass
