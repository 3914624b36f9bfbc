"""The one door from the pure engine to the outside world: HTTP `call` nodes.

The gateway provides a real implementation; tests and the terminal chat can provide a stub. The
engine never sees a socket, so `step()` stays deterministic given its inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class CallRequest:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    json: Any = None
    timeout: float = 5.0


@dataclass(frozen=True, slots=True)
class CallResponse:
    status: int | None  # None when no HTTP answer came back (timeout, refused)
    json: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class InboxStatus:
    """The people side, for what a shopper is told at a handoff."""

    agents_on_duty: int  # logged in and accepting threads, in this queue
    waiting: int  # threads already waiting in this queue
    wait_s: float | None = None  # typical wait lately; None when there is too little data


class Services(Protocol):
    def call(self, request: CallRequest) -> CallResponse: ...

    def inbox_status(self, queue: str) -> InboxStatus | None:
        """Who is on duty for `queue`; None when unknown (no inbox)."""
        ...


class NoServices:
    """For flows without `call` nodes: every call fails cleanly and takes its error path."""

    def call(self, request: CallRequest) -> CallResponse:
        return CallResponse(status=None, error="no HTTP service configured")

    def inbox_status(self, queue: str) -> InboxStatus | None:
        return None


@dataclass(frozen=True)
class StubServices:
    """Canned answers by 'METHOD URL' (exact) or by a function, for tests and offline chat."""

    routes: Mapping[str, CallResponse | Callable[[CallRequest], CallResponse]]
    status: InboxStatus | None = None

    def inbox_status(self, queue: str) -> InboxStatus | None:
        return self.status

    def call(self, request: CallRequest) -> CallResponse:
        route = self.routes.get(f"{request.method} {request.url}")
        if route is None:
            return CallResponse(status=404, json={"error": "not found"}, error="HTTP 404")
        return route(request) if callable(route) else route
