"""Running the sandbox: `Sandbox` (context manager, free port, daemon thread) and `serve()`.

Both use werkzeug's threaded server with request logging switched off: request lines hold the
Telegram bot token (in the path) and the Graph access token (in the query string).
"""

from __future__ import annotations

import argparse
import os
import threading
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sandbox.app import create_app
from sandbox.config import DEFAULT_GATEWAY_URL, SandboxConfig
from sandbox.faults import make_fault
from sandbox.recording import Entry
from sandbox.state import SandboxState, new_sid


class QuietHandler(WSGIRequestHandler):
    """HTTP/1.1 keep-alive for benchmark clients; no access log, since URLs carry tokens."""

    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None

    def log_error(self, format: str, *args: Any) -> None:
        self.log("error", "sandbox.http_error")


def _server(state: SandboxState, host: str, port: int) -> BaseWSGIServer:
    return make_server(
        host, port, create_app(state=state), threaded=True, request_handler=QuietHandler
    )


class Sandbox:
    """The fake platforms for one test or one demo: `with Sandbox() as sb: ...`."""

    def __init__(
        self,
        gateway_url: str | None = None,
        env: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        config = SandboxConfig.from_env(os.environ if env is None else env, gateway_url)
        self.state = SandboxState(config)
        self._host, self._port = host, port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Sandbox:
        self._server = _server(self.state, self._host, self._port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not running: use `with Sandbox() as sb:`")
        return f"http://{self._host}:{self._server.server_port}"

    @property
    def twilio_base_url(self) -> str:
        """Stands in for https://api.twilio.com (and content.twilio.com)."""
        return f"{self.base_url}/twilio"

    @property
    def graph_base_url(self) -> str:
        """Stands in for https://graph.facebook.com."""
        return f"{self.base_url}/graph"

    @property
    def telegram_base_url(self) -> str:
        """PTB's `base_url`: the token follows directly (https://api.telegram.org/bot)."""
        return f"{self.base_url}/telegram/bot"

    @property
    def simulator_url(self) -> str:
        return f"{self.base_url}/"

    def sent(self, channel: str | None = None, to: str | None = None) -> list[Entry]:
        """Calls the platform accepted, oldest first (what the shopper would get)."""
        return self.state.recorder.select(("send",), channel, to, accepted_only=True)

    def attempts(self, channel: str | None = None, to: str | None = None) -> list[Entry]:
        """Every call, including those answered with an error (`status` tells which)."""
        return self.state.recorder.select(("send",), channel, to)

    def reads(self, channel: str | None = None, to: str | None = None) -> list[Entry]:
        """Lookups the bot made (Graph: `me`, `conversations`, `conversation`), with the
        status each got; `to` is the shopper whose conversation was asked for."""
        return self.state.recorder.select(("read",), channel, to)

    def webhooks(self, channel: str | None = None) -> list[Entry]:
        """Webhooks the simulator and the status callbacks posted, with the gateway's answers."""
        return self.state.recorder.select(("webhook", "status_callback"), channel)

    def clear(self) -> None:
        self.state.recorder.clear()

    def fail_next(
        self,
        channel: str,
        status: int | None = None,
        body: Any = None,
        count: int = 1,
        delay: float = 0.0,
        method: str | None = None,
        retry_after: int | None = None,
        acted: bool = False,
    ) -> None:
        """The next `count` calls of `channel` (or of its `method`) answer `status`; with
        `acted`, after doing what was asked (a message sent, then a 500: Twilio's "maybe").

        `body`: None for the platform's real error body, an error name ("outside_window",
        "rate_limit", "blocked"... see faults.NAMED_ERRORS), a dict or raw bytes. `delay` sleeps
        first; with no error status the call then succeeds (a slow platform).
        """
        fault = make_fault(channel, status, body, delay, method, retry_after, acted)
        self.state.faults.add(fault, count)

    def fail_for(
        self, channel: str, seconds: float, status: int = 500, method: str | None = None
    ) -> None:
        """An outage: every call of `channel` (or of its `method`) answers `status` for
        `seconds` from now."""
        self.state.faults.add(make_fault(channel, status, None, 0.0, method), for_s=seconds)

    def deny_conversations_api(self, code: int = 10, status: int = 400) -> None:
        """Graph's Conversations API answers an OAuthException with `code` (10: no permission,
        200: a missing pages_* permission, 190: bad token) until `allow_conversations_api()`
        or `clear_faults()`: a page token without the rights to read its conversations."""
        self.state.faults.deny_conversations(code, status)

    def allow_conversations_api(self) -> None:
        self.state.faults.allow_conversations()

    def clear_faults(self) -> None:
        """Drop pending faults and outages, and allow the Conversations API again."""
        self.state.faults.clear()

    def add_shopper(self, channel: str, name: str, locale: str | None = None) -> dict[str, Any]:
        """A simulated shopper the fake APIs know (Graph profile, Telegram chat)."""
        return self.state.shoppers.add(channel, name, locale).to_dict()

    def add_content(
        self, types: dict[str, Any], variables: dict[str, str] | None = None, sid: str | None = None
    ) -> str:
        """Register a Twilio Content template (e.g. `twilio/quick-reply`); returns its sid."""
        sid = sid or new_sid("HX")
        self.state.twilio_contents[sid] = {"sid": sid, "types": types, "variables": variables or {}}
        return sid


def serve(host: str, port: int, gateway_url: str | None, env: Mapping[str, str]) -> None:
    """Run the sandbox in the foreground until interrupted (`python -m devtools sandbox`)."""
    state = SandboxState(SandboxConfig.from_env(env, gateway_url))
    server = _server(state, host, port)
    base = f"http://{host}:{server.server_port}"
    print(f"Shopper simulator: {base}/", flush=True)
    print(f"Webhooks go to: {state.config.gateway_url or '(no gateway)'}", flush=True)
    print("Point the gateway here with:", flush=True)
    print(
        f"  TWILIO_API_BASE_URL={base}/twilio GRAPH_API_BASE_URL={base}/graph "
        f"TELEGRAM_API_BASE_URL={base}/telegram/bot",
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Local stand-in for Twilio WhatsApp, Messenger and Telegram, with a "
        "shopper simulator page.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument(
        "--gateway-url",
        default=DEFAULT_GATEWAY_URL,
        help="where simulated webhooks are posted (default %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        serve(args.host, args.port, args.gateway_url, os.environ)
    except KeyboardInterrupt:
        return 0
    return 0
