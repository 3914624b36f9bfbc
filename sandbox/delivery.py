"""Posting webhooks to the gateway and remembering its answer, as the platforms' senders do.

The answer status is kept on the webhook's entry so the simulator page can show a refused webhook
(401/403) to the developer. Logs name the event, channel and status only: never bodies or ids.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import requests

from sandbox.recording import Entry
from sandbox.state import SandboxState
from sandbox.webhooks import Webhook, twilio_status

logger = logging.getLogger("sandbox")

CONNECT_TIMEOUT = 3.05


def post(url: str, webhook: Webhook, timeout: float) -> tuple[int | None, str | None]:
    """POST the exact bytes; returns (status, None) or (None, reason) when nothing answered."""
    try:
        response = requests.post(
            url,
            data=webhook.body,
            headers=webhook.headers,
            timeout=(CONNECT_TIMEOUT, timeout),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return None, type(exc).__name__
    return response.status_code, None


def deliver(
    state: SandboxState, webhook: Webhook, conversation: str, kind: str = "webhook", **summary: Any
) -> Entry:
    """Record the webhook, post it to the gateway (if one is configured) and record the answer."""
    entry = state.recorder.add(
        kind,
        {
            "channel": webhook.channel,
            "conversation": conversation,
            "id": webhook.message_id,
            "public_url": webhook.public_url,
            "status": None,
            "error": None,
            **summary,
        },
    )
    target = state.config.delivery_url(webhook.public_url)
    if target is None:
        reason = "not reachable from the sandbox" if state.config.gateway_url else "no gateway"
        status, error = None, reason
    else:
        status, error = post(target, webhook, state.config.webhook_timeout)
    state.recorder.update(entry["seq"], status=status, error=error)
    logger.info(
        "sandbox.webhook_delivered channel=%s kind=%s status=%s error=%s",
        webhook.channel,
        kind,
        status,
        error,
    )
    return {**entry, "status": status, "error": error}


def send_status_callbacks(state: SandboxState, resource: dict[str, Any], callback_url: str) -> None:
    """After the 201 has gone out, report `sent` then `delivered` like Twilio, in a thread."""

    def run() -> None:
        conversation = str(resource["to"]).removeprefix("whatsapp:")
        for status in ("sent", "delivered"):
            webhook = twilio_status(state.config, resource, status, callback_url)
            stored = state.twilio_messages.get(resource["sid"])
            if stored is not None:
                stored["status"] = status
            deliver(state, webhook, conversation, kind="status_callback", message_status=status)

    timer = threading.Timer(0.05, run)
    timer.daemon = True
    timer.start()
