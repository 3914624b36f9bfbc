"""`gateway serve` against a client that lies about its body: a declared 50 MB body is
refused at once, and a body that stops arriving costs its connection after REQUEST_TIMEOUT_S,
not a server thread for as long as the client likes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, always_open_flows, free_port

TIMEOUT_S = 1


@pytest.fixture
def port(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    env = {**os.environ, "STORE_URL": f"sqlite:///{tmp_path / 'gw.db'}", "WORKERS": "1",
           "FLOWS_PATH": str(always_open_flows(tmp_path)), "LOG_LEVEL": "WARNING",
           "REQUEST_TIMEOUT_S": str(TIMEOUT_S), "TELEGRAM_BOT_TOKEN": "1:x",
           "TELEGRAM_SECRET_TOKEN": "s"}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--web-only"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(20)


def request_head(length: int) -> bytes:
    return (f"POST /webhooks/telegram HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()  # fmt: skip


def test_a_declared_50_mb_body_is_refused_without_waiting_for_it(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request_head(50 * 1024 * 1024))
        answer = s.recv(200)
    assert answer.startswith(b"HTTP/1.1 413")


def test_a_body_that_stops_arriving_loses_its_connection(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S * 20) as s:
        s.sendall(request_head(1000) + b'{"update_id": 1')
        # The server hangs up (an empty read) long before the socket's own 20-fold timeout.
        assert s.recv(200) == b""
