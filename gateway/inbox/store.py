"""The inbox's storage interface; SQLite and Redis backends pass the same contract tests.

Claiming is the one place where races matter: twenty agents clicking at once must never
take one thread twice or exceed a capacity, so `claim` and `transfer` check and write in one
atomic step in every backend.
"""

from __future__ import annotations

from typing import Protocol

from gateway.inbox.model import Agent, Thread


class InboxStore(Protocol):
    # ---- agents ----
    def put_agent(self, agent: Agent) -> None:
        """Add an agent or replace the one with the same login."""

    def remove_agent(self, login: str) -> bool:
        """False if there was no such agent. Their sessions end at once."""

    def agent(self, login: str) -> Agent | None: ...

    def agents(self) -> list[Agent]:
        """Every agent, by login."""

    def set_on_duty(self, login: str, on_duty: bool) -> None: ...

    # ---- sessions: kept server-side, so logout and removal revoke them at once ----
    def create_session(self, token: str, login: str, expires_at: float) -> None: ...

    def session_agent(self, token: str, now: float) -> str | None:
        """The login a live session belongs to; None if unknown or expired."""

    def end_session(self, token: str) -> None: ...

    # ---- login throttling: failed logins per account and per client address, shared by every
    # gateway process; never part of `version` (they change no thread) ----
    def login_attempt(self, key: str, attempt: str, now: float, window_s: float, limit: int
                      ) -> float:  # fmt: skip
        """Atomically: record `attempt` under `key` unless `limit` of the key's attempts fall
        within the last `window_s` seconds. 0.0 when recorded; else the seconds until the
        oldest of them leaves the window (nothing is recorded then)."""

    def login_failures(self, key: str, now: float, window_s: float) -> int:
        """How many of the key's attempts fall within the last `window_s` seconds."""

    def clear_login_failures(self, key: str, attempt: str | None = None) -> int:
        """Forget one attempt of `key` (a login that succeeded), or all of them (None: a
        successful login resets the account, an admin unlocks it); how many were forgotten."""

    # ---- threads ----
    def open_thread(self, thread: Thread) -> Thread:
        """Open `thread` unless its conversation already has an open one (waiting or
        assigned), which is returned instead; idempotent on `thread.id`."""

    def thread(self, thread_id: str) -> Thread | None: ...

    def open_thread_of(self, conversation: str) -> Thread | None: ...

    def threads_of(self, conversation: str, limit: int = 20) -> list[Thread]:
        """The conversation's threads, newest first, resolved ones included."""

    def waiting(self, queue: str | None = None, limit: int = 50, offset: int = 0) -> list[Thread]:
        """Waiting threads, oldest first (of one queue, or of all)."""

    def count_waiting(self, queue: str | None = None) -> int: ...

    def assigned_to(self, login: str) -> list[Thread]:
        """The agent's open threads, oldest first."""

    def claim(self, thread_id: str, login: str, now: float) -> Thread:
        """Atomically give a waiting thread to an agent with room: raises `NotWaiting` (taken
        or resolved), `CapacityFull`, or `UnknownAgent`."""

    def transfer(
        self, thread_id: str, to_agent: str | None, to_queue: str | None, now: float
    ) -> Thread:
        """Hand an open thread to another agent (with room, atomically) or back to a queue."""

    def responded(self, thread_id: str, now: float) -> None:
        """An agent answered: sets `first_response_at` once."""

    def resolve(self, thread_id: str, outcome: str, now: float) -> Thread:
        """Close an open thread with its outcome; `NotWaiting` if it is already resolved."""

    def touch(self, conversation: str, at: float) -> Thread | None:
        """The shopper wrote while a person has the conversation; the open thread, if any."""

    def recent_waits(self, queue: str, limit: int = 20) -> list[float]:
        """Seconds from open to claim of the latest claimed threads of a queue."""

    def version(self) -> int:
        """A number that grows with every change to threads, for cheap live-update polling."""

    def close(self) -> None: ...
