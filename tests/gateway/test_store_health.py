"""Store write failures: named for an operator, logged once a minute, cleared on success."""

from __future__ import annotations

import errno
import logging
import sqlite3

import pytest

from gateway.store_health import StoreHealth, describe


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_full_disk_is_named_so() -> None:
    assert describe(OSError(errno.ENOSPC, "No space left on device")) == "disk full"
    assert describe(sqlite3.OperationalError("database or disk is full")) == "disk full"
    assert describe(sqlite3.OperationalError("attempt to write a readonly database")).startswith(
        "the store refuses writes"
    )


def test_one_line_a_minute_per_condition_then_recovery(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    health = StoreHealth(clock)
    full = sqlite3.OperationalError("database or disk is full")
    with caplog.at_level(logging.WARNING, logger="gateway.store_health"):
        for _ in range(100):
            health.failed("worker", full)
        clock.now += 61
        health.failed("worker", full)
        assert health.problem() == "worker writes failing for 61 s: disk full"
        health.succeeded("worker")
    assert health.problem() is None
    assert [m.split(" (")[0] for m in caplog.messages] == [
        "store_write_failed: worker: disk full",
        "store_write_failed: worker: disk full",
        "store_write_recovered: worker after 61 s and 101 failures",
    ]
    assert "(100 failures since the last line" in caplog.messages[1]


def test_a_writer_that_stopped_failing_is_presumed_recovered() -> None:
    clock = Clock()
    health = StoreHealth(clock)
    health.failed("webhook", sqlite3.OperationalError("database is locked"))
    assert health.problem() == "webhook writes failing for 0 s: the database is locked"
    clock.now += 31  # no webhook since (a load balancer stopped sending): not unready for good
    assert health.problem() is None
