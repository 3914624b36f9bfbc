"""Handoff end to end: a shopper asks for a person, the thread waits with what the bot
collected, an agent claims, replies through the shopper's channel, and resolving hands the
conversation back to the bot, which asks "anything else?" and then the satisfaction question."""

from __future__ import annotations

import time

import pytest

from gateway.inbox.model import Agent, CapacityFull, NotYours, Thread
from gateway.inbox.service import InboxService, WindowClosed
from tests.e2e.conftest import Stack


def wait_thread(stack: Stack, conversation: str, timeout: float = 15.0) -> Thread:
    assert stack.gw.inbox is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        thread = stack.gw.inbox.open_thread_of(conversation)
        if thread is not None:
            return thread
        time.sleep(0.05)
    raise AssertionError(f"no thread opened for {conversation}")


def agent(login: str = "bea", name: str = "Bea", capacity: int = 3) -> Agent:
    return Agent(login, name, "unused-hash", capacity=capacity, on_duty=True)


@pytest.mark.parametrize("channel", ["whatsapp", "messenger", "telegram"])
def test_handoff_claim_reply_resolve_and_the_bot_takes_over(stack: Stack, channel: str) -> None:
    inbox, service = stack.gw.inbox, InboxService(stack.gw, stack.gw.inbox)  # type: ignore[arg-type]
    assert inbox is not None
    inbox.put_agent(agent())
    shopper = stack.shopper(channel, "Ann Lee")
    key = f"{channel}:{shopper}"
    stack.say(channel, shopper, "hi")
    stack.wait_sent(channel, shopper, 2)
    stack.say(channel, shopper, "Track my order")
    stack.wait_sent(channel, shopper, 3)
    stack.say(channel, shopper, "I want a real human")
    sent = stack.wait_sent(channel, shopper, 5)
    assert sent[3]["text"].startswith("Sure! I'm passing you to a member of our team.")
    assert "A member of our team will join you here shortly" in sent[4]["text"]

    thread = wait_thread(stack, key)
    assert (thread.status, thread.queue, thread.reason) == ("waiting", "support",
                                                            "shopper asked for a person")  # fmt: skip
    assert thread.shopper_name.startswith("Ann Lee") and thread.resume_at == "anything_else"
    assert thread.variants == (("bot_vs_callcenter", "bot"),)

    stack.say(channel, shopper, "hello? anyone?")  # the bot stays quiet while a person has it
    stack.wait_inbound(channel, shopper, 4)
    time.sleep(0.3)
    assert len(stack.sandbox.sent(channel, to=shopper)) == 5

    bea = inbox.agent("bea")
    assert bea is not None
    service.claim(bea, thread.id, time.time())
    sent = stack.wait_sent(channel, shopper, 6)
    assert "Bea from Acme Shoes has joined the chat" in sent[5]["text"]
    service.reply(
        bea, thread.id, "Hi Ann, I'm looking at order 4111 1111 1111 1111 now.", time.time()
    )
    sent = stack.wait_sent(channel, shopper, 7)
    assert "Bea" in sent[6]["text"] and "I'm looking at order" in sent[6]["text"]
    service.note(bea, thread.id, "VIP customer <script>alert(1)</script>", time.time())
    service.resolve(bea, thread.id, "solved", time.time())
    sent = stack.wait_sent(channel, shopper, 8)
    assert sent[7]["text"].startswith("Is there anything else I can help you with?")
    stack.say(channel, shopper, "No, that's all")
    sent = stack.wait_sent(channel, shopper, 9)
    assert sent[8]["text"].startswith("Before you go: how happy are you")

    done = inbox.thread(thread.id)
    assert done is not None and (done.status, done.outcome) == ("resolved", "solved")
    assert done.first_response_at is not None
    history = stack.gw.store.history(key, limit=100)
    lines = [(h.direction, h.author, h.text) for h in history]
    assert ("in", "shopper", "hello? anyone?") in lines
    assert ("note", "Bea", "VIP customer <script>alert(1)</script>") in lines
    agent_lines = [t for d, a, t in lines if a == "Bea" and d == "out"]
    assert agent_lines and "4111 1111 1111 1111" not in agent_lines[0]  # history is redacted
    assert any(d == "system" and "resolved the thread" in t for d, _, t in lines)


def test_capacity_permissions_and_the_closed_window(stack: Stack) -> None:
    inbox, service = stack.gw.inbox, InboxService(stack.gw, stack.gw.inbox)  # type: ignore[arg-type]
    assert inbox is not None
    inbox.put_agent(agent("cy", "Cy", capacity=1))
    inbox.put_agent(agent("dee", "Dee"))
    threads = []
    for name in ("Ola One", "Tom Two"):
        shopper = stack.shopper("whatsapp", name)
        stack.say("whatsapp", shopper, "hi")
        stack.wait_sent("whatsapp", shopper, 2)
        stack.say("whatsapp", shopper, "agent")
        threads.append(wait_thread(stack, f"whatsapp:{shopper}"))
    cy, dee = inbox.agent("cy"), inbox.agent("dee")
    assert cy is not None and dee is not None
    service.claim(cy, threads[0].id, time.time())
    with pytest.raises(CapacityFull):
        service.claim(cy, threads[1].id, time.time())
    with pytest.raises(NotYours):
        service.reply(dee, threads[0].id, "mine now", time.time())
    later = time.time() + 25 * 3600  # WhatsApp: free-form only within 24 h of the shopper
    window = service.window(threads[0], later)
    assert not window.allowed and "template" in window.reason
    with pytest.raises(WindowClosed, match="more than 24 h"):
        service.reply(cy, threads[0].id, "too late", later)
    assert service.status("support").agents_on_duty == 2


PHOTO = "https://cdn.acme.example/team/bea.jpg"


@pytest.mark.parametrize("channel", ["whatsapp", "messenger", "telegram"])
def test_the_joined_message_shows_the_agents_photo(stack: Stack, channel: str) -> None:
    inbox = stack.gw.inbox
    assert inbox is not None
    bea = Agent("bea", "Bea", "unused-hash", photo_url=PHOTO, on_duty=True)
    inbox.put_agent(bea)
    shopper = stack.shopper(channel, "Ann Lee")
    stack.say(channel, shopper, "hi")
    stack.wait_sent(channel, shopper, 2)
    stack.say(channel, shopper, "agent")
    thread = wait_thread(stack, f"{channel}:{shopper}")
    stack.wait_sent(channel, shopper, 4)
    InboxService(stack.gw, inbox).claim(bea, thread.id, time.time())
    photo, joined = stack.wait_sent(channel, shopper, 6)[4:6]
    assert photo["media"] == [PHOTO]  # the photo first, then who it is
    assert joined["text"].startswith("👋 Bea from Acme Shoes has joined the chat.")
