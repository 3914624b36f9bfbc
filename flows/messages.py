"""The message types every part of the product speaks: `Inbound`, `Reply` and the step events.

They are frozen and built from tuples so they can be shared between threads, hashed, and
serialised to plain JSON (queue, outbox, history) without losing anything.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, fields
from typing import Any, Literal, TypeVar

Channel = Literal["whatsapp", "messenger", "telegram", "sim"]
CHANNELS: tuple[str, ...] = ("whatsapp", "messenger", "telegram")

# "agent": an inbox action (reply, joined, resolve) queued on the conversation by the gateway.
InboundKind = Literal["text", "button", "media", "location", "contact", "start", "edit", "agent"]


@dataclass(frozen=True, slots=True)
class Shopper:
    """Who wrote: the platform's id for them and what the platform says about them (untrusted)."""

    id: str
    name: str | None = None
    first_name: str | None = None
    locale: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    kind: str  # image, video, audio, file, sticker
    url: str
    mime_type: str | None = None


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    phone: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing a shopper did: a text, a button tap, a photo, a location...

    `conversation` is the chat within the channel (WhatsApp number, PSID, Telegram chat id);
    `message_id` is the platform's own id, the key for dedupe.
    """

    channel: str
    conversation: str
    message_id: str
    shopper: Shopper
    kind: InboundKind = "text"
    text: str = ""
    payload: str | None = None
    attachments: tuple[Attachment, ...] = ()
    location: Location | None = None
    contact: Contact | None = None
    timestamp: float = 0.0
    extras: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        """The conversation's key across channels (`telegram:12345`)."""
        return f"{self.channel}:{self.conversation}"

    def extra(self, name: str, default: str | None = None) -> str | None:
        for k, v in self.extras:
            if k == name:
                return v
        return default


ButtonKind = Literal["reply", "url", "call"]

SHORT_PAYLOAD_PREFIX = "~"


def short_payload(payload: str) -> str:
    """A stable 13-character stand-in for a long button payload (Telegram allows 64 bytes).

    The engine accepts it wherever the full payload is expected, so adapters need no lookup table.
    """
    digest = hashlib.blake2b(payload.encode("utf-8"), digest_size=8).digest()
    return SHORT_PAYLOAD_PREFIX + base64.b32encode(digest).decode("ascii").rstrip("=").lower()


@dataclass(frozen=True, slots=True)
class Button:
    """A choice shown to the shopper; `payload` comes back when it is tapped.

    For `url` and `call` buttons the payload is the URL or the phone number instead.
    """

    title: str
    payload: str
    kind: ButtonKind = "reply"


@dataclass(frozen=True, slots=True)
class Template:
    """A message the platform approved in advance, for when free text is refused (WhatsApp, 24 h
    after the shopper's last message).

    `name` says what it is for ("reopen", "csat"); each adapter maps it to its own approved
    template from its settings, so nothing outside the adapter sees a platform's template id.
    `variables` fill {{1}}, {{2}}... in order.
    """

    name: str
    variables: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to the shopper. `author` is "bot" or an agent's display name.

    With `template`, an adapter that has that template sends it instead of `text`; `text` is
    then what the history shows.
    """

    text: str
    buttons: tuple[Button, ...] = ()
    media: tuple[Attachment, ...] = ()
    call: str | None = None  # a phone number to offer as tap-to-call
    author: str = "bot"
    expects: Literal["choice", "text", "none"] = "none"
    template: Template | None = None


# ---- events: what happened during a step, for analytics, experiments and the inbox ----


@dataclass(frozen=True, slots=True)
class NodeEntered:
    node: str


@dataclass(frozen=True, slots=True)
class Fallback:
    """The bot did not understand `text` at `node`; `misses` counts in a row; `language` is
    the shopper's, for the marketer's list of phrases to teach the bot."""

    node: str
    text: str
    misses: int
    language: str = ""


@dataclass(frozen=True, slots=True)
class IntentMatched:
    intent: str
    node: str


@dataclass(frozen=True, slots=True)
class InputInvalid:
    node: str
    variable: str
    retries: int


@dataclass(frozen=True, slots=True)
class VariableSet:
    name: str


@dataclass(frozen=True, slots=True)
class CallMade:
    node: str
    method: str
    url: str
    status: int | None
    ok: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class GoalReached:
    goal: str
    node: str


@dataclass(frozen=True, slots=True)
class HandoffRequested:
    queue: str
    reason: str
    node: str
    notice: str = "open"  # what the shopper was told: open, busy (nobody on duty) or closed


@dataclass(frozen=True, slots=True)
class VariantAssigned:
    experiment: str
    variant: str
    node: str


@dataclass(frozen=True, slots=True)
class Rated:
    """The shopper answered a satisfaction question: `kind` csat (1-5) or nps (0-10)."""

    kind: str
    score: int
    node: str


@dataclass(frozen=True, slots=True)
class FlowResumed:
    """A reload removed the node a conversation waited at; it resumed at `node` instead."""

    missing: str
    node: str
    version: str


@dataclass(frozen=True, slots=True)
class ConversationEnded:
    node: str


@dataclass(frozen=True, slots=True)
class ConversationStopped:
    """The shopper asked the bot to stop (an opt-out)."""

    node: str


@dataclass(frozen=True, slots=True)
class StepLimitReached:
    """Defensive: a step ran through too many nodes without waiting (the validator forbids it)."""

    node: str


Event = (
    NodeEntered
    | Fallback
    | IntentMatched
    | InputInvalid
    | VariableSet
    | CallMade
    | GoalReached
    | HandoffRequested
    | VariantAssigned
    | Rated
    | FlowResumed
    | ConversationEnded
    | ConversationStopped
    | StepLimitReached
)

EVENT_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        NodeEntered,
        Fallback,
        IntentMatched,
        InputInvalid,
        VariableSet,
        CallMade,
        GoalReached,
        HandoffRequested,
        VariantAssigned,
        Rated,
        FlowResumed,
        ConversationEnded,
        ConversationStopped,
        StepLimitReached,
    )
}


# ---- plain-JSON codec: queue, outbox and history store these as dicts ----

T = TypeVar("T")

_NESTED: dict[tuple[str, str], type] = {
    ("Inbound", "shopper"): Shopper,
    ("Inbound", "location"): Location,
    ("Inbound", "contact"): Contact,
    ("Inbound", "attachments"): Attachment,
    ("Reply", "buttons"): Button,
    ("Reply", "media"): Attachment,
    ("Reply", "template"): Template,
}


def to_dict(obj: Any) -> dict[str, Any]:
    """A message as a JSON-ready dict; fields at their default are left out to keep it small."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if value == f.default:
            continue
        if isinstance(value, tuple):
            value = [_plain(v) for v in value]
        elif hasattr(value, "__dataclass_fields__"):
            value = to_dict(value)
        out[f.name] = value
    return out


def _plain(item: Any) -> Any:
    """One element of a tuple field: a message type, a pair, or a plain value (a string)."""
    if hasattr(item, "__dataclass_fields__"):
        return to_dict(item)
    return list(item) if isinstance(item, tuple) else item


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """The inverse of `to_dict`; unknown keys are ignored so old rows stay readable."""
    kwargs: dict[str, Any] = {}
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    for name, value in data.items():
        if name not in names:
            continue
        nested = _NESTED.get((cls.__name__, name))
        if isinstance(value, list):
            if nested is not None:
                value = tuple(from_dict(nested, v) for v in value)
            else:
                value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        elif isinstance(value, dict) and nested is not None:
            value = from_dict(nested, value)
        kwargs[name] = value
    return cls(**kwargs)


def event_to_dict(event: Event) -> dict[str, Any]:
    return {"type": type(event).__name__, **to_dict(event)}


def event_from_dict(data: dict[str, Any]) -> Event:
    body = dict(data)
    cls = EVENT_TYPES[body.pop("type")]
    return from_dict(cls, body)


__all__ = [
    "CHANNELS",
    "EVENT_TYPES",
    "Attachment",
    "Button",
    "CallMade",
    "Contact",
    "ConversationEnded",
    "ConversationStopped",
    "Event",
    "Fallback",
    "FlowResumed",
    "GoalReached",
    "HandoffRequested",
    "Inbound",
    "InputInvalid",
    "IntentMatched",
    "Location",
    "NodeEntered",
    "Rated",
    "Reply",
    "Shopper",
    "StepLimitReached",
    "Template",
    "VariableSet",
    "VariantAssigned",
    "event_from_dict",
    "event_to_dict",
    "from_dict",
    "short_payload",
    "to_dict",
]
