"""A turn worker's lane on SQLite (`Lane`): its commit also claims the reply it wrote and the
worker's next message in the same transaction, so that a busy worker's next claim is no
write at all and its send needs no claim of its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.store.base import Claim, Committed, Conversation, SentMark, Turn


@dataclass(frozen=True, slots=True)
class LaneTerms:
    """Who claims in a lane's commit and for how long (see `Lane.commit`)."""

    worker: str
    lease_s: float  # the next message's lease
    send_lease_s: float  # the handed reply's lease


class _Backend(Protocol):
    """What a lane asks of the SQLite store (`SQLiteStore`)."""

    def claim_next(self, worker: str, now: float, lease_s: float, busy: bool) -> Claim | None: ...

    def unclaim(self, claim: Claim) -> None: ...

    def load(self, key: str) -> Conversation: ...

    def commit_pipelined(
        self, turn: Turn, sent: Sequence[SentMark] = (), terms: LaneTerms | None = None
    ) -> Committed: ...

    def record_sent(self, sent: Sequence[SentMark]) -> None: ...


class SQLiteLane:
    def __init__(self, store: _Backend, worker: str, lease_s: float, send_lease_s: float) -> None:
        self.store = store
        self.terms = LaneTerms(worker, lease_s, send_lease_s)
        self.ahead: Claim | None = None  # claimed by the last commit, not yet returned
        self.busy = False  # whether the last claim found a message

    def claim(self, now: float) -> Claim | None:
        held, self.ahead = self.ahead, None
        if held is not None:
            if held.lease_until - now > self.terms.lease_s / 2:
                return held
            self.store.unclaim(held)  # its lease is running out (a slow send): claimed afresh
        claim = self.store.claim_next(self.terms.worker, now, self.terms.lease_s, self.busy)
        self.busy = claim is not None
        return claim

    def load(self, claim: Claim) -> Conversation:
        return self.store.load(claim.conversation)

    def commit(self, turn: Turn, sent: Sequence[SentMark] = ()) -> Committed:
        if self.ahead is not None:  # the worker committed without claiming it: let it go
            self.store.unclaim(self.ahead)
            self.ahead = None
        committed = self.store.commit_pipelined(turn, sent, self.terms)
        self.ahead = committed.next_claim
        return committed

    def record_sent(self, sent: Sequence[SentMark]) -> None:
        if sent:
            self.store.record_sent(sent)

    def close(self) -> None:
        held, self.ahead = self.ahead, None
        if held is not None:
            self.store.unclaim(held)
