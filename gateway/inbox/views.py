"""What the inbox shows, as plain data: the HTML pages and the JSON API render the same dicts.

Shopper text stays untrusted data here; it is escaped by Jinja's autoescape in the pages and
set with `textContent` by the page script, never inserted as HTML.
"""

from __future__ import annotations

import time
from typing import Any

from flows.i18n.languages import info
from flows.model import Flow
from flows.services import CallRequest
from gateway.context import Gateway
from gateway.inbox.model import Agent, Thread
from gateway.inbox.service import InboxService
from gateway.store.base import HistoryEntry

PAGE = 50
ORDERS_TIMEOUT_S = 2.0


def thread_summary(thread: Thread, now: float) -> dict[str, Any]:
    return {
        "id": thread.id,
        "conversation": thread.conversation,
        "channel": thread.channel,
        "shopper": thread.shopper_name or "(no name)",
        "queue": thread.queue,
        "reason": thread.reason,
        "status": thread.status,
        "agent": thread.agent,
        "waiting_s": round(now - thread.created_at),
        "created_at": thread.created_at,
        "variants": dict(thread.variants),
        "vars": thread.vars,
        "outcome": thread.outcome,
        "resolved_at": thread.resolved_at,
    }


def queue_view(gw: Gateway, agent: Agent, page: int = 0) -> dict[str, Any]:
    """The waiting list (oldest first, paged) and the agent's own open threads."""
    inbox = gw.inbox
    now = time.time()
    waiting = inbox.waiting(limit=PAGE, offset=page * PAGE)
    mine = inbox.assigned_to(agent.login)
    return {
        "version": inbox.version(),
        "waiting_total": inbox.count_waiting(),
        "page": page,
        "pages": max(1, -(-inbox.count_waiting() // PAGE)),
        "waiting": [thread_summary(t, now) for t in waiting],
        "mine": [thread_summary(t, now) for t in mine],
        "capacity": agent.capacity,
        "on_duty": agent.on_duty,
    }


def read_refusal(agent: Agent, thread: Thread, shared_read: bool = False) -> str | None:
    """Why `agent` may not read `thread`, or None when they may. A waiting thread is open to
    every agent (any of them may claim it); once claimed, only the agent who holds it (or held
    it, once resolved), supervisors and admins read it, unless INBOX_SHARED_READ=1."""
    if shared_read or agent.role != "agent" or thread.status == "waiting":
        return None
    if thread.agent == agent.login:
        return None
    if thread.status == "assigned":
        return ("this thread is claimed by another agent: only they, supervisors and admins "
                "can read it")  # fmt: skip
    return "this thread was handled by another agent: only they, supervisors and admins can read it"


def message(entry: HistoryEntry, photos: Photos | None = None) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at,
        "direction": entry.direction,
        "author": entry.author,
        "text": entry.text,
        "buttons": entry.data.get("buttons") or [],
        "photo": photos.of(entry) if photos is not None else None,
    }


def shown_photo(url: str | None) -> str | None:
    """An agent's photo for the inbox pages: https only, the images its CSP lets through (the
    CLI also takes http://, which platforms fetch but browsers would block here)."""
    return url if url and url.startswith("https://") else None


class Photos:
    """Which agent photo goes beside a history line: by the login saved with the line, or by
    display name for lines saved before logins were."""

    def __init__(self, agents: list[Agent]) -> None:
        self.by_login = {a.login: shown_photo(a.photo_url) for a in agents}
        self.by_name = {a.display_name: shown_photo(a.photo_url) for a in agents}

    def of(self, entry: HistoryEntry) -> str | None:
        if entry.direction not in ("out", "note") or entry.author in ("bot", "system"):
            return None
        login = entry.data.get("agent")
        return self.by_login.get(login) if login else self.by_name.get(entry.author)


def messages_view(gw: Gateway, conversation: str, before: int | None) -> dict[str, Any]:
    page = gw.store.history(conversation, before_seq=before, limit=PAGE)
    first = page[0].seq if page else None
    photos = Photos(gw.inbox.agents())
    return {
        "messages": [message(e, photos) for e in page],
        "earlier": first if page and len(page) == PAGE else None,  # `before` for the next page
    }


def thread_view(gw: Gateway, agent: Agent, thread: Thread, before: int | None) -> dict[str, Any]:
    now = time.time()
    service = InboxService(gw, gw.inbox)
    window = service.window(thread, now)
    language = gw.store.load(thread.conversation).state.language
    others = [a for a in gw.inbox.agents() if a.login != agent.login]
    return {
        "thread": thread_summary(thread, now),
        **messages_view(gw, thread.conversation, before),
        "window": {
            "allowed": window.allowed,
            "reason": window.reason,
            "needs_template": window.needs_template,
            "template_ready": window.template_ready,
            "template_setting": window.template_setting,
        },
        "mine": thread.agent == agent.login,
        "can_act": thread.agent == agent.login or agent.role != "agent",
        "canned": canned_in(gw.flows.flow, language),
        "language": {"code": language, "name": info(language).name} if language else None,
        "agents": [agent_summary(a) for a in others],
        "queues": known_queues(gw),
        "profile": profile(gw, thread),
        "version": gw.inbox.version(),
    }


def canned_in(flow: Flow, language: str | None) -> dict[str, str]:
    """The agents' ready answers in the shopper's language (the source text where a
    translation is missing)."""
    return {
        name: flow.canned_in.get(name, {}).get(language or "", text)
        for name, text in flow.canned.items()
    }


def agent_summary(agent: Agent) -> dict[str, Any]:
    return {
        "login": agent.login,
        "name": agent.display_name,
        "on_duty": agent.on_duty,
        "photo": shown_photo(agent.photo_url),
    }


def known_queues(gw: Gateway) -> list[str]:
    flow = gw.flows.flow
    return sorted({n.handoff.queue for n in flow.nodes.values() if n.handoff} | {"support"})


def profile(gw: Gateway, thread: Thread) -> dict[str, Any]:
    """Who the shopper is: contact, earlier threads with their outcome, and recent orders."""
    earlier = [
        {
            "id": t.id,
            "created_at": t.created_at,
            "outcome": t.outcome,
            "agent": t.agent,
            "status": t.status,
            "reason": t.reason,
        }
        for t in gw.inbox.threads_of(thread.conversation)
        if t.id != thread.id
    ]
    return {
        "name": thread.shopper_name,
        "channel": thread.channel,
        "contact": thread.conversation.partition(":")[2],
        "earlier_threads": earlier,
        "orders": recent_orders(gw, thread.conversation),
    }


def recent_orders(gw: Gateway, conversation: str) -> list[dict[str, Any]] | None:
    """Through the shop API the flows already call (SHOP_API_URL); None when unavailable."""
    base = gw.flows.flow.env.get("SHOP_API_URL")
    if not base:
        return None
    response = gw.services.call(
        CallRequest("GET", f"{base}/customers/{conversation}/orders", timeout=ORDERS_TIMEOUT_S)
    )
    if not response.ok or not isinstance(response.json, dict):
        return None
    orders = response.json.get("orders")
    return [o for o in orders if isinstance(o, dict)][:5] if isinstance(orders, list) else None
