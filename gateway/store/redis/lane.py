"""A turn worker's lane on Redis (`Lane`): one round trip a busy worker's turn.

Its commit's trip also records the replies sent since the last one, claims the reply it wrote
for the worker to send, claims the worker's next message among the conversations its last
trip saw ready (the conversation comes with the claim, so `load` costs no trip) and reads the
ready index again for the claim after that. What the lane knows between trips (that read, the
claim ahead and the conversation it read) lives here, in one object per worker.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.store.base import Claim, Committed, Conversation, SentMark, Turn

CANDIDATES = 16  # conversations a claimer considers per round
CLAIM_READ_S = 1.0  # how long a claim's read of the conversation stands in for load()
PREFETCH_S = 0.5  # how long a trip's read of the ready index stands in for the next claim's


@dataclass(frozen=True, slots=True)
class ClaimRead:
    """A claim with the conversation as its script read it, and the candidates not tried."""

    claim: Claim
    read: Conversation
    untried: list[str]


@dataclass(frozen=True, slots=True)
class ClaimAhead:
    """The claim a commit's trip makes for the worker: `key`'s head, with `token`."""

    worker: str
    key: str
    token: str
    lease_s: float


@dataclass(frozen=True, slots=True)
class CommitTrip:
    """What a commit's round trip brought back besides the commit."""

    committed: Committed
    read: Conversation | None  # the next claim's conversation, as its script read it
    ready: list[str] | None  # the ready index, read at the end of the trip


class _Backend(Protocol):
    """What a lane asks of the Redis store (`RedisStore`)."""

    def ready(self, now: float) -> list[str]: ...

    def claim_from(
        self, found: list[str], worker: str, now: float, lease_s: float
    ) -> ClaimRead | None: ...

    def unclaim(self, key: str, token: str) -> None: ...

    def load(self, key: str) -> Conversation: ...

    def commit_pipelined(
        self,
        turn: Turn,
        sent: Sequence[SentMark] = (),
        send_lease_s: float | None = None,
        ahead: ClaimAhead | None = None,
        read_ready: bool = False,
    ) -> CommitTrip: ...

    def record_sent(
        self, sent: Sequence[SentMark], read_ready: bool = False
    ) -> list[str] | None: ...


class RedisLane:
    def __init__(self, store: _Backend, worker: str, lease_s: float, send_lease_s: float) -> None:
        self.store = store
        self.worker, self.lease_s, self.send_lease_s = worker, lease_s, send_lease_s
        self.ahead: tuple[Claim, Conversation, float] | None = None  # (…, time.monotonic())
        self.read: tuple[Conversation, float] | None = None  # what the last claim read
        self.candidates: tuple[list[str], float] | None = None  # the last trip's index read
        # A claim a commit's trip may have made: its answer was lost (Redis ran it, the
        # connection broke). Given back before anything else, not left to wait for its lease.
        self.doubt: tuple[str, str] | None = None

    def claim(self, now: float) -> Claim | None:
        """As `Lane.claim`; a claim afresh tries the candidates the last trip read first:
        then it is one trip, not two. They are only hints either way (the conversation's
        script is the judge), and when none has a message the index is read afresh."""
        self._settle_doubt()
        held, self.ahead = self.ahead, None
        if held is not None:
            claim, read, at = held
            if claim.lease_until - now > self.lease_s / 2:
                self.read = (read, at)
                return claim
            self.store.unclaim(claim.conversation, claim.token)  # a slow send ran it down
        found, read_at = self._take_candidates()
        got = self.store.claim_from(found, self.worker, now, self.lease_s) if found else None
        if got is None:
            found, read_at = self.store.ready(now), time.monotonic()
            got = self.store.claim_from(found, self.worker, now, self.lease_s)
        if got is None:
            return None
        self.read = (got.read, time.monotonic())
        self.candidates = (got.untried, read_at)  # the commit may claim one of them ahead
        return got.claim

    def load(self, claim: Claim) -> Conversation:
        """As the claim read it, when nothing was written since: nobody else commits to a
        conversation while we hold its lease."""
        held, self.read = self.read, None
        if held is not None:
            read, at = held
            if read.key == claim.conversation and time.monotonic() - at < CLAIM_READ_S:
                return read
        return self.store.load(claim.conversation)

    def commit(self, turn: Turn, sent: Sequence[SentMark] = ()) -> Committed:
        self._settle_doubt()
        self.read = None  # the next load reads the store again
        if self.ahead is not None:  # the worker committed without claiming it: let it go
            self.store.unclaim(self.ahead[0].conversation, self.ahead[0].token)
            self.ahead = None
        key = turn.claim.conversation
        found = [k for k in self._take_candidates()[0] if k != key]
        ahead = None
        if found:
            ahead = ClaimAhead(self.worker, found[0], uuid.uuid4().hex, self.lease_s)
            self.doubt = (ahead.key, ahead.token)  # until the answer is read
        trip = self.store.commit_pipelined(turn, sent, self.send_lease_s, ahead, read_ready=True)
        self.doubt = None
        now = time.monotonic()
        if trip.committed.next_claim is not None and trip.read is not None:
            self.ahead = (trip.committed.next_claim, trip.read, now)
        if trip.ready is not None:
            self.candidates = (trip.ready, now)
        return trip.committed

    def record_sent(self, sent: Sequence[SentMark]) -> None:
        """In one trip that also reads the ready index: a turn's last trip, when no commit
        carries them, so the worker's next claim needs no read of its own."""
        if sent:
            ready = self.store.record_sent(sent, read_ready=True)
            if ready is not None:
                self.candidates = (ready, time.monotonic())

    def close(self) -> None:
        self._settle_doubt()
        held, self.ahead = self.ahead, None
        if held is not None:
            self.store.unclaim(held[0].conversation, held[0].token)

    def _take_candidates(self) -> tuple[list[str], float]:
        """The last trip's read of the ready index, if fresh; taken (used once)."""
        held, self.candidates = self.candidates, None
        if held is not None and time.monotonic() - held[1] < PREFETCH_S:
            return held
        return [], 0.0

    def _settle_doubt(self) -> None:
        """If Redis is still unreachable this raises, and the next call tries again."""
        if self.doubt is not None:
            self.store.unclaim(*self.doubt)
            self.doubt = None
