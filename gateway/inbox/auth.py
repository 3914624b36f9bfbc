"""Inbox login: server-side sessions behind a signed cookie, CSRF on every POST, throttled logins.

The cookie carries a random token, the agent's session version and the time of their last
activity; the session lives in the inbox store, so logout and `gateway agent remove` end it at
once, on every gateway process. A session ends:

- after `INBOX_SESSION_IDLE_S` without activity (the page's own background requests, its
  live-update polling and refetches, are not activity: a tab left open does not keep it alive);
- `INBOX_SESSION_MAX_S` after login whatever happens (the store's expiry);
- when the agent's password changes (`Agent.session_version` moves on).

Failed logins are counted in the inbox store, per account and per client address, so every
gateway process sees them: past the limits within the window a login is answered 429 with
Retry-After, without checking the password, for known and unknown logins alike.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app, flash, g, jsonify, redirect, request, session, url_for

from gateway.config import Config
from gateway.inbox.model import Agent
from gateway.inbox.passwords import verify_password
from gateway.inbox.store import InboxStore

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
MAX_KEY_CHARS = 200  # a login or address longer than this is counted by its start
clock: Callable[[], float] = time.time  # the sessions' and the throttle's time; tests move it


def span(seconds: float) -> str:
    """12 hours, 7 days, 15 minutes, 30 seconds: the largest whole unit."""
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    n = math.ceil(seconds)
    if n >= 120:
        return f"{math.ceil(n / 60)} minutes"
    return f"{n} second{'s' if n != 1 else ''}"


def _config() -> Config:
    return current_app.extensions["gateway"].config


# ---- sessions ----


def start_session(inbox: InboxStore, agent: Agent, config: Config) -> None:
    token, now = secrets.token_urlsafe(32), clock()
    inbox.create_session(token, agent.login, now + config.session_max_s)
    session.clear()
    session["t"] = token
    session["v"] = agent.session_version
    session["s"] = now
    session.permanent = True


def end_session(inbox: InboxStore) -> None:
    token = session.pop("t", None)
    if isinstance(token, str):
        inbox.end_session(token)
    session.clear()


def current_agent(inbox: InboxStore, config: Config, active: bool = True
                  ) -> tuple[Agent | None, str]:  # fmt: skip
    """The session's agent, or None and why the session ended ("" when there was none).
    `active`: the request is the agent's own doing, so it restarts the idle time."""
    token = session.get("t")
    if not isinstance(token, str):
        return None, ""
    now, seen = clock(), session.get("s")
    if not isinstance(seen, int | float) or isinstance(seen, bool):
        end_session(inbox)  # a cookie from before idle expiry existed
        return None, "your session has ended"
    if now - seen > config.session_idle_s:
        end_session(inbox)
        return None, f"your session ended after {span(config.session_idle_s)} without activity"
    login = inbox.session_agent(token, now)
    agent = inbox.agent(login) if login else None
    if agent is None:
        end_session(inbox)
        return None, "your session has ended"
    if session.get("v") != agent.session_version:
        end_session(inbox)
        return None, "your session ended because your password was changed"
    if active:
        session["s"] = now
    return agent, ""


def _background() -> bool:
    """The page's script reading on its own (polling, refetching): not the agent's activity."""
    return request.method == "GET" and (
        request.endpoint == "inbox.api_updates" or request.headers.get("Sec-Fetch-Dest") == "empty"
    )


def login_required(inbox_of: Callable[[], InboxStore], *, api: bool = False,
                   roles: tuple[str, ...] = ()) -> Callable[[F], F]:  # fmt: skip
    """No page or API without a live session; `roles` limits it further (admin pages)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            agent, ended = current_agent(inbox_of(), _config(), active=not _background())
            if agent is None:
                if ended:  # the login page says why (the page's script goes there on a 401)
                    flash(f"{ended[0].upper()}{ended[1:]}: log in again.", "error")
                if api:
                    return jsonify(error=f"login required: {ended}" if ended else
                                   "login required"), 401  # fmt: skip
                return redirect(url_for("inbox.login", next=request.path))
            if roles and agent.role not in roles:
                abort(403)
            g.agent = agent
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


# ---- logins, throttled ----


def account_key(login: str) -> str:
    return "account:" + login.strip()[:MAX_KEY_CHARS]


def address_key(address: str | None) -> str:
    return "address:" + (address or "unknown")[:MAX_KEY_CHARS]


@dataclass(frozen=True, slots=True)
class LoginResult:
    agent: Agent | None  # None: refused
    retry_after: int = 0  # seconds; more than 0: throttled, the password was not checked
    throttled: str = ""  # "account" or "address" when throttled

    @property
    def message(self) -> str:
        wait = span(self.retry_after)
        if self.throttled == "account":
            return (f"Too many failed logins for this account. Try again in {wait}, or ask an "
                    "admin to unlock it.")  # fmt: skip
        if self.throttled == "address":
            return f"Too many failed logins from your address. Try again in {wait}."
        return "Wrong login or password."


def _who(inbox: InboxStore, login: str) -> str:
    """For the log: the agent's login, or nothing of what was typed (it may be a password)."""
    return f"agent {login!r}" if inbox.agent(login) is not None else "an unknown login"


def check_login(inbox: InboxStore, config: Config, login: str, password: str,
                address: str | None) -> LoginResult:  # fmt: skip
    """The agent when the password is right and neither the address nor the account is over
    its limit of failed logins. The password check stays constant-time (a dummy hash for an
    unknown login), and unknown logins are throttled like real ones, so nothing here tells
    whether an account exists."""
    login, now, attempt = login.strip(), clock(), secrets.token_hex(12)
    account, where, window = account_key(login), address_key(address), config.login_window_s
    if config.login_address_failures > 0:
        wait = inbox.login_attempt(where, attempt, now, window, config.login_address_failures)
        if wait:
            logger.warning("inbox_login_throttled: address %s for %s, %d failures in %s",
                           address, _who(inbox, login), config.login_address_failures,
                           span(window), extra={"kind": "address"})  # fmt: skip
            return LoginResult(None, max(1, math.ceil(wait)), "address")
    if config.login_failures > 0:
        wait = inbox.login_attempt(account, attempt, now, window, config.login_failures)
        if wait:
            inbox.clear_login_failures(where, attempt)  # refused unchecked: not a failure
            logger.warning("inbox_login_throttled: %s locked, %d failures in %s (from %s)",
                           _who(inbox, login), config.login_failures, span(window), address,
                           extra={"kind": "account"})  # fmt: skip
            return LoginResult(None, max(1, math.ceil(wait)), "account")
    agent = inbox.agent(login)
    if verify_password(agent.password_hash if agent else None, password) and agent:
        inbox.clear_login_failures(account)  # a success resets the account
        inbox.clear_login_failures(where, attempt)  # and was no failure of the address
        return LoginResult(agent)
    logger.info("inbox_login_failed: %s from %s", _who(inbox, login), address)
    return LoginResult(None)


def locked(inbox: InboxStore, config: Config, login: str) -> bool:
    """Whether the account is over its limit of failed logins now."""
    if config.login_failures <= 0:
        return False
    count = inbox.login_failures(account_key(login), clock(), config.login_window_s)
    return count >= config.login_failures


def unlock(inbox: InboxStore, login: str, by: str) -> int:
    """Forget the account's failed logins (an admin's doing, logged); how many there were."""
    forgotten = inbox.clear_login_failures(account_key(login))
    logger.warning("inbox_agent_unlocked: %r by %s, %d failed logins forgotten", login, by,
                   forgotten, extra={"kind": "unlock", "count": forgotten})  # fmt: skip
    return forgotten
