"""The shopper simulator: the page at `/` and its small JSON API under `/_sim/api`.

A shopper's message or tap becomes the platform's real webhook (built in `webhooks.py`), posted
server-side to the gateway, so the browser never holds a secret and the gateway sees exactly what
the platform would send.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request

from sandbox import conversation, webhooks
from sandbox.delivery import deliver
from sandbox.shoppers import SimShopper
from sandbox.state import SandboxState, get_state

bp = Blueprint("simulator", __name__)

MAX_TEXT = 20_000  # generous: the gateway's own size policy should be what a developer sees
# The page loads nothing from elsewhere; this makes that a rule the browser enforces.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class SendError(ValueError):
    """The page asked for something the platform would not send (unknown message, button)."""


@bp.get("/")
def index() -> Response:
    response = Response(render_template("simulator.html"))
    response.headers["Content-Security-Policy"] = CSP
    return response


@bp.get("/_sim/api/info")
def info() -> Response:
    """Where webhooks go; never the secrets (the page does not need them)."""
    config = get_state().config
    return jsonify({"gateway_url": config.gateway_url, "public_base_url": config.public_base_url})


@bp.get("/_sim/api/shoppers")
def shoppers() -> Response:
    return jsonify([s.to_dict() for s in get_state().shoppers.all()])


@bp.post("/_sim/api/shoppers")
def add_shopper() -> tuple[Response, int]:
    data: Any = request.get_json(silent=True) or {}
    try:
        locale = str(data["locale"]) if data.get("locale") else None  # the phone's language
        shopper = get_state().shoppers.add(
            str(data.get("channel")), str(data.get("name") or ""), locale
        )
    except ValueError as exc:
        return jsonify({"error": str(exc)}), 400
    return jsonify(shopper.to_dict()), 201


@bp.get("/_sim/api/conversation")
def chat() -> Response:
    args = request.args
    return jsonify(
        conversation.build(get_state(), args.get("channel", ""), args.get("address", ""))
    )


def _bot_message(state: SandboxState, shopper: SimShopper, seq: int) -> dict[str, Any]:
    """The bot's message a tap refers to, as the platform stores it."""
    entry = state.recorder.get(seq)
    if entry is None or entry.get("conversation") != shopper.address:
        raise SendError("that message is not in this conversation")
    if shopper.channel != "telegram":
        return entry
    message = state.telegram_messages.get((shopper.address, int(entry.get("id") or 0)))
    if message is None:
        raise SendError("that message was deleted")
    return message


def build_webhook(
    state: SandboxState, shopper: SimShopper, text: str, action: dict[str, Any] | None
) -> webhooks.Webhook:
    """The platform's webhook for a typed text or a tapped button."""
    config, kind = state.config, (action or {}).get("kind", "text")
    title, payload = str((action or {}).get("title", text)), str((action or {}).get("payload", ""))
    if shopper.channel == "whatsapp":
        if kind == "button":
            sent = _bot_message(state, shopper, int(action["seq"]))  # type: ignore[index]
            button = {"title": title, "payload": payload, "reply_to": str(sent.get("id", ""))}
            return webhooks.whatsapp_message(config, shopper, title, button)
        return webhooks.whatsapp_message(config, shopper, text)
    if shopper.channel == "messenger":
        if kind in ("quick_reply", "postback"):
            return webhooks.messenger_event(config, shopper, title, payload, kind == "postback")
        return webhooks.messenger_event(config, shopper, text)
    if kind == "callback":
        message = _bot_message(state, shopper, int(action["seq"]))  # type: ignore[index]
        hook = webhooks.telegram_callback(config, shopper, message, payload, state.next_update_id())
        state.telegram_callbacks[hook.summary["query_id"]] = shopper.address
        return hook
    message_id = state.next_message_id(shopper.address)
    update_id = state.next_update_id()
    return webhooks.telegram_message(
        config, shopper, title if kind == "keyboard" else text, update_id, message_id
    )


@bp.post("/_sim/api/send")
def send() -> tuple[Response, int]:
    """JSON `{channel, address, text}`, or `action: {kind, title, payload, seq}` for a tap."""
    state = get_state()
    data: Any = request.get_json(silent=True) or {}
    shopper = state.shoppers.find(str(data.get("channel")), str(data.get("address")))
    if shopper is None:
        return jsonify({"error": "unknown shopper: start a chat first"}), 404
    action = data.get("action") if isinstance(data.get("action"), dict) else None
    text = str(data.get("text") or "")[:MAX_TEXT]
    if not action and not text.strip():
        return jsonify({"error": "type a message"}), 400
    try:
        hook = build_webhook(state, shopper, text, action)
    except (SendError, KeyError, ValueError) as exc:
        return jsonify({"error": str(exc)}), 400
    shown = str(action.get("title", "")) if action else text
    if shopper.channel == "messenger":  # in the page's conversation before the webhook leaves
        state.add_messenger_message(shopper.address, hook.message_id, shown, from_page=False)
    entry = deliver(
        state,
        hook,
        shopper.address,
        text=shown,
        action=(action or {}).get("kind", "text"),
        payload=(action or {}).get("payload"),
    )
    return jsonify(entry), 201
