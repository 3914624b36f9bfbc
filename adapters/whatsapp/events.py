"""Twilio WhatsApp webhook fields → `Inbound` or `StatusUpdate`, one builder per MessageType.

Twilio posts one event per request. A request with `MessageStatus` is a status callback for a
message we sent, never a shopper's message; buttons route on `ButtonPayload` (quick reply) or
`ListId` (list picker), never on the text shown.
https://www.twilio.com/docs/messaging/guides/webhook-request
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from urllib.parse import parse_qsl

from adapters.base import Ignored, ParseError, ParseResult, StatusUpdate
from adapters.common.text import LONE_SURROGATE, cap_inbound, replace_lone_surrogates
from adapters.whatsapp.client import failure_for_code
from flows.messages import Attachment, Inbound, Location, Shopper

CHANNEL = "whatsapp"
PREFIX = "whatsapp:"
# Form fields consumed or of no use downstream; anything else goes to Inbound.extras.
_KNOWN = frozenset(
    (
        *("MessageSid", "SmsSid", "SmsMessageSid", "AccountSid", "ApiVersion", "SmsStatus"),
        *("NumSegments", "NumMedia", "ReferralNumMedia", "To", "From", "WaId", "ProfileName"),
        *("Body", "MessageType", "Latitude", "Longitude", "Address", "Label"),
        *("ButtonText", "ButtonPayload", "ListId", "ListTitle"),
    )
)


def strip_prefix(address: str) -> str:
    return address.removeprefix(PREFIX)


def form_items(body: bytes) -> list[tuple[str, str]]:
    """Decode a Twilio form exactly: blank values kept, '%2B' is '+', '+' is a space.

    Bytes that are not UTF-8, raw or percent-encoded, become U+FFFD (`verify` signs what this
    returns, so both read the same text); a body that is not a form raises ValueError.
    """
    text = body.decode("utf-8", "replace")
    return parse_qsl(text, keep_blank_values=True, strict_parsing=True) if text else []


def parse_params(params: Mapping[str, str], received_at: float) -> ParseResult | ParseError:
    if not params:
        return ParseError("body", "empty body")
    if any(LONE_SURROGATE.search(k) or LONE_SURROGATE.search(v) for k, v in params.items()):
        # only a JSON webhook's "\ud800" escapes can carry one: U+FFFD, as for the others
        params = {replace_lone_surrogates(k): replace_lone_surrogates(v) for k, v in params.items()}
    sid = params.get("MessageSid") or params.get("SmsSid")
    if not sid:
        return ParseError("MessageSid", "missing")
    if "MessageStatus" in params:
        return ParseResult(statuses=(_status(sid, params, received_at),))
    sender = params.get("From", "")
    if not sender:
        return ParseError("From", "missing")
    kind = params.get("MessageType") or _guess_type(params)
    if kind in ("unsupported", "reaction"):
        return ParseResult(ignored=(Ignored(kind, strip_prefix(sender)),))
    build = _BUILDERS.get(kind, _text)
    try:
        inbound = build(params, _base(sid, sender, params, received_at))
    except ValueError as exc:
        return ParseError(str(exc), "not a number")
    return ParseResult(inbound=(inbound,))


def _status(sid: str, params: Mapping[str, str], now: float) -> StatusUpdate:
    code = params.get("ErrorCode") or None
    number = _small_int(code) if code else None
    return StatusUpdate(
        channel=CHANNEL,
        message_id=sid,
        status=params["MessageStatus"],
        error_code=code,
        failure=failure_for_code(number) if code else None,
        recipient=strip_prefix(params.get("To", "")) or None,
        timestamp=now,
    )


def _base(sid: str, sender: str, params: Mapping[str, str], now: float) -> Inbound:
    number = strip_prefix(sender)
    text, capped = cap_inbound(params.get("Body", ""))
    extras = [(k, v) for k, v in params.items() if v and k not in _KNOWN and not _media_key(k)]
    return Inbound(
        channel=CHANNEL,
        conversation=number,
        message_id=sid,
        shopper=Shopper(id=number, name=params.get("ProfileName") or None, phone=number),
        text=text,
        timestamp=now,
        extras=(*extras, *capped),
    )


def _small_int(text: str) -> int | None:
    """A count or an error code (Twilio's have 5 digits); None for anything else, including a
    run of digits too long for `int()` (4,300) or for any real code."""
    # isascii too: str.isdigit() is true for "¹", which int() refuses
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def _media_key(name: str) -> bool:
    return name.startswith(("MediaUrl", "MediaContentType"))


def _guess_type(params: Mapping[str, str]) -> str:
    if "Latitude" in params:
        return "location"
    if params.get("ButtonPayload"):
        return "button"
    if params.get("ListId"):
        return "interactive"
    return "media" if params.get("NumMedia", "0") not in ("", "0") else "text"


def _text(params: Mapping[str, str], base: Inbound) -> Inbound:
    if params.get("NumMedia", "0") not in ("", "0"):
        return _media(params, base)
    return base


def _media(params: Mapping[str, str], base: Inbound) -> Inbound:
    count = _small_int(params.get("NumMedia") or "0")
    if count is None:
        raise ValueError("NumMedia")
    attachments = []
    for i in range(min(count, 10)):  # Twilio sends at most 10 media per message
        url = params.get(f"MediaUrl{i}")
        if url:
            mime = params.get(f"MediaContentType{i}") or None
            attachments.append(Attachment(_media_kind(mime), url, mime))
    return replace(base, kind="media", attachments=tuple(attachments))


def _media_kind(mime: str | None) -> str:
    major = (mime or "").split("/", 1)[0]
    return major if major in ("image", "video", "audio") else "file"


def _location(params: Mapping[str, str], base: Inbound) -> Inbound:
    try:
        lat, lon = float(params["Latitude"]), float(params["Longitude"])
    except (KeyError, ValueError) as exc:
        raise ValueError("Latitude/Longitude") from exc
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise ValueError("Latitude/Longitude")
    place = Location(
        lat, lon, name=params.get("Label") or None, address=params.get("Address") or None
    )
    return replace(base, kind="location", location=place)


def _button(params: Mapping[str, str], base: Inbound) -> Inbound:
    """Route on ButtonPayload (quick reply) or ListId (list picker), never on the shown text."""
    payload = params.get("ButtonPayload") or params.get("ListId") or params.get("Body", "")
    shown = params.get("ButtonText") or params.get("ListTitle") or base.text
    return replace(base, kind="button", payload=payload, text=shown)


_BUILDERS: dict[str, Callable[[Mapping[str, str], Inbound], Inbound]] = {
    "text": _text,
    "image": _media,
    "video": _media,
    "audio": _media,
    "document": _media,
    "sticker": _media,
    "media": _media,
    "location": _location,
    "button": _button,
    "interactive": _button,
}
