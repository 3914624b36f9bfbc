"""Experiments in flows.yaml: dates, gradual rollout, stopping to a winner, sticky assignment
when weights change, satisfaction answers as events, and the errors a marketer gets."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from flows.engine import step
from flows.messages import Inbound, Rated, VariantAssigned
from flows.model import Flow
from flows.state import ConversationState
from tests.conftest import check_yaml, flow_from, msg

FLOW = """\
version: 1
settings: {start: s, disclosure: bot}
experiments:
  exp:
    %s
nodes:
  s:
    split:
      experiment: exp
      variants:
        - {name: a, weight: %d, goto: a}
        - {name: b, weight: %d, goto: rate}
  a: {say: A, goal: bought, end: true}
  rate:
    ask: "1-5?"
    save: happy
    expect: {number: {min: 1, max: 5, integer: true}}
    next: bye
  bye: {say: Bye, end: true}
"""


def flow(settings: str = "goals: [bought]", weight_a: int = 50) -> Flow:
    return flow_from(FLOW % (settings, weight_a, 100 - weight_a))


def at(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()


def hello(shopper: str, when: float = 0.0) -> Inbound:
    return replace(msg("hi", conversation=shopper), timestamp=when)


def assigned(f: Flow, shopper: str, when: float = 0.0) -> str | None:
    events = step(f, ConversationState(), hello(shopper, when)).events
    return next((e.variant for e in events if isinstance(e, VariantAssigned)), None)


def landed(f: Flow, shopper: str, when: float = 0.0, state: ConversationState | None = None) -> str:
    result = step(f, state or ConversationState(), hello(shopper, when))
    return "a" if result.replies[0].text.startswith("A") else "b"


def test_the_sample_declares_its_experiment() -> None:
    from tests.conftest import ROOT

    sample = check_yaml((ROOT / "flows.yaml").read_text(encoding="utf-8")).flow
    assert sample is not None
    experiment = sample.experiments["bot_vs_callcenter"]
    assert experiment.csat == "csat" and "resolved" in experiment.goals
    assert sample.ratings == {"csat": "csat"}


def test_before_start_and_after_stop_nobody_is_assigned_and_stop_sends_all_to_the_winner() -> None:
    f = flow("start: 2026-11-01\n    stop: 2026-12-01\n    default: a\n    winner: b")
    shoppers = [f"s{i}" for i in range(200)]
    assert all(assigned(f, s, at("2026-10-31T23:59:00")) is None for s in shoppers)
    assert {landed(f, s, at("2026-10-31T12:00:00")) for s in shoppers} == {"a"}
    during = {s: assigned(f, s, at("2026-11-15T12:00:00")) for s in shoppers}
    assert set(during.values()) == {"a", "b"}
    # Stopped: everyone, assigned or not, goes to the winner; nobody new is assigned.
    sticky_a = next(s for s, v in during.items() if v == "a")
    state = ConversationState(variants=(("exp", "a"),))
    assert landed(f, sticky_a, at("2026-12-01T00:00:00"), state) == "b"
    assert all(assigned(f, s, at("2026-12-02T00:00:00")) is None for s in shoppers)


def test_rollout_admits_its_share_and_widening_keeps_everyone_already_in() -> None:
    shoppers = [f"shopper-{i}" for i in range(3000)]
    narrow_flow, wide_flow = flow("rollout: 10%"), flow("rollout: 0.5")
    narrow = {s: assigned(narrow_flow, s) for s in shoppers}
    inside = {s: v for s, v in narrow.items() if v is not None}
    assert 0.08 < len(inside) / len(shoppers) < 0.12
    wide = {s: assigned(wide_flow, s) for s in shoppers}
    assert 0.46 < sum(v is not None for v in wide.values()) / len(shoppers) < 0.54
    assert all(wide[s] == v for s, v in inside.items())  # same people, same variants
    # Outside the rollout a shopper gets the default variant (the first), unrecorded.
    outside = next(s for s, v in narrow.items() if v is None)
    assert landed(narrow_flow, outside) == "a"


def test_changing_weights_keeps_existing_assignments() -> None:
    before = flow(weight_a=50)
    after = flow(weight_a=5)
    for i in range(300):
        shopper = f"s{i}"
        result = step(before, ConversationState(), hello(shopper))
        later = step(after, replace(result.state, node=None, mode="new"), hello(shopper))
        assert later.replies[0].text[0] == result.replies[0].text[0]  # "A" or "1-5?"
        assert not any(isinstance(e, VariantAssigned) for e in later.events)


def test_a_satisfaction_answer_is_an_event_with_its_score() -> None:
    f = flow("csat: happy")
    shopper = next(s for s in (f"s{i}" for i in range(100)) if landed(f, s) == "b")
    state = step(f, ConversationState(), hello(shopper)).state
    result = step(f, state, msg("4", conversation=shopper))
    assert Rated("csat", 4, "rate") in result.events
    nothing = step(flow(), state, msg("4", conversation=shopper))  # not declared: no event
    assert not any(isinstance(e, Rated) for e in nothing.events)


@pytest.mark.parametrize(
    ("settings", "message", "fix"),
    [
        ("goals: [bougth]", "'bougth' is not a goal in this flow", "did you mean 'bought'?"),
        ("csat: hapy", "'hapy' is not a variable saved by a question", "did you mean 'happy'?"),
        ("winner: c", "'c' is not a variant of experiment 'exp'", "a, b"),
        ("rollout: 150%", "rollout '150%' is not a share", "write 10% or 0.1"),
        ("start: 2026-13-01", "'2026-13-01' is not a date", "write dates as 2026-12-01"),
        ("start: 2026-12-01\n    stop: 2026-11-01", "stops before it starts", "swap the dates"),
        ("abandon_after: soon", "'soon' is not a duration", "write 30m, 2h, 1d or 90s"),
        ("min_effect: 2", "'experiments.exp.min_effect' is 2", "use 0.001-0.5"),
        ("colour: red", "unknown key 'colour' in experiment 'exp'", ""),
    ],
)
def test_errors_name_the_line_the_problem_and_the_fix(settings: str, message: str, fix: str) -> None:
    result = check_yaml(FLOW % (settings, 50, 50))
    assert result.flow is None
    (error,) = result.errors
    assert message in error.message and fix in error.fix, error.format()
    assert error.line >= 5  # under `experiments:`, not at the top of the file


def test_an_experiment_without_a_split_node_is_refused_with_the_nearest_name() -> None:
    text = (FLOW % ("goals: [bought]", 50, 50)).replace("  exp:\n", "  epx:\n", 1)
    (error,) = check_yaml(text).errors
    assert "experiment 'epx' has no split node" in error.message
    assert "did you mean 'exp'?" in error.fix
