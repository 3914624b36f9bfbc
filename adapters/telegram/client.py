"""Sending through python-telegram-bot's `Bot` from the gateway's sender threads, without an
event loop: `PooledRequest` is PTB's documented transport extension point (a `BaseRequest`)
doing blocking POSTs over a small thread-safe pool of kept-alive `http.client` connections
(TLS verified against certifi's roots, connect and read timeouts). Its `do_request` never
awaits anything that needs a loop, so a `Bot` coroutine is driven by the calling thread:
to its end at once (`run_now`), or in two halves (`PendingCall`: the request is written, the
caller works, then the answer is read), which is how a turn worker overlaps a reply's round
trip with its next turn.

Why PTB and not a leaner client: the design card names PTB as Telegram's client library, and
the tests drive the real library against the sandbox. Its CPU cost a send, against plain
`http.client` and the pool alone, is measured by `bench/bench_tg_send.py` (figures in
docs/performance.md): most of PTB's share is `Message.de_json` of the answer (every Message
attribute goes through TelegramObject.__setattr__) and the keyboard's `to_dict`; http.client's
is its email-based header parsing and sending head and body in two writes.

Failures are classified on Telegram's own `error_code` and `parameters.retry_after`, which
PTB's exceptions do not carry (only the HTTP status class and the text): the request class
reads the raw answer and raises `CallFailed` with the result before PTB builds its own.
https://docs.python-telegram-bot.org/en/stable/telegram.request.baserequest.html
https://core.telegram.org/bots/api#making-requests
"""

from __future__ import annotations

import http.client
import json
import select
import ssl
import threading
from collections.abc import Callable, Coroutine, Generator
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import certifi
from telegram import Bot
from telegram.error import TelegramError
from telegram.request import BaseRequest, RequestData

from adapters.base import Failed, RetryLater, SendResult, Uncertain

T = TypeVar("T")
POOL_SIZE = 64  # idle connections kept per origin; every sender thread of the process shares them
DEFAULT_RETRY_S = 1.0
TELEGRAM_API = "https://api.telegram.org/bot"
MAX_BODY = 16 * 1024 * 1024  # a larger answer is refused and its connection closed
# What a transport failure means: before the request left (retry), or after (maybe sent).
CONNECT_TIMEOUT = RetryLater(DEFAULT_RETRY_S, "connect_timeout", "connect timed out: not sent")
CONNECT_FAILED = RetryLater(DEFAULT_RETRY_S, "connection_error", "could not connect: not sent")
READ_TIMEOUT = Uncertain("read_timeout", "read timed out: it may have been sent")
CONNECTION_LOST = Uncertain("connection_lost", "connection dropped after sending")


class CallFailed(TelegramError):
    """The call's outcome as a `SendResult`; a TelegramError so that PTB passes it through."""

    def __init__(self, result: SendResult) -> None:
        super().__init__(getattr(result, "reason", "") or type(result).__name__)
        self.result = result


class _Pool:
    """Kept-alive connections to one origin; a connection is used by one thread at a time."""

    def __init__(self, https: bool, host: str, port: int, size: int) -> None:
        self.https, self.host, self.port, self.size = https, host, port, size
        self.idle: list[http.client.HTTPConnection] = []
        self.lock = threading.Lock()
        self.tls: ssl.SSLContext | None = None

    def get(self, connect_s: float | None, read_s: float | None) -> http.client.HTTPConnection:
        while True:
            with self.lock:
                conn = self.idle.pop() if self.idle else None
            if conn is None:
                return self.connect(connect_s, read_s)
            if conn.sock is not None and not _readable(conn.sock):
                if conn.sock.gettimeout() != read_s:
                    conn.sock.settimeout(read_s)
                return conn
            conn.close()  # the server closed it while idle (or sent something unasked)

    def put(self, conn: http.client.HTTPConnection) -> None:
        with self.lock:
            if len(self.idle) < self.size:
                self.idle.append(conn)
                return
        conn.close()

    def connect(self, connect_s: float | None, read_s: float | None) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if self.https:
            if self.tls is None:
                self.tls = ssl.create_default_context(cafile=certifi.where())
            conn = http.client.HTTPSConnection(
                self.host, self.port, timeout=connect_s, context=self.tls
            )
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=connect_s)
        try:
            conn.connect()  # TCP (and the TLS handshake) within the connect timeout
        except TimeoutError:
            conn.close()
            raise CallFailed(CONNECT_TIMEOUT) from None
        except OSError:  # refused, unreachable, DNS, TLS handshake: nothing was sent
            conn.close()
            raise CallFailed(CONNECT_FAILED) from None
        assert conn.sock is not None
        conn.sock.settimeout(read_s)
        return conn

    def close(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()


def _readable(sock: Any) -> bool:
    """An idle kept-alive connection with something to read was closed (or is broken)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


@lru_cache(maxsize=256)
def _target(url: str) -> tuple[bool, str, int, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the Telegram API base URL must be http(s)://host[:port]/path")
    https = parts.scheme == "https"
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return https, parts.hostname, parts.port or (443 if https else 80), path


class PooledRequest(BaseRequest):
    """PTB's transport: blocking JSON POSTs that never suspend the calling coroutine."""

    __slots__ = ("_connect_s", "_lock", "_pool_size", "_pools", "_read_s")

    def __init__(
        self, connect_s: float = 3.05, read_s: float = 10.0, pool_size: int = POOL_SIZE
    ) -> None:
        self._connect_s, self._read_s, self._pool_size = connect_s, read_s, pool_size
        self._pools: dict[tuple[bool, str, int], _Pool] = {}
        self._lock = threading.Lock()

    @property
    def read_timeout(self) -> float | None:
        return self._read_s

    async def initialize(self) -> None:
        """Nothing to set up: connections are made on first use."""

    async def shutdown(self) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict[str, Any]:
        """PTB's parsing of a 2xx answer; one that is not `{"ok": true, "result": ...}` is
        classified as an error answer would be (PTB would raise KeyError or a bare error)."""
        try:
            data = json.loads(payload)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("ok") is True and "result" in data:
            return data
        raise CallFailed(classify_response(200, payload))

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """One blocking request, returning PTB its 2xx answers and raising `CallFailed` for the
        rest. Timeouts are PTB's ODVInput[float]; the write timeout is the read one (one socket
        timeout) and the pool never waits (it connects anew when no connection is idle)."""
        if request_data is not None and request_data.contains_files:
            raise CallFailed(Failed("permanent", "upload", "file uploads are not supported"))
        # One json.dumps of the nested parameters, as BaseRequest's docs suggest, instead of
        # json_payload's JSON-in-JSON: the body Telegram documents for application/json
        # (ASCII-escaped, so a lone surrogate in a shopper's text cannot fail the encoding).
        body = json.dumps(request_data.parameters).encode() if request_data else None
        read_s = _seconds(read_timeout, self._read_s)
        conn, pool = self.start(
            method, url, body, _seconds(connect_timeout, self._connect_s), read_s
        )
        try:
            await _ANSWER_DUE  # under a `PendingCall`, the caller works while Telegram answers
        except BaseException:  # closed before the answer was read (GeneratorExit)
            conn.close()
            raise
        status, payload = self.finish(conn, pool)
        if 200 <= status < 300:
            return status, payload
        raise CallFailed(classify_response(status, payload))

    def blocking(
        self,
        method: str,
        url: str,
        body: bytes | None,
        connect_s: float | None,
        read_s: float | None,
    ) -> tuple[int, bytes]:
        """(status, body) of one request over a pooled connection, or raise `CallFailed`."""
        return self.finish(*self.start(method, url, body, connect_s, read_s))

    def start(
        self,
        method: str,
        url: str,
        body: bytes | None,
        connect_s: float | None,
        read_s: float | None,
    ) -> tuple[http.client.HTTPConnection, _Pool]:
        """Write one request on a pooled connection; `finish` reads its answer."""
        https, host, port, path = _target(url)
        pool = self._pools.get((https, host, port))
        if pool is None:
            with self._lock:
                pool = self._pools.setdefault(
                    (https, host, port), _Pool(https, host, port, self._pool_size)
                )
        conn = pool.get(connect_s, read_s)
        try:
            conn.request(method, path, body, _HEADERS if body is not None else {})
        except TimeoutError:
            conn.close()
            raise CallFailed(READ_TIMEOUT) from None
        except (OSError, http.client.HTTPException):  # reset or closed while writing
            conn.close()
            raise CallFailed(CONNECTION_LOST) from None
        return conn, pool

    def finish(self, conn: http.client.HTTPConnection, pool: _Pool) -> tuple[int, bytes]:
        """(status, body) of the request `start` wrote on `conn`, or raise `CallFailed`."""
        try:
            response = conn.getresponse()
            if response.length is not None and response.length > MAX_BODY:
                raise http.client.HTTPException("answer too large")
            # A Content-Length answer cut short raises IncompleteRead; a chunked one or one
            # read to the close is read up to the cap (past its end, so that it is complete).
            payload = (
                response.read() if response.length is not None else response.read(MAX_BODY + 1)
            )
            if len(payload) > MAX_BODY:
                raise http.client.HTTPException("answer too large")
        except TimeoutError:
            conn.close()
            raise CallFailed(READ_TIMEOUT) from None
        except (OSError, http.client.HTTPException):  # reset, closed, not HTTP: maybe arrived
            conn.close()
            raise CallFailed(CONNECTION_LOST) from None
        if response.will_close or not response.isclosed():
            response.close()
            conn.close()
        else:
            pool.put(conn)
        return response.status, payload


def _seconds(value: object, default: float | None) -> float | None:
    """A timeout PTB passed (seconds or None for none), or ours when it passed DEFAULT_NONE."""
    return value if value is None or isinstance(value, (int, float)) else default


_HEADERS = {"Content-Type": "application/json", "User-Agent": BaseRequest.USER_AGENT}


class _AnswerDue:
    """Awaited by `do_request` between writing a request and reading its answer. Under a
    `PendingCall` the coroutine suspends there, so that its caller can work while Telegram
    answers; anywhere else (`run_now`, an event loop) it does not suspend at all."""

    __slots__ = ()

    def __await__(self) -> Generator[_AnswerDue, None, None]:
        if _OVERLAP.get():
            yield self


_ANSWER_DUE = _AnswerDue()
_OVERLAP: ContextVar[bool] = ContextVar("telegram_send_overlap", default=False)


def run_now(coro: Coroutine[Any, Any, T]) -> T:
    """Run a PTB coroutine to its end in the calling thread. Every await inside ends up in
    `PooledRequest.do_request`, which never suspends; if PTB ever did, this refuses loudly."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("a python-telegram-bot call suspended: it needs an event loop now")


class PendingCall(Generic[T]):
    """A PTB call in two halves: the constructor runs it until its request is written, and
    `outcome()` reads the answer and lets PTB finish. Between the two, the calling thread does
    other work (a turn worker runs its next turn) while the answer travels: the time a
    blocking call would wait. One thread drives it, no event loop; an await of anything but
    the answer is refused as `run_now` refuses it."""

    __slots__ = ("_coro", "_outcome")

    def __init__(self, coro: Coroutine[Any, Any, T]) -> None:
        self._coro = coro
        self._outcome: tuple[T, None] | tuple[None, SendResult] | None = None
        self._advance(overlap=True)

    def _advance(self, overlap: bool) -> None:
        token = _OVERLAP.set(overlap)
        try:
            awaited = self._coro.send(None)
        except StopIteration as done:
            self._outcome = (done.value, None)
            return
        except CallFailed as exc:
            self._outcome = (None, exc.result)
            return
        finally:
            _OVERLAP.reset(token)
        if awaited is not _ANSWER_DUE or not overlap:
            self._coro.close()
            raise RuntimeError("a python-telegram-bot call suspended: it needs an event loop now")

    def outcome(self) -> tuple[T, None] | tuple[None, SendResult]:
        """(the call's result, None) or (None, the failure as a value); reads the answer the
        first time (blocking up to the read timeout), then returns the same."""
        if self._outcome is None:
            self._advance(overlap=False)
        assert self._outcome is not None
        return self._outcome

    def close(self) -> None:
        """Give up on the answer (shutting down): its connection is closed, not reused, and
        the outcome is "maybe sent"."""
        if self._outcome is None:
            self._coro.close()
            self._outcome = (None, CONNECTION_LOST)


class TelegramBot:
    """PTB's `Bot` behind blocking calls, shared by the sender threads of a process."""

    def __init__(
        self,
        token: str,
        base_url: str | None,
        connect_s: float = 3.05,
        read_s: float = 10.0,
        pool_size: int = POOL_SIZE,
    ) -> None:
        self.request = PooledRequest(connect_s, read_s, pool_size)
        # Never initialize()d: that only calls getMe, which sending does not need.
        self.bot = Bot(
            token,
            base_url=base_url or TELEGRAM_API,
            request=self.request,
            get_updates_request=self.request,
        )
        _target(self.bot.base_url)  # a URL we cannot send to is refused now, not at each send

    def start(self, action: Callable[[Bot], Coroutine[Any, Any, T]]) -> PendingCall[T]:
        """`action(bot)` with its request written now and its answer read by `outcome()`."""
        return PendingCall(action(self.bot))

    def call(
        self, action: Callable[[Bot], Coroutine[Any, Any, T]]
    ) -> tuple[T, None] | tuple[None, SendResult]:
        """`action(bot)` run now: (its result, None) or (None, the failure as a value)."""
        try:
            return run_now(action(self.bot)), None
        except CallFailed as exc:
            return None, exc.result

    def close(self) -> None:
        self.request.close()


def classify_response(status: int, payload: bytes) -> SendResult:
    """Telegram's error_code and parameters first, the HTTP status if the body has none."""
    try:
        body = json.loads(payload)
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    error_code = body.get("error_code")
    code = error_code if isinstance(error_code, int) else status
    parameters = body.get("parameters")
    params = parameters if isinstance(parameters, dict) else {}
    description = str(body.get("description") or "")[:120]
    if code == 429 or "retry_after" in params:
        delay = params.get("retry_after")
        seconds = float(delay) if isinstance(delay, (int, float)) else DEFAULT_RETRY_S
        return RetryLater(seconds, str(code), "flood control", throttled=True)
    if code == 403:
        return Failed("unreachable", "403", description or "forbidden")
    if code in (401, 404):
        return Failed("config_error", str(code), "invalid token: check TELEGRAM_BOT_TOKEN")
    if "migrate_to_chat_id" in params:
        return Failed("permanent", str(code), "group migrated to a supergroup")
    if code >= 500:
        return RetryLater(DEFAULT_RETRY_S, str(code), description or "server error")
    return Failed("permanent", str(code), description)
