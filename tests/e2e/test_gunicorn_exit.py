"""The image's default: gunicorn web processes that also run turn workers
(GATEWAY_INLINE_WORKERS=1). A gunicorn worker told to stop (a deploy, a restart) must leave
no message leased to a thread that is gone: each would wait out its lease."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import requests

from devtools.demo import demo_environment
from devtools.shop_stub import create_shop_app
from flows.messages import Inbound, Shopper
from gateway.store.sqlite import SQLiteStore
from gateway.web.serving import ServerThread
from sandbox.server import Sandbox
from tests.conftest import ROOT, always_open_flows, free_port

MESSAGES = 3000


def _rows(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as c:
        return dict(c.execute("SELECT status, count(*) FROM queue GROUP BY status").fetchall())


def _processed(db: Path) -> int:
    try:
        with sqlite3.connect(db) as c:
            return int(c.execute("SELECT count(*) FROM outbox").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_a_stopping_gunicorn_worker_leaves_no_message_leased(tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    store = SQLiteStore(str(db))
    now = time.time()
    for i in range(MESSAGES):  # waiting before the server starts: its workers stay busy
        message = Inbound(channel="telegram", conversation=str(1000 + i), message_id=f"m{i}",
                          shopper=Shopper(id=str(1000 + i), name="Ann"), text="hi")  # fmt: skip
        assert store.enqueue(message, now, 3600.0)
    store.close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with ServerThread(create_shop_app()) as shop:
        sandbox = Sandbox(gateway_url=url, env={"PUBLIC_BASE_URL": url}).start()
        env = {**os.environ, **demo_environment({}, url, sandbox.base_url, shop.url)}
        env.update({"STORE_URL": f"sqlite:///{db}", "WORKERS": "2", "LOG_LEVEL": "WARNING",
                    "GATEWAY_INLINE_WORKERS": "1", "FLOWS_PATH": str(always_open_flows(tmp_path))})  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
             "--threads", "4", "gateway.wsgi:app"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while _processed(db) < 50:  # the workers are in the middle of the queue
                assert time.monotonic() < deadline, "the inline workers processed nothing"
                assert proc.poll() is None, "gunicorn exited"
                time.sleep(0.05)
            assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
            proc.send_signal(signal.SIGTERM)  # what a deploy sends
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            sandbox.stop()
    rows = _rows(db)
    assert rows.get("leased", 0) == 0, rows
    assert 0 < rows.get("queued", 0) < MESSAGES  # it stopped midway, and the rest still waits
