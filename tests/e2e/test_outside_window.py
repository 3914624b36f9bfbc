"""WhatsApp after its 24-hour window, end to end through the sandbox's Twilio API with the real
twilio client: the composer explains the closed window and sends the approved re-open
template (page and JSON API); the shopper's answer opens the window again; a late resolution
asks the satisfaction question as the approved template and the shopper's tap is the answer.
Without the settings, the page and the history name the variable to set."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from flows.messages import Inbound, Shopper
from gateway.inbox.model import Agent, Thread
from gateway.inbox.passwords import hash_password
from gateway.inbox.service import InboxService
from tests.e2e.conftest import Stack, start_stack
from tests.e2e.test_handoff import wait_thread
from tests.e2e.test_inbox_browser import PASSWORD, WAIT, expect, log_in, shot

REOPEN_SID = "HX" + "1" * 32
CSAT_SID = "HX" + "2" * 32
REOPEN_BODY = "Hi {{1}}, it's {{2}} from Acme Shoes about your question. Shall we carry on here?"
CSAT_BODY = "Hi {{1}}, thanks for talking to {{2}}. How happy are you with our help, from 1 to 5?"
YESTERDAY = 25 * 3600


def add_bea(stack: Stack) -> Agent:
    assert stack.gw.inbox is not None
    bea = Agent("bea", "Bea", hash_password(PASSWORD), capacity=3, on_duty=True)
    stack.gw.inbox.put_agent(bea)
    return bea


@pytest.fixture
def templated(tmp_path: Path) -> Iterator[Stack]:
    """The stack with both templates configured and registered in the sandbox's Content API."""
    env = {"TWILIO_REOPEN_CONTENT_SID": REOPEN_SID, "TWILIO_CSAT_CONTENT_SID": CSAT_SID}
    stack, stop = start_stack(tmp_path, env=env)
    reopen = {"body": REOPEN_BODY, "actions": [{"title": "Yes, let's talk", "id": "reopen_yes"}]}
    csat = {"body": CSAT_BODY, "actions": [{"title": str(n), "id": f"csat_{n}"} for n in range(1, 6)]}
    stack.sandbox.add_content({"twilio/quick-reply": reopen}, sid=REOPEN_SID)
    stack.sandbox.add_content({"twilio/quick-reply": csat}, sid=CSAT_SID)
    add_bea(stack)
    yield stack
    stop()


def asked_yesterday(stack: Stack, name: str) -> tuple[str, Thread]:
    """A WhatsApp shopper who asked for a person 25 hours ago. Their messages go through the
    real queue and worker with yesterday's time (a Twilio webhook carries no time of its own,
    so the sandbox's would be stamped now); the bot's four answers reach the sandbox."""
    address = stack.shopper("whatsapp", name)
    then = time.time() - YESTERDAY
    for n, text in enumerate(("hi", "I want a real human")):
        inbound = Inbound("whatsapp", address, f"SMyesterday{n}{address}",
                          Shopper(address, name=name), text=text, timestamp=then + n)  # fmt: skip
        stack.gw.store.enqueue(inbound, time.time(), stack.gw.config.dedupe_ttl_s)
        stack.gw.turn_ready.set()
    thread = wait_thread(stack, f"whatsapp:{address}")
    stack.wait_sent("whatsapp", address, 4)
    return address, thread


def history(stack: Stack, key: str) -> list[tuple[str, str, str]]:
    return [(h.direction, h.author, h.text) for h in stack.gw.store.history(key, limit=200)]


def wait_line(stack: Stack, key: str, part: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [t for _, _, t in history(stack, key) if part in t]
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no history line with {part!r}: {history(stack, key)[-5:]}")


def api_session(stack: Stack) -> tuple[requests.Session, dict[str, str]]:
    s = requests.Session()
    r = s.post(stack.url + "/inbox/api/login", json={"login": "bea", "password": PASSWORD},
               timeout=5)  # fmt: skip
    return s, {"X-CSRFToken": r.json()["csrf_token"]}


@pytest.mark.browser
def test_the_agent_reopens_the_window_with_the_template(browser, templated: Stack) -> None:
    stack = templated
    address, _ = asked_yesterday(stack, "Ann Lee")
    key = f"whatsapp:{address}"
    page = browser.new_page()
    try:
        log_in(page, stack)
        page.locator("#waiting tr", has_text="Ann Lee").locator("a").click()
        page.click("text=Claim this thread")
        expect(page.locator(".flash")).to_contain_text(
            "Claimed, but the shopper cannot be told a person joined: more than 24 h", timeout=WAIT
        )
        window = page.locator("#window")
        expect(window).to_contain_text("more than 24 h since the shopper's last message",
                                       timeout=WAIT)  # fmt: skip
        expect(window).to_contain_text("send the re-open template")
        expect(page.locator("#composer")).to_be_disabled()
        # "Bea has joined" could not go: the history says so instead of dropping it
        assert "Not sent: more than 24 h" in wait_line(stack, key, "Not sent")
        shot(page, "template")
        page.click("#template button")
        expect(page.locator(".flash")).to_contain_text("Re-open template sent", timeout=WAIT)
        sent = stack.wait_sent("whatsapp", address, 5)[-1]
        assert sent["content_sid"] == REOPEN_SID
        assert json.loads(sent["raw"]["ContentVariables"]) == {"1": "Ann", "2": "Bea"}
        assert sent["text"] == "Hi Ann, it's Bea from Acme Shoes about your question. Shall we carry on here?"
        expect(page.locator("#messages")).to_contain_text("Re-open template sent", timeout=WAIT)

        tap = {"kind": "button", "title": "Yes, let's talk", "payload": "reopen_yes",
               "seq": sent["seq"]}  # fmt: skip
        stack.say("whatsapp", address, action=tap)
        # The page sees the shopper's answer and shows the open composer without a reload.
        expect(window).to_contain_text("You can reply now", timeout=WAIT)
        page.fill("#composer", "Hi Ann, sorry for the wait! Your refund went out today.")
        page.click("text=Send to shopper")
        sent = stack.wait_sent("whatsapp", address, 6)[-1]
        assert "Bea" in sent["text"] and "Your refund went out today." in sent["text"]
    finally:
        page.close()


def test_a_late_resolution_asks_for_the_rating_with_the_template(templated: Stack) -> None:
    stack = templated
    inbox, service = stack.gw.inbox, InboxService(stack.gw, stack.gw.inbox)  # type: ignore[arg-type]
    assert inbox is not None
    address, thread = asked_yesterday(stack, "Cy Dee")
    key = f"whatsapp:{address}"
    s, csrf = api_session(stack)
    url = f"{stack.url}/inbox/api/threads/{quote(thread.id, safe='')}"
    r = s.post(url + "/template", headers=csrf, timeout=5)
    assert r.status_code == 409 and "claim this thread first" in r.json()["error"]
    assert s.post(url + "/claim", headers=csrf, timeout=5).json()["status"] == "assigned"
    view = s.get(url, timeout=5).json()
    assert view["window"]["allowed"] is False and view["window"]["template_ready"] is True
    r = s.post(url + "/template", headers=csrf, timeout=5)
    assert r.status_code == 200 and r.json()["queued"] is True
    sent = stack.wait_sent("whatsapp", address, 5)
    assert sent[4]["content_sid"] == REOPEN_SID

    bea = inbox.agent("bea")
    assert bea is not None
    service.resolve(bea, thread.id, "solved", time.time())  # the shopper never answered
    sent = stack.wait_sent("whatsapp", address, 6)
    assert sent[5]["content_sid"] == CSAT_SID
    assert json.loads(sent[5]["raw"]["ContentVariables"]) == {"1": "Cy", "2": "Bea"}
    assert sent[5]["text"] == "Hi Cy, thanks for talking to Bea. How happy are you with our help, from 1 to 5?"
    state = stack.gw.store.load(key).state
    assert (state.mode, state.node) == ("bot", "csat")  # waiting at the flow's rating question

    stack.say("whatsapp", address, action={"kind": "button", "title": "5", "payload": "csat_5",
                                           "seq": sent[5]["seq"]})  # fmt: skip
    sent = stack.wait_sent("whatsapp", address, 7)
    assert sent[6]["text"].startswith("Thank you, Cy! Have a great day")
    assert stack.gw.store.load(key).state.vars["csat"] == 5
    lines = history(stack, key)
    after = lines[[t for _, _, t in lines].index("Bea resolved the thread; the bot takes over again."):]
    assert [d for d, _, _ in after] == ["system", "out", "in", "out"]
    assert after[1][2].startswith("📨 Satisfaction question sent as a template")
    assert not any("Is there anything else" in t for _, _, t in after)


def test_without_the_settings_the_inbox_names_the_variables(stack: Stack) -> None:
    bea = add_bea(stack)
    address, thread = asked_yesterday(stack, "Eve Fox")
    key = f"whatsapp:{address}"
    s, csrf = api_session(stack)
    url = f"{stack.url}/inbox/api/threads/{quote(thread.id, safe='')}"
    s.post(url + "/claim", headers=csrf, timeout=5)
    window = s.get(url, timeout=5).json()["window"]
    assert (window["template_ready"], window["template_setting"]) == (False, "TWILIO_REOPEN_CONTENT_SID")
    assert "set TWILIO_REOPEN_CONTENT_SID to an approved template's Content SID" in window["reason"]
    page = s.get(f"{stack.url}/inbox/threads/{quote(thread.id, safe='')}", timeout=5).text
    assert 'id="template-setting"' in page and "<code>TWILIO_REOPEN_CONTENT_SID</code>" in page
    assert "{{1}}</code> (the shopper's first name)" in page and "Send the re-open" not in page
    r = s.post(url + "/template", headers=csrf, timeout=5)
    assert r.status_code == 409 and "set TWILIO_REOPEN_CONTENT_SID" in r.json()["error"]

    InboxService(stack.gw, stack.gw.inbox).resolve(bea, thread.id, "solved", time.time())  # type: ignore[arg-type]
    line = wait_line(stack, key, "TWILIO_CSAT_CONTENT_SID")
    assert line == ("Not sent: more than 24 h since the shopper's last message: template only; "
                    "set TWILIO_CSAT_CONTENT_SID to ask the satisfaction question as a template "
                    "after 24 h.")  # fmt: skip
    time.sleep(0.3)
    assert len(stack.sandbox.sent("whatsapp", to=address)) == 4  # nothing reached the platform
    assert stack.gw.store.load(key).state.node == "anything_else"  # as before: the bot's turn


def test_the_template_is_refused_while_the_window_is_open(stack: Stack) -> None:
    bea = add_bea(stack)
    service = InboxService(stack.gw, stack.gw.inbox)  # type: ignore[arg-type]
    address = stack.shopper("whatsapp", "Gus Ho")
    stack.say("whatsapp", address, "hi")
    stack.wait_sent("whatsapp", address, 2)
    stack.say("whatsapp", address, "agent")
    thread = wait_thread(stack, f"whatsapp:{address}")
    service.claim(bea, thread.id, time.time())
    with pytest.raises(Exception, match="free-form replies are possible now"):
        service.send_template(bea, thread.id, time.time())
