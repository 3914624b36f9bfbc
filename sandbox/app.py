"""The sandbox's Flask app factory: fake platform APIs, controls and the shopper simulator.

No module-level app: each `Sandbox` (and each test) builds its own, with its own memory.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from sandbox import control, fake_graph, fake_telegram, fake_twilio, simulator
from sandbox.config import SandboxConfig
from sandbox.state import EXTENSION, SandboxState

logger = logging.getLogger("sandbox")


def create_app(config: SandboxConfig | None = None, state: SandboxState | None = None) -> Flask:
    """Build the app around `state` (a fresh one from `config` when not given)."""
    state = state or SandboxState(config or SandboxConfig())
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.extensions[EXTENSION] = state
    for module in (fake_twilio, fake_graph, fake_telegram, control, simulator):
        app.register_blueprint(module.bp)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response | HTTPException:
        # Flask's default log line names the path, and Telegram paths carry the bot token.
        if isinstance(exc, HTTPException):
            return exc
        logger.error("sandbox.error type=%s", type(exc).__name__)
        response = jsonify({"error": "sandbox internal error", "type": type(exc).__name__})
        response.status_code = 500
        return response

    return app
