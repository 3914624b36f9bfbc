"""Sending through pymessenger's `Bot`, and what a Graph API error means for the outbox.

`GraphBot` keeps pymessenger's Bot (its `auth_args` with appsecret_proof, its payload
builders such as `send_action`) and changes only the transport: one pooled `requests.Session`
with connect/read timeouts instead of a bare `requests.post`, a configurable Graph base URL
and version, and `messaging_type`/`tag` on messages. Errors are classified on Graph's
`error.code`, `error_subcode` and `is_transient`, never on the message text.
https://developers.facebook.com/docs/messenger-platform/error-codes

Reads (`GraphBot.read`: the page's id, the Conversations API) go through the same session and
timeouts; a read's failure is a value too, classified like a send's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests
from pymessenger.bot import Bot

from adapters.base import Failed, FailureKind, RetryLater, SendResult, Sent
from adapters.common.transport import mount_pool, retry_after_s, transport_result

GRAPH_API = "https://graph.facebook.com"
DEFAULT_VERSION = "25.0"
RATE_LIMIT_RETRY_S = 30.0  # Graph sends no Retry-After; its rate-limit docs say "wait"
TRANSIENT_RETRY_S = 2.0

# https://developers.facebook.com/docs/graph-api/overview/rate-limiting
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80006})
TRANSIENT_CODES = frozenset({1, 2})  # unknown error / service temporarily unavailable
CONFIG_CODES = frozenset({102, 190, 200, 230})  # bad token or missing permission
OUTSIDE_WINDOW = (10, 2018278)  # sent outside the allowed window
READ_RETRY_S = 5.0  # a read that timed out or lost its connection: ask again after this

ReadResult = dict[str, Any] | RetryLater | Failed  # a GET's JSON object, or why there is none


class GraphBot(Bot):  # pymessenger ships no type hints: Bot is Any to mypy
    """pymessenger's Bot with a pooled session, timeouts, base URL/version and messaging_type."""

    def __init__(
        self,
        access_token: str,
        *,
        app_secret: str | None = None,
        api_version: str = DEFAULT_VERSION,
        base_url: str | None = None,
        connect_s: float = 3.05,
        read_s: float = 10.0,
    ) -> None:
        super().__init__(access_token, app_secret=app_secret, api_version=api_version)
        self.graph_url = f"{(base_url or GRAPH_API).rstrip('/')}/v{api_version}"
        self.session = mount_pool(requests.Session(), connect_s, read_s)

    def post(self, payload: dict[str, Any]) -> requests.Response:
        """POST /me/messages; the response is returned whatever its status."""
        return self.session.post(
            f"{self.graph_url}/me/messages", params=self.auth_args, json=payload
        )

    def read(self, path: str, params: Mapping[str, str] | None = None) -> ReadResult:
        """GET /{path} with the page token: its JSON object, or what its failure means
        (`RetryLater`: network, 5xx, rate limit; `Failed`: refused, e.g. a missing permission).

        Never raises for a network error: the exception's text would carry the URL, and with
        it the token, so it is dropped here."""
        try:
            response = self.session.get(
                f"{self.graph_url}/{quote(path.lstrip('/'), safe='/')}",
                params={**self.auth_args, **(params or {})},
            )
        except requests.RequestException as exc:
            result = transport_result(exc)
            delay = result.delay_s if isinstance(result, RetryLater) else READ_RETRY_S
            return RetryLater(delay, type(exc).__name__, "Graph read failed")
        return read_result(response)

    def send_raw(self, payload: dict[str, Any]) -> Any:
        """pymessenger's contract (the decoded JSON), now pooled and with timeouts."""
        return self.post(payload).json()

    def send_message(
        self,
        recipient_id: str,
        message: dict[str, Any],
        messaging_type: str = "RESPONSE",
        tag: str | None = None,
    ) -> Any:
        """pymessenger's send_message plus messaging_type and tag (MESSAGE_TAG + HUMAN_AGENT)."""
        payload: dict[str, Any] = {
            "recipient": {"id": recipient_id},
            "messaging_type": messaging_type,
            "message": message,
        }
        if tag:
            payload["tag"] = tag
        return self.send_raw(payload)

    def get_user_info(self, recipient_id: str, fields: list[str] | None = None) -> Any:
        """pymessenger's profile lookup (User Profile API), pooled and with timeouts.

        None when Graph refuses (the shopper never allowed it, or the token lacks the right).
        """
        wanted = ",".join(fields or ["first_name", "last_name", "locale"])
        response = self.session.get(
            f"{self.graph_url}/{recipient_id}", params={**self.auth_args, "fields": wanted}
        )
        return response.json() if response.status_code == 200 else None

    def close(self) -> None:
        self.session.close()


def read_result(response: requests.Response) -> ReadResult:
    """A Graph read's response: the JSON object on success, else its error classified."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 200 and isinstance(body, dict) and "error" not in body:
        return body
    if response.status_code == 200:  # an answer Graph does not give: a proxy's page, say
        return RetryLater(TRANSIENT_RETRY_S, "200", "Graph answered without a JSON object")
    error = body.get("error") if isinstance(body, dict) else None
    return classify_error(
        response.status_code,
        error if isinstance(error, dict) else None,
        retry_after_s(response.headers),
    )


def response_result(response: requests.Response) -> SendResult:
    """A Send API response as an outcome; the platform's own code is kept."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 200 and isinstance(body, dict) and "error" not in body:
        return Sent(str(body.get("message_id") or ""))
    error = body.get("error") if isinstance(body, dict) else None
    return classify_error(
        response.status_code,
        error if isinstance(error, dict) else None,
        retry_after_s(response.headers),
    )


def classify_error(
    status: int, error: dict[str, Any] | None, retry_after: float | None
) -> RetryLater | Failed:
    """Branch on error.code / error_subcode / is_transient, then on the HTTP status."""
    if error is None:
        if status == 429 or status >= 500:
            throttled = status == 429
            return RetryLater(
                retry_after or TRANSIENT_RETRY_S, str(status), f"HTTP {status}", throttled
            )
        return Failed("permanent", str(status), f"HTTP {status} without a Graph error")
    code = error.get("code")
    subcode = error.get("error_subcode")
    shown = f"{code}/{subcode}" if subcode is not None else str(code)
    if code in RATE_LIMIT_CODES:
        return RetryLater(retry_after or RATE_LIMIT_RETRY_S, shown, "Graph rate limit", True)
    if error.get("is_transient") or code in TRANSIENT_CODES:
        return RetryLater(retry_after or TRANSIENT_RETRY_S, shown, "Graph transient error")
    kind: FailureKind = "permanent"
    reason = "rejected by the Send API"
    if (code, subcode) == OUTSIDE_WINDOW:
        kind, reason = "outside_window", "outside the messaging window: do not retry"
    elif code in CONFIG_CODES:
        kind, reason = "config_error", "invalid token or permission: check MESSENGER_PAGE_TOKEN"
    elif code == 551:
        reason = "this person is not available (often: blocked the Page)"
    return Failed(kind, shown, reason)
