"""The Redis store's one-trip batches (`Wire`) against a real redis-server."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator

import pytest
import redis
from redis.exceptions import ResponseError

from gateway.store.redis import RedisStore
from gateway.store.redis.wire import Wire
from tests.contract.cutting_proxy import CuttingProxy
from tests.contract.helpers import LEASE, T0, TTL, inbound, key


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield r
    finally:
        r.close()


def client_id(wire: Wire) -> int:
    (found,) = wire.run([("CLIENT", "ID")])
    return int(found)


def test_a_batch_is_one_write_and_an_error_reply_stays_in_its_place(
    client: redis.Redis,
) -> None:
    wire = Wire(client)
    name = f"w{uuid.uuid4().hex}"
    ok, error, value, length = wire.run(
        [("SET", name, "x"), ("INCR", name), ("GET", name), ("STRLEN", name)]
    )
    assert ok == "OK" and isinstance(error, ResponseError)
    assert (value, length) == ("x", 1)  # the replies after the error are read in step
    assert wire.run([("GET", name)]) == ["x"]  # and so is the next batch
    client.delete(name)


def test_a_thread_keeps_its_connection_and_each_thread_has_its_own(client: redis.Redis) -> None:
    wire = Wire(client)
    mine = client_id(wire)
    assert client_id(wire) == mine
    theirs: list[int] = []
    other = threading.Thread(target=lambda: theirs.append(client_id(wire)))
    other.start()
    other.join()
    assert theirs and theirs[0] != mine


def test_a_connection_the_server_dropped_is_made_again(client: redis.Redis) -> None:
    wire = Wire(client)
    before = client_id(wire)
    client.client_kill_filter(_id=before)  # a server restart or an idle timeout, for one client
    after = client_id(wire)
    assert after != before


def test_a_forked_child_does_not_share_its_parents_connection(client: redis.Redis) -> None:
    wire = Wire(client)
    parent = client_id(wire)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its connection's id, whatever happens
        try:
            os.write(write, str(client_id(wire)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        child = int(answer.read() or 0)
    os.waitpid(pid, 0)
    assert child and child != parent
    assert client_id(wire) == parent  # the parent's connection is still in step


def test_the_store_goes_on_after_redis_drops_its_connections(redis_url: str) -> None:
    store = RedisStore(redis_url, prefix=f"t{uuid.uuid4().hex[:12]}")
    try:
        assert store.enqueue(inbound("c1", 0), T0, TTL)
        client = store.client
        client.client_kill_filter(_type="normal", skipme=True)  # every connection but this one
        client.client_kill_filter(_type="normal", skipme=False)
        assert store.enqueue(inbound("c1", 1), T0 + 1, TTL)
        claim = store.claim("w", T0 + 2, LEASE)
        assert claim is not None and claim.conversation == key("c1")
        assert claim.inbound.text == "m0"
    finally:
        keys = list(store.client.scan_iter(match=f"{store.prefix}:*"))
        if keys:
            store.client.delete(*keys)
        store.close()


def test_a_thread_that_ends_gives_its_connection_back(client: redis.Redis) -> None:
    wire = Wire(client)
    ids: set[int] = set()
    for _ in range(20):  # short-lived threads, one after the other
        thread = threading.Thread(target=lambda: ids.add(client_id(wire)))
        thread.start()
        thread.join()
    assert len(ids) <= 2  # the pool's connections are taken again, not one more per thread
    assert len(client.connection_pool._in_use_connections) <= 1


def test_a_batch_whose_answer_was_lost_is_not_sent_again(redis_url: str) -> None:
    """It ran in Redis: sending it again would run a commit or a claim twice."""
    name = f"w{uuid.uuid4().hex}"
    with CuttingProxy(redis_url) as proxy:
        through = redis.Redis.from_url(proxy.url, decode_responses=True)
        wire = Wire(through)
        try:
            assert wire.run([("PING",)]) == ["PONG"]
            proxy.cut_answer_to(name.encode())
            with pytest.raises(redis.ConnectionError):
                wire.run([("INCR", name)])
            assert wire.run([("GET", name)]) == ["1"]  # ran once; the connection is made again
        finally:
            through.close()
            redis.Redis.from_url(redis_url).delete(name)
