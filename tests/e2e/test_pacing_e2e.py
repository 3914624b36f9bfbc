"""Per-chat pacing end to end: a Telegram shopper's burst of replies reaches the platform at
the pace, deferred in the outbox, never dropped or counted as a failure."""

from __future__ import annotations

from adapters.base import Pace
from tests.e2e.conftest import Stack
from tests.harness import metric


def test_replies_to_a_flooding_telegram_shopper_arrive_at_the_pace(stack: Stack) -> None:
    adapter = stack.gw.adapters.adapters["telegram"]
    adapter.pace = Pace(interval_s=0.4, burst=2)  # type: ignore[attr-defined]  (faster test)
    shopper = stack.shopper("telegram")
    stack.say("telegram", shopper, "hi")
    stack.wait_sent("telegram", shopper, 2)
    first = len(stack.sandbox.sent("telegram", to=shopper))
    for _ in range(5):  # each "menu" gets the menu again: five replies at once
        stack.say("telegram", shopper, "menu")
    sent = stack.wait_sent("telegram", shopper, first + 5, timeout=20)
    times = [entry["time"] for entry in sent]
    # The pace's promise (GCRA): in any stretch of t seconds, at most burst + t / interval
    # messages; timer slack allowed. Without pacing all seven would land within ~0.1 s.
    for i, start in enumerate(times):
        for j in range(i + 1, len(times)):
            assert j - i + 1 <= 2 + (times[j] - start) / (0.4 * 0.8), (i, j, times)
    assert metric(stack.gw, "gw_send_paced_total", channel="telegram") >= 1
    assert stack.gw.store.dead_letters() == []
