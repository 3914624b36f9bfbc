"""The one interface every platform adapter satisfies, and the plain values that cross it.

Nothing in here knows a platform. Failures at the boundary are values (`ParseError`,
`RetryLater`, `Failed`...), never exceptions, so the gateway can `match` on them; everything an
adapter produces for the outbox is plain JSON (`Outgoing.to_dict`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlsplit

from flows.messages import Inbound, Reply, Shopper

# ---- the webhook request, as the gateway saw it ----


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One HTTP request to `/webhooks/<channel>`.

    `url` is the *public* URL the platform called (scheme, host, port, path and query), rebuilt
    from PUBLIC_BASE_URL behind a proxy: Twilio signs it. `body` is the raw bytes, unchanged:
    Meta signs them. `query` defaults to the URL's own query string.
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    query: Mapping[str, str] | None = None
    received_at: float = 0.0  # when the gateway got it; used where the platform sends no time

    def header(self, name: str) -> str | None:
        """Case-insensitive header lookup (a plain dict is as good as Flask's headers)."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    def params(self) -> dict[str, str]:
        """The query parameters: `query` if given, else parsed from `url`."""
        if self.query is not None:
            return dict(self.query)
        return dict(parse_qsl(urlsplit(self.url).query, keep_blank_values=True))


@dataclass(frozen=True, slots=True)
class HttpReply:
    """What the gateway should answer the platform: status, body and content type."""

    status: int
    body: str = ""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()  # e.g. Retry-After on a 503


# ---- what parsing gives ----


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """The platform reports on a message we sent (Twilio status callback).

    `failure` is the `Failed.kind` the error code means ("needs_template" for 63016), so the
    outbox can stop resending. Ordering (never delivered after read) is the store's job.
    """

    channel: str
    message_id: str
    status: str
    error_code: str | None = None
    failure: str | None = None
    recipient: str | None = None
    timestamp: float = 0.0


@dataclass(frozen=True, slots=True)
class Ignored:
    """An event recognised on purpose and not a shopper message (echo, read, group chat...)."""

    reason: str
    conversation: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Unreachable:
    """The shopper blocked the bot: stop sending to `conversation` until they write again."""

    channel: str
    conversation: str
    reason: str
    timestamp: float = 0.0


@dataclass(frozen=True, slots=True)
class ParseResult:
    """Everything one webhook request carried, in order within each kind."""

    inbound: tuple[Inbound, ...] = ()
    statuses: tuple[StatusUpdate, ...] = ()
    ignored: tuple[Ignored, ...] = ()
    unreachable: tuple[Unreachable, ...] = ()


@dataclass(frozen=True, slots=True)
class ParseError:
    """The body is malformed; `path` names the field (`entry[0].messaging`). Answer 400."""

    path: str
    problem: str

    @property
    def message(self) -> str:
        return f"{self.path}: {self.problem}"


# ---- what goes out ----


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One platform API call, ready for the outbox.

    `payload` is the platform's own form of the message without the recipient, made only of
    JSON types; treat it as read-only. `part`/`parts` count the pieces of one split reply.
    """

    channel: str
    to: str
    payload: dict[str, Any]
    part: int = 1
    parts: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "to": self.to,
            "payload": self.payload,
            "part": self.part,
            "parts": self.parts,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Outgoing:
        return cls(
            channel=str(data["channel"]),
            to=str(data["to"]),
            payload=dict(data["payload"]),
            part=int(data.get("part", 1)),
            parts=int(data.get("parts", 1)),
        )


@dataclass(frozen=True, slots=True)
class Sent:
    platform_message_id: str


@dataclass(frozen=True, slots=True)
class RetryLater:
    """Not sent, safe to retry: wait at least `delay_s` (the platform's Retry-After, if any).

    `throttled`: the platform is up and asks us to slow down (429, flood control), as opposed
    to down or unreachable; only the latter opens the sender's circuit breaker."""

    delay_s: float
    code: str
    reason: str = ""
    throttled: bool = False


FailureKind = Literal[
    "permanent", "outside_window", "needs_template", "unreachable", "config_error"
]


@dataclass(frozen=True, slots=True)
class Failed:
    """Not sent and retrying the same call will not help; `code` is the platform's own."""

    kind: FailureKind
    code: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Uncertain:
    """Maybe sent: the platform may have acted before the read timed out (or Twilio's 500).

    A blind retry can send twice; record it and retry only with care.
    """

    code: str
    reason: str = ""


SendResult = Sent | RetryLater | Failed | Uncertain


@dataclass(frozen=True, slots=True)
class NotSent:
    """The platform says the message never went out: sending it again doubles nothing."""


@dataclass(frozen=True, slots=True)
class CannotTell:
    """The platform has no way to say whether a message went out: Telegram always; Messenger
    when the page token may not read conversations, or the message cannot be compared."""


# What a platform says of a send whose answer was lost: it went (`Sent`, with its id), it did
# not (`NotSent`), ask again later (`RetryLater`: the platform is down), or it cannot say.
SentCheck = Sent | NotSent | RetryLater | CannotTell


class PendingSend:
    """A send whose request has left and whose answer is read by `result()` (once; later
    calls return the same). An adapter whose client can split a call in two (Telegram's, see
    `TelegramBot.start`) lets the gateway work while the platform answers."""

    __slots__ = ("_finish", "_result")

    def __init__(self, finish: Callable[[], SendResult]) -> None:
        self._finish = finish
        self._result: SendResult | None = None

    @classmethod
    def done(cls, result: SendResult) -> PendingSend:
        pending = cls(lambda: result)
        pending._result = result
        return pending

    def result(self) -> SendResult:
        if self._result is None:
            self._result = self._finish()
        return self._result


# ---- platform windows ----


@dataclass(frozen=True, slots=True)
class Pace:
    """A platform's per-chat sending limit: `burst` messages at once, then one per
    `interval_s` (an adapter's `pace` attribute; the gateway's sender keeps to it)."""

    interval_s: float
    burst: int


@dataclass(frozen=True, slots=True)
class WindowDecision:
    """May a free-form message go out now, and if not, why (shown in the inbox).

    `messaging_type`/`tag` are what Messenger needs for it (RESPONSE, or MESSAGE_TAG with
    HUMAN_AGENT); `needs_template` says an approved template could still be sent.
    """

    allowed: bool
    reason: str
    messaging_type: str | None = None
    tag: str | None = None
    needs_template: bool = False


HOUR_S = 3600.0
DAY_S = 24 * HOUR_S


# ---- the interface ----


@runtime_checkable
class Adapter(Protocol):
    """One platform behind one small interface; nothing else knows which platform it is."""

    channel: str
    # The platform reports what became of a sent message (delivered, read): its platform ids
    # must be found again (`Store.update_delivery`). A class attribute, read before building.
    reports_delivery: bool

    def verify(self, request: WebhookRequest) -> bool:
        """True only for a request that carries the platform's valid signature or secret."""
        ...

    def handshake(self, request: WebhookRequest) -> HttpReply | None:
        """The answer to a GET verification request, or None if the platform has none."""
        ...

    def parse(self, request: WebhookRequest) -> ParseResult | ParseError:
        """Every event in a verified request, classified; a malformed body is a ParseError."""
        ...

    def webhook_reply(self, result: ParseResult | ParseError) -> HttpReply:
        """What to answer the platform once the request is parsed (and enqueued)."""
        ...

    def render(
        self, reply: Reply, to: str, window: WindowDecision | None = None
    ) -> tuple[Outgoing, ...]:
        """The platform's own form of `reply` for `to`; pure."""
        ...

    def send(self, out: Outgoing) -> SendResult:
        """The only network call; never raises for a platform or network failure."""
        ...

    def typing(self, to: str) -> SendResult | None:
        """Show a typing indicator; None where the platform has none."""
        ...

    def find_sent(self, out: Outgoing, since: float) -> SentCheck:
        """Did `out` go out after `since` (a send whose answer was lost)? Asked before such
        a send is tried again, so a reply is not doubled where the platform can tell."""
        ...

    def window(
        self, last_inbound_at: float | None, now: float, author: str = "bot"
    ) -> WindowDecision:
        """May a free-form message by `author` go out now, given the shopper's last message time."""
        ...

    def close(self) -> None:
        """Release connections and threads."""
        ...


def parse_error_reply(error: ParseError) -> HttpReply:
    """The shared 400 for a malformed body: a short JSON error naming the field and the
    problem; never echoes the body."""
    message = f"malformed webhook body: {error.message}"[:200]
    return HttpReply(400, json.dumps({"error": message}), "application/json")


# ---- what only some platforms can do (each found once, by the registry) ----


@runtime_checkable
class LooksUpProfiles(Protocol):
    """The platform gives a shopper's name only on request (Messenger's User Profile API)."""

    def profile(self, user_id: str) -> Shopper | None: ...


@runtime_checkable
class PacedPerChat(Protocol):
    """The platform limits how fast one chat may be written to (Telegram)."""

    pace: Pace | None


@runtime_checkable
class HasTemplates(Protocol):
    """Approved templates may be sent where free text may not (WhatsApp outside 24 h)."""

    def has_template(self, name: str) -> bool: ...


@runtime_checkable
class SendsInTwoSteps(Protocol):
    """The request can be written now and its answer read later (`PendingSend`): a turn
    worker runs its next turn meanwhile."""

    def start_send(self, out: Outgoing) -> PendingSend: ...


__all__ = [
    "DAY_S",
    "HOUR_S",
    "Adapter",
    "CannotTell",
    "Failed",
    "FailureKind",
    "HasTemplates",
    "HttpReply",
    "Ignored",
    "LooksUpProfiles",
    "NotSent",
    "Outgoing",
    "PacedPerChat",
    "ParseError",
    "ParseResult",
    "PendingSend",
    "RetryLater",
    "SendResult",
    "SendsInTwoSteps",
    "Sent",
    "SentCheck",
    "StatusUpdate",
    "Uncertain",
    "Unreachable",
    "WebhookRequest",
    "WindowDecision",
    "parse_error_reply",
]
