"""The `requests` plumbing shared by the Twilio and Graph clients: pooled sessions with
connect/read timeouts, and what a transport error means for a POST that creates a message.

A connect error means the platform never saw the request: retry. A read timeout or a dropped
connection means it may have acted: report "maybe sent" (urllib3's `_is_read_error` idea).
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ProtocolError

from adapters.base import RetryLater, SendResult, Uncertain

POOL_SIZE = 64  # connections per host; all worker threads share them
CONNECT_RETRY_S = 1.0


class TimeoutAdapter(HTTPAdapter):
    """Applies (connect, read) timeouts to every request, whatever the caller passed."""

    def __init__(self, connect_s: float, read_s: float, pool_size: int = POOL_SIZE) -> None:
        super().__init__(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.timeouts = (connect_s, read_s)

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        return super().send(
            request, stream=stream, timeout=self.timeouts, verify=verify, cert=cert, proxies=proxies
        )


def mount_pool(session: requests.Session, connect_s: float, read_s: float) -> requests.Session:
    """`session` with a timed, pooled adapter for both schemes (the sandbox is plain http)."""
    adapter = TimeoutAdapter(connect_s, read_s)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def transport_result(exc: Exception) -> SendResult | None:
    """The outcome a `requests` transport error means; None if `exc` is not one."""
    if isinstance(exc, requests.ConnectTimeout):
        return RetryLater(CONNECT_RETRY_S, "connect_timeout", "connect timed out: not sent")
    if isinstance(exc, requests.ReadTimeout):
        return Uncertain("read_timeout", "read timed out: it may have been sent")
    if isinstance(exc, requests.ConnectionError):
        if any(isinstance(a, ProtocolError) for a in exc.args):
            return Uncertain("connection_lost", "connection dropped after sending")
        return RetryLater(CONNECT_RETRY_S, "connection_error", "could not connect: not sent")
    return None


def retry_after_s(headers: Any) -> float | None:
    """Retry-After in seconds (the delta form; platforms do not send dates here)."""
    value = headers.get("Retry-After") if headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
