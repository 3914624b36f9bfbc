"""Calling the Telegram Bot API from the gateway's sender threads: blocking JSON POSTs over a
small pool of kept-alive HTTP/1.1 connections (TLS for api.telegram.org), with connect and read
timeouts, and what each failure means for a message that may or may not have been sent.

Why not python-telegram-bot's async `Bot`, which this module used to drive from a thread
through an event loop of its own: CPU per `sendMessage` against tgload's keep-alive loopback
Bot API, one thread, 3,000-5,000 calls, the same sitting on the 2-vCPU bench machine:

    PTB Bot from a thread (run_coroutine_threadsafe, HTTPXRequest)   1,360 µs
    PTB Bot with a blocking request class, no event loop               430 µs
    httpx.Client                                                         530 µs
    requests.Session (adapters.transport pool)                          825 µs
    urllib3 HTTPConnectionPool                                           390 µs
    http.client.HTTPConnection                                           195 µs
    this module                                                           60 µs

In the end-to-end benchmark PTB's path was about 1.8 ms of a 5.3 ms turn, and urllib3 still a
sixth of a turn. The Bot API needs little of a general client: one origin, POST with a JSON
body, an HTTP/1.1 answer with Content-Length (chunked and read-to-close are handled too). What
it does need is here: TLS verified against certifi's roots, timeouts, keep-alive with a check
that an idle connection was not closed by the server, and a strict reading of the answer (any
surprise closes the connection and counts as "maybe sent").

PTB still defines what we send: the Bot API's limits come from `telegram.constants`, and
errors are classified on Telegram's own `error_code` and `parameters.retry_after` exactly as
before (PTB's exceptions carry only the HTTP status class and the text, which is why the old
facade recorded the raw response anyway).
https://core.telegram.org/bots/api#making-requests
"""

from __future__ import annotations

import json
import select
import socket
import ssl
import threading
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import certifi

from adapters.base import Failed, RetryLater, SendResult, Uncertain

POOL_SIZE = 64  # idle connections kept; every sender thread of the process shares them
DEFAULT_RETRY_S = 1.0
TELEGRAM_API = "https://api.telegram.org/bot"
MAX_LINE = 65_536  # status and header lines
MAX_BODY = 16 * 1024 * 1024  # an answer larger than this is refused (the connection closed)
# What a transport failure means: before the request left (retry), or after (maybe sent).
CONNECT_TIMEOUT = RetryLater(DEFAULT_RETRY_S, "connect_timeout", "connect timed out: not sent")
CONNECT_FAILED = RetryLater(DEFAULT_RETRY_S, "connection_error", "could not connect: not sent")
READ_TIMEOUT = Uncertain("read_timeout", "read timed out: it may have been sent")
CONNECTION_LOST = Uncertain("connection_lost", "connection dropped after sending")


def bot_url(base_url: str | None, token: str) -> str:
    """The Bot API URL of `token`, as PTB's `Bot(base_url=...)` builds it: the token appended,
    or put where the base URL says `{token}`."""
    base = base_url or TELEGRAM_API
    return base.format(token=token) if "{token}" in base else base + token


class BadResponse(ValueError):
    """The answer is not HTTP/1.x as we read it; the connection is closed."""


class _Connection:
    __slots__ = ("rfile", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.rfile: BinaryIO = sock.makefile("rb")

    def closed_by_peer(self) -> bool:
        """An idle kept-alive connection with something to read was closed (or is broken)."""
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(0))

    def close(self) -> None:
        self.rfile.close()
        self.sock.close()


class BotApi:
    """Blocking Bot API calls over kept-alive connections shared by the calling threads."""

    def __init__(
        self,
        token: str,
        base_url: str | None,
        connect_s: float = 3.05,
        read_s: float = 10.0,
        pool_size: int = POOL_SIZE,
    ) -> None:
        url = urlsplit(bot_url(base_url, token))
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("the Telegram API base URL must be http(s)://host[:port]/path")
        self._https = url.scheme == "https"
        self._host = url.hostname
        self._port = url.port or (443 if self._https else 80)
        self._path = url.path.rstrip("/")
        host = url.netloc.rsplit("@", 1)[-1]
        self._head = (
            f"Host: {host}\r\nContent-Type: application/json\r\nUser-Agent: shop-gateway\r\n"
        )
        self._timeouts = (connect_s, read_s)
        self._pool_size = pool_size
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def call(self, method: str, params: dict[str, Any]) -> tuple[Any, SendResult | None]:
        """POST `params` to `method`; (the answer's `result`, None) or (None, the failure)."""
        body = json.dumps(params, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        request = (
            f"POST {self._path}/{method} HTTP/1.1\r\n{self._head}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1") + body
        try:
            conn = self._checkout()
        except TimeoutError:
            return None, RetryLater(
                DEFAULT_RETRY_S, "connect_timeout", "connect timed out: not sent"
            )
        except OSError:  # refused, unreachable, DNS, TLS handshake: nothing was sent
            return None, RetryLater(
                DEFAULT_RETRY_S, "connection_error", "could not connect: not sent"
            )
        try:
            conn.sock.sendall(request)
            status, payload, keep = read_response(conn.rfile)
        except TimeoutError:
            conn.close()
            return None, READ_TIMEOUT
        except (OSError, ValueError):  # reset, closed, or not HTTP: the request may have arrived
            conn.close()
            return None, CONNECTION_LOST
        self._checkin(conn, keep)
        if 200 <= status < 300:
            try:
                answer = json.loads(payload)
            except ValueError:
                answer = None
            if isinstance(answer, dict) and answer.get("ok") is True:
                return answer.get("result"), None
        return None, classify_response(status, payload)

    def _checkout(self) -> _Connection:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._connect()
            if not conn.closed_by_peer():
                return conn
            conn.close()

    def _checkin(self, conn: _Connection, keep: bool) -> None:
        if keep:
            with self._lock:
                if len(self._idle) < self._pool_size:
                    self._idle.append(conn)
                    return
        conn.close()

    def _connect(self) -> _Connection:
        connect_s, read_s = self._timeouts
        sock = socket.create_connection((self._host, self._port), timeout=connect_s)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._https:
                if self._tls is None:
                    self._tls = ssl.create_default_context(cafile=certifi.where())
                sock = self._tls.wrap_socket(sock, server_hostname=self._host)
            sock.settimeout(read_s)
        except BaseException:
            sock.close()
            raise
        return _Connection(sock)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def read_response(rfile: BinaryIO) -> tuple[int, bytes, bool]:
    """(status, body, whether the connection may be reused) of one HTTP/1.x answer."""
    while True:
        status, version, headers = _read_head(rfile)
        if status >= 200:
            break  # 1xx answers are interim: the real one follows
    connection = headers.get(b"connection", b"").lower()
    keep = connection != b"close" if version == b"HTTP/1.1" else connection == b"keep-alive"
    if status in (204, 304):
        return status, b"", keep
    if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
        return status, _read_chunked(rfile), keep
    length = headers.get(b"content-length")
    if length is None:  # the body runs until the server closes the connection
        return status, _read_exactly(rfile, None), False
    if not length.strip().isdigit():
        raise BadResponse(f"Content-Length {length[:20]!r}")
    return status, _read_exactly(rfile, int(length)), keep


def _read_head(rfile: BinaryIO) -> tuple[int, bytes, dict[bytes, bytes]]:
    line = rfile.readline(MAX_LINE + 1)
    if not line:
        raise ConnectionResetError("closed before answering")
    version, _, rest = line.partition(b" ")
    code = rest[:3]
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or not code.isdigit() or len(line) > MAX_LINE:
        raise BadResponse(f"status line {line[:40]!r}")
    headers: dict[bytes, bytes] = {}
    while True:
        line = rfile.readline(MAX_LINE + 1)
        if line in (b"\r\n", b"\n"):
            return int(code), version, headers
        name, colon, value = line.partition(b":")
        if not colon or len(line) > MAX_LINE or len(headers) > 100:
            raise BadResponse(f"header line {line[:40]!r}")
        headers[name.strip().lower()] = value.strip()


def _read_chunked(rfile: BinaryIO) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size_line = rfile.readline(MAX_LINE + 1).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise BadResponse(f"chunk size {size_line[:20]!r}") from None
        if size == 0:
            while rfile.readline(MAX_LINE + 1) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        total += size
        if total > MAX_BODY:
            raise BadResponse("answer too large")
        parts.append(_read_exactly(rfile, size))
        if rfile.readline(MAX_LINE + 1) not in (b"\r\n", b"\n"):
            raise BadResponse("chunk without its line end")


def _read_exactly(rfile: BinaryIO, size: int | None) -> bytes:
    """`size` bytes, or (None) all until the connection closes; at most MAX_BODY."""
    if size is not None and size > MAX_BODY:
        raise BadResponse("answer too large")
    data = rfile.read(MAX_BODY + 1 if size is None else size)
    if size is None and len(data) > MAX_BODY:
        raise BadResponse("answer too large")
    if size is not None and len(data) < size:
        raise ConnectionResetError("closed in the middle of the answer")
    return data


def classify_response(status: int, payload: bytes) -> SendResult:
    """Telegram's error_code and parameters first, the HTTP status if the body has none."""
    try:
        body = json.loads(payload)
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    code = body.get("error_code") if isinstance(body.get("error_code"), int) else status
    params = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    description = str(body.get("description") or "")[:120]
    if code == 429 or "retry_after" in params:
        delay = params.get("retry_after")
        seconds = float(delay) if isinstance(delay, (int, float)) else DEFAULT_RETRY_S
        return RetryLater(seconds, str(code), "flood control")
    if code == 403:
        return Failed("unreachable", "403", description or "forbidden")
    if code in (401, 404):
        return Failed("config_error", str(code), "invalid token: check TELEGRAM_BOT_TOKEN")
    if "migrate_to_chat_id" in params:
        return Failed("permanent", str(code), "group migrated to a supergroup")
    if code >= 500:
        return RetryLater(DEFAULT_RETRY_S, str(code), description or "server error")
    return Failed("permanent", str(code), description)
