"""`gateway serve --worker-processes 1` as an operator (and the bench) runs it: a real process
tree, the turn workers in a child woken through a pipe, replies at the sandbox."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from devtools.demo import demo_environment
from devtools.shop_stub import create_shop_app
from gateway.web.serving import ServerThread
from sandbox.server import Sandbox
from tests.conftest import ROOT, always_open_flows, free_port

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _wait(check: Callable[[], object], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Sandbox]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with ServerThread(create_shop_app()) as shop:
        sandbox = Sandbox(gateway_url=url, env={"PUBLIC_BASE_URL": url}).start()
        env = {**os.environ, **demo_environment({}, url, sandbox.base_url, shop.url)}
        env.update({"STORE_URL": f"sqlite:///{tmp_path / 'gw.db'}", "WORKERS": "1",
                    "FLOWS_PATH": str(always_open_flows(tmp_path)), "LOG_LEVEL": "WARNING"})  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--threads", "4", "--worker-processes", "1"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        children: list[int] = []
        try:
            _wait(lambda: _ready(url), what="gateway serve to answer /readyz")
            children = _children(proc.pid)  # killed below if still there, whatever happened
            yield proc, sandbox
        finally:
            proc.terminate()
            proc.wait(20)
            for child in children:
                if _alive(child):
                    os.kill(child, signal.SIGKILL)
            sandbox.stop()


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def test_worker_process_answers_runs_as_batch_work_and_dies_with_the_server(
    served: tuple[subprocess.Popen[bytes], Sandbox],
) -> None:
    proc, sandbox = served
    children = _children(proc.pid)
    assert len(children) == 1, children
    worker = children[0]
    # The worker yields to the webhooks on wake-up but gets its fair share under load.
    assert os.sched_getscheduler(worker) == os.SCHED_BATCH
    assert os.sched_getscheduler(proc.pid) == os.SCHED_OTHER

    shopper = requests.post(f"{sandbox.base_url}/_sim/api/shoppers",
                            json={"channel": "telegram", "name": "Ann Lee"}, timeout=5).json()  # fmt: skip
    sent = requests.post(f"{sandbox.base_url}/_sim/api/send",
                         json={"channel": "telegram", "address": shopper["address"], "text": "hi"},
                         timeout=10).json()  # fmt: skip
    assert sent["status"] == 200  # the web process stored it and answered
    # Only the child has turn workers: the reply comes from it.
    _wait(lambda: sandbox.sent("telegram", to=shopper["address"]), what="the bot's reply")
    assert "Ann" in sandbox.sent("telegram", to=shopper["address"])[0]["text"]

    proc.send_signal(signal.SIGKILL)  # no clean shutdown: the kernel tells the child
    proc.wait(10)
    # SIGTERM from the kernel, then a clean stop (threads joined, store closed); generous:
    # the suite loads the machine, and this is about dying at all, not about speed.
    _wait(lambda: not _alive(worker), timeout=45, what="the worker to exit with its server")
