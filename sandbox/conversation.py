"""One shopper's chat as the simulator page shows it, built from the recorded calls and webhooks.

Platform behaviour lives here, not in the page: Telegram edits change an earlier message's
keyboard, a reply keyboard stays until removed, Messenger quick replies vanish once anything newer
arrives, and a typing action shows for a few seconds.
"""

from __future__ import annotations

import time
from typing import Any

from sandbox.recording import Entry
from sandbox.state import SandboxState

TYPING_SECONDS = 5.0  # Telegram's chat action lasts 5 s; Messenger's typing_on about 20 s
_SHOWN = {"messages.create", "messages", "sendMessage", "sendPhoto"}
_TYPING = {("telegram", "typing"), ("messenger", "typing_on")}


def _rows(entry: Entry) -> list[list[dict[str, str]]]:
    """Buttons in the layout the platform draws: Telegram keeps rows, the others stack."""
    if entry["channel"] == "telegram":
        markup = entry.get("reply_markup") or {}
        return [
            [
                {
                    "title": str(b.get("text", "")),
                    "payload": str(b.get("callback_data", "")),
                    "kind": "url" if b.get("url") else "callback",
                    "url": str(b.get("url", "")),
                }
                for b in row
            ]
            for row in markup.get("inline_keyboard") or []
        ]
    stacked = [b for b in entry.get("buttons") or [] if b["kind"] != "quick_reply"]
    return [[{**b, "url": b["payload"] if b["kind"] == "url" else ""}] for b in stacked]


def _outgoing(entry: Entry) -> dict[str, Any]:
    return {
        "seq": entry["seq"],
        "dir": "out",
        "time": entry["time"],
        "id": entry.get("id"),
        "author": entry.get("author") or "bot",
        "text": entry.get("text") or "",
        "media": entry.get("media") or [],
        "rows": _rows(entry),
        "quick": [b for b in entry.get("buttons") or [] if b["kind"] == "quick_reply"],
    }


def _incoming(entry: Entry) -> dict[str, Any]:
    return {
        "seq": entry["seq"],
        "dir": "in",
        "time": entry["time"],
        "text": entry.get("text", ""),
        "action": entry.get("action", "text"),
        "status": entry.get("status"),
        "error": entry.get("error"),
    }


def _keyboard(entry: Entry) -> list[list[str]] | None:
    markup = entry.get("reply_markup") or {}
    return [
        [b if isinstance(b, str) else str(b.get("text", "")) for b in row]
        for row in markup.get("keyboard") or []
    ]


def build(state: SandboxState, channel: str, address: str) -> dict[str, Any]:
    """Items oldest first, the current Telegram reply keyboard and whether the bot is typing."""
    entries = state.recorder.select(("send", "webhook"), channel, address)
    items: list[dict[str, Any]] = []
    by_message: dict[Any, dict[str, Any]] = {}
    keyboard: list[list[str]] | None = None
    typing_since: float | None = None
    for entry in entries:
        if entry["kind"] == "webhook":
            items.append(_incoming(entry))
            continue
        if int(entry.get("status") or 0) >= 300:
            continue  # refused by the platform: the shopper never sees it
        method = entry["method"]
        if (channel, entry.get("action")) in _TYPING:
            typing_since = entry["time"]
            continue
        if method in _SHOWN:
            item = _outgoing(entry)
            items.append(item)
            by_message[entry.get("id")] = item
            typing_since = None
            if entry.get("reply_markup") and "keyboard" in entry["reply_markup"]:
                keyboard = _keyboard(entry)
            elif entry.get("remove_keyboard"):
                keyboard = None
        elif (
            method in ("editMessageReplyMarkup", "editMessageText")
            and entry.get("target") in by_message
        ):
            target = by_message[entry["target"]]
            target["rows"] = _rows(entry)
            target["text"] = entry.get("text") or target["text"]
        elif method == "deleteMessage" and entry.get("target") in by_message:
            items.remove(by_message.pop(entry["target"]))
        elif method == "answerCallbackQuery" and entry.get("text"):
            items.append(
                {
                    "seq": entry["seq"],
                    "dir": "note",
                    "time": entry["time"],
                    "text": entry["text"],
                    "alert": bool(entry.get("show_alert")),
                }
            )
    for item in items[:-1]:
        item["quick"] = []  # Messenger hides quick replies once anything newer arrives
    typing = typing_since is not None and time.time() - typing_since < TYPING_SECONDS
    return {"items": items, "keyboard": keyboard, "typing": typing}
