"""`/webhooks/<channel>`: verify, parse, dedupe, enqueue durably, answer. Nothing slow, no sends.

Bad signature 403, malformed body 400, too large 413 (Flask's MAX_CONTENT_LENGTH), wrong
method 405; a store that cannot take the message answers 503 so the platform retries.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, current_app, request

from adapters.base import Adapter, HttpReply, ParseError, WebhookRequest
from gateway.context import Gateway
from gateway.store.base import HistoryEntry

logger = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)


def gateway() -> Gateway:
    return current_app.extensions["gateway"]


def _reply(reply: HttpReply) -> Response:
    return Response(reply.body, status=reply.status, content_type=reply.content_type)


def _error(status: int, message: str) -> Response:
    return Response(f'{{"error": "{message}"}}', status=status, content_type="application/json")


def public_url() -> str:
    """The URL the platform called, as it signed it (Twilio signs the public URL)."""
    base = gateway().config.public_base_url
    if base:
        query = request.query_string.decode("latin-1")
        return f"{base}{request.path}" + (f"?{query}" if query else "")
    return request.url  # with TRUST_PROXY, ProxyFix has already applied X-Forwarded-*


@bp.route("/webhooks/<channel>", methods=["GET", "POST"])
def webhook(channel: str) -> Response:
    gw = gateway()
    adapter = gw.adapters.adapters.get(channel)
    if adapter is None:
        return _error(404, "unknown or disabled channel")
    return _handle(gw, adapter, channel)


@bp.route("/webhooks/whatsapp/status", methods=["POST"])
def whatsapp_status() -> Response:
    gw = gateway()
    adapter = gw.adapters.adapters.get("whatsapp")
    if adapter is None:
        return _error(404, "unknown or disabled channel")
    return _handle(gw, adapter, "whatsapp")


def _handle(gw: Gateway, adapter: Adapter, channel: str) -> Response:
    now = time.time()
    req = WebhookRequest(
        method=request.method,
        url=public_url(),
        headers=dict(request.headers),
        body=request.get_data(),
        query=request.args.to_dict(),
        received_at=now,
    )
    if request.method == "GET":
        handshake = adapter.handshake(req)
        return _reply(handshake) if handshake else _error(405, "method not allowed")
    if not adapter.verify(req):
        gw.metrics.rejected.labels(channel, "403").inc()
        logger.warning("webhook_bad_signature", extra={"channel": channel})
        return _error(403, "invalid signature")
    result = adapter.parse(req)
    if isinstance(result, ParseError):
        gw.metrics.rejected.labels(channel, "400").inc()
        logger.warning("webhook_malformed", extra={"channel": channel, "path": result.path})
        return _reply(adapter.webhook_reply(result))
    try:
        _accept(gw, channel, result.inbound, now)
        for status in result.statuses:
            gw.store.update_delivery(status.message_id, status.status, status.error_code)
        for gone in result.unreachable:
            gw.store.append_history([_unreachable_note(channel, gone.conversation, now)])
    except Exception:  # the store is down: refuse so the platform redelivers, lose nothing
        logger.exception("webhook_store_failed", extra={"channel": channel})
        return _error(503, "temporarily unavailable")
    return _reply(adapter.webhook_reply(result))


def _accept(gw: Gateway, channel: str, inbound: tuple, now: float) -> None:
    for message in inbound:
        if message.kind == "edit":  # policy: an edit never re-runs the flow (docs/adapters.md)
            logger.info("webhook_edit_ignored", extra={"channel": channel})
            continue
        if gw.store.enqueue(message, now, gw.config.dedupe_ttl_s):
            gw.metrics.received.labels(channel).inc()
            gw.turn_ready.set()
        else:
            gw.metrics.deduplicated.labels(channel).inc()
            logger.info(
                "webhook_duplicate", extra={"channel": channel, "message_id": message.message_id}
            )


def _unreachable_note(channel: str, conversation: str, now: float) -> HistoryEntry:
    return HistoryEntry(
        conversation=f"{channel}:{conversation}",
        at=now,
        direction="system",
        author="system",
        text="The shopper blocked the bot; nothing more will be sent.",
        data={"kind": "unreachable"},
    )
