"""Overload shedding: when the queue is this long, new webhooks are answered 503 with
Retry-After, so the platforms hold their messages instead of our disk and memory.

The queue's depth is read at most once a second (a count in the store), never per webhook.
"""

from __future__ import annotations

import threading

from gateway.store.base import Store

SAMPLE_S = 1.0
RETRY_AFTER_S = 30


class Backlog:
    def __init__(self, sample_s: float = SAMPLE_S) -> None:
        self.sample_s = sample_s
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._depth = 0

    def full(self, store: Store, limit: int, now: float) -> bool:
        """Is the queue at `limit` messages or more (0: never)? Reads it at most each second."""
        if limit <= 0:
            return False
        if now - self._read_at >= self.sample_s and self._lock.acquire(blocking=False):
            try:
                self._read_at = now
                self._depth = store.queue_depth()
            except Exception:  # the store is down: the enqueue says so with its own 503
                self._depth = 0
            finally:
                self._lock.release()
        return self._depth >= limit
