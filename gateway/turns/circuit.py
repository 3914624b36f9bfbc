"""A circuit breaker per platform: a platform that is down is not hammered by every reply.

After `threshold` outage failures in a row on a channel (5xx, timeouts, connection errors;
not rate limits, which mean the platform is up), the circuit opens: replies wait in the
outbox, untouched and not charged an attempt, until `cooldown_s` has passed. Then one send
goes as a probe: a success closes the circuit, a failure opens it again for twice as long
(up to `max_cooldown_s`). Nothing is dropped: the outbox keeps every reply, and the retry
budget (`RetryPolicy.budget_s`) runs from the reply's creation whatever the circuit does.

One breaker per process: each process learns about an outage from its own sends, and puts
the circuits it opens on the shared `OutageBoard` (gateway.turns.outages), so that processes that
never send (web-only, or another host's) show the outage too.

While a probe is out, the replies held behind it look again every PROBE_RECHECK_S rather than
when the probe's own wait would end: a probe that succeeds at once lets them go within a
second, not a whole cooldown later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.turns.outages import Outage, OutageBoard

logger = logging.getLogger(__name__)

PROBE_RECHECK_S = 1.0
# A board entry outlives the wait before the next probe by this much: that probe's failure
# renews it in time, and one left by a process that died goes this long after.
BOARD_GRACE_S = 30.0


@dataclass(slots=True)
class _Channel:
    failures: int = 0
    open_until: float = 0.0
    cooldown_s: float = 0.0
    probe_until: float = 0.0  # a probe is out until then; others wait
    opened_at: float = 0.0
    reason: str = ""


class Circuits:
    def __init__(
        self,
        threshold: int = 5,
        cooldown_s: float = 5.0,
        max_cooldown_s: float = 10.0,
        clock: Callable[[], float] = time.time,
        board: OutageBoard | None = None,
    ) -> None:
        self.threshold, self.cooldown_s, self.max_cooldown_s = threshold, cooldown_s, max_cooldown_s
        self._clock = clock
        self._board = board
        self._lock = threading.Lock()
        self._channels: dict[str, _Channel] = {}

    def wait_s(self, channel: str) -> float:
        """0 when a send may go now (closed, or this caller carries the probe); else how long
        to hold the reply back."""
        now = self._clock()
        with self._lock:
            state = self._channels.get(channel)
            if state is None or state.failures < self.threshold:
                return 0.0
            if now < state.open_until:
                return state.open_until - now
            if now < state.probe_until:
                return min(state.probe_until - now, PROBE_RECHECK_S)
            state.probe_until = now + state.cooldown_s  # this send is the probe
            return 0.0

    def succeeded(self, channel: str) -> None:
        if channel in self._channels:  # every send ends here: no lock while all is well
            with self._lock:
                state = self._channels.pop(channel, None)
            if state is not None and state.failures >= self.threshold:
                self._tell_board(channel, None)

    def failed(self, channel: str, reason: str) -> None:
        """An outage failure (not a rate limit) of a send on `channel`."""
        now = self._clock()
        with self._lock:
            state = self._channels.setdefault(channel, _Channel())
            state.failures += 1
            state.reason = reason
            if state.failures < self.threshold:
                return
            if state.failures == self.threshold:
                state.opened_at, state.cooldown_s = now, self.cooldown_s
            elif now >= state.open_until:  # the probe failed: wait twice as long
                state.cooldown_s = min(self.max_cooldown_s, state.cooldown_s * 2)
            else:  # a send already under way when the circuit opened
                return
            state.open_until = now + state.cooldown_s
            state.probe_until = 0.0
            outage = Outage(channel, state.opened_at, state.open_until, reason)
        self._tell_board(channel, outage)

    def _tell_board(self, channel: str, outage: Outage | None) -> None:
        """Opened (or a probe failed), or closed: for the other processes. Outside the lock,
        and never a reason for a send to fail: the board is only for showing."""
        if self._board is None:
            return
        try:
            if outage is None:
                self._board.clear(channel)
            else:  # renewed by the next failed probe; forgotten if this process is gone
                self._board.publish(outage, outage.until + BOARD_GRACE_S)
        except Exception:  # a store that cannot write is reported by StoreHealth
            logger.warning("outage_board_write_failed", extra={"channel": channel})

    def close(self) -> None:
        if self._board is not None:
            self._board.close()

    def outages(self) -> list[Outage]:
        """The channels whose circuit is open, here or in another process (the board), for
        /readyz, /metrics and the inbox."""
        with self._lock:
            mine = {
                channel: Outage(channel, s.opened_at, max(s.open_until, s.probe_until), s.reason)
                for channel, s in self._channels.items()
                if s.failures >= self.threshold
            }
        if self._board is not None:
            try:
                for outage in self._board.current(self._clock()):
                    mine.setdefault(outage.channel, outage)
            except Exception:  # the store's own trouble shows in /readyz already
                logger.warning("outage_board_read_failed")
        return [mine[channel] for channel in sorted(mine)]
