"""The `store` fixture: every contract test runs against SQLite and Redis.

Redis: our own `redis-server` on a free port when the binary exists, else REDIS_URL; with
neither, the Redis half fails under CI (CI=true) and is skipped on a laptop.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import redis

from gateway.store.base import Store
from tests.conftest import free_port


@dataclass(frozen=True)
class StoreSpec:
    """How to open one test's store, also from another process (spawn)."""

    kind: str  # "sqlite" or "redis"
    target: str  # the file, or the Redis URL
    prefix: str = ""

    def open(self) -> Store:
        if self.kind == "sqlite":
            from gateway.store.sqlite import SQLiteStore

            return SQLiteStore(self.target)
        from gateway.store.redis import RedisStore

        return RedisStore(self.target, prefix=self.prefix)


def _wait_for(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"redis-server on port {port} did not answer PING within 10 s")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary:
        port = free_port()
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for(port, proc)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        return
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    message = "no redis-server binary on PATH and no REDIS_URL: the Redis contract tests cannot run"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (install redis-server in CI)")
    pytest.skip(message)


@contextmanager
def redis_database(redis_url: str, db: int) -> Iterator[str]:
    """Database `db` of the session's redis-server, for one test: emptied before and after
    (each test module that needs a whole database takes a number of its own)."""
    url = redis_url.rsplit("/", 1)[0] + f"/{db}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(params=["sqlite", "redis"])
def spec(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> StoreSpec:
    if request.param == "sqlite":
        return StoreSpec("sqlite", str(tmp_path_factory.mktemp("store") / "gateway.db"))
    url = request.getfixturevalue("redis_url")
    return StoreSpec("redis", url, prefix=f"t{uuid.uuid4().hex[:12]}")


@pytest.fixture
def store(spec: StoreSpec) -> Iterator[Store]:
    s = spec.open()
    try:
        yield s
    finally:
        s.close()
        if spec.kind == "redis":
            _drop_prefix(spec)


def _drop_prefix(spec: StoreSpec) -> None:
    import redis

    client = redis.Redis.from_url(spec.target)
    try:
        keys = list(client.scan_iter(match=f"{spec.prefix}:*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])
    finally:
        client.close()
