"""The inbox service on a real SQLite store: who is on duty, the typical wait, auto-assignment
to the least busy agent within capacity and queue, the permission rules, which question a
late resolution asks as a template, and when a shopper's message reopens a thread."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from flows.engine import StepResult, step
from flows.loader import load_flow
from flows.messages import HandoffRequested, Inbound, Shopper
from flows.state import ConversationState
from gateway.context import Gateway
from gateway.inbox.model import Agent, InboxError, NotYours, Thread
from gateway.inbox.outside_window import first_name, satisfaction_node
from gateway.inbox.service import InboxService
from gateway.inbox.threads import REOPEN_REASON, reopen_step
from tests.conftest import ROOT
from tests.harness import MakeGateway


@pytest.fixture
def gw(make_gateway: MakeGateway, tmp_path: Path) -> Gateway:
    return make_gateway(tmp_path, flows=ROOT / "flows.yaml")


def add(gw: Gateway, login: str, capacity: int = 2, on_duty: bool = True,
        queues: tuple[str, ...] = (), role: str = "agent") -> Agent:  # fmt: skip
    agent = Agent(login, login.title(), "h", role=role, capacity=capacity,  # type: ignore[arg-type]
                  queues=queues, on_duty=on_duty)  # fmt: skip
    assert gw.inbox is not None
    gw.inbox.put_agent(agent)
    return agent


def open_threads(gw: Gateway, n: int, queue: str = "support") -> list[Thread]:
    assert gw.inbox is not None
    return [gw.inbox.open_thread(Thread(f"{queue}{i}", f"telegram:{queue}{i}", "telegram",
                                        queue, "asked", 100.0 + i)) for i in range(n)]  # fmt: skip


def test_status_counts_agents_on_duty_for_the_queue_and_the_median_wait(gw: Gateway) -> None:
    service = InboxService(gw, gw.inbox)  # type: ignore[arg-type]
    add(gw, "ann", capacity=5)
    add(gw, "bob", on_duty=False)
    add(gw, "cy", queues=("orders",))
    threads = open_threads(gw, 4)
    assert service.status("support").agents_on_duty == 1
    assert service.status("orders").agents_on_duty == 2
    assert service.status("support").wait_s is None  # too few claims to promise anything
    for i, t in enumerate(threads[:3]):
        gw.inbox.claim(t.id, "ann", now=t.created_at + 60 * (i + 1))  # type: ignore[union-attr]
    status = service.status("support")
    assert (status.waiting, status.wait_s) == (1, 120.0)


def test_auto_assign_balances_load_and_respects_capacity_and_queues(gw: Gateway) -> None:
    service = InboxService(gw, gw.inbox)  # type: ignore[arg-type]
    add(gw, "ann", capacity=2)
    add(gw, "bob", capacity=2)
    add(gw, "cy", capacity=3, queues=("orders",))
    add(gw, "dee", capacity=3, on_duty=False)
    open_threads(gw, 5)
    open_threads(gw, 1, queue="orders")
    given = service.auto_assign(now=1000.0)
    owners = {t.id: t.agent for t in given}
    assert len(given) == 5  # 2 + 2 in support, 1 in orders: capacity, not luck
    assert sorted(owners.values()) == ["ann", "ann", "bob", "bob", "cy"]
    assert owners["orders0"] == "cy"
    assert [t.id for t in gw.inbox.waiting()] == ["support4"]  # type: ignore[union-attr]


def test_only_the_owner_or_a_supervisor_acts_on_a_thread(gw: Gateway) -> None:
    service = InboxService(gw, gw.inbox)  # type: ignore[arg-type]
    ann, bob = add(gw, "ann"), add(gw, "bob")
    sup = add(gw, "sup", role="supervisor")
    thread = open_threads(gw, 1)[0]
    service.claim(ann, thread.id, 10.0)
    with pytest.raises(NotYours):
        service.note(bob, thread.id, "mine?", 11.0)
    service.note(sup, thread.id, "Supervisor here", 11.0)
    with pytest.raises(InboxError, match="empty"):
        service.note(ann, thread.id, "   ", 12.0)
    with pytest.raises(InboxError, match="unknown outcome"):
        service.resolve(ann, thread.id, "meh", 12.0)
    moved = service.transfer(sup, thread.id, "bob", None, 13.0)
    assert moved.agent == "bob"
    notes = [h for h in gw.store.history(thread.conversation) if h.direction in ("note", "system")]
    assert [(h.direction, h.author) for h in notes] == [("note", "Sup"), ("system", "system")]
    assert "Sup transferred the thread to bob" in notes[1].text


RATED_FLOW = """\
version: 1
settings: {start: route}
experiments:
  e1: {csat: happiness}
nodes:
  route:
    split:
      experiment: e1
      variants:
        - {name: a, weight: 50, goto: older}
        - {name: b, weight: 50, goto: rate}
  older:
    ask: "An older question?"
    save: csat
    next: bye
  rate:
    ask: "How happy are you, 1 to 5?"
    save: happiness
    next: bye
  bye:
    say: Bye
    end: true
"""


def test_the_satisfaction_question_is_the_experiments_csat_then_a_csat_variable(
    tmp_path: Path, gw: Gateway
) -> None:
    assert satisfaction_node(gw.flows.flow) == "csat"  # the sample saves `csat`
    path = tmp_path / "rated.yaml"
    path.write_text(RATED_FLOW, encoding="utf-8")
    assert satisfaction_node(load_flow(path, {})) == "rate"  # named by the experiment's csat:
    path.write_text(RATED_FLOW.replace("save: csat", "save: mood").replace(
        "{csat: happiness}", "{goals: []}"), encoding="utf-8")  # fmt: skip
    assert satisfaction_node(load_flow(path, {})) is None
    assert [first_name(Shopper("1", name=n)) for n in ("Ann Lee", "", "  ")] == ["Ann", "there",
                                                                                "there"]  # fmt: skip


@pytest.fixture
def reopening(make_gateway: MakeGateway, tmp_path: Path) -> Gateway:
    return make_gateway(tmp_path, flows=ROOT / "flows.yaml", INBOX_REOPEN_S="600")


def test_a_message_reopens_only_soon_after_a_resolve_and_never_spam(reopening: Gateway) -> None:
    gw, inbox = reopening, reopening.inbox
    assert inbox is not None
    add(gw, "ann")
    for n, outcome in enumerate(("solved", "spam")):
        thread = Thread(f"t{n}", f"telegram:{n}", "telegram", "orders", "asked", 100.0,
                        resume_at="anything_else")  # fmt: skip
        inbox.open_thread(thread)
        inbox.claim(thread.id, "ann", 110.0)
        inbox.resolve(thread.id, outcome, 1000.0)
    state = ConversationState(node="anything_else", mode="bot", variants=(("e", "a"),))

    def wrote(
        conversation: str, at: float, text: str = "the box was empty"
    ) -> tuple[StepResult, tuple[StepResult, Thread | None]]:
        inbound = Inbound("telegram", conversation, f"m{at}", Shopper(conversation, name="Ann"),
                          text=text, timestamp=at)  # fmt: skip
        result = step(gw.flows.flow, state, inbound, gw.services)
        return result, reopen_step(gw, inbound, state, result, gw.services, at)

    result, (reopened, previous) = wrote("0", 1600.0)  # 600 s after the resolve: still in time
    assert previous is not None and previous.id == "t0"
    assert (reopened.state.mode, reopened.state.queue, reopened.state.resume) == (
        "handoff", "orders", "anything_else")  # fmt: skip
    assert reopened.state.variants == state.variants and reopened.replies  # the notice
    (handoff,) = [e for e in reopened.events if isinstance(e, HandoffRequested)]
    assert (handoff.queue, handoff.reason) == ("orders", REOPEN_REASON)
    result, (same, previous) = wrote("0", 1601.0)  # too late: the bot's own turn
    assert previous is None and same is result
    result, (same, previous) = wrote("0", 1200.0, "No, that's all")  # answers the bot
    assert previous is None and same.state.node == "csat"
    _, (_, previous) = wrote("1", 1100.0)  # resolved as spam: stays closed
    assert previous is None
    off = replace(gw.config, reopen_s=0.0)
    gw.config = off
    _, (_, previous) = wrote("0", 1100.0)
    assert previous is None
