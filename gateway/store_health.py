"""Whether the store takes writes, as the webhooks and the workers last found it.

A full disk or a store that refuses writes must show: `/readyz` answers 503 with the reason
(a load balancer stops sending here; the operator sees why) while webhooks answer 503 (the
platforms redeliver later, nothing acknowledged is lost). And it must not drown the log: one
line per condition per minute, with how many failures it stands for, not one per attempt.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)
QUIET_S = 60.0  # one log line per condition (where, kind of error) per this many seconds
# A writer with no new failure for this long counts as recovered: a load balancer that stops
# sending webhooks to an unready process must not keep it unready for good.
STALE_S = 30.0


@dataclass(slots=True)
class _Failing:
    since: float
    reason: str
    last: float = 0.0
    count: int = 0
    logged: bool = False  # a line said it fails, so one says when it recovers


@dataclass(slots=True)
class _Line:
    """When a condition was last logged, kept past its recovery: a writer that recovers and
    fails again (a worker whose run had nothing to write counts as a success) would
    otherwise log a line per attempt."""

    at: float
    unlogged: int = 0


class StoreHealth:
    def __init__(self, clock: Callable[[], float] = time.time, quiet_s: float = QUIET_S,
                 log: logging.Logger = logger) -> None:  # fmt: skip
        """`log`: where the lines go (the analytics recorder keeps its own logger)."""
        self._clock, self._quiet_s, self._log = clock, quiet_s, log
        self._lock = threading.Lock()
        self._failing: dict[str, _Failing] = {}  # where -> the condition
        self._lines: dict[tuple[str, str], _Line] = {}  # (where, reason) -> its last line

    def failed(self, where: str, exc: BaseException) -> None:
        """A write by `where` (webhook, worker, sender) failed with `exc`."""
        now = self._clock()
        reason = describe(exc)
        with self._lock:
            state = self._failing.get(where)
            if state is None or state.reason != reason:
                state = self._failing[where] = _Failing(now, reason)
            state.count += 1
            state.last = now
            line = self._lines.get((where, reason))
            if line is not None and now - line.at < self._quiet_s:
                line.unlogged += 1
                return
            repeats = 1 + (line.unlogged if line is not None else 0)
            self._lines = {k: v for k, v in self._lines.items() if now - v.at < self._quiet_s}
            self._lines[(where, reason)] = _Line(now)
            state.logged = True
        self._log.error(
            f"store_write_failed: {where}: {reason} ({repeats} failure{'s' * (repeats != 1)} "
            f"since the last line; failing for {now - state.since:.0f} s)",
            exc_info=exc if repeats == 1 else None,
        )

    def succeeded(self, where: str) -> None:
        if where in self._failing:  # the common case costs one dict lookup, no lock
            with self._lock:
                state = self._failing.pop(where, None)
            if state is not None and state.logged:
                self._log.warning(
                    f"store_write_recovered: {where} after {self._clock() - state.since:.0f} s "
                    f"and {state.count} failures"
                )

    def problem(self) -> str | None:
        """What is failing now, for /readyz; None when every writer's last write went."""
        with self._lock:
            if not self._failing:
                return None
            now = self._clock()
            failing = [
                f"{where} writes failing for {now - s.since:.0f} s: {s.reason}"
                for where, s in sorted(self._failing.items())
                if now - s.last < STALE_S
            ]
            return "; ".join(failing) or None


def describe(exc: BaseException) -> str:
    """A failure in words an operator acts on: "disk full" rather than a traceback."""
    text = str(exc).lower()
    if getattr(exc, "errno", None) == errno.ENOSPC or "disk is full" in text or "no space" in text:
        return "disk full"
    if "readonly" in text or "read-only" in text or "misconf" in text:
        return "the store refuses writes (read-only or misconfigured)"
    if "locked" in text:
        return "the database is locked"
    return f"{type(exc).__name__}: {str(exc)[:120]}"
