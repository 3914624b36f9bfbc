"""Fault switches: make the next N calls of a channel fail (or stall) the way the platform fails.

Bodies default to the platforms' real error bodies (copied from shared/fixtures/outbound into
`errors/`), because adapters must branch on the platform's code, not on a status we invented.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources
from typing import Any

CHANNELS = ("whatsapp", "messenger", "telegram")

# name -> (HTTP status, file in errors/); the first name per status is that status's default.
NAMED_ERRORS: dict[str, dict[str, tuple[int, str]]] = {
    "whatsapp": {
        "rate_limit": (429, "twilio_429_20429.json"),
        "invalid_number": (400, "twilio_400_21211.json"),
        "server_error": (500, "twilio_500_20500.json"),
    },
    "messenger": {
        "outside_window": (400, "graph_10_2018278_outside_window.json"),
        "rate_limit": (400, "graph_613_rate_limit.json"),
        "app_rate_limit": (400, "graph_4_app_rate_limit.json"),
        "user_unavailable": (400, "graph_551_user_unavailable.json"),
        "invalid_token": (400, "graph_190_invalid_token.json"),
    },
    "telegram": {
        "rate_limit": (429, "telegram_429.json"),
        "blocked": (403, "telegram_403_blocked.json"),
        "chat_not_found": (400, "telegram_400_chat_not_found.json"),
    },
}

# Twilio's generic REST error codes by HTTP status (twilio.com/docs/errors/20xxx).
_TWILIO_CODES = {401: 20003, 403: 20403, 404: 20404, 429: 20429, 500: 20500, 503: 20503}
DEFAULT_RETRY_AFTER = 7  # seconds, as in the Telegram 429 fixture


def _read(name: str) -> bytes:
    return (resources.files(__package__) / "errors" / name).read_bytes()


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def generic_body(channel: str, status: int) -> bytes:
    """A body in the platform's error shape for a status with no recorded real body."""
    phrase = _phrase(status)
    if channel == "whatsapp":
        code = _TWILIO_CODES.get(status, 20000 + status)
        more = f"https://www.twilio.com/docs/errors/{code}"
        data: Any = {"code": code, "message": phrase, "more_info": more, "status": status}
    elif channel == "messenger":
        transient = status >= 500
        code = 2 if transient else 100  # Graph: 2 = service unavailable, 100 = invalid parameter
        message = "An unexpected error has occurred. Please retry your request later."
        data = {
            "error": {
                "message": message if transient else f"(#100) {phrase}",
                "type": "OAuthException",
                "code": code,
                "is_transient": transient,
                "fbtrace_id": "AsandboxTracexxxxxxxxxxx",
            }
        }
    else:
        data = {"ok": False, "error_code": status, "description": phrase}
    return json.dumps(data).encode()


@dataclass(frozen=True, slots=True)
class Fault:
    """One prepared answer: `status` None means answer normally (after `delay`)."""

    channel: str
    status: int | None
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    method: str | None = None
    acted: bool = False  # the platform did the call, then answered the error (Twilio's 500)

    def describe(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "status": self.status,
            "delay": self.delay,
            "method": self.method,
            "acted": self.acted,
            "body": self.body.decode("utf-8", "replace"),
        }


def make_fault(
    channel: str,
    status: int | None,
    body: Any = None,
    delay: float = 0.0,
    method: str | None = None,
    retry_after: int | None = None,
    acted: bool = False,
) -> Fault:
    """Build a fault; `body` is None (the platform's real body), an error name, a dict or bytes."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}: use one of {', '.join(CHANNELS)}")
    named = NAMED_ERRORS[channel]
    if isinstance(body, str):
        if body not in named:
            raise ValueError(f"unknown {channel} error {body!r}: use one of {', '.join(named)}")
        real_status, filename = named[body]
        status = status or real_status
        raw = _read(filename)
    elif isinstance(body, bytes):
        raw = body
    elif body is not None:
        raw = json.dumps(body).encode()
    elif status is None or status < 400:
        raw = b""
    else:
        default = next((f for s, f in named.values() if s == status), None)
        raw = _read(default) if default else generic_body(channel, status)
    headers: tuple[tuple[str, str], ...] = ()
    if status == 429:
        wait = retry_after or DEFAULT_RETRY_AFTER
        headers = (("Retry-After", str(wait)),)
        if channel == "telegram" and retry_after and body is None:
            raw = json.dumps(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {wait}",
                    "parameters": {"retry_after": wait},
                }
            ).encode()
    return Fault(channel, status, raw, headers, float(delay), method, acted)


# Graph's refusal of the Conversations API to a page token without the permissions (or Advanced
# Access) it needs; the code is what a client branches on.
DENIED_MESSAGES = {
    10: "(#10) Application does not have permission for this action",
    200: "(#200) Requires pages_messaging, pages_read_engagement and pages_manage_metadata "
    "permission to manage the object",
    190: "Invalid OAuth access token.",
}


def denied_body(code: int) -> bytes:
    """A Graph OAuthException body for a refused Conversations API call."""
    message = DENIED_MESSAGES.get(code, f"(#{code}) Permissions error")
    error = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AsandboxTracexxxxxxxxxxx",
    }
    return json.dumps({"error": error}).encode()


class FaultBook:
    """Pending faults per channel, used first in, first out; thread-safe.

    Also the Conversations API switch: while `denied` is set, every Conversations API read
    (a page's conversations, a conversation, its messages) answers that refusal."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[list[Any]] = []  # [fault, remaining count]
        self.denied: Fault | None = None

    def deny_conversations(self, code: int = 10, status: int = 400) -> None:
        """Refuse the Conversations API with Graph error `code` (10, 200, 190...) until
        `allow_conversations` or `clear`."""
        self.denied = Fault("messenger", status, denied_body(code), method="conversations")

    def allow_conversations(self) -> None:
        self.denied = None

    def add(self, fault: Fault, count: int = 1, for_s: float | None = None) -> None:
        """`count` calls get the fault, or, with `for_s`, every call for that many seconds
        from now (an outage)."""
        if count < 1:
            raise ValueError("count must be at least 1")
        if for_s is not None and for_s <= 0:
            raise ValueError("for_s must be positive")
        until = time.monotonic() + for_s if for_s is not None else None
        with self._lock:
            self._pending.append([fault, None if until else count, until])

    def take(self, channel: str, method: str) -> Fault | None:
        """The fault for this call, if one is waiting; each call uses up one of its count."""
        now = time.monotonic()
        with self._lock:
            self._pending = [i for i in self._pending if i[2] is None or i[2] > now]
            for item in self._pending:
                fault: Fault = item[0]
                if fault.channel == channel and fault.method in (None, method):
                    if item[1] is not None:
                        item[1] -= 1
                        if item[1] == 0:
                            self._pending.remove(item)
                    return fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        with self._lock:
            return [
                {**f.describe(), "count": n, "for_s": None if u is None else max(0.0, u - now)}
                for f, n, u in self._pending
            ]

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
            self.denied = None
