"""The Bot API client's own HTTP/1.1 handling, against scripted loopback servers: answers in
every framing, kept-alive connections reused and dropped ones replaced, transport failures."""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from adapters.base import RetryLater, Uncertain
from adapters.telegram_send import (
    CONNECT_FAILED,
    CONNECTION_LOST,
    BadResponse,
    BotApi,
    read_response,
)

OK = b'{"ok":true,"result":{"message_id":7}}'


def answer(body: bytes = OK, *headers: str, status: str = "200 OK") -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode() + body


class Scripted:
    """A loopback server that answers each request with the next scripted bytes; `None` closes
    the connection without answering. After the last answer it keeps the connection open until
    closed. Counts the connections it accepted."""

    def __init__(self, *script: bytes | None, close_after: bool = False) -> None:
        self.script = list(script)
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []
        self.done = threading.Event()
        self.hung_up = threading.Event()  # a connection was closed by this side
        self.server = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}/bot"

    def _serve(self) -> None:
        while self.script:
            try:
                conn, _ = self.server.accept()
            except OSError:  # closed
                return
            self.connections += 1
            with conn:
                reply: bytes | None = b""
                while self.script and reply is not None:
                    request = conn.recv(65536)
                    if not request:
                        break
                    self.requests.append(request)
                    reply = self.script.pop(0)
                    if reply is not None:
                        conn.sendall(reply)
                        if self.close_after:
                            break
                if not self.script and reply is not None and not self.close_after:
                    self.done.wait(10)
            self.hung_up.set()

    def close(self) -> None:
        self.done.set()
        self.server.close()
        self.thread.join(10)


@pytest.fixture
def scripted() -> Iterator[Callable[..., Scripted]]:
    servers: list[Scripted] = []

    def make(*script: bytes | None, close_after: bool = False) -> Scripted:
        servers.append(Scripted(*script, close_after=close_after))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def api() -> Iterator[list[BotApi]]:
    made: list[BotApi] = []
    yield made
    for client in made:
        client.close()


def client(server: Scripted, made: list[BotApi], **kwargs: float) -> BotApi:
    made.append(BotApi("1:T", server.url, **kwargs))
    return made[-1]


def test_the_request_is_one_json_post_to_the_method(
    api: list[BotApi], scripted: Callable[..., Scripted]
) -> None:
    server = scripted(answer())
    assert client(server, api).call("sendMessage", {"chat_id": 5, "text": "Zażółć ✓"}) == (
        {"message_id": 7},
        None,
    )
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /bot1:T/sendMessage HTTP/1.1\r\n")
    assert b"Content-Type: application/json" in head
    assert body.decode() == '{"chat_id":5,"text":"Zażółć ✓"}'


def test_a_kept_alive_connection_serves_the_next_call(
    api: list[BotApi], scripted: Callable[..., Scripted]
) -> None:
    server = scripted(answer(), answer(), answer())
    bot = client(server, api)
    for _ in range(3):
        assert bot.call("sendMessage", {})[1] is None
    assert server.connections == 1


def test_a_connection_the_server_closed_while_idle_is_replaced(
    api: list[BotApi], scripted: Callable[..., Scripted]
) -> None:
    server = scripted(answer(), answer(), close_after=True)
    bot = client(server, api)
    assert bot.call("sendMessage", {})[1] is None
    assert server.hung_up.wait(5)
    assert bot.call("sendMessage", {})[1] is None  # not "connection lost": a new one is made
    assert server.connections == 2


def test_connection_close_is_honoured(api: list[BotApi], scripted: Callable[..., Scripted]) -> None:
    server = scripted(answer(OK, "Connection: close"), answer())
    bot = client(server, api)
    assert bot.call("sendMessage", {})[1] is None
    assert bot.call("sendMessage", {})[1] is None
    assert server.connections == 2


def test_closed_without_an_answer_means_maybe_sent(
    api: list[BotApi], scripted: Callable[..., Scripted]
) -> None:
    assert client(scripted(None), api).call("sendMessage", {}) == (None, CONNECTION_LOST)


def test_garbage_instead_of_http_means_maybe_sent(
    api: list[BotApi], scripted: Callable[..., Scripted]
) -> None:
    server = scripted(b"SSH-2.0-OpenSSH\r\n\r\n")
    assert client(server, api).call("sendMessage", {}) == (None, CONNECTION_LOST)


def test_a_tls_handshake_that_fails_sends_nothing(
    api: list[BotApi], scripted: Callable[..., Scripted]
) -> None:
    server = scripted(b"HTTP/1.1 400 Bad Request\r\n\r\n")  # a plain HTTP server
    bot = BotApi("1:T", server.url.replace("http:", "https:"), connect_s=2, read_s=2)
    api.append(bot)
    assert bot.call("sendMessage", {}) == (None, CONNECT_FAILED)


def test_an_error_answer_is_classified_on_telegrams_code(
    api: list[BotApi], scripted: Callable[..., Scripted]
) -> None:
    body = b'{"ok":false,"error_code":429,"description":"Too Many","parameters":{"retry_after":3}}'
    server = scripted(answer(body, status="429 Too Many Requests"))
    assert client(server, api).call("sendMessage", {}) == (
        None,
        RetryLater(3.0, "429", "flood control"),
    )


def test_a_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        BotApi("1:T", "ftp://example.test/bot")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (answer(b"abc"), (200, b"abc", True)),
        (answer(b"abc", "Connection: close"), (200, b"abc", False)),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", (200, b"hi", False)),
        (
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi",
            (200, b"hi", True),
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            (200, b"abcde", True),
        ),
        (b"HTTP/1.1 200 OK\r\n\r\nuntil the end", (200, b"until the end", False)),
        (b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b"x"), (200, b"x", True)),
        (b"HTTP/1.1 204 No Content\r\n\r\n", (204, b"", True)),
    ],
    ids=[
        "length",
        "close",
        "http10",
        "http10-keep-alive",
        "chunked",
        "to-close",
        "continue",
        "204",
    ],
)
def test_answers_in_every_framing_are_read(raw: bytes, expected: tuple) -> None:
    assert read_response(io.BytesIO(raw)) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/2 200\r\n\r\n",
        b"HTTP/1.1 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
    ],
)
def test_answers_we_cannot_read_are_refused(raw: bytes) -> None:
    with pytest.raises(BadResponse):
        read_response(io.BytesIO(raw))


def test_an_answer_cut_short_is_a_dropped_connection() -> None:
    with pytest.raises(ConnectionResetError):
        read_response(io.BytesIO(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"))


def test_a_slow_answer_is_a_read_timeout(
    api: list[BotApi], scripted: Callable[..., Scripted]
) -> None:
    server = scripted(b"HTTP/1.1 200 OK\r\n")  # the head never ends
    result = client(server, api, read_s=0.2).call("sendMessage", {})
    assert isinstance(result[1], Uncertain) and result[1].code == "read_timeout"
