"""Per-chat pacing: a burst goes at once, then one message per interval; other chats are not
held up (tests/e2e/test_pacing_e2e.py sees it at the platform)."""

from __future__ import annotations

from adapters.base import Pace
from gateway.turns.pacing import Pacer

PACE = Pace(interval_s=1.0, burst=3)


def test_a_burst_then_one_per_interval_per_chat() -> None:
    pacer = Pacer()
    assert [pacer.reserve("a", 100.0, PACE) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pacer.reserve("a", 100.0, PACE) == 1.0  # the fourth waits a second
    assert pacer.reserve("b", 100.0, PACE) == 0.0  # another chat is not held up
    assert pacer.reserve("a", 100.5, PACE) == 0.5
    assert pacer.reserve("a", 101.0, PACE) == 0.0
    assert pacer.reserve("a", 101.0, PACE) == 1.0
    assert pacer.reserve("a", 110.0, PACE) == 0.0  # after a pause the burst is back
    assert [pacer.reserve("a", 110.0, PACE) for _ in range(2)] == [0.0, 0.0]


def test_the_forgotten_are_only_chats_whose_pace_has_recovered(monkeypatch) -> None:
    monkeypatch.setattr("gateway.turns.pacing.MAX_CHATS", 2)
    pacer = Pacer()
    for chat in ("a", "b", "c"):
        pacer.reserve(chat, 100.0, PACE)
    pacer.reserve("d", 200.0, PACE)  # a, b, c recovered long ago: forgotten
    assert set(pacer._tat) == {"d"}
