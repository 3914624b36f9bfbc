"""Run a WSGI app on a free loopback port in a background thread (demo helpers and tests)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: request lines would carry shopper ids and order numbers."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class _ClosingBodies:
    """Closes every response body, also when the client went away mid-response: werkzeug's
    server reads what is left of a dropped connection before it closes the body, and when
    that read fails the body (a static file) is left open for the garbage collector."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        return _closing(self.app(environ, start_response))


def _closing(body: Iterable[bytes]) -> Iterator[bytes]:
    """`body`, closed when this generator ends or is collected unfinished (PEP 3333: a
    body may have `close`, which the server must call)."""
    try:
        yield from body
    finally:
        if hasattr(body, "close"):
            body.close()


class ServerThread:
    """`with ServerThread(app) as server: server.url` — a real HTTP server, stopped on exit."""

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server: BaseWSGIServer = make_server(
            host, port, _ClosingBodies(app), threaded=True, request_handler=_QuietHandler
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        assert isinstance(host, str)  # an AF_INET(6) socket's name; bytes only for AF_UNIX
        return f"http://{host}:{port}"

    def start(self) -> ServerThread:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
