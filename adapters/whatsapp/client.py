"""Sending WhatsApp messages through the twilio library: where, how long, and what an error means.

`RoutedHttpClient` is the library's own `TwilioHttpClient` with three changes: requests for
https://api.twilio.com go to TWILIO_API_BASE_URL when set (the sandbox, benchmarks), every
request has connect and read timeouts, and one pooled session serves all worker threads.
Errors are classified on Twilio's `code` first, then on the HTTP status.
https://www.twilio.com/docs/api/errors
"""

from __future__ import annotations

import threading
from typing import Any

from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response

from adapters.base import Failed, FailureKind, RetryLater, SendResult, Sent, Uncertain
from adapters.common.transport import mount_pool, retry_after_s, transport_result

TWILIO_API = "https://api.twilio.com"
DEFAULT_RETRY_S = 1.0

# Twilio error codes we branch on (https://www.twilio.com/docs/api/errors/<code>).
RETRY_CODES = frozenset({20429, 63018})  # too many requests; WhatsApp rate limit
FAILURE_CODES: dict[int, tuple[FailureKind, str]] = {
    20003: ("config_error", "authentication failed: check TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN"),
    20404: ("config_error", "resource not found: check TWILIO_ACCOUNT_SID"),
    21212: ("config_error", "invalid From number: check TWILIO_WHATSAPP_FROM"),
    21606: ("config_error", "From number not usable: check TWILIO_WHATSAPP_FROM"),
    63007: ("config_error", "no WhatsApp sender for From: check TWILIO_WHATSAPP_FROM"),
    21211: ("permanent", "invalid To number"),
    21614: ("permanent", "To number cannot receive this message"),
    21617: ("permanent", "body over 1,600 characters"),
    63003: ("permanent", "To address not on WhatsApp"),
    21610: ("unreachable", "the shopper unsubscribed (STOP)"),
    63016: ("needs_template", "outside the 24 h window: an approved template is required"),
}
UNCERTAIN_STATUSES = frozenset({500, 504})  # message create is not idempotent; it may have gone


class RoutedHttpClient(TwilioHttpClient):
    """TwilioHttpClient with a base-URL override, timeouts and a shared connection pool."""

    def __init__(self, base_url: str | None, connect_s: float = 3.05, read_s: float = 10.0) -> None:
        super().__init__(pool_connections=True)
        self.base_url = base_url.rstrip("/") if base_url else None
        assert self.session is not None  # pool_connections=True always makes one
        mount_pool(self.session, connect_s, read_s)
        self._local = threading.local()  # the calling thread's last response headers

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if self.base_url and url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        self._local.headers = {}
        response = super().request(method, url, *args, **kwargs)
        self._local.headers = dict(response.headers or {})
        return response

    def last_retry_after(self) -> float | None:
        """Retry-After of this thread's last response, in seconds, if it sent one."""
        return retry_after_s(getattr(self._local, "headers", None))


def classify_error(status: int, code: int | None, retry_after: float | None) -> SendResult:
    """What a Twilio error response means for the outbox."""
    shown = str(code if code is not None else status)
    if status == 429 or code in RETRY_CODES:
        return RetryLater(retry_after or DEFAULT_RETRY_S, shown, "rate limited", throttled=True)
    if code in FAILURE_CODES:
        kind, reason = FAILURE_CODES[code]
        return Failed(kind, shown, reason)
    if status in UNCERTAIN_STATUSES:
        return Uncertain(shown, f"HTTP {status} on message create: it may have been sent")
    if status >= 500:
        return RetryLater(retry_after or DEFAULT_RETRY_S, shown, f"HTTP {status}")
    if status in (401, 403):
        return Failed("config_error", shown, f"HTTP {status}: check the Twilio credentials")
    return Failed("permanent", shown, f"HTTP {status}")


def classify_exception(exc: Exception, client: RoutedHttpClient) -> SendResult:
    """A raised error from `messages.create`, as a value; unknown errors propagate as bugs."""
    if isinstance(exc, TwilioRestException):
        code = exc.code if isinstance(exc.code, int) else None
        return classify_error(int(exc.status), code, client.last_retry_after())
    result = transport_result(exc)
    if result is None:
        raise exc
    return result


def failure_for_code(code: int | None) -> FailureKind | None:
    """The failure a status-callback ErrorCode means, for the outbox (63016 → needs_template)."""
    if code is None:
        return None
    return FAILURE_CODES[code][0] if code in FAILURE_CODES else "permanent"


def message_resource_result(resource: dict[str, Any]) -> SendResult:
    """A fetched Message resource as a send outcome (status failed + error_code → Failed)."""
    sid = str(resource.get("sid") or "")
    status = str(resource.get("status") or "")
    code = resource.get("error_code")
    if status in ("failed", "undelivered"):
        number = int(code) if code is not None else None
        kind = failure_for_code(number) or "permanent"
        return Failed(kind, str(code or status), FAILURE_CODES.get(number or 0, ("", status))[1])
    return Sent(sid) if sid else Uncertain(status or "unknown", "no message sid")
