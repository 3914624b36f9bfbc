"""The simulator page in a real headless Chromium: chat, escaping, buttons, signed webhooks."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import requests
from conftest import ACCOUNT_SID, BOT_TOKEN

from sandbox.server import Sandbox

playwright_api = pytest.importorskip("playwright.sync_api")

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
HOSTILE = "Hi <img src=x onerror=alert(1)> & <script>alert(2)</script>"
NAME = "Eve <b>Test</b>"

pytestmark = pytest.mark.browser


def bot_replies(sb: Sandbox, channel: str, address: str) -> tuple[str, str]:
    """Send a bot reply with buttons through the fake API, as the gateway would.

    Returns the selector of the button to tap and the text on it.
    """
    if channel == "telegram":
        keyboard = {"inline_keyboard": [[{"text": t, "callback_data": f"size:{t}"} for t in "SML"]]}
        requests.post(
            f"{sb.telegram_base_url}{BOT_TOKEN}/sendMessage",
            json={
                "chat_id": int(address),
                "text": "Pick a size <b>not bold</b>",
                "reply_markup": keyboard,
            },
            timeout=5,
        )
        return ".inline-keyboard .key", "M"
    if channel == "messenger":
        graph = f"{sb.graph_base_url}/v19.0/me/messages?access_token=t"
        agent = {"recipient": {"id": address}, "message": {"text": "Anna here, happy to help."}}
        requests.post(graph, json=agent, headers={"X-Sandbox-Author": "Anna"}, timeout=5)
        quick = [{"content_type": "text", "title": t, "payload": f"SIZE_{t}"} for t in "SML"]
        message = {
            "recipient": {"id": address},
            "message": {"text": "Which size?", "quick_replies": quick},
        }
        requests.post(graph, json=message, timeout=5)
        return ".quick-replies .pill", "M"
    url = f"{sb.twilio_base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    to = {"To": "whatsapp:" + address, "From": "whatsapp:+12025550100"}
    requests.post(
        url,
        data={**to, "Body": "How can we help?\n1. Track my order\n2. Talk to a person"},
        auth=(ACCOUNT_SID, "t"),
        timeout=5,
    )
    sid = sb.add_content(
        {
            "twilio/quick-reply": {
                "body": "Order A-1042 is on its way.",
                "actions": [
                    {"title": "Track", "id": "TRACK:A-1042"},
                    {"title": "Talk to a person", "id": "HUMAN"},
                ],
            }
        }
    )
    requests.post(url, data={**to, "ContentSid": sid}, auth=(ACCOUNT_SID, "t"), timeout=5)
    return ".wa-buttons .key", "Track"


def bot_says(sb: Sandbox, channel: str, address: str, text: str) -> None:
    """A plain text reply through the fake API of `channel`."""
    if channel == "telegram":
        url = f"{sb.telegram_base_url}{BOT_TOKEN}/sendMessage"
        requests.post(url, json={"chat_id": int(address), "text": text}, timeout=5)
    elif channel == "messenger":
        url = f"{sb.graph_base_url}/v19.0/me/messages?access_token=t"
        requests.post(
            url, json={"recipient": {"id": address}, "message": {"text": text}}, timeout=5
        )
    else:
        url = f"{sb.twilio_base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        data = {"To": "whatsapp:" + address, "From": "whatsapp:+12025550100", "Body": text}
        requests.post(url, data=data, auth=(ACCOUNT_SID, "t"), timeout=5)


def shopper_text(channel: str, body: bytes) -> str:
    """The shopper's text as the gateway received it."""
    if channel == "whatsapp":
        return dict(parse_qsl(body.decode()))["Body"]
    if channel == "messenger":
        return json.loads(body)["entry"][0]["messaging"][0]["message"]["text"]
    return json.loads(body)["message"]["text"]


def tapped(channel: str, body: bytes) -> tuple[str, str]:
    """(what was tapped, its payload) read from the webhook the gateway received."""
    if channel == "telegram":
        query = json.loads(body)["callback_query"]
        return query["message"]["text"], query["data"]
    if channel == "messenger":
        message = json.loads(body)["entry"][0]["messaging"][0]["message"]
        return message["text"], message["quick_reply"]["payload"]
    params = dict(parse_qsl(body.decode()))
    return params["ButtonText"], params["ButtonPayload"]


EXPECTED = {
    "telegram": ("Pick a size <b>not bold</b>", "size:M"),
    "messenger": ("M", "SIZE_M"),
    "whatsapp": ("Track", "TRACK:A-1042"),
}


@pytest.mark.parametrize("channel", ["whatsapp", "messenger", "telegram"])
def test_simulator_chat_in_the_browser(browser, gateway, channel):
    dialogs: list[str] = []
    with Sandbox(gateway_url=gateway.url, env={}) as sb:
        page = browser.new_page(viewport={"width": 1060, "height": 760})
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(sb.simulator_url)
        page.click(f"label.choice.{channel}")
        page.fill("#name", NAME)
        page.click("#start-button")
        page.fill("#text", HOSTILE)
        page.press("#text", "Enter")

        shown = page.locator(".msg.in .text").first
        shown.wait_for()
        assert shown.text_content() == HOSTILE
        assert page.locator(".log img, .log script, #subtitle b").count() == 0
        assert NAME in page.locator("#subtitle").text_content()
        page.locator(".msg.in .chip", has_text="gateway 200").wait_for()
        assert shopper_text(channel, gateway.wait_for(1)[0]["body"]) == HOSTILE

        address = sb.state.shoppers.all()[0].address
        selector, title = bot_replies(sb, channel, address)
        button = page.locator(selector, has_text=title).first
        button.wait_for()
        button.click()
        [_, tap] = gateway.wait_for(2)
        assert tapped(channel, tap["body"]) == EXPECTED[channel]
        page.locator(".log .chip", has_text="gateway 200").nth(1).wait_for()
        bot_says(sb, channel, address, "Got it, thank you! <img src=x onerror=alert(3)>")
        page.locator(".msg.out .text", has_text="Got it, thank you!").wait_for()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"sandbox-{channel}.png"))
        page.close()
    assert dialogs == []  # nothing the shopper or the bot wrote ran as script


def test_simulator_page_loads_nothing_from_elsewhere(sb):
    response = requests.get(sb.simulator_url, timeout=5)
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    static = Path(__file__).resolve().parents[2] / "sandbox" / "static"
    script = (static / "sandbox.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    for text in (response.text, script, (static / "sandbox.css").read_text()):
        assert "http://" not in text and "https://" not in text
