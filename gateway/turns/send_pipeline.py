"""A turn worker's replies, from its commit to "sent": sent in the worker's own thread, right
after the commit that claimed them for it, and recorded by its next write.

With SEND_OVERLAP (`Config.send_overlap`, the default on Redis) a turn's last reply is still
on its way when the turn ends: its request was written, and its answer is read after the next
turn, so the worker runs that turn while the platform answers instead of waiting for it; a
success is then recorded by the commit after that (one write a turn fewer). Never for long:
everything held is read and recorded (`settle`) when no message is ready, before any HTTP call
of a turn (the flow's services are wrapped by `services`, the agent path's too; a profile
lookup settles first), when a turn has several replies (each next one is due only once the
one before is recorded), and when a success has waited DEFER_MAX_S, far inside the outbox
lease, so that no other sender takes again a reply that has gone.
"""

from __future__ import annotations

from collections.abc import Callable

from flows.services import CallRequest, CallResponse, InboxStatus, Services
from gateway.store.base import Committed, Lane, Turn
from gateway.turns.sender import InFlight, OutboxSender
from gateway.turns.sent_ledger import SentLedger

# How long a reply's success may wait for the next commit before it is recorded on its own:
# far inside the outbox lease (OutboxSender.lease_s), after which another sender would take
# the reply again.
DEFER_MAX_S = 2.0


class SendPipeline:
    def __init__(self, sender: OutboxSender, lane: Lane, overlap: bool) -> None:
        self.sender, self.lane, self.overlap = sender, lane, overlap
        self.ledger = SentLedger(lane.record_sent)
        self.in_flight: InFlight | None = None  # a reply whose answer is not read yet

    def services(self, services: Services) -> Services:
        """`services` for one turn: a `call` node's HTTP request (which may take seconds)
        waits until the replies held are read and recorded, so that their leases never run
        down while it waits."""
        return _SettleFirst(services, self.settle)

    def commit(self, turn: Turn) -> Committed:
        """The lane's commit, carrying the successes read since the last write (recorded
        whatever happens to the lease; still held if the store failed). A reply of the same
        conversation still on its way is read first, so that this commit records it and can
        hand the new reply over."""
        flight = self.in_flight
        if flight is not None and flight.item.conversation == turn.claim.conversation:
            self._read_answer()
        return self.ledger.carry(lambda marks: self.lane.commit(turn, marks))

    def send(self, committed: Committed, replies: int) -> None:
        """After a turn: read the answer to the last turn's reply, then send the reply this
        commit handed over (`replies`: how many the turn wrote)."""
        self._read_answer()
        item = committed.handed
        if item is not None:
            if replies > 1 or not self.overlap:
                self.ledger.flush()
                self.sender.send_now(item, self.ledger)
                self.ledger.flush()  # the conversation's next reply is due only after this
            else:  # its answer is read after the next turn
                self.in_flight = self.sender.start(item)
        if self.ledger.waited() > DEFER_MAX_S:
            self.ledger.flush()

    def settle(self) -> bool:
        """Read the answer still on its way and record every success held, when no commit
        follows soon to carry them; True if any was recorded."""
        self._read_answer()
        return self.ledger.flush()

    def _read_answer(self) -> None:
        flight, self.in_flight = self.in_flight, None
        if flight is not None:
            mark = self.sender.finish(flight)
            if mark is not None:
                self.ledger.add(mark, flight.started)


class _SettleFirst:
    """The flow's services for one turn, settling the worker's replies before a call."""

    def __init__(self, services: Services, settle: Callable[[], object]) -> None:
        self.services, self.settle = services, settle

    def call(self, request: CallRequest) -> CallResponse:
        self.settle()
        return self.services.call(request)

    def inbox_status(self, queue: str) -> InboxStatus | None:
        return self.services.inbox_status(queue)
