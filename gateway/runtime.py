"""Worker and sender threads of one process, started and stopped together."""

from __future__ import annotations

import logging
import threading

from gateway.context import Gateway
from gateway.sender import OutboxSender
from gateway.worker import TurnWorker

logger = logging.getLogger(__name__)
IDLE_WAIT_S = 0.05  # how long an idle worker waits for a wake-up before polling the store


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
            except Exception:  # the store is unreachable: wait and try again, never die
                logger.exception("worker_loop_failed", extra={"worker": worker.name})
                self.stop_event.wait(1.0)
                continue
            if not busy:
                ready.wait(IDLE_WAIT_S)
                ready.clear()

    def _send(self) -> None:
        ready = self.gw.outbox_ready
        while not self.stop_event.is_set():
            try:
                sent = self.sender.run_once()
            except Exception:
                logger.exception("sender_loop_failed")
                self.stop_event.wait(1.0)
                continue
            if not sent:
                ready.wait(0.2)
                ready.clear()
