"""Per-chat pacing for platforms that limit how fast one chat may receive messages.

Telegram asks for about one message per second per chat, tolerating short bursts, and answers
a flood with 429s. A generic cell rate algorithm (GCRA) per conversation lets `burst` messages
go at once (a welcome, a menu and a photo) and then one per `interval_s`; a message that would
break the pace is not sent early but deferred in the outbox to the moment it conforms, so a
backlog (an agent's quick replies, a long answer in parts, a queue drained after an outage)
reaches the chat at the platform's pace instead of hitting its flood control.

The state lives in this process: one number per recently active chat. A conversation's items
are nearly always sent by the process that committed them (the turn worker sends right after
its commit), so that is where its pace is kept; the platform's Retry-After still backs it up.
"""

from __future__ import annotations

import threading

from adapters.base import Pace

MAX_CHATS = 50_000  # chats remembered; older entries are past their pace anyway


class Pacer:
    def __init__(self) -> None:
        self._tat: dict[str, float] = {}  # chat -> theoretical arrival time of its next message
        self._lock = threading.Lock()

    def reserve(self, chat: str, now: float, pace: Pace) -> float:
        """0.0 and the slot is taken if a message may go now; else seconds until it may."""
        with self._lock:
            tat = max(self._tat.get(chat, now), now)
            allowed_at = tat - pace.interval_s * (pace.burst - 1)
            if allowed_at > now:
                return allowed_at - now
            self._tat[chat] = tat + pace.interval_s
            if len(self._tat) > MAX_CHATS:
                self._forget(now)
            return 0.0

    def _forget(self, now: float) -> None:
        """Drop chats whose pace has fully recovered (they would start afresh anyway)."""
        for chat in [c for c, t in self._tat.items() if t <= now]:
            del self._tat[chat]
        while len(self._tat) > MAX_CHATS:  # all busy: forget the oldest insertions
            del self._tat[next(iter(self._tat))]
