"""The real `Services` for `call` nodes: HTTP to the merchant's own API, bounded and pooled.

Every failure becomes a `CallResponse` with an error, so a slow or broken shop API sends the
conversation down the node's error path instead of breaking it.
"""

from __future__ import annotations

from collections.abc import Callable

import requests
from requests.adapters import HTTPAdapter

from flows.services import CallRequest, CallResponse, InboxStatus

MAX_RESPONSE_BYTES = 256 * 1024  # saved into the conversation state: keep it small
USER_AGENT = "shop-bot-gateway/0.1"


class HttpServices:
    def __init__(self, pool_size: int = 16) -> None:
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = USER_AGENT
        # Set by the gateway once its inbox exists: who is on duty, for the handoff notice.
        self.status_source: Callable[[str], InboxStatus | None] | None = None

    def inbox_status(self, queue: str) -> InboxStatus | None:
        return self.status_source(queue) if self.status_source is not None else None

    def call(self, request: CallRequest) -> CallResponse:
        try:
            response = self.session.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                json=request.json,
                timeout=(min(request.timeout, 3.05), request.timeout),
                stream=True,
            )
            body = response.raw.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
            response.close()
        except requests.Timeout:
            return CallResponse(status=None, error="timeout")
        except (requests.RequestException, ValueError) as exc:
            return CallResponse(status=None, error=type(exc).__name__)
        if len(body) > MAX_RESPONSE_BYTES:
            return CallResponse(status=response.status_code, error="response too large")
        data = None
        if body:
            try:
                data = requests.models.complexjson.loads(body)
            except ValueError:
                data = None
        ok = 200 <= response.status_code < 300
        return CallResponse(
            status=response.status_code,
            json=data,
            error=None if ok else f"HTTP {response.status_code}",
        )

    def close(self) -> None:
        self.session.close()
