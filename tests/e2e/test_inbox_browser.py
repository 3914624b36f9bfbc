"""The inbox in a real headless chromium: a shopper on the sandbox asks for a person, an agent
logs in, sees the thread with its history, claims, replies (it reaches the shopper's channel),
resolves, and the bot asks the satisfaction question. Hostile shopper text stays text.

Screenshots go to test-artifacts/ (and, with UPDATE_SCREENSHOTS=1, to docs/inbox-*.png).
"""

from __future__ import annotations

import os
import struct
import time
import zlib
from collections.abc import Iterator

import pytest
import requests

from gateway.inbox.model import Agent
from gateway.inbox.passwords import hash_password
from gateway.inbox.service import InboxService
from tests.conftest import ROOT
from tests.e2e.conftest import Stack

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.browser

WAIT = 15_000
PASSWORD = "correct horse battery"
HOSTILE = "<img src=x onerror=alert(1)><script>alert(2)</script>"
SCREENSHOTS = [ROOT / "test-artifacts"] + (
    [ROOT / "docs"] if os.environ.get("UPDATE_SCREENSHOTS") == "1" else []
)


def shot(page, name: str) -> None:
    for folder in SCREENSHOTS:
        folder.mkdir(exist_ok=True)
        page.screenshot(path=str(folder / f"inbox-{name}.png"), full_page=True)


@pytest.fixture
def agents(stack: Stack) -> Iterator[None]:
    assert stack.gw.inbox is not None
    stack.gw.inbox.put_agent(Agent("bea", "Bea", hash_password(PASSWORD), capacity=2))
    stack.gw.inbox.put_agent(Agent("sam", "Sam", hash_password(PASSWORD), role="supervisor"))
    yield


def log_in(page, stack: Stack, login: str = "bea") -> None:
    page.goto(stack.url + "/inbox/")
    expect(page).to_have_url(f"{stack.url}/inbox/login?next=/inbox/")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.click("text=Log in")
    expect(page.locator("h2", has_text="Waiting")).to_be_visible(timeout=WAIT)


def test_agent_claims_replies_and_resolves_in_the_browser(browser, stack: Stack, agents) -> None:
    shopper = stack.shopper("telegram", "Ann Lee")
    stack.say("telegram", shopper, "hi")
    stack.wait_sent("telegram", shopper, 2)
    stack.say("telegram", shopper, "Track my order")
    stack.wait_sent("telegram", shopper, 3)
    stack.say("telegram", shopper, "Z9")  # not an order number: the bot asks again
    stack.wait_sent("telegram", shopper, 4)
    stack.say("telegram", shopper, "Talk to a person")
    stack.wait_sent("telegram", shopper, 6)
    stack.say("telegram", shopper, HOSTILE)
    stack.wait_inbound("telegram", shopper, 5)

    page = browser.new_page()
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    try:
        log_in(page, stack)
        row = page.locator("#waiting tr", has_text="Ann Lee")
        expect(row).to_contain_text("shopper asked for a person", timeout=WAIT)
        expect(row).to_contain_text("bot_vs_callcenter=bot")
        shot(page, "queue")
        row.locator("a").click()
        messages = page.locator("#messages")
        expect(messages).to_contain_text("Track my order", timeout=WAIT)
        expect(messages).to_contain_text("What's your order number?")
        expect(messages.locator(".msg.in .text").last).to_have_text(HOSTILE)
        page.click("text=Claim this thread")
        expect(page.locator("#window")).to_contain_text("You can reply now", timeout=WAIT)
        sent = stack.wait_sent("telegram", shopper, 7)
        assert "Bea from Acme Shoes has joined the chat" in sent[6]["text"]

        page.fill("#composer", "/hello ")  # a canned answer by name
        expect(page.locator("#composer")).to_have_value(
            "Hi! I'm here now and I can see your whole conversation with our assistant."
        )
        page.click("text=Send to shopper")
        sent = stack.wait_sent("telegram", shopper, 8)
        assert "Bea" in sent[7]["text"] and "I can see your whole conversation" in sent[7]["text"]
        page.fill(".note textarea", "Checked the order: fine.")
        page.click("text=Add note")
        expect(messages.locator(".msg.note")).to_contain_text("Checked the order", timeout=WAIT)
        stack.say("telegram", shopper, "thanks!")  # appears live, without a reload
        expect(messages.locator(".msg.in").last).to_contain_text("thanks!", timeout=WAIT)
        shot(page, "thread")

        page.click("text=Resolve and hand back to the bot")
        expect(page.locator(".flash")).to_contain_text("Resolved", timeout=WAIT)
        sent = stack.wait_sent("telegram", shopper, 9)
        assert sent[8]["text"].startswith("Is there anything else I can help you with?")
        stack.say("telegram", shopper, "No, that's all")
        sent = stack.wait_sent("telegram", shopper, 10)
        assert sent[9]["text"].startswith("Before you go: how happy are you")
        assert alerts == []  # the hostile text never ran
    finally:
        page.close()


def test_nothing_without_login_and_no_admin_page_for_agents(browser, stack: Stack, agents) -> None:
    assert requests.get(stack.url + "/inbox/api/queue", timeout=5).status_code == 401
    page = browser.new_page()
    try:
        log_in(page, stack)
        response = page.goto(stack.url + "/inbox/admin")
        assert response is not None and response.status == 403
        page.goto(stack.url + "/inbox/")
        page.click("text=Log out")
        expect(page.locator("h1")).to_have_text("Agent login", timeout=WAIT)
        page.goto(stack.url + "/inbox/")
        expect(page).to_have_url(f"{stack.url}/inbox/login?next=/inbox/")
    finally:
        page.close()


def test_json_api_login_claim_and_reply(stack: Stack, agents) -> None:
    shopper = stack.shopper("messenger", "Ola Api")
    stack.say("messenger", shopper, "hi")
    stack.wait_sent("messenger", shopper, 2)
    stack.say("messenger", shopper, "agent")
    stack.wait_sent("messenger", shopper, 4)
    s = requests.Session()
    assert s.post(stack.url + "/inbox/api/login", data="login=bea", timeout=5).status_code == 400
    r = s.post(stack.url + "/inbox/api/login", json={"login": "bea", "password": "nope"}, timeout=5)
    assert r.status_code == 401
    r = s.post(stack.url + "/inbox/api/login", json={"login": "bea", "password": PASSWORD},
               timeout=5)  # fmt: skip
    token = r.json()["csrf_token"]
    deadline = time.monotonic() + 10
    while not (queue := s.get(stack.url + "/inbox/api/queue", timeout=5).json())["waiting"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    tid = queue["waiting"][0]["id"]
    assert s.post(f"{stack.url}/inbox/api/threads/{tid}/claim", timeout=5).status_code == 400
    headers = {"X-CSRFToken": token}
    r = s.post(f"{stack.url}/inbox/api/threads/{tid}/claim", headers=headers, timeout=5)
    assert r.json()["status"] == "assigned"
    r = s.post(f"{stack.url}/inbox/api/threads/{tid}/reply", headers=headers,
               json={"text": "Hello from the API"}, timeout=5)  # fmt: skip
    assert r.status_code == 200, r.text
    sent = stack.wait_sent("messenger", shopper, 6)
    assert "Hello from the API" in sent[5]["text"]
    r = s.post(f"{stack.url}/inbox/api/threads/{tid}/claim", headers=headers, timeout=5)
    assert r.status_code == 409 and "no longer waiting" in r.json()["error"]
    view = s.get(f"{stack.url}/inbox/api/threads/{tid}", timeout=5).json()
    assert view["window"]["allowed"] is True and view["profile"]["orders"]


# Stored straight in the inbox (the CLI would refuse its quotes and brackets): the pages must
# escape whatever a URL holds.
PHOTO = 'https://cdn.acme.example/team/bea.png?v=1&name="Bea"<b>x</b>'


def png(size: int = 24, rgb: tuple[int, int, int] = (48, 86, 211)) -> bytes:
    """A small solid PNG, served for the photo's URL so the browser never leaves the machine."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + (
        chunk(b"IEND", b"")
    )


def test_agent_photos_show_in_the_header_and_beside_their_messages(browser, stack: Stack) -> None:
    inbox = stack.gw.inbox
    assert inbox is not None
    inbox.put_agent(Agent("bea", "Bea", hash_password(PASSWORD), photo_url=PHOTO))
    shopper = stack.shopper("telegram", "Ann Photo")
    stack.say("telegram", shopper, "hi")
    stack.wait_sent("telegram", shopper, 2)
    stack.say("telegram", shopper, "Talk to a person")
    stack.wait_sent("telegram", shopper, 4)
    page = browser.new_page()
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    page.route("https://cdn.acme.example/**", lambda route: route.fulfill(
        status=200, content_type="image/png", body=png()))  # fmt: skip
    try:
        log_in(page, stack)
        header = page.locator("header .who img.avatar")
        expect(header).to_have_attribute("src", PHOTO)
        page.wait_for_function("document.querySelector('header img.avatar').naturalWidth > 0")
        page.locator("#waiting tr", has_text="Ann Photo").locator("a").click()
        page.click("text=Claim this thread")
        sent = stack.wait_sent("telegram", shopper, 6)
        assert sent[4]["media"] == [PHOTO]  # "has joined" comes with the photo
        page.fill("#composer", "Hi Ann, Bea here.")
        page.click("text=Send to shopper")
        mine = page.locator("#messages .msg.out", has_text="Hi Ann, Bea here.")
        expect(mine.locator("img.avatar")).to_have_attribute("src", PHOTO, timeout=WAIT)
        bea = inbox.agent("bea")
        assert bea is not None
        InboxService(stack.gw, inbox).note(bea, inbox.open_thread_of(f"telegram:{shopper}").id,  # type: ignore[union-attr]
                                           "Sent the label.", time.time())  # fmt: skip
        note = page.locator("#messages .msg.note", has_text="Sent the label.")  # added live
        expect(note.locator("img.avatar")).to_have_attribute("src", PHOTO, timeout=WAIT)
        assert page.locator("main b, header b").count() == 0  # the URL's markup stayed text
        bot = page.locator("#messages .msg.out", has_text="has joined the chat")
        assert bot.locator("img").count() == 0  # the bot's lines carry no agent photo
        shot(page, "photos")
        assert alerts == []
    finally:
        page.close()


def test_an_arabic_thread_reads_right_to_left_in_the_shoppers_language(
    browser, stack: Stack, agents
) -> None:
    shopper = stack.shopper("telegram", "Omar Haddad")
    stack.say("telegram", shopper, "أين طلبي A1234؟ أريد التحدث مع موظف")
    sent = stack.wait_sent("telegram", shopper, 2)
    assert sent[0]["text"].startswith("مرحبًا Omar!")

    page = browser.new_page()
    try:
        log_in(page, stack)
        page.locator("#waiting tr", has_text="Omar Haddad").locator("a").click()
        text = page.locator("#messages .msg.in .text").first
        expect(text).to_have_attribute("dir", "auto", timeout=WAIT)
        # Arabic mixed with an order number is laid out right to left, as the shopper wrote it.
        assert text.evaluate("el => getComputedStyle(el).direction") == "rtl"
        expect(page.locator("#language")).to_have_text("العربية")
        page.click("text=Claim this thread")
        joined = stack.wait_sent("telegram", shopper, len(sent) + 1)[-1]["text"]
        assert joined.startswith("👋 انضم Bea من Acme Shoes إلى المحادثة")
        page.click("button[data-name=hello]")
        assert page.locator("#composer").input_value().startswith(
            stack.gw.flows.flow.canned_in["hello"]["ar"]
        )
        shot(page, "thread-arabic")
    finally:
        page.close()
