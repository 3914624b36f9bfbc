"""The same service on Redis: several processes could share this store; behaviour is identical."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.analytics.turn_log import open_report_db
from gateway.store.redis import RedisStore
from tests.contract.conftest import redis_url  # noqa: F401  (the session's own redis-server)
from tests.e2e.conftest import Stack, start_stack
from tests.harness import metric

_DB = itertools.count(1)  # a fresh Redis database per test: addresses repeat between stacks


@pytest.fixture
def redis_stack(tmp_path: Path, redis_url: str) -> Iterator[Stack]:  # noqa: F811
    url = redis_url.rsplit("/", 1)[0] + f"/{next(_DB) % 16 or 1}"
    stack, stop = start_stack(tmp_path, store_url=url)
    yield stack
    stop()


@pytest.mark.parametrize("channel", ["whatsapp", "messenger", "telegram"])
def test_three_turns_on_redis(redis_stack: Stack, channel: str, tmp_path: Path) -> None:
    shopper = redis_stack.shopper(channel)
    redis_stack.say(channel, shopper, "hi")
    redis_stack.wait_sent(channel, shopper, 2)
    redis_stack.say(channel, shopper, "Track my order")
    redis_stack.wait_sent(channel, shopper, 3)
    redis_stack.say(channel, shopper, "A1234")
    sent = redis_stack.wait_sent(channel, shopper, 5)
    assert "A1234 is on its way" in sent[3]["text"]
    # The turns reached the shared analytics stream; a reporter on another host sees them.
    gw = redis_stack.gw
    assert gw.analytics is not None
    gw.analytics.flush()
    db = open_report_db(gw.config.store_url, f"sqlite:///{tmp_path / 'elsewhere.db'}")
    goals = db.execute("SELECT goal FROM a_goal").fetchall()
    turns = db.execute("SELECT SUM(turns) FROM a_session").fetchone()[0]
    db.close()
    assert ("order_tracked",) in goals and turns == 3
    # A sent message's platform id is kept findable only where delivery reports come.
    store = gw.store
    assert isinstance(store, RedisStore)
    pids = wait_for(lambda: list(store.client.scan_iter(match=f"{store.prefix}:pid:*")), channel)
    assert len(pids) == (5 if channel == "whatsapp" else 0)


def wait_for(found: Callable[[], list[str]], channel: str) -> list[str]:
    """WhatsApp's five lookups (a reply's success is recorded a moment after it is sent);
    for the other channels, what is there after that moment."""
    deadline = time.monotonic() + (10 if channel == "whatsapp" else 2.5)
    while time.monotonic() < deadline:
        keys = found()
        if channel == "whatsapp" and len(keys) >= 5:
            return keys
        time.sleep(0.05)
    return found()


def test_redelivery_and_order_on_redis(redis_stack: Stack) -> None:
    assert redis_stack.post_fixture("telegram/text_private.json").status_code == 200
    assert redis_stack.post_fixture("telegram/text_private_redelivery.json").status_code == 200
    shopper = redis_stack.shopper("telegram")
    redis_stack.say("telegram", shopper, "hi")
    redis_stack.wait_sent("telegram", shopper, 2)
    for i in range(30):
        redis_stack.say("telegram", shopper, f"message {i}")
    inbound = redis_stack.wait_inbound("telegram", shopper, 31)
    assert inbound[1:] == [f"message {i}" for i in range(30)]
    assert metric(redis_stack.gw, "gw_deduplicated_total", channel="telegram") == 1
