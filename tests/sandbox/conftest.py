"""Fixtures: a sandbox on a free port, and a recording stand-in for the gateway."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask, request
from werkzeug.serving import make_server

from sandbox.server import QuietHandler, Sandbox

# The repository keeps a verbatim copy of ../shared/fixtures, so tests need nothing outside it.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

ACCOUNT_SID = "AC00000000000000000000000000000001"
BOT_TOKEN = "7000000001:AAfake-sandbox-token-0000000000000000"


@dataclass
class RecordingGateway:
    """A fake gateway: stores every request as received and answers `status`."""

    url: str = ""
    status: int = 200
    requests: list[dict] = field(default_factory=list)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.requests) >= count:
                return self.requests
            time.sleep(0.02)
        raise AssertionError(f"expected {count} requests, got {len(self.requests)}")


@pytest.fixture
def gateway() -> Iterator[RecordingGateway]:
    recorder = RecordingGateway()
    app = Flask("recording_gateway")

    @app.route("/<path:path>", methods=["POST"])
    def record(path: str) -> tuple[str, int]:
        recorder.requests.append(
            {
                "path": "/" + path,
                "query": request.query_string.decode(),
                "headers": dict(request.headers),
                "body": request.get_data(),
            }
        )
        return "", recorder.status

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_port}"
    yield recorder
    server.shutdown()
    server.server_close()


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    """A sandbox with the default (fixture) secrets and no gateway."""
    with Sandbox(env={}) as sandbox:
        yield sandbox


def fixture_bytes(rel: str) -> bytes:
    return (FIXTURES / rel).read_bytes()
