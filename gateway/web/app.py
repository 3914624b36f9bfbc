"""The Flask app factory: webhooks, health and metrics, wired to one `Gateway`.

No module-level app: `create_app(gateway)` builds everything, so tests and gunicorn workers
each get their own.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Flask, Response, current_app
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway.context import Gateway
from gateway.web.security_headers import SecurityHeaders
from gateway.web.voice import bp as voice_bp
from gateway.web.webhooks import FastWebhooks
from gateway.web.webhooks import bp as webhooks_bp

logger = logging.getLogger(__name__)
health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> Response:
    """The process is up (liveness)."""
    return Response('{"status": "ok"}', content_type="application/json")


@health.get("/readyz")
def readyz() -> Response:
    """The store answers and takes writes, and a flow is loaded (readiness: 503 otherwise,
    with the reason). A platform that is down makes it "degraded", still 200: webhooks are
    taken and replies wait in the outbox."""
    gw: Gateway = current_app.extensions["gateway"]
    try:
        store_ok = gw.store.ping()
    except Exception:
        store_ok = False
    writes = gw.store_health.problem()
    flow = gw.flows.flow
    ok = store_ok and writes is None and flow is not None
    outages = gw.circuits.outages()
    status = "unavailable" if not ok else "degraded" if outages else "ok"
    body = {
        "status": status,
        "store": store_ok,
        "store_writes": writes or "ok",
        "flows_version": flow.version if flow is not None else None,
        "platforms_down": [
            {"channel": o.channel, "since": round(o.since), "reason": o.reason} for o in outages
        ],
    }
    return Response(json.dumps(body), status=200 if ok else 503, content_type="application/json")


@health.get("/metrics")
def metrics() -> Response:
    gw: Gateway = current_app.extensions["gateway"]
    try:
        gw.metrics.queue_depth.set(gw.store.queue_depth())
        gw.metrics.buried_now.set(gw.store.buried_count())
    except Exception:
        logger.warning("metrics_queue_depth_failed")
    down = {o.channel for o in gw.circuits.outages()}
    for channel in gw.adapters.adapters:
        gw.metrics.platform_down.labels(channel).set(1 if channel in down else 0)
    return Response(gw.metrics.render(), content_type="text/plain; version=0.0.4")


def create_app(gateway: Gateway) -> Flask:
    from gateway.inbox.web import init_app as init_inbox  # Flask-WTF only where it is served

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = gateway.config.max_body_bytes
    app.config["SECRET_KEY"] = gateway.config.env.get("SECRET_KEY") or None
    app.extensions["gateway"] = gateway
    app.wsgi_app = FastWebhooks(app.wsgi_app, gateway)  # type: ignore[method-assign]
    app.wsgi_app = SecurityHeaders(app.wsgi_app)  # type: ignore[method-assign]
    if gateway.config.trust_proxy:  # outermost: the fast path sees the forwarded scheme/host
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1)  # type: ignore[method-assign]
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(voice_bp)  # /webhooks/voice: Twilio Voice calls, for the analytics
    app.register_blueprint(health)
    init_inbox(app, gateway)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        name = (exc.name or "error").lower()
        return Response(
            f'{{"error": "{name}"}}', status=exc.code or 500, content_type="application/json"
        )

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:  # a bug: log it, never show a traceback
        logger.exception("request_failed")
        return Response('{"error": "internal error"}', status=500, content_type="application/json")

    return app
