"""Fake Graph API for Messenger: the Send API (`/me/messages`) and user profiles, at `{base}/graph`.

Accepts what clients really send: a JSON body, or form/multipart fields whose values are JSON
strings (pymessenger's `send_image_url` does that), and the token as `access_token` or a Bearer
header. Answers use Meta's encoding and Meta's `{"error": {...}}` shape.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, Response, request, url_for

from adapters.sandbox.state import fault_response, get_state, json_response, take_fault
from adapters.sandbox.webhooks import meta_json, new_mid

bp = Blueprint("fake_graph", __name__, url_prefix="/graph")

MAX_TEXT = 2000  # Send API limit for message.text
_VERSION = re.compile(r"v\d+(\.\d+)?")
_PROFILE_FIELDS = ("id", "name", "first_name", "last_name", "profile_pic", "locale", "timezone")


def graph_error(
    code: int,
    message: str,
    subcode: int | None = None,
    kind: str = "OAuthException",
    status: int = 400,
) -> Response:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = "AsandboxTracexxxxxxxxxxx"
    return json_response(meta_json({"error": error}), status)


def _token() -> str | None:
    auth = request.headers.get("Authorization", "")
    bearer = auth.split(" ", 1)[1] if auth.startswith(("Bearer ", "OAuth ")) else None
    return request.args.get("access_token") or request.form.get("access_token") or bearer


def _payload() -> dict[str, Any]:
    """The request's parameters, whatever encoding the client chose."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        data = {k: v for k, v in request.form.items() if k not in ("access_token",)}
    return {key: _maybe_json(value) for key, value in data.items()}


def _maybe_json(value: Any) -> Any:
    """Form fields carry objects as JSON strings; Graph decodes them, so do we."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value  # a plain string that happens to start with a brace
    return value


def _buttons(items: list[dict[str, Any]]) -> list[dict[str, str]]:
    kinds = {"postback": "postback", "web_url": "url", "phone_number": "call"}
    out = []
    for b in items:
        kind = kinds.get(str(b.get("type")), "postback")
        payload = b.get("url") if kind == "url" else b.get("payload")
        out.append({"title": str(b.get("title", "")), "payload": str(payload or ""), "kind": kind})
    return out


def _render(message: dict[str, Any]) -> tuple[str, list[dict[str, str]], list[str]]:
    """Text, buttons and media URLs of a Send API `message`, as the shopper would see them."""
    text = str(message.get("text") or "")
    buttons = [
        {
            "title": str(q.get("title") or q.get("content_type", "")),
            "payload": str(q.get("payload", "")),
            "kind": "quick_reply",
        }
        for q in message.get("quick_replies") or []
    ]
    media: list[str] = []
    attachment = message.get("attachment") or {}
    payload = attachment.get("payload") or {}
    if attachment.get("type") == "template":
        if payload.get("template_type") == "button":
            text = str(payload.get("text", ""))
            buttons = _buttons(payload.get("buttons") or []) + buttons
        for element in payload.get("elements") or []:
            lines = [str(element.get(k)) for k in ("title", "subtitle") if element.get(k)]
            text = "\n".join([text, *lines]).strip()
            buttons += _buttons(element.get("buttons") or [])
    elif attachment:
        media.append(str(payload.get("url") or f"[{attachment.get('type')}]"))
    return text, buttons, media


def send_message(version: str | None = None) -> Response:
    if version is not None and not _VERSION.fullmatch(version):
        return graph_error(2500, f"Unknown path components: /{version}/me/messages")
    if not _token():
        return graph_error(
            2500, "An active access token must be used to query information about the current user."
        )
    state = get_state()
    data = _payload()
    recipient = data.get("recipient") if isinstance(data.get("recipient"), dict) else {}
    to = str(recipient.get("id") or recipient.get("user_ref") or "")
    message = data.get("message") if isinstance(data.get("message"), dict) else {}
    action = data.get("sender_action")
    method = "sender_action" if action else "messages"
    text, buttons, media = _render(message)
    author = request.headers.get("X-Sandbox-Author") or (
        "agent" if data.get("persona_id") else "bot"
    )
    entry = {
        "text": text,
        "buttons": buttons,
        "quick_replies": message.get("quick_replies"),
        "media": media,
        "raw": data,
        "author": author,
        "action": action,
    }
    fault = take_fault("messenger", method)
    if fault is not None:
        state.record_send("messenger", method, to, status=fault.status, **entry)
        return fault_response(fault)
    error = None
    if not to:
        error = graph_error(100, "(#100) The parameter recipient is required")
    elif not message and not action:
        error = graph_error(100, "(#100) The parameter message is required")
    elif len(text) > MAX_TEXT and "text" in message:
        error = graph_error(
            100, f"(#100) Length of param message[text] must be less than or equal to {MAX_TEXT}"
        )
    if error is not None:
        state.record_send("messenger", method, to, status=error.status_code, **entry)
        return error
    answer: dict[str, Any] = {"recipient_id": to}
    if not action:
        answer["message_id"] = new_mid()
    state.record_send("messenger", method, to, status=200, id=answer.get("message_id"), **entry)
    return json_response(meta_json(answer))


def profile(object_id: str, version: str | None = None) -> Response:
    shopper = get_state().shoppers.find("messenger", object_id)
    if shopper is None or not _token():
        return graph_error(
            100,
            f"Unsupported get request. Object with ID '{object_id}' does not "
            "exist, cannot be loaded due to missing permissions, or does not "
            "support this operation.",
            subcode=33,
            kind="GraphMethodException",
        )
    values = {
        "id": shopper.address,
        "name": shopper.name,
        "first_name": shopper.first_name,
        "last_name": shopper.last_name,
        "locale": shopper.locale,
        "timezone": 0,
        "profile_pic": url_for("static", filename="avatar.svg", _external=True),
    }
    asked = request.args.get("fields", "first_name,last_name,profile_pic")
    wanted = [f for f in asked.split(",") if f in _PROFILE_FIELDS]
    return json_response(meta_json({k: values[k] for k in [*wanted, "id"]}))


bp.add_url_rule("/me/messages", "send_unversioned", send_message, methods=["POST"])
bp.add_url_rule("/<version>/me/messages", "send", send_message, methods=["POST"])
bp.add_url_rule("/<object_id>", "profile_unversioned", profile, methods=["GET"])
bp.add_url_rule("/<version>/<object_id>", "profile", profile, methods=["GET"])
