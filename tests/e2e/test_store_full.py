"""A store that refuses writes (Redis over its memory limit, as a full disk would): webhooks
answer 503 so platforms redeliver, /readyz says why, the log has one line for it, and all is
well again once the store takes writes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from gateway.web.shedding import Backlog
from tests.contract.conftest import redis_url  # noqa: F401  (the session's own redis-server)
from tests.e2e.conftest import Stack, start_stack

DB = 13  # a database of its own, emptied before and after


@pytest.fixture
def full_stack(tmp_path: Path, redis_url: str) -> Iterator[tuple[Stack, redis.Redis]]:  # noqa: F811
    url = redis_url.rsplit("/", 1)[0] + f"/{DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    stack, stop = start_stack(tmp_path, store_url=url, run=False)
    yield stack, client
    client.config_set("maxmemory", 0)
    stop()
    client.flushdb()
    client.close()


def send(stack: Stack, shopper: str, text: str) -> int:
    """The gateway's answer to the signed webhook the simulator posts."""
    r = requests.post(f"{stack.sandbox.base_url}/_sim/api/send", timeout=10,
                      json={"channel": "telegram", "address": shopper, "text": text})  # fmt: skip
    return int(r.json()["status"])


def test_a_store_that_refuses_writes_is_a_503_with_its_reason_and_one_log_line(
    full_stack: tuple[Stack, redis.Redis], caplog: pytest.LogCaptureFixture
) -> None:
    stack, client = full_stack
    shopper = stack.shopper("telegram", variant=None)
    assert send(stack, shopper, "hi") == 200
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", 1)  # every write is refused from now on ("OOM")
    with caplog.at_level(logging.WARNING, logger="gateway.store_health"):
        assert [send(stack, shopper, f"message {i}") for i in range(5)] == [503] * 5
        ready = requests.get(stack.url + "/readyz", timeout=5)
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
        assert "webhook writes failing" in ready.json()["store_writes"]
        failures = [m for m in caplog.messages if m.startswith("store_write_failed")]
        assert len(failures) == 1 and failures[0].startswith("store_write_failed: webhook: ")
        client.config_set("maxmemory", 0)
        assert send(stack, shopper, "back") == 200
    assert requests.get(stack.url + "/readyz", timeout=5).json()["status"] == "ok"
    assert any(m.startswith("store_write_recovered: webhook") for m in caplog.messages)


def test_a_full_queue_sheds_new_webhooks_with_retry_after(tmp_path: Path) -> None:
    stack, stop = start_stack(tmp_path, run=False, env={"MAX_QUEUE": "3"})  # no workers
    stack.gw.backlog = Backlog(sample_s=0.0)  # the depth read at every message, for the test
    try:
        shoppers = [stack.shopper("telegram", f"Shed {i}", variant=None) for i in range(4)]
        assert [send(stack, shopper, "hi") for shopper in shoppers] == [200, 200, 200, 503]
        shed = stack.post_fixture("telegram/text_private.json")
        assert shed.status_code == 503 and shed.headers["Retry-After"] == "30"
        assert stack.gw.store.queue_depth() == 3  # the queue stopped growing
    finally:
        stop()
