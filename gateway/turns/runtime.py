"""Worker and sender threads of one process, started and stopped together."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time

from gateway.context import Gateway
from gateway.turns.sender import OutboxSender
from gateway.turns.worker import TurnWorker

logger = logging.getLogger(__name__)
IDLE_WAIT_S = 0.05  # how long an idle worker waits for a wake-up before polling the store
SENDER_IDLE_S = 0.2  # the outbox sender polls this often without a wake-up (retries come due)
# After a wake-up the sender lets this pass before it listens again: the turn workers send
# their own replies and wake it after every turn, and a wake-up of a thread that waits costs
# the waker a notify and a GIL hand-off (a visible share of a worker's CPU under load in
# `py-spy --gil`); a set() while nobody waits costs nothing, and what is left waits at most
# this long.
SENDER_WAKE_GAP_S = 0.01
WAKEUP_FD_ENV = "GATEWAY_WAKEUP_FD"  # set by `gateway serve --worker-processes` for its workers


class PipeWakeup:
    """`turn_ready` across processes: the web process writes a byte per queued message into a
    pipe its worker processes inherited; an idle turn worker that reads one claims.

    Like `threading.Event` for `set`/`wait`/`clear`, except that each byte wakes one worker
    (a semaphore), so N idle workers do not all race to claim one message. A full pipe drops
    the byte: the workers are busy then, and they claim again before they ever wait.
    """

    def __init__(self, read_fd: int | None = None, write_fd: int | None = None) -> None:
        self.read_fd, self.write_fd = read_fd, write_fd
        for fd in (read_fd, write_fd):
            if fd is not None:
                os.set_blocking(fd, False)

    def set(self) -> None:
        if self.write_fd is not None:
            with contextlib.suppress(BlockingIOError, BrokenPipeError):
                os.write(self.write_fd, b"\0")

    def wait(self, timeout: float | None = None) -> bool:
        """True when this caller took a wake-up within `timeout`."""
        if self.read_fd is None:  # the web side only sets; never spin
            time.sleep(timeout or 0.0)
            return False
        try:
            readable, _, _ = select.select([self.read_fd], [], [], timeout)
            if not readable:
                return False
            if os.read(self.read_fd, 1):
                return True
        except (BlockingIOError, InterruptedError):
            return False  # another worker took this byte
        # End of file: the process that woke us is gone (where no PDEATHSIG stopped us too).
        # A closed pipe is always readable, so waiting on it would spin: poll the store instead.
        os.close(self.read_fd)
        self.read_fd = None
        logger.warning("wakeup_pipe_closed")
        return False

    def clear(self) -> None:
        """Nothing to clear: each wake-up was consumed by the worker that read it."""

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            if fd is not None:
                os.close(fd)
        self.read_fd = self.write_fd = None


def wakeup_from_env(environ: dict[str, str] | os._Environ) -> PipeWakeup | None:
    """The pipe a parent `gateway serve` handed to this worker process, if any."""
    raw = environ.get(WAKEUP_FD_ENV, "")
    return PipeWakeup(read_fd=int(raw)) if raw.isdigit() else None


class Runtime:
    def __init__(self, gw: Gateway, workers: int, name: str = "w") -> None:
        self.gw = gw
        self.stop_event = threading.Event()
        self.sender = OutboxSender(gw)
        self.threads = [
            threading.Thread(target=self._work, args=(TurnWorker(gw, f"{name}{i}", self.sender),),
                             name=f"turn-worker-{i}", daemon=True)
            for i in range(workers)
        ]  # fmt: skip
        self.threads.append(threading.Thread(target=self._send, name="outbox-sender", daemon=True))

    def start(self) -> Runtime:
        for thread in self.threads:
            thread.start()
        self.gw.flows.watch(self.stop_event)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        self.gw.turn_ready.set()
        self.gw.outbox_ready.set()
        for thread in self.threads:
            thread.join(timeout)

    def _work(self, worker: TurnWorker) -> None:
        ready = self.gw.turn_ready
        while not self.stop_event.is_set():
            try:
                busy = worker.run_once()
            except Exception as exc:  # the store is unreachable: wait and try again, never die
                self.gw.store_health.failed("worker", exc)
                # What the worker holds (replies sent, not yet recorded) is handed to the store
                # now: the SQLite store keeps a mark whose write fails and writes it before it
                # claims replies again, so a write outage longer than a lease sends none twice.
                with contextlib.suppress(Exception):
                    worker.settle()
                self.stop_event.wait(1.0)
                continue
            if busy:  # a claim wrote; an idle poll only read, which a full disk still allows
                self.gw.store_health.succeeded("worker")
            else:
                ready.wait(IDLE_WAIT_S)
                ready.clear()
        try:  # the last reply's answer recorded, a message claimed ahead given back
            worker.close()
        except Exception:  # the store is gone: the leases run out and all goes again
            logger.exception("worker_stop_failed", extra={"worker": worker.name})

    def _send(self) -> None:
        ready = self.gw.outbox_ready
        while not self.stop_event.is_set():
            try:
                sent = self.sender.run_once()
            except Exception as exc:
                self.gw.store_health.failed("sender", exc)
                self.stop_event.wait(1.0)
                continue
            if sent:  # claiming wrote; nothing due was only a read
                self.gw.store_health.succeeded("sender")
            else:
                ready.wait(SENDER_IDLE_S)
                ready.clear()
                self.stop_event.wait(SENDER_WAKE_GAP_S)
