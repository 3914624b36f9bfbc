"""A loopback HTTP server that answers from a script, and Bot API answers to script it with:
for the tests of the Telegram transport (PooledRequest) and of what the gateway does with
its outcomes."""

from __future__ import annotations

import json
import socket
import threading

MESSAGE = {"message_id": 7, "date": 1_700_000_000, "chat": {"id": 5, "type": "private"}}
OK = json.dumps({"ok": True, "result": MESSAGE}).encode()


def answer(body: bytes = OK, *headers: str, status: str = "200 OK") -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode() + body


def chunked(body: bytes = OK) -> bytes:
    half = len(body) // 2
    parts = b"".join(b"%x;x=1\r\n%s\r\n" % (len(p), p) for p in (body[:half], body[half:]))
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + parts + b"0\r\n\r\n"


def read_request(conn: socket.socket) -> bytes:
    """One request (head, then Content-Length bytes of body), or b"" once the peer closed
    (or reset: it closed with our answer unread); whatever else arrives (a TLS hello) is
    returned as it came."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            more = conn.recv(65536)
        except ConnectionResetError:
            return b""
        if not more or not (data + more).startswith(b"POST"):
            return data + more
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n")
         if line.lower().startswith(b"content-length:")),
        0,
    )  # fmt: skip
    while len(body) < length:
        more = conn.recv(65536)
        if not more:
            break
        body += more
    return head + b"\r\n\r\n" + body


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
                    request = read_request(conn)
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


def error(code: int, description: str, **parameters: object) -> bytes:
    body: dict[str, object] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return json.dumps(body).encode()
