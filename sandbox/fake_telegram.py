"""Fake Telegram Bot API at `{base}/telegram/bot<token>/<method>` (PTB's `base_url`).

python-telegram-bot posts form fields whose non-string values are JSON-encoded (multipart when a
file is uploaded); other clients post JSON or use the query string. All three are accepted, and
answers are Telegram's `{"ok": true, "result": ...}` / `{"ok": false, "error_code", ...}`.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request

from sandbox.state import (
    SandboxState,
    fault_response,
    get_state,
    json_response,
    take_fault,
)
from sandbox.telegram_format import ParseError, plain_text
from sandbox.webhooks import telegram_chat

bp = Blueprint("fake_telegram", __name__, url_prefix="/telegram")

MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64  # bytes
_JSON_FIELDS = {
    "reply_markup",
    "entities",
    "caption_entities",
    "link_preview_options",
    "reply_parameters",
    "allowed_updates",
}
# Methods that are configuration, not talking to a shopper: never recorded, never faulted.
_SETUP = {"getme", "setwebhook", "deletewebhook", "getwebhookinfo"}


class BadRequest(Exception):
    """A request Telegram refuses; the message is Telegram's `description`."""

    def __init__(self, description: str, code: int = 400) -> None:
        super().__init__(description)
        self.description, self.code = description, code


def ok(result: Any) -> Response:
    return json_response(json.dumps({"ok": True, "result": result}, ensure_ascii=False).encode())


def failed(code: int, description: str) -> Response:
    body = {"ok": False, "error_code": code, "description": description}
    return json_response(json.dumps(body).encode(), code)


def _params() -> dict[str, Any]:
    merged: dict[str, Any] = {**request.args.to_dict(), **request.form.to_dict()}
    data = request.get_json(silent=True)
    if isinstance(data, dict):
        merged.update(data)
    for key in _JSON_FIELDS & merged.keys():
        if isinstance(merged[key], str):
            try:
                merged[key] = json.loads(merged[key])
            except ValueError as exc:
                raise BadRequest(f"Bad Request: can't parse {key} JSON object") from exc
    return merged


def bot_user(token: str) -> dict[str, Any]:
    head = token.split(":", 1)[0]
    return {
        "id": int(head) if head.isdigit() else 7000000001,
        "is_bot": True,
        "first_name": "Sandbox Shop Bot",
        "username": "sandbox_shop_bot",
    }


def _chat(state: SandboxState, params: dict[str, Any]) -> dict[str, Any]:
    raw = str(params.get("chat_id", "")).strip()
    if not raw:
        raise BadRequest("Bad Request: chat_id is empty")
    if not raw.lstrip("-").isdigit():
        raise BadRequest("Bad Request: chat not found")
    shopper = state.shoppers.find("telegram", raw)
    if shopper is not None:
        return telegram_chat(shopper)
    chat_id = int(raw)
    if chat_id > 0:
        return {"id": chat_id, "type": "private"}
    return {"id": chat_id, "title": "Sandbox group", "type": "group"}


def _markup(params: dict[str, Any]) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    """The inline keyboard to echo back and the buttons in one list; checks callback_data size."""
    markup = params.get("reply_markup")
    if not isinstance(markup, dict):
        return None, []
    buttons: list[dict[str, str]] = []
    for row in markup.get("inline_keyboard") or []:
        for b in row:
            data = str(b.get("callback_data", ""))
            if len(data.encode()) > MAX_CALLBACK_DATA:
                raise BadRequest("Bad Request: BUTTON_DATA_INVALID")
            kind, payload = ("url", b["url"]) if b.get("url") else ("callback", data)
            buttons.append({"title": str(b.get("text", "")), "payload": payload, "kind": kind})
    for row in markup.get("keyboard") or []:
        for b in row:
            title = b if isinstance(b, str) else str(b.get("text", ""))
            buttons.append({"title": title, "payload": title, "kind": "keyboard"})
    return (markup if "inline_keyboard" in markup else None), buttons


def _text(params: dict[str, Any], key: str, required: bool) -> str:
    raw = str(params.get(key) or "")
    if required and not raw.strip():
        raise BadRequest("Bad Request: message text is empty")
    try:
        text = plain_text(raw, params.get("parse_mode"))
    except ParseError as exc:
        raise BadRequest("Bad Request: unsupported parse_mode") from exc
    if len(text) > (MAX_TEXT if key == "text" else 1024):
        raise BadRequest(
            "Bad Request: message is too long"
            if key == "text"
            else "Bad Request: message caption is too long"
        )
    return text


def _message(state: SandboxState, token: str, chat: dict[str, Any], **content: Any) -> dict:
    message = {
        "message_id": state.next_message_id(str(chat["id"])),
        "from": bot_user(token),
        "chat": chat,
        "date": int(time.time()),
        **content,
    }
    state.telegram_messages[(str(chat["id"]), message["message_id"])] = message
    return message


def _photo_sizes() -> list[dict[str, Any]]:
    unique = secrets.token_urlsafe(12)
    return [
        {
            "file_id": f"AgACAgSandbox{unique}{w}",
            "file_unique_id": f"AQAD{unique}{w}",
            "file_size": w * 40,
            "width": w,
            "height": w,
        }
        for w in (90, 320, 800)
    ]


def send_message(state: SandboxState, token: str, p: dict[str, Any]) -> tuple[Any, dict]:
    chat, text = _chat(state, p), _text(p, "text", required=True)
    inline, buttons = _markup(p)
    content: dict[str, Any] = {"text": text}
    if inline:
        content["reply_markup"] = inline
    message = _message(state, token, chat, **content)
    markup = p.get("reply_markup") if isinstance(p.get("reply_markup"), dict) else {}
    return message, {
        "text": text,
        "buttons": buttons,
        "id": message["message_id"],
        "remove_keyboard": bool(markup.get("remove_keyboard")),
    }


def send_photo(state: SandboxState, token: str, p: dict[str, Any]) -> tuple[Any, dict]:
    chat, caption = _chat(state, p), _text(p, "caption", required=False)
    upload = request.files.get("photo")
    source = f"[upload {upload.filename}]" if upload else str(p.get("photo") or "")
    if not source:
        raise BadRequest("Bad Request: there is no photo in the request")
    inline, buttons = _markup(p)
    content: dict[str, Any] = {"photo": _photo_sizes()}
    if caption:
        content["caption"] = caption
    if inline:
        content["reply_markup"] = inline
    message = _message(state, token, chat, **content)
    return message, {
        "text": caption,
        "buttons": buttons,
        "media": [source],
        "id": message["message_id"],
    }


def edit_markup(state: SandboxState, token: str, p: dict[str, Any]) -> tuple[Any, dict]:
    chat = _chat(state, p)
    key = (str(chat["id"]), int(p.get("message_id") or 0))
    message = state.telegram_messages.get(key)
    if message is None:
        raise BadRequest("Bad Request: message to edit not found")
    inline, buttons = _markup(p)
    if request.view_args and request.view_args["method"].lower() == "editmessagetext":
        message["text"] = _text(p, "text", required=True)
    message.pop("reply_markup", None)
    if inline:
        message["reply_markup"] = inline
    message["edit_date"] = int(time.time())
    return message, {"target": key[1], "text": message.get("text", ""), "buttons": buttons}


def chat_action(state: SandboxState, token: str, p: dict[str, Any]) -> tuple[Any, dict]:
    _chat(state, p)
    return True, {"action": str(p.get("action", ""))}


def answer_callback(state: SandboxState, token: str, p: dict[str, Any]) -> tuple[Any, dict]:
    query = str(p.get("callback_query_id") or "")
    if query not in state.telegram_callbacks:
        raise BadRequest(
            "Bad Request: query is too old and response timeout expired or query ID is invalid"
        )
    return True, {
        "chat_id": state.telegram_callbacks[query],
        "text": str(p.get("text") or ""),
        "show_alert": p.get("show_alert") in (True, "true"),
    }


def delete_message(state: SandboxState, token: str, p: dict[str, Any]) -> tuple[Any, dict]:
    chat = _chat(state, p)
    key = (str(chat["id"]), int(p.get("message_id") or 0))
    if state.telegram_messages.pop(key, None) is None:
        raise BadRequest("Bad Request: message to delete not found")
    return True, {"target": key[1]}


Handler = Callable[[SandboxState, str, dict[str, Any]], tuple[Any, dict]]
SENDS: dict[str, Handler] = {
    "sendmessage": send_message,
    "sendphoto": send_photo,
    "sendchataction": chat_action,
    "answercallbackquery": answer_callback,
    "editmessagereplymarkup": edit_markup,
    "editmessagetext": edit_markup,
    "deletemessage": delete_message,
}


def _setup(state: SandboxState, token: str, name: str, p: dict[str, Any]) -> Response:
    if name == "getme":
        return ok(
            {
                **bot_user(token),
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
                "can_connect_to_business": False,
                "has_main_web_app": False,
            }
        )
    if name == "setwebhook":
        state.telegram_webhook.update(url=str(p.get("url") or ""))
        return json_response(b'{"ok":true,"result":true,"description":"Webhook was set"}')
    if name == "deletewebhook":
        state.telegram_webhook.clear()
        return json_response(b'{"ok":true,"result":true,"description":"Webhook was deleted"}')
    return ok(
        {
            "url": state.telegram_webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": 0,
        }
    )


@bp.route("/bot<token>/<method>", methods=["GET", "POST"])
def call(token: str, method: str) -> Response:
    state, name = get_state(), method.lower()
    try:
        params = _params()
        if name in _SETUP:
            return _setup(state, token, name, params)
        handler = SENDS.get(name)
        if handler is None:
            return failed(404, "Not Found")
        to = str(params.get("chat_id", ""))
        author = request.headers.get("X-Sandbox-Author", "bot")
        base = {
            "raw": params,
            "author": author,
            "text": "",
            "buttons": [],
            "reply_markup": params.get("reply_markup"),
        }
        fault = take_fault("telegram", method)
        if fault is not None:
            state.record_send("telegram", method, to, status=fault.status, **base)
            return fault_response(fault)
        try:
            result, fields = handler(state, token, params)
        except BadRequest as exc:
            state.record_send("telegram", method, to, status=exc.code, **base)
            raise
        to = str(fields.pop("chat_id", to))
        state.record_send("telegram", method, to, status=200, **{**base, **fields})
        return ok(result)
    except BadRequest as exc:
        return failed(exc.code, exc.description)
