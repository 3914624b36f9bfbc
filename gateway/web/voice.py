"""`POST /webhooks/voice`: Twilio Voice status callbacks, recorded as calls in the analytics.

Point a tracked number's "Call status changes" URL (StatusCallback) here. Checked as the
WhatsApp webhook is: X-Twilio-Signature over the public URL (`webhooks.public_url`) and the
form, with TWILIO_AUTH_TOKEN, compared in constant time by twilio's RequestValidator. Bad
signature 403, malformed form 400, too large 413 (Flask's MAX_CONTENT_LENGTH), 503 when the
analytics cannot take the call (Twilio may then try again); 404 without TWILIO_AUTH_TOKEN.

The route is Flask's: `FastWebhooks` only takes `/webhooks/<channel>` of a configured
channel adapter, and "voice" is none, so the request comes on to this blueprint (whose
literal path wins over `/webhooks/<channel>` in Flask's routing).
"""

from __future__ import annotations

import json
import logging
import time

from flask import Blueprint, Response, current_app, request
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from adapters.whatsapp.events import form_items
from gateway.analytics.twilio_voice import BadCallback, call_from_status
from gateway.context import Gateway
from gateway.web.webhooks import public_url

logger = logging.getLogger(__name__)
bp = Blueprint("voice", __name__)
CHANNEL = "voice"  # the label of its rejections in the gateway's metrics


def _json(status: int, message: str) -> Response:
    body = json.dumps({"error": message})
    return Response(body, status=status, content_type="application/json")


@bp.route("/webhooks/voice", methods=["POST"])
def voice_status() -> Response:
    gw: Gateway = current_app.extensions["gateway"]
    token = gw.config.env.get("TWILIO_AUTH_TOKEN")
    if not token:
        return _json(404, "voice calls are off: set TWILIO_AUTH_TOKEN")
    body = request.get_data()  # past MAX_CONTENT_LENGTH: 413 from the app's error handler
    try:
        params = form_items(body)
    except ValueError:  # not a form: it cannot carry a valid signature either
        params = None
    if params is None or not _signed(token, public_url(gw, request), params):
        gw.metrics.rejected.labels(CHANNEL, "403").inc()
        logger.warning("webhook_bad_signature", extra={"channel": CHANNEL})
        return _json(403, "invalid signature")
    try:
        call = call_from_status(dict(params), gw.config.shop_country, time.time())
    except BadCallback as exc:
        gw.metrics.rejected.labels(CHANNEL, "400").inc()
        logger.warning("webhook_malformed", extra={"channel": CHANNEL, "problem": str(exc)})
        return _json(400, str(exc))
    try:
        gw.analytics.write_now([call])
    except Exception as exc:  # the analytics file or Redis is away: say so, Twilio may retry
        # Logged here, not in `store_health`: that one is the message store's and would turn
        # /readyz red, taking shoppers' messages offline for want of a call record.
        logger.warning("voice_call_not_recorded", extra={"error": f"{type(exc).__name__}: {exc}"})
        return _json(503, "temporarily unavailable")
    return Response("<Response/>", content_type="text/xml")


def _signed(token: str, url: str, params: list[tuple[str, str]]) -> bool:
    signature = request.headers.get("X-Twilio-Signature")
    if not signature:
        return False
    # A MultiDict: the validator signs a repeated key with each of its values (`getlist`).
    return bool(RequestValidator(token).validate(url, MultiDict(params), signature))
