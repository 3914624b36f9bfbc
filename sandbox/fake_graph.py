"""Fake Graph API for Messenger: the Send API (`/me/messages`), user profiles, the page itself
(`/me`) and the Conversations API, at `{base}/graph`.

Accepts what clients really send: a JSON body, or form/multipart fields whose values are JSON
strings (pymessenger's `send_image_url` does that), and the token as `access_token` or a Bearer
header. Answers use Meta's encoding and Meta's `{"error": {...}}` shape.

Conversations API (https://developers.facebook.com/docs/messenger-platform/conversations):
`GET /{page-id or me}/conversations?platform=messenger&user_id={PSID}` lists the page's
conversation with that shopper (`{"data": [{"id": "t_…", "updated_time": …}]}`);
`GET /{conversation-id}?fields=messages.limit(N){id,created_time,from,to,message}` and
`GET /{conversation-id}/messages?fields=…&limit=N` list its messages newest first; `GET
/{message-id}?fields=…` reads one. The page's accepted sends and the simulator's shopper
messages make up each conversation. A message's `message` is its plain text: Graph documents
none for a template or an attachment, so the fake shows them with an empty `message`. Reads are
recorded as `read` entries (`Sandbox.reads()`), never with the token.
`Sandbox.deny_conversations_api()` makes them answer Graph's permission error, as for a page
token without pages_read_engagement or Advanced Access; `fail_next(..., method=...)` takes
`me`, `conversations` (a page's list) and `conversation` (a conversation or its messages).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, request, url_for

from sandbox.state import (
    SandboxState,
    fault_response,
    get_state,
    json_response,
    take_fault,
)
from sandbox.webhooks import meta_json, new_mid

bp = Blueprint("fake_graph", __name__, url_prefix="/graph")

MAX_TEXT = 2000  # Send API limit for message.text
_VERSION = re.compile(r"v\d+(\.\d+)?")
_PROFILE_FIELDS = ("id", "name", "first_name", "last_name", "profile_pic", "locale", "timezone")
PAGE_NAME = "Sandbox Shop"
DEFAULT_LIMIT = 25  # Graph's page size when `limit` is not given
MAX_LIMIT = 100
# name, optional .limit(n), optional {subfields} (either order of the last two)
_FIELD = re.compile(r"^(\w+)(?:\.limit\((\d+)\))?(?:\{(.*)\})?(?:\.limit\((\d+)\))?$", re.S)
_MESSAGE_FIELDS = ("id", "created_time", "from", "to", "message")
_CONVERSATION_FIELDS = ("id", "updated_time", "messages", "participants", "message_count")


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
    if not action:
        plain = message.get("text")
        text_shown = plain if isinstance(plain, str) else ""
        state.add_messenger_message(to, answer["message_id"], text_shown, from_page=True)
    return json_response(meta_json(answer))


def graph_node(object_id: str, version: str | None = None) -> Response:
    """GET /{id}: the page (`me` or its id), a conversation, a message, or a shopper's profile."""
    state = get_state()
    if object_id in ("me", state.config.messenger_page_id):
        return page_node(state)
    if object_id.startswith("t_") and state.messenger_thread(object_id) is not None:
        return conversation_node(object_id)
    if object_id.startswith("m_") and state.messenger_message(object_id) is not None:
        return message_node(object_id)
    return profile(object_id)


def profile(object_id: str) -> Response:
    shopper = get_state().shoppers.find("messenger", object_id)
    if shopper is None or not _token():
        return _missing(object_id)
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


# ---- the page and the Conversations API ----


def _graph_time(seconds: float) -> str:
    """Graph's created_time / updated_time: "2026-12-08T01:02:03+0000"."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S%z")


def _split_fields(spec: str) -> list[str]:
    """`a,b.limit(2){c,d}` → ["a", "b.limit(2){c,d}"]: commas inside braces do not split."""
    parts, depth, current = [], 0, ""
    for char in spec:
        depth += (char in "{(") - (char in "})")
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def _parse_fields(
    spec: str | None, default: tuple[str, ...], known: tuple[str, ...], node: str
) -> tuple[list[tuple[str, int | None, str | None]], Response | None]:
    """The `fields` parameter as (name, limit, subfields); Graph's error for an unknown one."""
    wanted = []
    for part in _split_fields(spec) if spec else list(default):
        match = _FIELD.match(part)
        name = match.group(1) if match else part
        if match is None or name not in known:
            return [], graph_error(
                100, f"(#100) Tried accessing nonexisting field ({name}) on node type ({node})"
            )
        limit = match.group(2) or match.group(4)
        wanted.append((name, int(limit) if limit else None, match.group(3)))
    return wanted, None


def _limit(value: Any, default: int = DEFAULT_LIMIT) -> int:
    try:
        return max(1, min(MAX_LIMIT, int(value)))
    except (TypeError, ValueError):
        return default


def _party(state: SandboxState, psid: str | None) -> dict[str, str]:
    """A message's `from` / `to` entry: the page, or the shopper with this PSID."""
    if psid is None:
        page = state.config.messenger_page_id
        return {"name": PAGE_NAME, "email": f"{page}@facebook.com", "id": page}
    shopper = state.shoppers.find("messenger", psid)
    name = shopper.name if shopper else "Facebook user"
    return {"name": name, "email": f"{psid}@facebook.com", "id": psid}


def _message(
    state: SandboxState, psid: str, message: dict[str, Any], fields: list[tuple[str, Any, Any]]
) -> dict[str, Any]:
    sender, recipient = (None, psid) if message["from_page"] else (psid, None)
    values: dict[str, Any] = {
        "id": message["id"],
        "created_time": _graph_time(message["time"]),
        "from": _party(state, sender),
        "to": {"data": [_party(state, recipient)]},
        "message": message["text"],
    }
    return {name: values[name] for name, _, _ in fields}


def _messages(
    state: SandboxState, thread: dict[str, Any], limit: int, subfields: str | None
) -> tuple[dict[str, Any] | None, Response | None]:
    """A conversation's messages edge, newest first: `{"data": [...], "paging": {...}}`."""
    fields, error = _parse_fields(subfields, ("id", "created_time"), _MESSAGE_FIELDS, "Message")
    if error is not None:
        return None, error
    newest = list(reversed(thread["messages"]))[:limit]
    data = [_message(state, thread["psid"], m, fields) for m in newest]
    edge: dict[str, Any] = {"data": data}
    if data:
        edge["paging"] = {"cursors": {"before": "QVFIU" + "0" * 8, "after": "QVFIU" + "1" * 8}}
    return edge, None


def _conversation(
    state: SandboxState, thread: dict[str, Any], fields: list[tuple[str, Any, Any]]
) -> tuple[dict[str, Any] | None, Response | None]:
    out: dict[str, Any] = {}
    for name, limit, subfields in fields:
        if name == "messages":
            edge, error = _messages(state, thread, _limit(limit), subfields)
            if error is not None:
                return None, error
            if edge and edge["data"]:  # Graph leaves out an empty edge
                out["messages"] = edge
        elif name == "participants":
            people = [_party(state, thread["psid"]), _party(state, None)]
            out["participants"] = {"data": people}
        elif name == "message_count":
            out["message_count"] = len(thread["messages"])
        elif name == "updated_time":
            last = thread["messages"][-1]["time"] if thread["messages"] else 0.0
            out["updated_time"] = _graph_time(last)
        else:
            out[name] = thread["id"]
    return out, None


def _read(method: str, conversation: str) -> Response | None:
    """Record one read (`me`, `conversations`, `conversation`); the answer it gets instead of
    data, if any: no token, the Conversations API denied, or a fault set for it."""
    state = get_state()
    answer: Response | None = None
    if not _token():
        answer = graph_error(
            2500, "An active access token must be used to query information about the current user."
        )
    elif method != "me" and state.faults.denied is not None:
        answer = fault_response(state.faults.denied)
    else:
        fault = take_fault("messenger", method)
        answer = fault_response(fault) if fault is not None else None
    status = answer.status_code if answer is not None else 200
    state.recorder.add(
        "read",
        {"channel": "messenger", "method": method, "conversation": conversation, "status": status},
    )
    return answer


def page_node(state: SandboxState) -> Response:
    """GET /me (a page token's /me is the page): `?fields=id` gives the page id."""
    refused = _read("me", "")
    if refused is not None:
        return refused
    page = state.config.messenger_page_id
    values = {"id": page, "name": PAGE_NAME}
    spec = request.args.get("fields")
    fields, error = _parse_fields(spec, ("name", "id"), ("id", "name"), "Page")
    return error or json_response(meta_json({n: values[n] for n, _, _ in fields}))


def page_conversations(object_id: str, version: str | None = None) -> Response:
    """GET /{page-id}/conversations?platform=messenger&user_id={PSID}&fields=…"""
    state = get_state()
    args = request.args
    psid = args.get("user_id")
    refused = _read("conversations", psid or "")
    if refused is not None:
        return refused
    if object_id not in ("me", state.config.messenger_page_id):
        return _missing(object_id)
    fields, error = _parse_fields(
        args.get("fields"), ("id", "updated_time"), _CONVERSATION_FIELDS, "Conversation"
    )
    if error is not None:
        return error
    if args.get("platform", "messenger") != "messenger":
        threads: list[dict[str, Any]] = []  # no Instagram account here
    elif psid:
        thread = state.messenger_thread(psid)
        threads = [thread] if thread and thread["messages"] else []
    else:
        known = [state.messenger_thread(p) for p in list(state.messenger_threads)]
        threads = sorted(
            (t for t in known if t and t["messages"]),
            key=lambda t: t["messages"][-1]["time"],
            reverse=True,
        )
    data = []
    for thread in threads[: _limit(args.get("limit"))]:
        item, error = _conversation(state, thread, fields)
        if error is not None:
            return error
        data.append(item)
    return json_response(meta_json({"data": data}))


def conversation_node(conversation_id: str) -> Response:
    """GET /{conversation-id}?fields=messages.limit(N){id,created_time,from,to,message}"""
    state = get_state()
    thread = state.messenger_thread(conversation_id)
    refused = _read("conversation", thread["psid"] if thread else "")
    if refused is not None:
        return refused
    if thread is None:
        return _missing(conversation_id)
    fields, error = _parse_fields(
        request.args.get("fields"), ("id",), _CONVERSATION_FIELDS, "Conversation"
    )
    if error is not None:
        return error
    node, error = _conversation(state, thread, fields)
    if error is not None or node is None:
        return error or _missing(conversation_id)
    node.setdefault("id", thread["id"])
    return json_response(meta_json(node))


def conversation_messages(object_id: str, version: str | None = None) -> Response:
    """GET /{conversation-id}/messages?fields=id,created_time,from,to,message&limit=N"""
    state = get_state()
    thread = state.messenger_thread(object_id) if object_id.startswith("t_") else None
    refused = _read("conversation", thread["psid"] if thread else "")
    if refused is not None:
        return refused
    if thread is None:
        return _missing(object_id)
    edge, error = _messages(
        state, thread, _limit(request.args.get("limit")), request.args.get("fields")
    )
    return error or json_response(meta_json(edge))


def message_node(mid: str) -> Response:
    """GET /{message-id}?fields=id,created_time,from,to,message"""
    state = get_state()
    found = state.messenger_message(mid)
    refused = _read("conversation", found[0] if found else "")
    if refused is not None:
        return refused
    if found is None:
        return _missing(mid)
    fields, error = _parse_fields(
        request.args.get("fields"), ("id", "created_time"), _MESSAGE_FIELDS, "Message"
    )
    return error or json_response(meta_json(_message(state, found[0], found[1], fields)))


def _missing(object_id: str) -> Response:
    return graph_error(
        100,
        f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation.",
        subcode=33,
        kind="GraphMethodException",
    )


bp.add_url_rule("/me/messages", "send_unversioned", send_message, methods=["POST"])
bp.add_url_rule("/<version>/me/messages", "send", send_message, methods=["POST"])
bp.add_url_rule("/<object_id>", "node_unversioned", graph_node, methods=["GET"])
bp.add_url_rule("/<version>/<object_id>", "node", graph_node, methods=["GET"])
for _prefix in ("", "/<version>"):
    _name = "versioned" if _prefix else "unversioned"
    bp.add_url_rule(f"{_prefix}/<object_id>/conversations", f"conversations_{_name}",
                    page_conversations, methods=["GET"])  # fmt: skip
    bp.add_url_rule(f"{_prefix}/<object_id>/messages", f"messages_{_name}",
                    conversation_messages, methods=["GET"])  # fmt: skip
