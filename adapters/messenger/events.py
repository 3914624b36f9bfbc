"""Messenger webhook events → `Inbound` / `Ignored`, one handler per event kind.

One POST may batch several `entry` items, each with a `messaging` array; every item of every
array is classified. Echoes of our own sends, delivery and read receipts are recognised and
ignored on purpose, never taken for a shopper's message.
https://developers.facebook.com/docs/messenger-platform/webhooks
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from adapters.base import Ignored, ParseResult
from adapters.common.shape import (
    ShapeError,
    arr,
    get_id,
    get_obj,
    get_str,
    obj,
    opt_arr,
    opt_number,
    opt_obj,
    opt_str,
)
from adapters.common.text import cap_inbound
from flows.messages import Attachment, Inbound, Shopper

CHANNEL = "messenger"
REF_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # m.me ?ref= values we pass on; others dropped
ATTACHMENT_KINDS = {"image": "image", "video": "video", "audio": "audio", "file": "file"}

Event = Inbound | Ignored


@dataclass(frozen=True, slots=True)
class Item:
    """One `messaging` item with the fields every event has, already checked."""

    data: Mapping[str, Any]
    path: str
    sender: str
    millis: float | None
    page: str | None

    def base(self, message_id: str) -> Inbound:
        return Inbound(
            channel=CHANNEL,
            conversation=self.sender,
            message_id=message_id,
            shopper=Shopper(id=self.sender),
            timestamp=(self.millis or 0.0) / 1000.0,
            extras=(("page_id", self.page),) if self.page else (),
        )

    def synthetic_id(self, kind: str) -> str:
        """Events without a mid are deduplicated on sender and timestamp instead."""
        if self.millis is None:
            raise ShapeError(f"{self.path}.timestamp", "missing")
        return f"{kind}:{self.sender}:{int(self.millis)}"


Handler = Callable[[Item, Mapping[str, Any], str], Event]


def parse_body(root: Any) -> ParseResult:
    """Every event of every entry, in order; raises ShapeError naming a malformed field."""
    body = obj(root, "body")
    kind = body.get("object")
    if kind != "page":
        return ParseResult(ignored=(Ignored("not_a_page_event", detail=str(kind)[:40]),))
    inbound: list[Inbound] = []
    ignored: list[Ignored] = []
    for i, entry in enumerate(arr(body.get("entry"), "entry")):
        path = f"entry[{i}]"
        entry = obj(entry, path)
        for key in ("messaging", "standby"):
            for j, raw in enumerate(opt_arr(entry, key, path)):
                event = classify(raw, f"{path}.{key}[{j}]", standby=key == "standby")
                if isinstance(event, Inbound):
                    inbound.append(event)
                else:
                    ignored.append(event)
    return ParseResult(inbound=tuple(inbound), ignored=tuple(ignored))


def classify(raw: Any, path: str, standby: bool = False) -> Event:
    data = obj(raw, path)
    recipient = opt_obj(data, "recipient", path) or {}
    item = Item(
        data=data,
        path=path,
        sender=get_id(get_obj(data, "sender", path), "id", f"{path}.sender"),
        millis=opt_number(data, "timestamp", path),
        page=str(recipient["id"]) if recipient.get("id") else None,
    )
    if standby:  # another app owns the thread (handover protocol): not ours to answer
        return Ignored("standby", item.sender)
    for key, handler in HANDLERS.items():
        if key in data:
            return handler(item, get_obj(data, key, path), f"{path}.{key}")
    return Ignored("unsupported_event", item.sender, ",".join(sorted(data))[:80])


def _message(item: Item, message: Mapping[str, Any], path: str) -> Event:
    mid = get_str(message, "mid", path)
    if message.get("is_echo"):  # our own send, echoed back: the "sender" is the Page
        return Ignored("echo", item.page, mid)
    base = item.base(mid)
    text, capped = cap_inbound(opt_str(message, "text", path) or "")
    extras = base.extras + capped
    quick = opt_obj(message, "quick_reply", path)
    if quick is not None:
        payload = get_str(quick, "payload", f"{path}.quick_reply")
        return replace(base, kind="button", text=text, payload=payload, extras=extras)
    media = tuple(
        a
        for k, raw in enumerate(opt_arr(message, "attachments", path))
        if (a := _attachment(raw, f"{path}.attachments[{k}]")) is not None
    )
    if media:
        return replace(base, kind="media", text=text, attachments=media, extras=extras)
    return replace(base, text=text, extras=extras)


def _attachment(raw: Any, path: str) -> Attachment | None:
    data = obj(raw, path)
    kind = get_str(data, "type", path)
    url = opt_str(opt_obj(data, "payload", path) or {}, "url", f"{path}.payload")
    return Attachment(ATTACHMENT_KINDS.get(kind, "file"), url) if url else None


def _postback(item: Item, postback: Mapping[str, Any], path: str) -> Event:
    """A button tap: route on `payload`; `title` is what the shopper saw."""
    base = item.base(opt_str(postback, "mid", path) or item.synthetic_id("postback"))
    ref = _ref(opt_obj(postback, "referral", path))
    return replace(
        base,
        kind="button",
        text=opt_str(postback, "title", path) or "",
        payload=opt_str(postback, "payload", path) or "",
        extras=base.extras + ((("start_param", ref),) if ref else ()),
    )


def _referral(item: Item, referral: Mapping[str, Any], path: str) -> Event:
    """An m.me link with ?ref= opened an existing thread: a start, like Telegram's deep link."""
    base = item.base(item.synthetic_id("referral"))
    ref = _ref(referral)
    return replace(
        base, kind="start", extras=base.extras + ((("start_param", ref),) if ref else ())
    )


def _receipt(item: Item, receipt: Mapping[str, Any], path: str) -> Event:
    watermark = opt_number(receipt, "watermark", path)
    return Ignored(path.rsplit(".", 1)[1], item.sender, f"watermark={int(watermark or 0)}")


def _ignore(reason: str) -> Handler:
    def handler(item: Item, _: Mapping[str, Any], path: str) -> Event:
        return Ignored(reason, item.sender)

    return handler


def _ref(referral: Mapping[str, Any] | None) -> str | None:
    ref = (referral or {}).get("ref")
    return ref if isinstance(ref, str) and REF_RE.fullmatch(ref) else None


HANDLERS: dict[str, Handler] = {
    "message": _message,
    "postback": _postback,
    "referral": _referral,
    "delivery": _receipt,
    "read": _receipt,
    "reaction": _ignore("reaction"),
    "optin": _ignore("optin"),
    "account_linking": _ignore("account_linking"),
    "pass_thread_control": _ignore("handover"),
    "take_thread_control": _ignore("handover"),
}
