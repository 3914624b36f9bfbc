"""Telegram updates → `Inbound` / `Ignored` / `Unreachable`, through `telegram.Update.de_json`.

PTB builds objects leniently (a string `update_id` stays a string, a missing `date` raises
KeyError), so the fields we rely on are tamed first and a wrong shape names its path. Policy:
only private chats are served; group updates are ignored so the bot never answers into a
group. `edited_message` becomes an Inbound of kind "edit"; `my_chat_member` → kicked becomes
`Unreachable`. https://core.telegram.org/bots/api#update
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from telegram import CallbackQuery, Message, Update, User

from adapters.base import Ignored, ParseResult, Unreachable
from adapters.shape import get_int, get_obj, get_str, obj, opt_arr, opt_obj, opt_str
from adapters.text import cap_inbound
from flows.messages import Attachment, Contact, Inbound, Location, Shopper

CHANNEL = "telegram"
FILE_SCHEME = "telegram-file:"  # Attachment.url = FILE_SCHEME + file_id; fetch with getFile
# https://core.telegram.org/bots/features#deep-linking: up to 64 of A-Z a-z 0-9 _ -
START_RE = re.compile(r"/start(?:@\w+)?(?:\s+(\S*))?\s*")
START_PARAM_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
MESSAGE_KINDS = ("message", "edited_message")


def check_shape(data: Any) -> Mapping[str, Any]:
    """Tame the fields we read, so PTB never meets a wrong type; raises ShapeError."""
    root = obj(data, "update")
    get_int(root, "update_id", "")
    for key in MESSAGE_KINDS:
        if key in root:
            _check_message(get_obj(root, key, ""), key)
    if "callback_query" in root:
        query = get_obj(root, "callback_query", "")
        get_str(query, "id", "callback_query")
        _check_user(get_obj(query, "from", "callback_query"), "callback_query.from")
        opt_str(query, "data", "callback_query")
        message = opt_obj(query, "message", "callback_query")
        if message is not None:
            _check_chat(
                get_obj(message, "chat", "callback_query.message"), "callback_query.message.chat"
            )
    if "my_chat_member" in root:
        member = get_obj(root, "my_chat_member", "")
        _check_chat(get_obj(member, "chat", "my_chat_member"), "my_chat_member.chat")
        get_int(member, "date", "my_chat_member")
        get_str(
            get_obj(member, "new_chat_member", "my_chat_member"),
            "status",
            "my_chat_member.new_chat_member",
        )
    return root


def _check_message(message: Mapping[str, Any], path: str) -> None:
    get_int(message, "message_id", path)
    get_int(message, "date", path)
    _check_chat(get_obj(message, "chat", path), f"{path}.chat")
    sender = opt_obj(message, "from", path)
    if sender is not None:
        _check_user(sender, f"{path}.from")
    for key in ("text", "caption"):
        opt_str(message, key, path)
    for i, size in enumerate(opt_arr(message, "photo", path)):
        get_str(obj(size, f"{path}.photo[{i}]"), "file_id", f"{path}.photo[{i}]")
    if "contact" in message:
        get_str(get_obj(message, "contact", path), "phone_number", f"{path}.contact")


def _check_chat(chat: Mapping[str, Any], path: str) -> None:
    get_int(chat, "id", path)
    get_str(chat, "type", path)


def _check_user(user: Mapping[str, Any], path: str) -> None:
    get_int(user, "id", path)
    get_str(user, "first_name", path)


def classify(update: Update, raw: Mapping[str, Any], received_at: float) -> ParseResult:
    """One update: dispatch on its kind; other kinds (channel posts, polls...) are ignored."""
    for kind, handler in HANDLERS.items():
        if getattr(update, kind) is not None:
            return handler(update, received_at)
    kinds = ",".join(sorted(k for k in raw if k != "update_id")) or "empty"
    return ParseResult(ignored=(Ignored("unsupported_update", detail=kinds[:80]),))


def _shopper(user: User | None, fallback: str) -> Shopper:
    if user is None:
        return Shopper(id=fallback)
    return Shopper(
        id=str(user.id), name=user.full_name, first_name=user.first_name, locale=user.language_code
    )


def _message(update: Update, received_at: float) -> ParseResult:
    message = update.message or update.edited_message
    assert message is not None  # HANDLERS only routes updates that carry one
    chat = str(message.chat.id)
    if message.chat.type != "private":
        return ParseResult(ignored=(Ignored("group_chat", chat, str(message.chat.type)),))
    base = Inbound(
        channel=CHANNEL,
        conversation=chat,
        message_id=str(update.update_id),
        shopper=_shopper(message.from_user, chat),
        timestamp=message.date.timestamp(),
        extras=(("chat_message_id", str(message.message_id)),),
    )
    text, capped = cap_inbound(message.text or message.caption or "")
    base = replace(base, text=text, extras=base.extras + capped)
    for field, build in CONTENT.items():
        if getattr(message, field):
            inbound = build(message, base)
            break
    else:
        return ParseResult(ignored=(Ignored("unsupported_content", chat),))
    if update.edited_message is not None:
        edited = (message.edit_date or message.date).timestamp()
        inbound = replace(
            inbound, kind="edit", extras=(*inbound.extras, ("edit_date", str(int(edited))))
        )
    return ParseResult(inbound=(inbound,))


def _text(message: Message, base: Inbound) -> Inbound:
    start = START_RE.fullmatch(base.text)
    if not start:
        return base
    param = start[1] or ""
    extras = (("start_param", param),) if START_PARAM_RE.fullmatch(param) else ()
    return replace(base, kind="start", extras=base.extras + extras)


def _photo(message: Message, base: Inbound) -> Inbound:
    largest = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
    photo = Attachment("image", FILE_SCHEME + largest.file_id, "image/jpeg")
    extras = (("file_unique_id", largest.file_unique_id),)
    return replace(base, kind="media", attachments=(photo,), extras=base.extras + extras)


def _file(kind: str, field: str) -> Callable[[Message, Inbound], Inbound]:
    def build(message: Message, base: Inbound) -> Inbound:
        item = getattr(message, field)
        mime = getattr(item, "mime_type", None) or ("image/webp" if field == "sticker" else None)
        return replace(
            base, kind="media", attachments=(Attachment(kind, FILE_SCHEME + item.file_id, mime),)
        )

    return build


def _location(message: Message, base: Inbound) -> Inbound:
    assert message.location is not None
    venue = message.venue
    place = Location(
        message.location.latitude,
        message.location.longitude,
        name=venue.title if venue else None,
        address=venue.address if venue else None,
    )
    return replace(base, kind="location", location=place)


def _contact(message: Message, base: Inbound) -> Inbound:
    """A shared contact; its number is normalised to +digits (Telegram may omit the '+')."""
    assert message.contact is not None
    card = message.contact
    phone = normalise_phone(card.phone_number)
    name = " ".join(p for p in (card.first_name, card.last_name) if p) or None
    own = message.from_user is not None and card.user_id == message.from_user.id
    shopper = replace(base.shopper, phone=phone) if own else base.shopper
    return replace(base, kind="contact", contact=Contact(phone, name), shopper=shopper)


def normalise_phone(raw: str) -> str:
    digits = re.sub(r"\D", "", raw)
    return f"+{digits}" if digits else raw


def _callback(update: Update, received_at: float) -> ParseResult:
    """An inline-button press: payload = data; the query id must be answered (see extras)."""
    query: CallbackQuery = update.callback_query  # type: ignore[assignment]
    if query.message is None or query.data is None:
        return ParseResult(ignored=(Ignored("inline_or_game_callback", detail=query.id),))
    chat = str(query.message.chat.id)
    if query.message.chat.type != "private":
        return ParseResult(ignored=(Ignored("group_chat", chat, str(query.message.chat.type)),))
    inbound = Inbound(
        channel=CHANNEL,
        conversation=chat,
        message_id=str(update.update_id),
        shopper=_shopper(query.from_user, chat),
        kind="button",
        text=_button_title(query),
        payload=query.data,
        timestamp=received_at,
        extras=(
            ("callback_query_id", query.id),
            ("chat_message_id", str(query.message.message_id)),
        ),
    )
    return ParseResult(inbound=(inbound,))


def _button_title(query: CallbackQuery) -> str:
    """The title of the pressed button, read back from the keyboard it was on."""
    markup = getattr(query.message, "reply_markup", None)
    for row in markup.inline_keyboard if markup else ():
        for button in row:
            if button.callback_data == query.data:
                return button.text
    return ""


def _member(update: Update, received_at: float) -> ParseResult:
    change = update.my_chat_member
    assert change is not None
    chat = str(change.chat.id)
    status = change.new_chat_member.status
    if change.chat.type == "private" and status == "kicked":
        return ParseResult(
            unreachable=(Unreachable(CHANNEL, chat, "blocked", change.date.timestamp()),)
        )
    return ParseResult(ignored=(Ignored("chat_member_update", chat, str(status)),))


HANDLERS: dict[str, Callable[[Update, float], ParseResult]] = {
    "message": _message,
    "edited_message": _message,
    "callback_query": _callback,
    "my_chat_member": _member,
}
CONTENT: dict[str, Callable[[Message, Inbound], Inbound]] = {
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
