"""Fake Twilio REST API: Messages (create, fetch) and a minimal Content API, at `{base}/twilio`.

The twilio library sends form-encoded Messages and JSON Content requests with HTTP Basic auth;
answers mirror Twilio's Message resource and its `{code, message, more_info, status}` errors.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from flask import Blueprint, Response, request

from sandbox.delivery import send_status_callbacks
from sandbox.state import (
    fault_response,
    get_state,
    json_response,
    new_sid,
    take_fault,
)

bp = Blueprint("fake_twilio", __name__, url_prefix="/twilio")

MAX_BODY = 1600  # Twilio error 21617: the concatenated body limit
_VARIABLE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def twilio_error(status: int, code: int, message: str) -> Response:
    body = {
        "code": code,
        "message": message,
        "status": status,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
    }
    return json_response(json.dumps(body).encode(), status)


@bp.before_request
def require_basic_auth() -> Response | None:
    """Twilio answers 401/20003 without credentials; any sid/token pair is accepted here."""
    auth = request.authorization
    if auth is None or not auth.username or not auth.password:
        response = twilio_error(401, 20003, "Authenticate")
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
        return response
    return None


def _now() -> str:
    return format_datetime(datetime.now(UTC))


def _substitute(text: str, variables: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: str(variables.get(m.group(1), m.group(0))), text)


def render_content(sid: str, variables: dict[str, str]) -> tuple[str, list[dict[str, str]]]:
    """Text and buttons a shopper sees for a Content template; unknown sids show their sid."""
    content = get_state().twilio_contents.get(sid)
    if content is None:
        return f"[template {sid}]", []
    merged = {**content.get("variables", {}), **variables}
    # the twilio library's request models may send every type, unused ones as null
    types: dict[str, Any] = {k: v for k, v in content.get("types", {}).items() if v}
    for kind in ("twilio/quick-reply", "twilio/call-to-action", "twilio/text"):
        if kind in types:
            spec = types[kind]
            break
    else:
        spec = next(iter(types.values()), {})
    buttons = []
    for action in spec.get("actions", []):
        title = _substitute(str(action.get("title", "")), merged)
        if action.get("url"):
            buttons.append({"title": title, "payload": action["url"], "kind": "url"})
        elif action.get("phone"):
            buttons.append({"title": title, "payload": action["phone"], "kind": "call"})
        else:
            payload = _substitute(str(action.get("id", title)), merged)
            buttons.append({"title": title, "payload": payload, "kind": "button"})
    return _substitute(str(spec.get("body", "")), merged), buttons


@bp.post("/2010-04-01/Accounts/<account_sid>/Messages.json")
def create_message(account_sid: str) -> Response:
    state = get_state()
    form = request.form
    to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
    media = form.getlist("MediaUrl")
    content_sid = form.get("ContentSid")
    raw = {key: (values if len(values) > 1 else values[0]) for key, values in form.lists()}
    entry: dict[str, Any] = {
        "text": body,
        "buttons": [],
        "media": media,
        "raw": raw,
        "author": request.headers.get("X-Sandbox-Author", "bot"),
    }
    fault = take_fault("whatsapp", "messages.create")
    if fault is not None and not fault.acted:
        state.record_send("whatsapp", "messages.create", to, status=fault.status, **entry)
        return fault_response(fault)
    error = None
    variables: dict[str, str] = {}
    if not to:
        error = twilio_error(400, 21604, "A 'To' phone number is required.")
    elif not sender and not form.get("MessagingServiceSid"):
        error = twilio_error(400, 21603, "A 'From' phone number is required.")
    elif not body and not media and not content_sid:
        error = twilio_error(400, 21602, "Message body is required.")
    elif len(body) > MAX_BODY:
        error = twilio_error(
            400, 21617, "The concatenated message body exceeds the 1600 character limit."
        )
    elif content_sid:
        try:
            variables = json.loads(form.get("ContentVariables") or "{}")
        except ValueError:
            error = twilio_error(400, 21656, "The ContentVariables Parameter is invalid.")
    if error is not None:
        state.record_send("whatsapp", "messages.create", to, status=error.status_code, **entry)
        return error
    if content_sid:
        entry["text"], entry["buttons"] = render_content(content_sid, variables)
        entry["content_sid"] = content_sid
    sid = new_sid("SM")
    now = _now()
    resource = {
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": entry["text"],
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": sender or None,
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "num_media": str(len(media)),
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "to": to,
        "subresource_uris": {
            "media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"
        },
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
    }
    state.twilio_messages[sid] = resource
    answered = {"answered": fault.status} if fault is not None else {}
    state.record_send("whatsapp", "messages.create", to, status=201, id=sid, **entry, **answered)
    callback = form.get("StatusCallback")
    if callback and state.config.status_callbacks:
        send_status_callbacks(state, dict(resource), callback)
    if fault is not None:  # it went out, and the answer says it failed
        return fault_response(fault)
    return json_response(json.dumps(resource).encode(), 201)


@bp.get("/2010-04-01/Accounts/<account_sid>/Messages.json")
def list_messages(account_sid: str) -> Response:
    """Messages newest first, filtered by To and From, one page of PageSize (Twilio's own
    paging fields; the twilio library reads `messages`)."""
    fault = take_fault("whatsapp", "messages.list")
    if fault is not None:
        return fault_response(fault)
    args = request.args
    size = max(1, min(1000, int(args.get("PageSize") or 50)))
    found = [
        m
        for m in reversed(list(get_state().twilio_messages.values()))
        if m["account_sid"] == account_sid
        and args.get("To") in (None, m["to"])
        and args.get("From") in (None, m["from"])
    ][:size]
    path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
    page = {
        "messages": found,
        "end": max(0, len(found) - 1),
        "first_page_uri": f"{path}?PageSize={size}&Page=0",
        "next_page_uri": None,
        "page": 0,
        "page_size": size,
        "previous_page_uri": None,
        "start": 0,
        "uri": f"{path}?PageSize={size}&Page=0",
    }
    return json_response(json.dumps(page).encode())


@bp.get("/2010-04-01/Accounts/<account_sid>/Messages/<sid>.json")
def fetch_message(account_sid: str, sid: str) -> Response:
    resource = get_state().twilio_messages.get(sid)
    if resource is None:
        path = f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json"
        return twilio_error(404, 20404, f"The requested resource {path} was not found")
    return json_response(json.dumps(resource).encode())


@bp.post("/v1/Content")
def create_content() -> Response:
    """Content API (content.twilio.com/v1/Content): store a template so ContentSid sends render."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("types"), dict):
        return twilio_error(400, 20001, "Invalid content: 'types' is required")
    sid, now = new_sid("HX"), _now()
    content = {
        "sid": sid,
        "account_sid": get_state().config.twilio_account_sid,
        "friendly_name": data.get("friendly_name"),
        "language": data.get("language", "en"),
        "variables": data.get("variables") or {},
        "types": data["types"],
        "date_created": now,
        "date_updated": now,
        "url": f"https://content.twilio.com/v1/Content/{sid}",
        "links": {},
    }
    get_state().twilio_contents[sid] = content
    return json_response(json.dumps(content).encode(), 201)


@bp.get("/v1/Content/<sid>")
def fetch_content(sid: str) -> Response:
    content = get_state().twilio_contents.get(sid)
    if content is None:
        return twilio_error(404, 20404, f"The requested resource /v1/Content/{sid} was not found")
    return json_response(json.dumps(content).encode())
