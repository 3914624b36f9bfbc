"""The outbox sender: platform sends after the turn is stored, with retries and dead letters.

A platform outage never loses a reply by itself. A 429/5xx/timeout/connect error retries with
capped, jittered exponential backoff (the platform's Retry-After wins when longer) for as long
as the retry budget runs from the reply's creation (`SEND_RETRY_BUDGET_S`, an hour), and only
then is dead-lettered; a permanent error goes to the dead-letter list at once. A "maybe sent"
(read timeout, Twilio 500, or a reply whose sender died before recording its answer: the
store marks it STRANDED when its lease ends) is asked about before it is sent again where the
platform can say (`Adapter.find_sent`: Twilio lists its messages; Messenger its conversation
with the shopper, when the page token has pages_messaging, pages_read_engagement and
pages_manage_metadata), and sent again where it cannot (Telegram, Messenger without those
permissions: a rare double is better than a lost reply). A channel that keeps failing opens its
circuit (`gateway.turns.circuit`): replies wait untouched until a probe finds the platform back.
A chat on a platform with a per-chat limit is paced (`gateway.turns.pacing`).
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

from adapters.base import (
    CannotTell,
    Failed,
    NotSent,
    Outgoing,
    PendingSend,
    RetryLater,
    SendResult,
    Sent,
    Uncertain,
)
from gateway.context import Gateway
from gateway.store.base import HistoryEntry, OutboxItem, SentMark
from gateway.turns.sent_ledger import SentLedger

logger = logging.getLogger(__name__)
BATCH = 4  # items one sender claims at a time (see run_once)
# A "maybe sent" reply the platform cannot say anything about (`CannotTell`: Telegram, or
# Messenger without the permission to read conversations) is sent again this many times; then
# it waits in the dead letters, where an operator can send it.
BLIND_RESENDS = 2


@dataclass(frozen=True, slots=True)
class InFlight:
    """An outbox item whose request has left; `OutboxSender.finish` reads its answer."""

    item: OutboxItem
    pending: PendingSend
    started: float  # perf_counter() when the request started


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_s: float = 0.5
    factor: float = 2.0
    max_s: float = 60.0  # an outage's end is found within a minute (the circuit probes sooner)
    budget_s: float = 3600.0  # from the reply's creation to the dead-letter list
    jitter: float = 0.25  # ± share of the delay, so retries of many chats do not stampede
    retry_after_max_s: float = 900.0  # a platform's Retry-After is kept up to this

    def next_delay(
        self, attempt: int, retry_after: float | None = None, rand: float | None = None
    ) -> float:
        """Delay before attempt `attempt + 1` (attempt counts from 1); pure given `rand`."""
        raw = min(self.max_s, self.base_s * self.factor ** max(0, attempt - 1))
        spread = (random.random() if rand is None else rand) * 2 - 1
        delay = raw * (1 + self.jitter * spread)
        return max(delay, min(retry_after or 0.0, self.retry_after_max_s))


class OutboxSender:
    def __init__(
        self, gw: Gateway, policy: RetryPolicy | None = None, lease_s: float = 30.0
    ) -> None:
        self.gw = gw
        self.policy = policy or RetryPolicy(budget_s=gw.config.send_retry_budget_s)
        self.lease_s = lease_s
        self.ledger = SentLedger(self._write_sent)  # the sender thread's own successes

    def run_once(self, limit: int = BATCH) -> int:
        """Send what is due now, each after the one before it was answered; returns how many
        items were tried. (Turn workers send what their commits hand them: `SendPipeline`.)

        The batch is small so that even at the adapters' longest timeout (about 25 s a send)
        it finishes well inside the lease: no other sender can take an item still being sent.
        """
        items = self.gw.store.claim_outbox(time.time(), self.lease_s, limit)
        for item in items:
            self.send_now(item, self.ledger)
            self.ledger.flush()
        return len(items)

    def send_now(self, item: OutboxItem, ledger: SentLedger) -> None:
        """Send `item` and read the answer: a success goes to `ledger`, anything else is
        recorded here (a retry, a dead letter)."""
        flight = self.start(item)
        if flight is not None:
            mark = self.finish(flight)
            if mark is not None:
                ledger.add(mark, flight.started)

    def _write_sent(self, marks: list[SentMark]) -> None:
        for item_id, platform_id in marks:
            self.gw.store.outbox_sent(item_id, platform_id, time.time())

    def start(self, item: OutboxItem) -> InFlight | None:
        """Write `item`'s request; None if it did not leave (paced, channel gone, a bug)."""
        try:
            return self._start(item)
        except Exception:  # an adapter bug must cost one item a retry, not the whole batch
            self._unexpected(item)
            return None

    def finish(self, flight: InFlight) -> SentMark | None:
        """Read the answer to a request `start` wrote. A success is returned, for the caller
        to record through its `SentLedger` (the one place a reply becomes "sent"); anything
        else is recorded here."""
        item = flight.item
        try:
            result = flight.pending.result()
            self.gw.metrics.send_seconds.labels(item.channel).observe(
                time.perf_counter() - flight.started
            )
            if isinstance(result, Sent):
                self.gw.circuits.succeeded(item.channel)  # a probe that went closes it
                self.gw.metrics.sent.labels(item.channel).inc()
                return item.id, result.platform_message_id
            self._record(item, result)
        except Exception:
            self._unexpected(item)
        return None

    def _unexpected(self, item: OutboxItem) -> None:
        logger.exception("send_failed_unexpectedly", extra={"outbox_id": item.id})
        self._retry(item, item.attempts + 1, time.time(), None, "exception", "exception")

    def _start(self, item: OutboxItem) -> InFlight | None:
        gw = self.gw
        adapter = gw.adapters.adapters.get(item.channel)
        if adapter is None:
            gw.store.outbox_dead(item.id, f"channel {item.channel} is disabled")
            return None
        held = gw.circuits.wait_s(item.channel)
        if held > 0:  # the platform is down: the reply waits, no attempt charged
            now = time.time()
            if now + held - item.created_at > self.policy.budget_s:
                self._dead(item, f"platform down for {now - item.created_at:.0f} s", "held")
                return None
            gw.store.outbox_defer(item.id, now + held)
            gw.metrics.send_held.labels(item.channel).inc()
            return None
        if _maybe_sent(item):
            found = adapter.find_sent(Outgoing.from_dict(item.payload), item.created_at)
            if isinstance(found, CannotTell) and item.attempts >= BLIND_RESENDS + 1:
                # Each blind resend of a reply that went out is one more copy on the phone.
                self._dead(item, f"{item.last_error}: maybe sent, not sent again", "uncertain")
                return None
            if not isinstance(found, NotSent | CannotTell):
                return InFlight(item, PendingSend.done(found), time.perf_counter())
        pace = gw.adapters.pace(item.channel)
        if pace is not None:
            wait = gw.pacer.reserve(item.conversation, time.time(), pace)
            if wait > 0:  # this chat has had its burst: the item goes when it conforms
                gw.store.outbox_defer(item.id, time.time() + wait)
                gw.metrics.send_paced.labels(item.channel).inc()
                return None
        started = time.perf_counter()
        out = Outgoing.from_dict(item.payload)
        two_step = gw.adapters.two_step.get(item.channel)
        pending = two_step.start_send(out) if two_step else PendingSend.done(adapter.send(out))
        return InFlight(item, pending, started)

    def _record(self, item: OutboxItem, result: SendResult) -> None:
        """A result other than `Sent`."""
        gw = self.gw
        attempt = item.attempts + 1
        now = time.time()
        match result:
            case RetryLater(delay_s=delay, code=code, throttled=throttled):
                if not throttled:
                    gw.circuits.failed(item.channel, f"{code} {result.reason}".strip())
                error = "uncertain:find_sent" if code == "find_sent" else f"retry_later:{code}"
                self._retry(item, attempt, now, delay, error, "retry")
            case Uncertain(code=code):
                logger.warning("send_uncertain", extra={"outbox_id": item.id, "code": code})
                gw.circuits.failed(item.channel, f"{code} {result.reason}".strip())
                self._retry(item, attempt, now, None, f"uncertain:{code}", "uncertain")
            case Failed(kind=kind, code=code):
                self._dead(item, f"{kind}:{code}", kind)
                if kind == "unreachable":
                    gw.store.append_history([_note(item, now, "The shopper blocked the bot.")])

    def _retry(self, item: OutboxItem, attempt: int, now: float, after: float | None, error: str,
               outcome: str) -> None:  # fmt: skip
        self.gw.metrics.send_failed.labels(item.channel, outcome).inc()
        delay = self.policy.next_delay(attempt, after)
        if now + delay - item.created_at > self.policy.budget_s:
            self._dead(item, f"{error} (retried for {now - item.created_at:.0f} s)", outcome)
            return
        self.gw.store.outbox_retry(item.id, now + delay, error)
        logger.info("send_retry", extra={"outbox_id": item.id, "attempt": attempt, "error": error})

    def _dead(self, item: OutboxItem, error: str, outcome: str) -> None:
        self.gw.metrics.send_failed.labels(item.channel, outcome).inc()
        self.gw.store.outbox_dead(item.id, error)
        logger.error("send_dead_letter", extra={"outbox_id": item.id, "error": error})


def _maybe_sent(item: OutboxItem) -> bool:
    """The last try of `item` may have gone out (its answer was lost)."""
    return (item.last_error or "").startswith("uncertain:")


def _note(item: OutboxItem, now: float, text: str) -> HistoryEntry:
    return HistoryEntry(item.conversation, now, "system", "system", text, {"outbox_id": item.id})
