"""The one place where a reply the platform accepted becomes "sent" in the store.

Until then the store holds the reply as pending under its sender's lease; a reply recorded
late is safe as long as its lease has not run out (nobody else takes it), and a reply never
recorded is taken again when its lease ends, as "maybe sent" (`STRANDED`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from gateway.store.base import SentMark

T = TypeVar("T")


class SentLedger:
    """Successes waiting to be written: by the owner's next write, which carries them in the
    same transaction (`carry`: a turn worker's commit), or on their own (`flush`)."""

    def __init__(self, write: Callable[[list[SentMark]], None]) -> None:
        self.write = write
        self.marks: list[SentMark] = []
        self.oldest = 0.0  # time.perf_counter() when the oldest waiting reply was sent

    def add(self, mark: SentMark, sent_at: float) -> None:
        """A reply the platform accepted, sent at `sent_at` (perf_counter)."""
        if not self.marks:
            self.oldest = sent_at
        self.marks.append(mark)

    def waited(self) -> float:
        """Seconds the oldest waiting success has waited (0 with none)."""
        return time.perf_counter() - self.oldest if self.marks else 0.0

    def carry(self, write: Callable[[list[SentMark]], T]) -> T:
        """Run `write`, which records the waiting successes with its own data; they are
        done once it returns, and still waiting if it raised (the store failed)."""
        marks = list(self.marks)
        result = write(marks)
        del self.marks[: len(marks)]
        return result

    def flush(self) -> bool:
        """Write the waiting successes now; True if there were any."""
        if not self.marks:
            return False
        self.carry(self.write)
        return True
