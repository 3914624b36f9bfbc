"""A synchronous facade over python-telegram-bot's async `Bot`, for the gateway's thread workers.

One event loop runs in a daemon thread per adapter; a worker submits a coroutine with
`asyncio.run_coroutine_threadsafe(...).result(timeout)`, so hundreds of sends in flight share
one loop and one pooled `HTTPXRequest`. Errors are classified on Telegram's own `error_code`
and `parameters.retry_after`, read from the raw response that `RecordingRequest` keeps for the
calling task (PTB's exceptions carry only the HTTP status class and the text).
https://core.telegram.org/bots/api#making-requests
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import json
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from telegram import Bot
from telegram.error import TelegramError
from telegram.request import HTTPXRequest

from adapters.base import Failed, RetryLater, SendResult, Uncertain

T = TypeVar("T")
POOL_SIZE = 128
DEFAULT_RETRY_S = 1.0
_LAST: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "telegram_last_response", default=None
)


class FloodControl(TelegramError):
    """A 429, raised before PTB builds its RetryAfter (which warns in 22.x while reading
    `retry_after`); the raw body with `parameters.retry_after` is in the recorded response."""


class RecordingRequest(HTTPXRequest):
    """HTTPXRequest that remembers the status and body of the calling task's last response."""

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(*args, **kwargs)
        holder = _LAST.get()
        if holder is not None:
            holder["code"], holder["payload"] = code, payload
            if code == 429:
                raise FloodControl("Too Many Requests")
        return code, payload


class LoopThread:
    """One asyncio loop in a daemon thread; `run` blocks the calling thread for the result."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Awaitable[T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(_as_coroutine(coro), self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


class SyncBot:
    """PTB's Bot behind blocking calls; started lazily so parsing never needs a thread."""

    def __init__(
        self,
        token: str,
        base_url: str | None,
        connect_s: float = 3.05,
        read_s: float = 10.0,
        pool_size: int = POOL_SIZE,
    ) -> None:
        self._token, self._base_url = token, base_url
        self._timeouts = (connect_s, read_s)
        self._pool_size = pool_size
        self._loop: LoopThread | None = None
        self._bot: Bot | None = None
        self._lock = threading.Lock()
        self.deadline_s = connect_s + 2 * read_s + 2.0  # connect + write + read + pool

    def _ensure(self) -> tuple[LoopThread, Bot]:
        with self._lock:
            if self._loop is None or self._bot is None:
                connect_s, read_s = self._timeouts
                request = RecordingRequest(
                    connection_pool_size=self._pool_size,
                    connect_timeout=connect_s,
                    read_timeout=read_s,
                    write_timeout=read_s,
                    pool_timeout=1.0,
                )
                base = self._base_url or "https://api.telegram.org/bot"
                self._bot = Bot(self._token, base_url=base, request=request)
                self._loop = LoopThread("telegram-bot-loop")
                self._loop.run(request.initialize(), self.deadline_s)
            return self._loop, self._bot

    def call(self, action: Callable[[Bot], Awaitable[Any]]) -> tuple[Any, SendResult | None]:
        """Run `action(bot)`; returns (result, None) or (None, the failure as a value)."""
        loop, bot = self._ensure()

        async def recorded() -> tuple[Any, dict[str, Any]]:
            holder: dict[str, Any] = {}
            _LAST.set(holder)
            try:
                return await action(bot), holder
            except TelegramError as exc:
                return exc, holder

        try:
            value, holder = loop.run(recorded(), self.deadline_s)
        except concurrent.futures.TimeoutError:
            return None, Uncertain("deadline", "no answer in time: it may have been sent")
        if isinstance(value, TelegramError):
            return None, classify(value, holder)
        return value, None

    def close(self) -> None:
        with self._lock:
            if self._loop is not None and self._bot is not None:
                try:
                    self._loop.run(self._bot.shutdown(), self.deadline_s)
                finally:
                    self._loop.stop()
            self._loop = self._bot = None


def classify(exc: TelegramError, holder: dict[str, Any]) -> SendResult:
    """Telegram's error_code and parameters first; transport errors by their httpx cause."""
    if "code" in holder:
        return classify_response(int(holder["code"]), holder.get("payload") or b"")
    cause = exc.__cause__
    if isinstance(cause, (httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ConnectError)):
        return RetryLater(DEFAULT_RETRY_S, type(cause).__name__, "not sent")
    if isinstance(cause, (httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError)):
        return Uncertain(type(cause).__name__, "it may have been sent")
    return RetryLater(DEFAULT_RETRY_S, type(exc).__name__, "network error")


def classify_response(status: int, payload: bytes) -> SendResult:
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
