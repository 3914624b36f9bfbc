"""A new shopper chats with the real gateway from the simulator page, in headless Chromium.

The whole product runs on real HTTP (the `stack` fixture): the page posts signed webhooks to the
gateway, the gateway answers through the sandbox's fake platform APIs, and the page draws those
answers the way each platform does. A screenshot per channel goes to test-artifacts/ (and, with
UPDATE_SCREENSHOTS=1, to the committed docs/gateway-<channel>.png).
"""

from __future__ import annotations

import os
import re
from urllib.parse import quote

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import Stack

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.browser

WAIT = 15_000  # ms: the longest any one expectation waits for the page
# The committed pictures in docs/ change only on request (`make screenshots`), so a test run
# never modifies tracked files.
SCREENSHOTS = [ROOT / "test-artifacts"] + (
    [ROOT / "docs"] if os.environ.get("UPDATE_SCREENSHOTS") == "1" else []
)
GREETING = "Hi Ann! 👋 Welcome to Acme Shoes."
DISCLOSURE = "🤖 I'm Acme's virtual assistant, a bot. A person is always one tap away."
MENU = ["Track my order", "Returns & refunds", "Shipping & delivery", "Talk to a person"]
HOSTILE = "<img src=x onerror=alert(1)>"
# Where each platform draws a menu: Telegram under the message as an inline keyboard, Messenger
# as quick-reply pills, WhatsApp (plain Twilio text) as a numbered list inside the message.
BUTTONS = {"telegram": ".inline-keyboard .key", "messenger": ".quick-replies .pill"}
ANY_BUTTONS = ".inline-keyboard, .wa-buttons, .quick-replies, .card-buttons"


def say(page, text: str) -> None:
    page.fill("#text", text)
    page.press("#text", "Enter")
    sent = page.locator(".msg.in").filter(has=page.get_by_text(text, exact=True)).last
    expect(sent.locator(".chip")).to_have_text("gateway 200", timeout=WAIT)


def bot_message(page, text: str):
    """The bot's bubble row (with any buttons drawn under it) whose text contains `text`."""
    return page.locator("#log .msg.out").filter(has_text=text)


@pytest.mark.parametrize("channel", ["whatsapp", "messenger", "telegram"])
def test_new_shopper_tracks_an_order_from_the_simulator_page(browser, stack: Stack, channel):
    address = stack.shopper(channel, "Ann Lee")  # a name whose address the split sends to the bot
    [name] = [
        s.name
        for s in stack.sandbox.state.shoppers.all()
        if (s.channel, s.address) == (channel, address)
    ]
    dialogs: list[str] = []
    page = browser.new_page(viewport={"width": 900, "height": 900})
    page.set_default_timeout(WAIT)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.goto(stack.sandbox.simulator_url)
        page.click(f"label.choice.{channel}")
        page.fill("#name", name)
        page.click("#start-button")
        # The page opened the very shopper the split was checked for (one address per name).
        opened = re.compile(re.escape(f"#{channel}/{quote(address)}") + "$")
        expect(page).to_have_url(opened, timeout=WAIT)
        expect(page.locator("#subtitle")).to_contain_text(f"you are {name}", timeout=WAIT)

        say(page, "hi")
        greeting = bot_message(page, GREETING).locator(".text")
        expect(greeting).to_have_text(f"{GREETING}\n\n{DISCLOSURE}", timeout=WAIT)
        menu = bot_message(page, "How can I help you today?")
        expect(menu).to_have_count(1, timeout=WAIT)
        if channel == "whatsapp":
            numbered = "\n".join(f"{i}. {title}" for i, title in enumerate(MENU, 1))
            menu_text = f"How can I help you today?\n\n{numbered}"
            expect(menu.locator(".text")).to_have_text(menu_text, timeout=WAIT)
            expect(menu.locator(ANY_BUTTONS)).to_have_count(0, timeout=WAIT)
            say(page, "1")
        else:
            buttons = menu.locator(BUTTONS[channel])
            expect(buttons).to_have_text(MENU, timeout=WAIT)
            expect(menu.locator(".text")).to_have_text("How can I help you today?", timeout=WAIT)
            buttons.filter(has_text="Track my order").click()
            # Telegram sends a callback query (the chat notes the tap); a Messenger quick reply
            # is the shopper's own message, and the spent pills go away.
            shown = "#log .msg.note" if channel == "telegram" else "#log .msg.in"
            tapped = page.locator(shown).filter(has_text="Track my order")
            expect(tapped.locator(".chip")).to_have_text("gateway 200", timeout=WAIT)

        expect(bot_message(page, "What's your order number?")).to_have_count(1, timeout=WAIT)
        expect(menu.locator(".quick-replies")).to_have_count(0, timeout=WAIT)
        say(page, "A1234")
        expect(bot_message(page, "Order A1234 is on its way")).to_have_count(1, timeout=WAIT)
        expect(bot_message(page, "Is there anything else")).to_have_count(1, timeout=WAIT)
        for folder in SCREENSHOTS:
            folder.mkdir(exist_ok=True)
            page.screenshot(path=str(folder / f"gateway-{channel}.png"), full_page=True)

        replies = page.locator("#log .msg.out").count()
        say(page, HOSTILE)  # shown as text, never parsed as HTML
        expect(page.locator("#log .msg.in .text").last).to_have_text(HOSTILE, timeout=WAIT)
        expect(page.locator("#log .msg.out")).not_to_have_count(replies, timeout=WAIT)
        expect(page.locator("#log img, #log script")).to_have_count(0, timeout=WAIT)
        expect(page.locator("#error")).to_be_hidden(timeout=WAIT)
    finally:
        page.close()
    assert dialogs == []  # no alert() ran


def test_the_phones_language_picked_in_the_simulator_greets_in_it(browser, stack: Stack):
    page = browser.new_page(viewport={"width": 900, "height": 900})
    page.set_default_timeout(WAIT)
    try:
        page.goto(stack.sandbox.simulator_url)
        page.click("label.choice.telegram")
        page.fill("#name", "Mei Lin")
        page.select_option("#locale", "zh_TW")
        page.click("#start-button")
        expect(page.locator("#subtitle")).to_contain_text("you are Mei Lin", timeout=WAIT)
        [shopper] = [s for s in stack.sandbox.state.shoppers.all() if s.name == "Mei Lin"]
        assert shopper.locale == "zh-hant"  # as Telegram reports it
        say(page, "hi")  # says nothing of its language: the phone's (Traditional) decides
        greeting = bot_message(page, "歡迎光臨 Acme Shoes").locator(".text")
        expect(greeting).to_contain_text("您好，Mei！👋 歡迎光臨 Acme Shoes。", timeout=WAIT)
    finally:
        page.close()
