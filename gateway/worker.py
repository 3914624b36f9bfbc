"""One turn: claim a shopper message, step the flow, store everything in one write, then send.

The order is the point: the new state, the history and the outbox are committed together
before anything leaves, so the shopper's next message always meets the new state, and a
crash before the commit just means the message is processed again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from adapters.base import WindowDecision
from flows.engine import step
from flows.messages import HandoffRequested, Inbound, Shopper, event_to_dict
from flows.services import CallRequest, CallResponse, InboxStatus, Services
from flows.state import ConversationState
from gateway.analytics.turns import agent_record, shopper_record
from gateway.context import Gateway
from gateway.history import inbound_entry, reply_entry
from gateway.inbox.actions import agent_turn
from gateway.inbox.service import InboxService
from gateway.inbox.threads import give_back, open_thread, reopen_step, shopper_wrote
from gateway.redaction import redact_payment, redact_shopper
from gateway.sender import InFlight, OutboxSender, SentMark
from gateway.store.base import Claim, Conversation, HistoryEntry, OutboxItem

logger = logging.getLogger(__name__)
TURN_RETRY_S = (1.0, 5.0, 30.0, 120.0)
PROFILE_CACHE = 10_000
# How long a reply's success may wait for the next commit before it is recorded on its own:
# far inside the outbox lease (OutboxSender.lease_s, 30 s), after which another sender would
# take the reply again.
DEFER_MAX_S = 2.0
BURY_REASON_MAX = 500  # characters of the last failure kept with a buried message


class TurnWorker:
    def __init__(self, gw: Gateway, name: str, sender: OutboxSender | None = None) -> None:
        self.gw = gw
        self.name = name
        self.sender = sender or OutboxSender(gw)
        self.profiles: dict[tuple[str, str], Shopper] = {}  # names looked up on the platform
        self.in_flight: InFlight | None = None  # a reply whose answer is not read yet
        self.answered: list[SentMark] = []  # replies accepted, to record with the next commit
        self.answered_since = 0.0  # perf_counter() when the oldest of them was sent
        self.replies = 0  # outbox items of the last commit

    def run_once(self) -> bool:
        """Process one message if any is ready; True if one was taken.

        With SEND_OVERLAP (Config.send_overlap, the default on Redis), the last reply of a
        turn is still on its way when this returns: its request was written, and its answer
        is read after the next turn (`read_answer`), so the worker
        runs that turn while the platform answers instead of waiting for it; a success is
        then recorded by the commit after that (one write a turn fewer). Never for long:
        everything is read and recorded at once when no message is ready, before an HTTP
        call of the turn (a flow's `call` node, see `_SettleFirst`; a profile lookup), when a
        turn has several replies (each next one is due only once the one before is
        recorded), and when a success has waited DEFER_MAX_S, far inside the outbox lease,
        so that no other sender takes again a reply that has gone.
        """
        gw = self.gw
        now = time.time()
        claim = gw.store.claim(self.name, now, gw.config.lease_s)
        if claim is None:
            if self.finish_sends():
                gw.outbox_ready.set()  # a conversation's next reply may be due now
            return False
        started = time.perf_counter()
        try:
            committed = self.process(claim, now)
        except Exception as exc:  # the one broad except: a bug or an outage must not lose it
            logger.exception(
                "turn_failed", extra={"conversation": claim.conversation, "attempt": claim.attempts}
            )
            gw.metrics.turn_failures.labels(claim.inbound.channel).inc()
            if claim.attempts >= gw.config.max_turn_attempts:
                reason = f"turn failed {claim.attempts} times, last: {type(exc).__name__}: {exc}"
                gw.store.bury(claim, redact_payment(reason[:BURY_REASON_MAX]), time.time())
                gw.metrics.buried.labels(claim.inbound.channel).inc()
                logger.error("message_buried", extra={"conversation": claim.conversation})
            else:
                delay = TURN_RETRY_S[min(claim.attempts, len(TURN_RETRY_S)) - 1]
                gw.store.release(claim, time.time() + delay, "turn failed")
            self.finish_sends()
            return True
        gw.metrics.step_seconds.labels(claim.inbound.channel).observe(time.perf_counter() - started)
        self.read_answer()
        if committed:
            gw.metrics.processed.labels(claim.inbound.channel).inc()
            # The replies leave now, after the commit. With several, each next one is due
            # once the one before is recorded.
            if self.replies > 1 or not gw.config.send_overlap:
                self.record_answered()
                self.sender.run_once()
            else:  # its answer is read after the next turn
                self.in_flight = self.sender.run_once_but_last()[1]
        if self.answered and time.perf_counter() - self.answered_since > DEFER_MAX_S:
            self.record_answered()
        gw.outbox_ready.set()
        return True

    def read_answer(self) -> None:
        """Read the answer to the reply still on its way, if any: a success waits in
        `answered` for the next commit, anything else is recorded now."""
        flight, self.in_flight = self.in_flight, None
        if flight is not None:
            mark = self.sender.finish(flight, defer_sent=True)
            if mark is not None:
                if not self.answered:
                    self.answered_since = flight.started
                self.answered.append(mark)

    def record_answered(self) -> bool:
        """Record the successes read so far on their own; True if there were any."""
        recorded = bool(self.answered)
        while self.answered:  # one by one: what a store outage leaves is recorded later
            item_id, platform_id = self.answered[0]
            self.gw.store.outbox_sent(item_id, platform_id, time.time())
            self.answered.pop(0)
        return recorded

    def finish_sends(self) -> bool:
        """Read the last answer and record every success not yet recorded, when no commit
        follows soon to carry them; True if any was recorded."""
        self.read_answer()
        return self.record_answered()

    def _commit(
        self,
        claim: Claim,
        state: ConversationState,
        history: Sequence[HistoryEntry],
        outbox: Sequence[OutboxItem],
        events: Sequence[dict[str, Any]],
        now: float,
    ) -> bool:
        """`commit_turn`, carrying the successes read since the last one (recorded whatever
        happens to the lease; kept for the next write if the store failed). A reply of this
        conversation still on its way is read first, so that this commit records it and
        can hand the new reply over."""
        if self.in_flight is not None and self.in_flight.item.conversation == claim.conversation:
            self.read_answer()
        self.replies = len(outbox)
        committed = self.gw.store.commit_turn(
            claim, state, history, outbox, events, now, self.answered
        )
        self.answered = []
        return committed

    def process(self, claim: Claim, now: float) -> bool:
        gw = self.gw
        conversation = gw.store.load(claim.conversation)
        if claim.inbound.kind == "agent":
            return self._agent_action(claim, conversation, now)
        inbound = self._with_profile(claim.inbound)
        state = self._fresh_if_idle(conversation, now)
        result = step(gw.flows.flow, state, inbound, _SettleFirst(gw.services, self.finish_sends))
        result, reopened = reopen_step(gw, inbound, state, result, now)
        history = [inbound_entry(inbound, now, gw.redact)]
        history += [reply_entry(claim.conversation, r, now, gw.redact) for r in result.replies]
        outbox = self._outbox(claim, result.replies, now)
        events = [
            {**self._safe(event_to_dict(e)), "at": now, "channel": inbound.channel, "i": i}
            for i, e in enumerate(result.events)
        ]
        # The thread opens before the commit (idempotently): a crash in between means the
        # message is processed again and finds the thread already there, never a shopper left
        # in handoff with no thread for a person to pick up.
        handoffs = [e for e in result.events if isinstance(e, HandoffRequested)]
        if gw.inbox is not None and handoffs:
            open_thread(gw, inbound, result.state, handoffs[-1], now)
        if gw.analytics is not None:  # once per message id, even if this turn runs again
            flow = gw.flows.flow
            gw.analytics.record(shopper_record(flow, claim, state, result.state, events, now))
        if not self._commit(claim, result.state, history, outbox, events, now):
            logger.warning("turn_lease_lost", extra={"conversation": claim.conversation})
            return False
        if gw.inbox is not None and state.mode == "handoff" and result.state.mode == "handoff":
            shopper_wrote(gw, inbound, result.state, now)
        if reopened is not None:
            give_back(gw, claim.conversation, reopened, now)
        if handoffs and gw.config.auto_assign and gw.inbox is not None:
            InboxService(gw, gw.inbox).auto_assign(now)
        return True

    def _agent_action(self, claim: Claim, conversation: Conversation, now: float) -> bool:
        gw = self.gw
        turn = agent_turn(gw, claim.inbound, conversation, now)  # windows checked in there
        replies = tuple(reply for reply, _ in turn.send)
        outbox = self._outbox(claim, replies, now, [window for _, window in turn.send])
        if gw.analytics is not None:
            resolved = None
            if claim.inbound.extra("action") == "resolve" and gw.inbox is not None:
                resolved = gw.inbox.thread(claim.inbound.extra("thread") or "")
            flow = gw.flows.flow
            record = agent_record(flow, claim, turn.state, turn.events, resolved, now)
            gw.analytics.record(record)
        if self._commit(claim, turn.state, turn.history, outbox, turn.events, now):
            return True
        logger.warning("turn_lease_lost", extra={"conversation": claim.conversation})
        return False

    def _safe(self, event: dict[str, Any]) -> dict[str, Any]:
        """Events are stored for reports: shopper text redacted, URLs without their query."""
        if "text" in event:
            event["text"] = self.gw.redact(str(event["text"]))
        if "url" in event:
            event["url"] = str(event["url"]).split("?", 1)[0]
        return event

    def _with_profile(self, inbound: Inbound) -> Inbound:
        """Fill in the shopper's name where the webhook has none (Messenger gives only an id)."""
        if inbound.shopper.name or inbound.shopper.first_name:
            return inbound
        platform = self.gw.adapters.profiles.get(inbound.channel)
        if platform is None:
            return inbound
        key = (inbound.channel, inbound.shopper.id)
        shopper = self.profiles.get(key)
        if shopper is None:
            self.finish_sends()  # an HTTP call to the platform: settle what is held first
            shopper = platform.profile(inbound.shopper.id) or inbound.shopper
            # The platform's profile name is shopper text too: a card in it never reaches the
            # flow (a greeting would echo it into the outbox).
            shopper = redact_shopper(shopper)
            if len(self.profiles) >= PROFILE_CACHE:
                self.profiles.pop(next(iter(self.profiles)))
            self.profiles[key] = shopper
        return replace(inbound, shopper=shopper)

    def _fresh_if_idle(self, conversation: Conversation, now: float) -> ConversationState:
        """An idle conversation starts fresh (history stays); a person's thread never expires."""
        state = conversation.state
        idle = (
            conversation.updated_at and now - conversation.updated_at > self.gw.config.idle_expiry_s
        )
        if idle and state.mode not in ("new", "handoff"):
            logger.info("conversation_expired", extra={"conversation": conversation.key})
            return ConversationState(variants=state.variants, language=state.language)
        return state

    def _outbox(
        self,
        claim: Claim,
        replies: tuple,
        now: float,
        windows: list[WindowDecision | None] | None = None,
    ) -> list[OutboxItem]:
        adapter = self.gw.adapters.adapters.get(claim.inbound.channel)
        if adapter is None or not replies:
            return []
        items: list[OutboxItem] = []
        for n, reply in enumerate(replies):
            window = windows[n] if windows else None
            for out in adapter.render(reply, claim.inbound.conversation, window):
                items.append(
                    OutboxItem(
                        id=f"{claim.conversation}:{claim.inbound.message_id}:{len(items)}",
                        conversation=claim.conversation,
                        channel=claim.inbound.channel,
                        payload=out.to_dict(),
                        created_at=now,
                    )
                )
        return items


class _SettleFirst:
    """The flow's services for one turn: before a `call` node's HTTP request (which may take
    seconds), the worker reads and records the replies it still holds (`finish_sends`), so
    that their leases never run down while it waits."""

    def __init__(self, services: Services, settle: Callable[[], object]) -> None:
        self.services, self.settle = services, settle

    def call(self, request: CallRequest) -> CallResponse:
        self.settle()
        return self.services.call(request)

    def inbox_status(self, queue: str) -> InboxStatus | None:
        return self.services.inbox_status(queue)
