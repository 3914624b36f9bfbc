"""Reopen on write (INBOX_REOPEN_S), end to end on the sandbox: a shopper who writes again
soon after a resolve goes back to a person, to the agent who had them when they have room,
and the bot stays quiet; a tap on the bot's own question stays with the bot; off by default."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.inbox.model import Agent, Thread
from gateway.inbox.service import InboxService
from gateway.inbox.threads import REOPEN_REASON
from tests.e2e.conftest import Stack, start_stack
from tests.e2e.test_handoff import wait_thread

MISSING = "Oh wait, the left shoe is missing from the box!"


@pytest.fixture
def reopening(tmp_path: Path) -> Iterator[Stack]:
    stack, stop = start_stack(tmp_path, env={"INBOX_REOPEN_S": "600"})
    yield stack
    stop()


def service(stack: Stack) -> InboxService:
    assert stack.gw.inbox is not None
    return InboxService(stack.gw, stack.gw.inbox)


def add_agent(stack: Stack, login: str, capacity: int = 3) -> Agent:
    agent = Agent(login, login.title(), "unused-hash", capacity=capacity, on_duty=True)
    stack.gw.inbox.put_agent(agent)  # type: ignore[union-attr]
    return agent


def resolved_with(stack: Stack, channel: str, name: str, agent: Agent) -> tuple[str, Thread]:
    """A shopper handed off, claimed by `agent` and resolved: the bot asked "anything else?"."""
    shopper = stack.shopper(channel, name)
    stack.say(channel, shopper, "hi")
    stack.wait_sent(channel, shopper, 2)
    stack.say(channel, shopper, "I want a real human")
    thread = wait_thread(stack, f"{channel}:{shopper}")
    stack.wait_sent(channel, shopper, 4)
    service(stack).claim(agent, thread.id, time.time())
    stack.wait_sent(channel, shopper, 5)
    service(stack).resolve(agent, thread.id, "solved", time.time())
    sent = stack.wait_sent(channel, shopper, 6)
    assert sent[5]["text"].startswith("Is there anything else I can help you with?")
    return shopper, thread


def wait_open(stack: Stack, key: str, status: str, timeout: float = 15.0) -> Thread:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        thread = stack.gw.inbox.open_thread_of(key)  # type: ignore[union-attr]
        if thread is not None and thread.status == status:
            return thread
        time.sleep(0.05)
    raise AssertionError(f"no {status} thread for {key}")


@pytest.mark.parametrize("channel", ["telegram", "whatsapp"])
def test_writing_again_goes_back_to_the_agent_who_resolved(reopening: Stack, channel: str) -> None:
    stack = reopening
    bea = add_agent(stack, "bea")
    shopper, first = resolved_with(stack, channel, "Ann Lee", bea)
    key = f"{channel}:{shopper}"
    stack.say(channel, shopper, MISSING)
    thread = wait_open(stack, key, "assigned")
    assert thread.id != first.id and (thread.agent, thread.reason) == ("bea", REOPEN_REASON)
    assert (thread.queue, thread.variants, thread.resume_at) == (first.queue, first.variants,
                                                                 first.resume_at)  # fmt: skip
    sent = stack.wait_sent(channel, shopper, 8)
    assert sent[6]["text"].startswith("A member of our team will join you here shortly")
    assert "Bea from Acme Shoes has joined the chat" in sent[7]["text"]
    state = stack.gw.store.load(key).state
    assert (state.mode, state.queue) == ("handoff", "support")
    lines = [(h.direction, h.text) for h in stack.gw.store.history(key, limit=100)]
    assert ("in", MISSING) in lines  # the message itself is in the thread's history
    assert not any(t.startswith("Sorry, I didn't get that") for _, t in lines)

    stack.say(channel, shopper, "hello?")  # the bot stays quiet: a person has it
    assert stack.wait_inbound(channel, shopper, 4)[-1] == "hello?"
    time.sleep(0.3)
    assert len(stack.sandbox.sent(channel, to=shopper)) == 8
    service(stack).resolve(bea, thread.id, "solved", time.time())
    sent = stack.wait_sent(channel, shopper, 9)
    assert sent[8]["text"].startswith("Is there anything else I can help you with?")


def test_a_full_agent_leaves_the_reopened_thread_in_the_queue(reopening: Stack) -> None:
    stack = reopening
    cy = add_agent(stack, "cy", capacity=1)
    shopper, _ = resolved_with(stack, "telegram", "Ola One", cy)
    other = stack.shopper("telegram", "Tom Two")
    stack.say("telegram", other, "hi")
    stack.wait_sent("telegram", other, 2)
    stack.say("telegram", other, "agent")
    service(stack).claim(cy, wait_thread(stack, f"telegram:{other}").id, time.time())
    stack.say("telegram", shopper, MISSING)
    thread = wait_open(stack, f"telegram:{shopper}", "waiting")
    assert (thread.agent, thread.reason) == (None, REOPEN_REASON)
    sent = stack.wait_sent("telegram", shopper, 7)
    assert sent[6]["text"].startswith("A member of our team will join you here shortly")


def test_answering_the_bots_question_stays_with_the_bot(reopening: Stack) -> None:
    stack = reopening
    shopper, _ = resolved_with(stack, "telegram", "Pat Lu", add_agent(stack, "bea"))
    stack.say("telegram", shopper, "No, that's all")
    sent = stack.wait_sent("telegram", shopper, 7)
    assert sent[6]["text"].startswith("Before you go: how happy are you")
    stack.say("telegram", shopper, "5")
    sent = stack.wait_sent("telegram", shopper, 8)
    assert sent[7]["text"].startswith("Thank you, Pat!")
    assert stack.gw.inbox.open_thread_of(f"telegram:{shopper}") is None  # type: ignore[union-attr]


def test_off_by_default_the_shopper_is_back_with_the_bot(stack: Stack) -> None:
    assert stack.gw.config.reopen_s == 0
    shopper, _ = resolved_with(stack, "telegram", "Kim Bo", add_agent(stack, "bea"))
    stack.say("telegram", shopper, MISSING)
    sent = stack.wait_sent("telegram", shopper, 7)
    assert sent[6]["text"].startswith("Sorry, I didn't get that.")
    assert stack.gw.inbox.open_thread_of(f"telegram:{shopper}") is None  # type: ignore[union-attr]
    assert stack.gw.store.load(f"telegram:{shopper}").state.mode == "bot"
