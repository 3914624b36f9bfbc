"""What agents do, checked once for the web pages and the JSON API alike.

Anything that must reach the shopper (an agent's reply, "Ann has joined", a re-open
template, the bot taking over after resolve) is queued as an agent action on the
conversation's own queue, so it is processed in order with the shopper's messages, committed
with history and outbox in one write, and sent by the same outbox with its retries and dead
letters.
"""

from __future__ import annotations

import statistics
import uuid
from dataclasses import dataclass
from typing import Any

from flows.messages import Inbound, Shopper
from flows.services import InboxStatus
from gateway.context import Gateway
from gateway.inbox.model import Agent, InboxError, NotYours, Thread
from gateway.inbox.outside_window import REOPEN, has_template, reopen_hint, setting
from gateway.inbox.store import InboxStore
from gateway.store.base import HistoryEntry

MIN_WAIT_SAMPLES = 3  # fewer claims than this and the inbox promises no wait time
MAX_REPLY_CHARS = 4000
OUTCOMES = ("solved", "not_solved", "spam")


class WindowClosed(InboxError):
    """A free-form reply the platform would refuse now; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class ReplyWindow:
    """What the composer shows: may the agent write freely, and if not, why and what to do.

    `template_ready`: the re-open template can be sent now; `template_setting`: the variable
    that would make it possible (where the channel has such templates).
    """

    allowed: bool
    reason: str
    needs_template: bool = False
    template_ready: bool = False
    template_setting: str | None = None


class InboxService:
    def __init__(self, gw: Gateway, inbox: InboxStore) -> None:
        self.gw = gw
        self.inbox = inbox

    # ---- for the engine: who is on duty ----
    def status(self, queue: str) -> InboxStatus:
        on_duty = sum(1 for a in self.inbox.agents() if a.on_duty and a.serves(queue))
        waits = self.inbox.recent_waits(queue)
        wait = statistics.median(waits) if len(waits) >= MIN_WAIT_SAMPLES else None
        return InboxStatus(on_duty, self.inbox.count_waiting(queue), wait)

    # ---- permissions ----
    def _mine(self, agent: Agent, thread_id: str) -> Thread:
        thread = self.inbox.thread(thread_id)
        if thread is None:
            raise InboxError("there is no such thread")
        if thread.agent != agent.login and agent.role == "agent":
            raise NotYours("claim this thread first (or ask a supervisor to transfer it)")
        return thread

    # ---- actions ----
    def claim(self, agent: Agent, thread_id: str, now: float) -> Thread:
        thread = self.inbox.claim(thread_id, agent.login, now)
        self._queue_action(thread, agent, "joined", "", now)
        return thread

    def window(self, thread: Thread, now: float) -> ReplyWindow:
        """May an agent write freely now, and if not, why and what can be done."""
        adapter = self.gw.adapters.adapters.get(thread.channel)
        if adapter is None:
            return ReplyWindow(False, f"the {thread.channel} channel is not configured")
        last = self.gw.store.load(thread.conversation).last_inbound_at or None
        decision = adapter.window(last, now, author="agent")
        if decision.allowed or not decision.needs_template:
            return ReplyWindow(decision.allowed, decision.reason, decision.needs_template)
        return ReplyWindow(
            False,
            f"{decision.reason}; {reopen_hint(self.gw, thread.channel)}",
            needs_template=True,
            template_ready=has_template(self.gw, thread.channel, REOPEN),
            template_setting=setting(thread.channel, REOPEN),
        )

    def reply(self, agent: Agent, thread_id: str, text: str, now: float) -> None:
        thread = self._mine(agent, thread_id)
        text = text.strip()
        if not text:
            raise InboxError("the reply is empty")
        if len(text) > MAX_REPLY_CHARS:
            raise InboxError(f"the reply is longer than {MAX_REPLY_CHARS} characters")
        window = self.window(thread, now)
        if not window.allowed:
            raise WindowClosed(f"not sent: {window.reason}")
        self._queue_action(thread, agent, "reply", text, now)
        self.inbox.responded(thread.id, now)

    def send_template(self, agent: Agent, thread_id: str, now: float) -> None:
        """Invite the shopper back with the approved re-open template, the one message the
        platform still takes once its window closed; their answer opens it again."""
        thread = self._mine(agent, thread_id)
        window = self.window(thread, now)
        if window.allowed:
            raise InboxError("free-form replies are possible now: write to the shopper instead")
        if not window.template_ready:
            raise WindowClosed(f"not sent: {window.reason}")
        self._queue_action(thread, agent, "template", "", now, template=REOPEN)
        self.inbox.responded(thread.id, now)

    def note(self, agent: Agent, thread_id: str, text: str, now: float) -> None:
        """An internal note: in the history for agents, never sent to the shopper."""
        thread = self._mine(agent, thread_id)
        if not text.strip():
            raise InboxError("the note is empty")
        text = self.gw.redact(text.strip())
        self._system(thread, agent.display_name, text, now, "note", agent.login)

    def transfer(
        self, agent: Agent, thread_id: str, to_agent: str | None, to_queue: str | None, now: float
    ) -> Thread:
        self._mine(agent, thread_id)
        if not to_agent and not to_queue:
            raise InboxError("name an agent or a queue to transfer to")
        moved = self.inbox.transfer(thread_id, to_agent or None, to_queue or None, now)
        where = f"to {moved.agent}" if moved.agent else f"to the {moved.queue} queue"
        self._system(moved, "system", f"{agent.display_name} transferred the thread {where}.", now)
        return moved

    def resolve(self, agent: Agent, thread_id: str, outcome: str, now: float) -> Thread:
        """Close the thread and hand the conversation back to the bot at the flow's node."""
        self._mine(agent, thread_id)
        if outcome not in OUTCOMES:
            raise InboxError(f"unknown outcome {outcome!r}; one of {', '.join(OUTCOMES)}")
        done = self.inbox.resolve(thread_id, outcome, now)
        self._queue_action(done, agent, "resolve", "", now)
        return done

    def auto_assign(self, now: float) -> list[Thread]:
        """Give waiting threads, oldest first, to the least busy agent on duty with room."""
        given = []
        agents = [a for a in self.inbox.agents() if a.on_duty]
        load = {a.login: len(self.inbox.assigned_to(a.login)) for a in agents}
        for thread in self.inbox.waiting(limit=200):
            free = [a for a in agents if a.serves(thread.queue) and load[a.login] < a.capacity]
            if not free:
                continue
            # Least busy first; on a tie the specialist, keeping generalists free for the rest.
            best = min(free, key=lambda a: (load[a.login] / a.capacity, not a.queues, a.login))
            try:
                given.append(self.claim(best, thread.id, now))
            except InboxError:
                continue  # someone else took it, or a capacity changed: the next one
            load[best.login] += 1
        return given

    # ---- plumbing ----
    def _system(
        self,
        thread: Thread,
        author: str,
        text: str,
        now: float,
        direction: str = "system",
        login: str = "",
    ) -> None:
        data = {"thread": thread.id, **({"agent": login} if login else {})}
        entry = HistoryEntry(thread.conversation, now, direction, author, text, data)  # type: ignore[arg-type]
        self.gw.store.append_history([entry])

    def _queue_action(
        self, thread: Thread, agent: Agent, action: str, text: str, now: float, template: str = ""
    ) -> None:
        channel, _, chat = thread.conversation.partition(":")
        last = self.gw.store.load(thread.conversation).last_inbound_at
        extras: dict[str, Any] = {
            "action": action,
            "thread": thread.id,
            "agent": agent.login,
            "author": agent.display_name,
            "resume_at": thread.resume_at or "",
            "photo": agent.photo_url or "",
            "template": template,
        }
        inbound = Inbound(
            channel=channel,
            conversation=chat,
            message_id=f"agent:{uuid.uuid4().hex}",
            shopper=Shopper(chat, name=thread.shopper_name or None),
            kind="agent",
            text=text,
            # The shopper's own last-message time: the store keeps the later of the two, so an
            # agent action never moves the platform's 24-hour window.
            timestamp=last,
            extras=tuple(extras.items()),
        )
        self.gw.store.enqueue(inbound, now, self.gw.config.dedupe_ttl_s)
        self.gw.turn_ready.set()
