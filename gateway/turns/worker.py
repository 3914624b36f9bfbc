"""One turn: claim a shopper message, step the flow, store everything in one write, then send.

The order is the point: the new state, the history and the outbox are committed together
before anything leaves, so the shopper's next message always meets the new state, and a
crash before the commit just means the message is processed again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

from adapters.base import WindowDecision
from flows.engine import step
from flows.messages import HandoffRequested, Inbound, Shopper, event_to_dict
from flows.services import Services
from flows.state import ConversationState
from gateway.analytics.turns import agent_record, shopper_record
from gateway.context import Gateway
from gateway.inbox.actions import agent_turn
from gateway.inbox.service import InboxService
from gateway.inbox.threads import give_back, open_thread, reopen_step, shopper_wrote
from gateway.redaction import redact_payment, redact_shopper
from gateway.store.base import Claim, Committed, Conversation, OutboxItem, Turn
from gateway.turns.history import inbound_entry, reply_entry
from gateway.turns.send_pipeline import SendPipeline
from gateway.turns.sender import OutboxSender

logger = logging.getLogger(__name__)
TURN_RETRY_S = (1.0, 5.0, 30.0, 120.0)
PROFILE_CACHE = 10_000
BURY_REASON_MAX = 500  # characters of the last failure kept with a buried message


class TurnWorker:
    """One worker: its own lane to the store (`Store.lane`) and its replies' pipeline."""

    def __init__(self, gw: Gateway, name: str, sender: OutboxSender | None = None) -> None:
        self.gw = gw
        self.name = name
        self.sender = sender or OutboxSender(gw)
        self.lane = gw.store.lane(name, gw.config.lease_s, self.sender.lease_s)
        self.pipeline = SendPipeline(self.sender, self.lane, gw.config.send_overlap)
        self.profiles: dict[tuple[str, str], Shopper] = {}  # names looked up on the platform

    def run_once(self) -> bool:
        """Process one message if any is ready; True if one was taken. Its replies leave
        after the commit (`SendPipeline`)."""
        gw = self.gw
        now = time.time()
        claim = self.lane.claim(now)
        if claim is None:
            if self.pipeline.settle():
                gw.outbox_ready.set()  # a conversation's next reply may be due now
            return False
        started = time.perf_counter()
        try:
            committed, replies = self.process(claim, now)
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
            self.pipeline.settle()
            return True
        gw.metrics.step_seconds.labels(claim.inbound.channel).observe(time.perf_counter() - started)
        if committed.ok:
            gw.metrics.processed.labels(claim.inbound.channel).inc()
        else:
            logger.warning("turn_lease_lost", extra={"conversation": claim.conversation})
        self.pipeline.send(committed, replies)
        gw.outbox_ready.set()
        return True

    def settle(self) -> bool:
        """Read and record what the worker's replies still hold (see `SendPipeline.settle`)."""
        return self.pipeline.settle()

    def close(self) -> None:
        """Settle, and give back a message claimed ahead: a stopping worker leaves nothing
        waiting for a lease to run out."""
        try:
            self.pipeline.settle()
        finally:
            self.lane.close()

    def process(self, claim: Claim, now: float) -> tuple[Committed, int]:
        """Run the turn and commit it; what the commit did, and how many replies it wrote."""
        gw = self.gw
        conversation = self.lane.load(claim)
        services = self.pipeline.services(gw.services)
        if claim.inbound.kind == "agent":
            return self._agent_action(claim, conversation, services, now)
        inbound = self._with_profile(claim.inbound)
        state = self._fresh_if_idle(conversation, now)
        result = step(gw.flows.flow, state, inbound, services)
        result, reopened = reopen_step(gw, inbound, state, result, services, now)
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
        if handoffs:
            open_thread(gw, inbound, result.state, handoffs[-1], now)
        # Once per message id, even if this turn runs again.
        gw.analytics.record(shopper_record(gw.flows.flow, claim, state, result.state, events, now))
        committed = self.pipeline.commit(Turn(claim, result.state, history, outbox, events, now))
        if not committed.ok:
            return committed, len(outbox)
        if state.mode == "handoff" and result.state.mode == "handoff":
            shopper_wrote(gw, inbound, result.state, now)
        if reopened is not None:
            give_back(gw, claim.conversation, reopened, now)
        if handoffs and gw.config.auto_assign:
            InboxService(gw, gw.inbox).auto_assign(now)
        return committed, len(outbox)

    def _agent_action(
        self, claim: Claim, conversation: Conversation, services: Services, now: float
    ) -> tuple[Committed, int]:
        gw = self.gw
        turn = agent_turn(gw, claim.inbound, conversation, services, now)  # windows checked
        replies = tuple(reply for reply, _ in turn.send)
        outbox = self._outbox(claim, replies, now, [window for _, window in turn.send])
        resolved = None
        if claim.inbound.extra("action") == "resolve":
            resolved = gw.inbox.thread(claim.inbound.extra("thread") or "")
        record = agent_record(gw.flows.flow, claim, turn.state, turn.events, resolved, now)
        gw.analytics.record(record)
        written = Turn(claim, turn.state, turn.history, outbox, turn.events, now)
        return self.pipeline.commit(written), len(outbox)

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
            self.pipeline.settle()  # an HTTP call to the platform: settle what is held first
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
