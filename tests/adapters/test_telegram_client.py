"""PTB's `Bot` over `PooledRequest`, against real loopback servers on free ports: what goes on
the wire, every Bot method the adapter uses run without an event loop, answers in every
framing (read by http.client), kept-alive connections reused and dropped ones replaced,
transport failures and Telegram's error answers as the right `SendResult`."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot, InlineKeyboardMarkup, Message

from adapters.base import Failed, RetryLater
from adapters.telegram import client as telegram_send
from adapters.telegram.client import (
    CONNECT_FAILED,
    CONNECT_TIMEOUT,
    CONNECTION_LOST,
    READ_TIMEOUT,
    PendingCall,
    TelegramBot,
    run_now,
)
from tests.scripted_server import OK, Scripted, answer, chunked, error, read_request


@pytest.fixture
def bots() -> Iterator[Callable[..., TelegramBot]]:
    made: list[TelegramBot] = []

    def make(url: str, **timeouts: float) -> TelegramBot:
        made.append(TelegramBot("1:T", url, **timeouts))
        return made[-1]

    yield make
    for bot in made:
        bot.close()


def send(bot: TelegramBot, text: str = "Hi") -> tuple[Any, Any]:
    return bot.call(lambda b: b.send_message(5, text))


def test_the_request_is_one_json_post_to_the_method(
    bots: Callable[..., TelegramBot], scripted: Callable[..., Scripted]
) -> None:
    server = scripted(answer())
    keyboard = InlineKeyboardMarkup.de_json(
        {"inline_keyboard": [[{"text": "M", "url": "https://x.test"}]]}
    )
    message, failure = bots(server.url).call(
        lambda b: b.send_message(5, "Zażółć ✓", reply_markup=keyboard)
    )
    assert failure is None and isinstance(message, Message) and message.message_id == 7
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /bot1:T/sendMessage HTTP/1.1\r\n")
    assert b"Content-Type: application/json" in head
    assert b"User-Agent: python-telegram-bot" in head
    # one JSON document: chat_id a number, the keyboard an object (not JSON in a string)
    assert json.loads(body) == {
        "chat_id": 5,
        "text": "Zażółć ✓",
        "reply_markup": {"inline_keyboard": [[{"text": "M", "url": "https://x.test"}]]},
    }


def test_the_bot_url_is_built_by_ptb(
    bots: Callable[..., TelegramBot], scripted: Callable[..., Scripted]
) -> None:
    server = scripted(answer())
    assert send(bots(server.url.removesuffix("/bot") + "/tg/{token}/x"))[1] is None
    assert server.requests[0].startswith(b"POST /tg/1:T/x/sendMessage HTTP/1.1\r\n")


TRUE = json.dumps({"ok": True, "result": True}).encode()
METHODS: dict[str, tuple[Callable[[Bot], Any], bytes]] = {
    "sendMessage": (lambda b: b.send_message(5, "Hi"), OK),
    "sendPhoto": (lambda b: b.send_photo(5, "https://cdn.test/a.jpg"), OK),
    "sendVideo": (lambda b: b.send_video(5, "https://cdn.test/a.mp4"), OK),
    "sendAudio": (lambda b: b.send_audio(5, "https://cdn.test/a.mp3"), OK),
    "sendDocument": (lambda b: b.send_document(5, "https://cdn.test/a.pdf"), OK),
    "sendChatAction": (lambda b: b.send_chat_action(5, "typing"), TRUE),
    "answerCallbackQuery": (lambda b: b.answer_callback_query("43", "Done"), TRUE),
}


@pytest.mark.parametrize("method", METHODS)
def test_every_method_the_adapter_uses_runs_without_an_event_loop(
    bots: Callable[..., TelegramBot], scripted: Callable[..., Scripted], method: str
) -> None:
    action, body = METHODS[method]
    server = scripted(answer(body))
    result, failure = bots(server.url).call(action)
    assert failure is None
    assert result is True if body == TRUE else result.message_id == 7
    assert server.requests[0].startswith(f"POST /bot1:T/{method} ".encode())


def test_a_coroutine_that_suspends_is_refused_loudly() -> None:
    async def needs_a_loop() -> None:
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="suspended"):
        run_now(needs_a_loop())


def test_a_kept_alive_connection_serves_the_next_call(
    bots: Callable[..., TelegramBot], scripted: Callable[..., Scripted]
) -> None:
    server = scripted(answer(), answer(), answer())
    bot = bots(server.url)
    for _ in range(3):
        assert send(bot)[1] is None
    assert server.connections == 1


def test_a_connection_the_server_closed_while_idle_is_replaced(
    bots: Callable[..., TelegramBot], scripted: Callable[..., Scripted]
) -> None:
    server = scripted(answer(), answer(), close_after=True)
    bot = bots(server.url)
    assert send(bot)[1] is None
    assert server.hung_up.wait(5)
    assert send(bot)[1] is None  # not "connection lost": a new one is made
    assert server.connections == 2


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        (answer(), True),
        (answer(OK, "Connection: close"), False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(OK), OK), False),
        (
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: %d\r\n\r\n%s"
            % (len(OK), OK),
            True,
        ),
        (chunked(), True),
        (b"HTTP/1.1 100 Continue\r\n\r\n" + answer(), True),
    ],
    ids=["length", "close", "http10", "http10-keep-alive", "chunked", "continue"],
)
def test_answers_in_every_framing_are_read_and_reuse_is_right(
    bots: Callable[..., TelegramBot], scripted: Callable[..., Scripted], raw: bytes, kept: bool
) -> None:
    server = scripted(raw, answer())
    bot = bots(server.url)
    assert send(bot)[0].message_id == 7
    assert send(bot)[1] is None
    assert server.connections == (1 if kept else 2)


def test_an_answer_read_until_the_server_closes(
    bots: Callable[..., TelegramBot], scripted: Callable[..., Scripted]
) -> None:
    server = scripted(b"HTTP/1.1 200 OK\r\n\r\n" + OK, answer(), close_after=True)
    bot = bots(server.url)
    assert send(bot)[0].message_id == 7
    assert send(bot)[1] is None
    assert server.connections == 2


def test_many_threads_share_a_few_kept_alive_connections(bots: Callable[..., TelegramBot]) -> None:
    connections: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            connections.append(1)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", str(len(OK)))
            self.end_headers()
            self.wfile.write(OK)

        def log_message(self, *args: object) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        bot = bots(f"http://127.0.0.1:{server.server_address[1]}/bot")
        results: list[Any] = []

        def work() -> None:
            results.extend(send(bot)[1] for _ in range(25))

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        bot.close()
        server.shutdown()
    assert results == [None] * 200
    assert len(connections) <= 8


def test_closed_without_an_answer_means_maybe_sent(
    bots: Callable[..., TelegramBot], scripted: Callable[..., Scripted]
) -> None:
    assert send(bots(scripted(None).url)) == (None, CONNECTION_LOST)


def test_garbage_instead_of_http_means_maybe_sent(
    bots: Callable[..., TelegramBot], scripted: Callable[..., Scripted]
) -> None:
    server = scripted(b"SSH-2.0-OpenSSH\r\n\r\n")
    assert send(bots(server.url)) == (None, CONNECTION_LOST)


def test_an_answer_cut_short_is_a_dropped_connection(
    bots: Callable[..., TelegramBot], scripted: Callable[..., Scripted]
) -> None:
    server = scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nshort", close_after=True)
    assert send(bots(server.url)) == (None, CONNECTION_LOST)


def test_an_answer_too_large_is_refused(
    bots: Callable[..., TelegramBot],
    scripted: Callable[..., Scripted],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(telegram_send, "MAX_BODY", 10)
    assert send(bots(scripted(answer()).url)) == (None, CONNECTION_LOST)


def test_a_slow_answer_is_a_read_timeout(
    bots: Callable[..., TelegramBot], scripted: Callable[..., Scripted]
) -> None:
    server = scripted(b"HTTP/1.1 200 OK\r\n")  # the head never ends
    assert send(bots(server.url, read_s=0.2)) == (None, READ_TIMEOUT)


def test_a_tls_handshake_that_fails_sends_nothing(
    bots: Callable[..., TelegramBot], scripted: Callable[..., Scripted]
) -> None:
    server = scripted(b"HTTP/1.1 400 Bad Request\r\n\r\n")  # a plain HTTP server
    bot = bots(server.url.replace("http:", "https:"), connect_s=2, read_s=2)
    assert send(bot) == (None, CONNECT_FAILED)


def test_a_certificate_not_signed_by_a_known_authority_is_refused(
    bots: Callable[..., TelegramBot], tmp_path: Path
) -> None:
    """TLS is verified (against certifi's roots): a self-signed server gets no request."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    received: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as server:

        def serve() -> None:
            conn, _ = server.accept()
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    received.append(tls.recv(65536))
            except (OSError, ssl.SSLError):
                pass  # the client gave up in the handshake

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        bot = bots(f"https://localhost:{server.getsockname()[1]}/bot", connect_s=2, read_s=2)
        assert send(bot) == (None, CONNECT_FAILED)
        thread.join(5)
    assert received == []


def test_nothing_listening_sends_nothing(bots: Callable[..., TelegramBot]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again at once: nothing listens there
    assert send(bots(f"http://127.0.0.1:{port}/bot")) == (None, CONNECT_FAILED)


def test_a_connect_that_hangs_is_a_connect_timeout(bots: Callable[..., TelegramBot]) -> None:
    """A listener whose accept queue is full drops new SYNs, so connect() waits."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        fillers = []
        for _ in range(4):  # fill the accept queue (its length varies with the kernel)
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(server.getsockname())
            fillers.append(filler)
        try:
            bot = bots(f"http://127.0.0.1:{server.getsockname()[1]}/bot", connect_s=0.3)
            assert send(bot) == (None, CONNECT_TIMEOUT)
        finally:
            for filler in fillers:
                filler.close()


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        ("429 Too Many Requests", error(429, "Too Many", retry_after=3), RetryLater(3.0, "429", "flood control", throttled=True)),
        ("403 Forbidden", error(403, "Forbidden: bot was blocked by the user"), Failed("unreachable", "403", "Forbidden: bot was blocked by the user")),
        ("401 Unauthorized", error(401, "Unauthorized"), Failed("config_error", "401", "invalid token: check TELEGRAM_BOT_TOKEN")),
        ("404 Not Found", error(404, "Not Found"), Failed("config_error", "404", "invalid token: check TELEGRAM_BOT_TOKEN")),
        ("400 Bad Request", error(400, "Bad Request: group chat was upgraded", migrate_to_chat_id=-100), Failed("permanent", "400", "group migrated to a supergroup")),
        ("400 Bad Request", error(400, "Bad Request: chat not found"), Failed("permanent", "400", "Bad Request: chat not found")),
        ("502 Bad Gateway", b"<html>Bad Gateway</html>", RetryLater(1.0, "502", "server error")),
        ("500 Internal Server Error", error(500, "Internal"), RetryLater(1.0, "500", "Internal")),
        ("200 OK", b"not json", Failed("permanent", "200", "")),
        ("200 OK", error(400, "Bad Request: odd"), Failed("permanent", "400", "Bad Request: odd")),
    ],
    ids=["429", "403", "401", "404", "migrated", "400", "502-html", "500", "200-not-json", "200-not-ok"],
)  # fmt: skip
def test_an_error_answer_is_classified_on_telegrams_code(
    bots: Callable[..., TelegramBot],
    scripted: Callable[..., Scripted],
    status: str,
    body: bytes,
    expected: object,
) -> None:
    server = scripted(answer(body, status=status), answer())
    bot = bots(server.url)
    assert send(bot) == (None, expected)
    assert send(bot)[1] is None and server.connections == 1  # an error answer keeps it alive


def test_a_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        TelegramBot("1:T", "ftp://example.test/bot")


# ---- a call in two halves (PendingCall): the request now, the answer later ----


def test_a_started_call_has_sent_its_request_and_reads_the_answer_only_when_asked(
    bots: Callable[..., TelegramBot],
) -> None:
    """The server answers only once `start` has returned: had `start` waited for the answer,
    it would have timed out (read_s) instead."""
    requests: list[bytes] = []
    go = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as server:

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                requests.append(read_request(conn))
                go.wait(10)
                conn.sendall(answer())
                read_request(conn)  # until the client hangs up

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        bot = bots(f"http://127.0.0.1:{server.getsockname()[1]}/bot", read_s=0.5)
        call = bot.start(lambda b: b.send_message(5, "Hi"))
        go.set()
        message, failure = call.outcome()
        assert failure is None and message.message_id == 7
        assert call.outcome() == (message, None)  # read once; the same outcome after
        assert len(requests) == 1 and requests[0].startswith(b"POST /bot1:T/sendMessage ")
        bot.close()
        thread.join(5)


def test_a_started_call_keeps_its_connection_alive_for_the_next(
    bots: Callable[..., TelegramBot], scripted: Callable[..., Scripted]
) -> None:
    server = scripted(answer(), answer())
    bot = bots(server.url)
    assert bot.start(lambda b: b.send_message(5, "Hi")).outcome()[1] is None
    assert send(bot)[1] is None
    assert server.connections == 1


def test_a_started_call_given_up_closes_its_connection(
    bots: Callable[..., TelegramBot], scripted: Callable[..., Scripted]
) -> None:
    """Its answer is never read, so the connection cannot carry another request."""
    server = scripted(answer(), answer())
    bot = bots(server.url)
    call = bot.start(lambda b: b.send_message(5, "Hi"))
    call.close()
    assert server.hung_up.wait(5)
    assert send(bot)[1] is None
    assert server.connections == 2
    assert call.outcome() == (None, CONNECTION_LOST)  # given up: maybe sent


def test_a_started_call_that_fails_to_connect_fails_on_its_outcome(
    bots: Callable[..., TelegramBot],
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    call = bots(f"http://127.0.0.1:{port}/bot").start(lambda b: b.send_message(5, "Hi"))
    assert call.outcome() == (None, CONNECT_FAILED)


def test_a_started_call_that_is_answered_with_an_error_fails_on_its_outcome(
    bots: Callable[..., TelegramBot], scripted: Callable[..., Scripted]
) -> None:
    server = scripted(answer(error(429, "Too Many", retry_after=3), status="429 Too Many"))
    call = bots(server.url).start(lambda b: b.send_message(5, "Hi"))
    assert call.outcome() == (None, RetryLater(3.0, "429", "flood control", throttled=True))


def test_a_started_call_whose_connection_drops_is_maybe_sent(
    bots: Callable[..., TelegramBot], scripted: Callable[..., Scripted]
) -> None:
    call = bots(scripted(None).url).start(lambda b: b.send_message(5, "Hi"))
    assert call.outcome() == (None, CONNECTION_LOST)


def test_a_started_coroutine_that_awaits_anything_but_the_answer_is_refused() -> None:
    async def needs_a_loop() -> None:
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="suspended"):
        PendingCall(needs_a_loop())
