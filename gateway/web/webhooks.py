"""`/webhooks/<channel>`: verify, parse, dedupe, enqueue durably, answer. Nothing slow, no sends.

Bad signature 403, malformed body 400, too large 413 (Flask's MAX_CONTENT_LENGTH), wrong
method 405; a store that cannot take the message answers 503 so the platform retries.
A signed body is checked against `gateway.web.payload_limits` (JSON depth, number length) before
any parser reads it: a poison body gets a 400 naming what was wrong, never a 5xx that the
platform would redeliver forever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request as WerkzeugRequest
from werkzeug.wsgi import get_input_stream

from adapters.base import Adapter, HttpReply, ParseError, WebhookRequest, parse_error_reply
from gateway.context import Gateway
from gateway.store.base import HistoryEntry
from gateway.web.payload_limits import check_body
from gateway.web.shedding import RETRY_AFTER_S

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)
PREFIX = "/webhooks/"
URL_CACHE = 1024  # webhook URLs remembered by the fast path (they hardly vary)
# What a URL depends on in the environ (after ProxyFix, when TRUST_PROXY is set).
URL_KEYS = ("wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME",
            "PATH_INFO", "QUERY_STRING")  # fmt: skip


def gateway() -> Gateway:
    return current_app.extensions["gateway"]


def _reply(reply: HttpReply) -> Response:
    return Response(
        reply.body, status=reply.status, content_type=reply.content_type, headers=reply.headers
    )


def _error(status: int, message: str) -> HttpReply:
    return HttpReply(status, f'{{"error": "{message}"}}', "application/json")


def public_url(gw: Gateway, request: WerkzeugRequest) -> str:
    """The URL the platform called, as it signed it (Twilio signs the public URL)."""
    base = gw.config.public_base_url
    if base:
        query = request.query_string.decode("latin-1")
        return f"{base}{request.path}" + (f"?{query}" if query else "")
    return request.url  # with TRUST_PROXY, ProxyFix has already applied X-Forwarded-*


def webhook_request(gw: Gateway, request: WerkzeugRequest, now: float) -> WebhookRequest:
    return WebhookRequest(
        method=request.method,
        url=public_url(gw, request),
        headers=dict(request.headers),
        body=request.get_data(),
        query=request.args.to_dict(),
        received_at=now,
    )


@bp.route("/webhooks/<channel>", methods=["GET", "POST"])
def webhook(channel: str) -> Response:
    gw = gateway()
    adapter = gw.adapters.adapters.get(channel)
    if adapter is None:
        return _reply(_error(404, "unknown or disabled channel"))
    now = time.time()
    return _reply(handle(gw, adapter, channel, webhook_request(gw, request, now), now))


@bp.route("/webhooks/whatsapp/status", methods=["POST"])
def whatsapp_status() -> Response:
    gw = gateway()
    adapter = gw.adapters.adapters.get("whatsapp")
    if adapter is None:
        return _reply(_error(404, "unknown or disabled channel"))
    now = time.time()
    return _reply(handle(gw, adapter, "whatsapp", webhook_request(gw, request, now), now))


def handle(gw: Gateway, adapter: Adapter, channel: str, req: WebhookRequest, now: float
           ) -> HttpReply:  # fmt: skip
    """One webhook, whatever server or framework carried it: verify, parse, enqueue, answer."""
    if req.method == "GET":
        handshake = adapter.handshake(req)
        return handshake if handshake else _error(405, "method not allowed")
    if not adapter.verify(req):
        gw.metrics.rejected.labels(channel, "403").inc()
        logger.warning("webhook_bad_signature", extra={"channel": channel})
        return _error(403, "invalid signature")
    if gw.backlog.full(gw.store, gw.config.max_queue, now):
        gw.metrics.rejected.labels(channel, "503").inc()
        return HttpReply(503, '{"error": "overloaded, retry later"}', "application/json",
                         (("Retry-After", str(RETRY_AFTER_S)),))  # fmt: skip
    problem = check_body(req.body, req.header("Content-Type") or "")
    result = ParseError("body", problem) if problem else adapter.parse(req)
    if isinstance(result, ParseError):
        gw.metrics.rejected.labels(channel, "400").inc()
        logger.warning("webhook_malformed", extra={"channel": channel, "path": result.path,
                                                   "problem": result.problem})  # fmt: skip
        return parse_error_reply(result)
    try:
        wrote = _accept(gw, channel, result.inbound, now) > 0
        for status in result.statuses:
            gw.store.update_delivery(status.message_id, status.status, status.error_code)
            wrote = True
        for gone in result.unreachable:
            gw.store.append_history([_unreachable_note(channel, gone.conversation, now)])
            wrote = True
    except Exception as exc:  # the store is down: refuse so the platform redelivers
        gw.store_health.failed("webhook", exc)
        return _error(503, "temporarily unavailable")
    if wrote:  # a duplicate wrote nothing, so it says nothing of a full disk
        gw.store_health.succeeded("webhook")
    return adapter.webhook_reply(result)


def environ_headers(environ: WSGIEnvironment) -> dict[str, str]:
    """The request's headers as werkzeug's `EnvironHeaders` lists them (the body's two come
    without HTTP_), for a fraction of its cost."""
    headers = {
        key[5:].replace("_", "-").title(): value
        for key, value in environ.items()
        if key.startswith("HTTP_") and key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").title()] = environ[key]
    return headers


class FastWebhooks:
    """WSGI middleware: `POST /webhooks/<channel>` straight to `handle`, without Flask.

    The platforms' POSTs are nearly all the traffic, and Flask's request context, URL routing
    and response object cost about as much CPU as the webhook's own work. Everything else
    (GET handshakes, /webhooks/whatsapp/status, unknown channels, health, metrics) goes on to
    the Flask app, whose error answers this one copies: 413 past MAX_CONTENT_LENGTH, 500 with
    no traceback on a bug. The request is read from the environ directly: werkzeug's `url`
    (IRI decoding) and headers cost a third of a webhook's CPU, so the public URL is
    remembered per environ (it is a function of a few environ values) and the headers are
    listed as werkzeug's `EnvironHeaders` lists them.
    """

    def __init__(self, app: WSGIApplication, gw: Gateway) -> None:
        self.app, self.gw = app, gw
        self._urls: dict[tuple[object, ...], str] = {}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:  # fmt: skip
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "POST" or not path.startswith(PREFIX):
            return self.app(environ, start_response)
        channel = path[len(PREFIX) :]
        adapter = self.gw.adapters.adapters.get(channel)
        if adapter is None or not environ.get("CONTENT_LENGTH", "").isdigit():
            return self.app(environ, start_response)  # chunked or odd: Flask reads it
        now = time.time()
        try:
            reply = handle(self.gw, adapter, channel, self.request(environ, now), now)
        except HTTPException as exc:  # 413 (too large), 400 (a broken body stream)
            reply = HttpReply(exc.code or 500, f'{{"error": "{(exc.name or "error").lower()}"}}',
                              "application/json")  # fmt: skip
        except Exception:  # a bug: log it, never show a traceback (as the Flask app does)
            logger.exception("request_failed")
            reply = _error(500, "internal error")
        body = reply.body.encode("utf-8")
        start_response(
            f"{reply.status} {HTTP_STATUS_CODES.get(reply.status, 'UNKNOWN').upper()}",
            [
                ("Content-Type", reply.content_type),
                ("Content-Length", str(len(body))),
                *reply.headers,
            ],
        )
        return [body]

    def request(self, environ: WSGIEnvironment, now: float) -> WebhookRequest:
        """What `webhook_request` makes of a werkzeug request, read from the environ."""
        query = environ.get("QUERY_STRING")
        key = tuple(environ.get(k) for k in URL_KEYS)
        url = None if query else self._urls.get(key)
        if url is None:
            request = WerkzeugRequest(environ)
            url = public_url(self.gw, request)
            if not query:  # a query is parsed by werkzeug anyway; only plain URLs are kept
                if len(self._urls) >= URL_CACHE:
                    self._urls.clear()
                self._urls[key] = url
        stream = get_input_stream(environ, max_content_length=self.gw.config.max_body_bytes)
        return WebhookRequest(
            method="POST",
            url=url,
            headers=environ_headers(environ),
            body=stream.read(),
            query=request.args.to_dict() if query else {},
            received_at=now,
        )


def _accept(gw: Gateway, channel: str, inbound: tuple, now: float) -> int:
    """Enqueue the request's messages; how many were new (stored: a write that succeeded)."""
    stored = 0
    for message in inbound:
        if message.kind == "edit":  # policy: an edit never re-runs the flow (docs/adapters.md)
            logger.info("webhook_edit_ignored", extra={"channel": channel})
            continue
        if gw.store.enqueue(message, now, gw.config.dedupe_ttl_s):
            stored += 1
            gw.metrics.received.labels(channel).inc()
            gw.turn_ready.set()
        else:
            gw.metrics.deduplicated.labels(channel).inc()
            logger.info(
                "webhook_duplicate", extra={"channel": channel, "message_id": message.message_id}
            )
    return stored


def _unreachable_note(channel: str, conversation: str, now: float) -> HistoryEntry:
    return HistoryEntry(
        conversation=f"{channel}:{conversation}",
        at=now,
        direction="system",
        author="system",
        text="The shopper blocked the bot; nothing more will be sent.",
        data={"kind": "unreachable"},
    )
