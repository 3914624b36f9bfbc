"""The wake-up pipe between `gateway serve` and its worker processes (gateway/turns/runtime.py)."""

from __future__ import annotations

import os
import time

from gateway.turns.runtime import PipeWakeup, wakeup_from_env


def test_each_wake_up_wakes_one_waiter() -> None:
    read_fd, write_fd = os.pipe()
    web, worker = PipeWakeup(write_fd=write_fd), PipeWakeup(read_fd=read_fd)
    try:
        web.set()
        web.set()
        assert worker.wait(1.0) and worker.wait(1.0)  # two messages: two wake-ups
        assert not worker.wait(0.01)  # a semaphore, not a latch: nothing left
    finally:
        web.close()
        worker.close()


def test_a_closed_pipe_means_polling_not_spinning() -> None:
    """The web process died (no PDEATHSIG where it is not Linux): EOF is always readable, so a
    worker that kept selecting on it would wake at once, for ever, at full CPU."""
    read_fd, write_fd = os.pipe()
    worker = PipeWakeup(read_fd=read_fd)
    os.close(write_fd)
    assert not worker.wait(1.0)
    assert worker.read_fd is None  # the dead pipe is closed and forgotten
    started = time.monotonic()
    assert not worker.wait(0.05)
    assert time.monotonic() - started >= 0.05  # it waited (a lower bound: a sleep never ends early)
    worker.close()


def test_the_pipe_is_found_in_the_environment() -> None:
    read_fd, write_fd = os.pipe()
    try:
        wakeup = wakeup_from_env({"GATEWAY_WAKEUP_FD": str(read_fd)})
        assert wakeup is not None and wakeup.read_fd == read_fd
        assert wakeup_from_env({}) is None
        assert wakeup_from_env({"GATEWAY_WAKEUP_FD": "x"}) is None
    finally:
        os.close(read_fd)
        os.close(write_fd)
