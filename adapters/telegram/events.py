"""Telegram updates → `Inbound` / `Ignored` / `Unreachable`, read from the decoded JSON.

Every field we read goes through `adapters.common.shape`, so a wrong shape names its path and never
raises out of `parse`. This used to build PTB objects first (`telegram.Update.de_json`), which
cost about 0.4 ms of a webhook's 0.6 ms and read nothing we need beyond these few fields; the
field meanings are PTB's (`User.full_name`, the largest `PhotoSize`, `edit_date or date`).
Policy: only private chats are served; group updates are ignored so the bot never answers into
a group. `edited_message` becomes an Inbound of kind "edit"; `my_chat_member` → kicked becomes
`Unreachable`. https://core.telegram.org/bots/api#update
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from adapters.base import Ignored, ParseResult, Unreachable
from adapters.common.shape import (
    ShapeError,
    arr,
    get_int,
    get_obj,
    get_str,
    obj,
    opt_arr,
    opt_number,
    opt_obj,
    opt_str,
)
from adapters.common.text import cap_inbound
from flows.messages import Attachment, Contact, Inbound, Location, Shopper

CHANNEL = "telegram"
FILE_SCHEME = "telegram-file:"  # Attachment.url = FILE_SCHEME + file_id; fetch with getFile
# https://core.telegram.org/bots/features#deep-linking: up to 64 of A-Z a-z 0-9 _ -
START_RE = re.compile(r"/start(?:@\w+)?(?:\s+(\S*))?\s*")
START_PARAM_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")

Json = Mapping[str, Any]


def classify(data: Any, received_at: float) -> ParseResult:
    """One update: dispatch on its kind; other kinds (channel posts, polls...) are ignored.

    Raises `ShapeError` (naming the path) when a field we read has the wrong type."""
    root = obj(data, "update")
    update_id = get_int(root, "update_id", "")
    for kind, handler in HANDLERS.items():
        if root.get(kind) is not None:
            return handler(root, get_obj(root, kind, ""), kind, str(update_id), received_at)
    kinds = ",".join(sorted(k for k in root if k != "update_id")) or "empty"
    return ParseResult(ignored=(Ignored("unsupported_update", detail=kinds[:80]),))


def _chat(parent: Json, path: str) -> tuple[str, str]:
    """(id, type) of the chat at `parent["chat"]`."""
    chat = get_obj(parent, "chat", path)
    return str(get_int(chat, "id", f"{path}.chat")), get_str(chat, "type", f"{path}.chat")


def _shopper(user: Json | None, fallback: str, path: str) -> Shopper:
    if user is None:
        return Shopper(id=fallback)
    first = get_str(user, "first_name", path)
    last = opt_str(user, "last_name", path)
    return Shopper(
        id=str(get_int(user, "id", path)),
        name=f"{first} {last}" if last else first,  # PTB's User.full_name
        first_name=first,
        locale=opt_str(user, "language_code", path),
    )


def _message(root: Json, message: Json, kind: str, update_id: str, received_at: float
             ) -> ParseResult:  # fmt: skip
    chat, chat_type = _chat(message, kind)
    if chat_type != "private":
        return ParseResult(ignored=(Ignored("group_chat", chat, chat_type),))
    date = get_int(message, "date", kind)
    base = Inbound(
        channel=CHANNEL,
        conversation=chat,
        message_id=update_id,
        shopper=_shopper(opt_obj(message, "from", kind), chat, f"{kind}.from"),
        timestamp=float(date),
        extras=(("chat_message_id", str(get_int(message, "message_id", kind))),),
    )
    said = opt_str(message, "text", kind) or opt_str(message, "caption", kind) or ""
    text, capped = cap_inbound(said)
    base = replace(base, text=text, extras=base.extras + capped)
    for field, build in CONTENT.items():
        if message.get(field):
            inbound = build(message, base, kind)
            break
    else:
        return ParseResult(ignored=(Ignored("unsupported_content", chat),))
    if root.get("edited_message") is not None:
        edited = date if message.get("edit_date") is None else get_int(message, "edit_date", kind)
        extras = (*inbound.extras, ("edit_date", str(edited)))
        inbound = replace(inbound, kind="edit", extras=extras)
    return ParseResult(inbound=(inbound,))


def _text(message: Json, base: Inbound, path: str) -> Inbound:
    start = START_RE.fullmatch(base.text)
    if not start:
        return base
    param = start[1] or ""
    extras = (("start_param", param),) if START_PARAM_RE.fullmatch(param) else ()
    return replace(base, kind="start", extras=base.extras + extras)


def _photo(message: Json, base: Inbound, path: str) -> Inbound:
    """The largest of the sizes Telegram sends: by pixels, then bytes, the first of equals."""
    path = f"{path}.photo"
    raws = arr(message["photo"], path)
    sizes = [(obj(raw, f"{path}[{i}]"), f"{path}[{i}]") for i, raw in enumerate(raws)]

    def rank(entry: tuple[Json, str]) -> tuple[int, float]:
        size, where = entry
        area = get_int(size, "width", where) * get_int(size, "height", where)
        return area, opt_number(size, "file_size", where) or 0.0

    largest, where = max(sizes, key=rank)
    photo = Attachment("image", FILE_SCHEME + get_str(largest, "file_id", where), "image/jpeg")
    extras = (("file_unique_id", get_str(largest, "file_unique_id", where)),)
    return replace(base, kind="media", attachments=(photo,), extras=base.extras + extras)


def _file(kind: str, field: str) -> Callable[[Json, Inbound, str], Inbound]:
    def build(message: Json, base: Inbound, path: str) -> Inbound:
        item = get_obj(message, field, path)
        path = f"{path}.{field}"
        mime = opt_str(item, "mime_type", path) or ("image/webp" if field == "sticker" else None)
        url = FILE_SCHEME + get_str(item, "file_id", path)
        return replace(base, kind="media", attachments=(Attachment(kind, url, mime),))

    return build


def _location(message: Json, base: Inbound, path: str) -> Inbound:
    where = get_obj(message, "location", path)
    latitude, longitude = (_number(where, k, f"{path}.location") for k in ("latitude", "longitude"))
    venue = opt_obj(message, "venue", path)
    name = address = None
    if venue is not None:
        name, address = (get_str(venue, k, f"{path}.venue") for k in ("title", "address"))
    place = Location(latitude, longitude, name=name, address=address)
    return replace(base, kind="location", location=place)


def _number(parent: Json, key: str, path: str) -> float:
    value = opt_number(parent, key, path)
    if value is None:
        raise ShapeError(f"{path}.{key}", "missing")
    return value


def _contact(message: Json, base: Inbound, path: str) -> Inbound:
    """A shared contact; its number is normalised to +digits (Telegram may omit the '+')."""
    card = get_obj(message, "contact", path)
    path = f"{path}.contact"
    phone = normalise_phone(get_str(card, "phone_number", path))
    parts = (opt_str(card, "first_name", path), opt_str(card, "last_name", path))
    name = " ".join(p for p in parts if p) or None
    sender, user_id = message.get("from"), card.get("user_id")
    own = sender is not None and isinstance(user_id, int) and user_id == sender.get("id")
    shopper = replace(base.shopper, phone=phone) if own else base.shopper
    return replace(base, kind="contact", contact=Contact(phone, name), shopper=shopper)


def normalise_phone(raw: str) -> str:
    digits = re.sub(r"\D", "", raw)
    return f"+{digits}" if digits else raw


def _callback(root: Json, query: Json, kind: str, update_id: str, received_at: float
              ) -> ParseResult:  # fmt: skip
    """An inline-button press: payload = data; the query id must be answered (see extras)."""
    query_id = get_str(query, "id", kind)
    message = opt_obj(query, "message", kind)
    data = opt_str(query, "data", kind)
    if message is None or data is None:
        return ParseResult(ignored=(Ignored("inline_or_game_callback", detail=query_id),))
    where = f"{kind}.message"
    chat, chat_type = _chat(message, where)
    if chat_type != "private":
        return ParseResult(ignored=(Ignored("group_chat", chat, chat_type),))
    inbound = Inbound(
        channel=CHANNEL,
        conversation=chat,
        message_id=update_id,
        shopper=_shopper(get_obj(query, "from", kind), chat, f"{kind}.from"),
        kind="button",
        text=_button_title(message, data, where),
        payload=data,
        timestamp=received_at,
        extras=(
            ("callback_query_id", query_id),
            ("chat_message_id", str(get_int(message, "message_id", where))),
        ),
    )
    return ParseResult(inbound=(inbound,))


def _button_title(message: Json, data: str, path: str) -> str:
    """The title of the pressed button, read back from the keyboard it was on."""
    markup = opt_obj(message, "reply_markup", path)
    path = f"{path}.reply_markup"
    rows = opt_arr(markup, "inline_keyboard", path) if markup else []
    path = f"{path}.inline_keyboard"
    for i, row in enumerate(rows):
        for j, raw in enumerate(arr(row, f"{path}[{i}]")):
            button = obj(raw, f"{path}[{i}][{j}]")
            if button.get("callback_data") == data:
                return get_str(button, "text", f"{path}[{i}][{j}]")
    return ""


def _member(root: Json, change: Json, kind: str, update_id: str, received_at: float
            ) -> ParseResult:  # fmt: skip
    chat, chat_type = _chat(change, kind)
    status = get_str(get_obj(change, "new_chat_member", kind), "status", f"{kind}.new_chat_member")
    if chat_type == "private" and status == "kicked":
        when = float(get_int(change, "date", kind))
        return ParseResult(unreachable=(Unreachable(CHANNEL, chat, "blocked", when),))
    return ParseResult(ignored=(Ignored("chat_member_update", chat, status),))


Handler = Callable[[Json, Json, str, str, float], ParseResult]
HANDLERS: dict[str, Handler] = {
    "message": _message,
    "edited_message": _message,
    "callback_query": _callback,
    "my_chat_member": _member,
}
CONTENT: dict[str, Callable[[Json, Inbound, str], Inbound]] = {
    "text": _text,
    "photo": _photo,
    "animation": _file("video", "animation"),  # before document: GIFs carry both
    "document": _file("file", "document"),
    "video": _file("video", "video"),
    "audio": _file("audio", "audio"),
    "voice": _file("audio", "voice"),
    "video_note": _file("video", "video_note"),
    "sticker": _file("sticker", "sticker"),
    "location": _location,
    "contact": _contact,
}
