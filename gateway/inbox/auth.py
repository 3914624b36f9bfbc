"""Inbox login: server-side sessions behind a signed cookie, CSRF on every POST.

The cookie carries only a random token; the session lives in the inbox store, so logout and
`gateway agent remove` end it at once, on every gateway process.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, g, jsonify, redirect, request, session, url_for

from gateway.inbox.model import Agent
from gateway.inbox.store import InboxStore

SESSION_S = 12 * 3600  # one working day
F = TypeVar("F", bound=Callable[..., Any])


def start_session(inbox: InboxStore, agent: Agent) -> None:
    token = secrets.token_urlsafe(32)
    inbox.create_session(token, agent.login, time.time() + SESSION_S)
    session.clear()
    session["t"] = token
    session.permanent = True


def end_session(inbox: InboxStore) -> None:
    token = session.pop("t", None)
    if token:
        inbox.end_session(token)
    session.clear()


def current_agent(inbox: InboxStore) -> Agent | None:
    token = session.get("t")
    if not isinstance(token, str):
        return None
    login = inbox.session_agent(token, time.time())
    return inbox.agent(login) if login else None


def login_required(inbox_of: Callable[[], InboxStore], *, api: bool = False,
                   roles: tuple[str, ...] = ()) -> Callable[[F], F]:  # fmt: skip
    """No page or API without a live session; `roles` limits it further (admin pages)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            agent = current_agent(inbox_of())
            if agent is None:
                if api:
                    return jsonify(error="login required"), 401
                return redirect(url_for("inbox.login", next=request.path))
            if roles and agent.role not in roles:
                abort(403)
            g.agent = agent
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate
