"""The simulator posts webhooks the gateway cannot tell from the platforms' own."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from urllib.parse import parse_qsl

import pytest
import requests
from conftest import ACCOUNT_SID, BOT_TOKEN, fixture_bytes
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from twilio.request_validator import RequestValidator

from sandbox.server import Sandbox

PUBLIC = "https://bot.shop.example"
TWILIO_TOKEN = "fake_twilio_auth_token_000000000"
APP_SECRET = "fake_meta_app_secret_0123456789ab"
TG_SECRET = "fake-telegram-secret_0123456789"


@pytest.fixture
def sim(gateway):
    with Sandbox(gateway_url=gateway.url, env={"PUBLIC_BASE_URL": PUBLIC}) as sandbox:
        yield sandbox


def shopper(sb, channel, name="Ana Lima"):
    return sb.add_shopper(channel, name)


def say(sb, who, text=None, action=None):
    body = {"channel": who["channel"], "address": who["address"], "text": text, "action": action}
    response = requests.post(f"{sb.base_url}/_sim/api/send", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def view(sb, who):
    params = {"channel": who["channel"], "address": who["address"]}
    return requests.get(f"{sb.base_url}/_sim/api/conversation", params=params, timeout=5).json()


def form(req):
    return dict(parse_qsl(req["body"].decode(), keep_blank_values=True))


def test_whatsapp_text_is_signed_by_twilio_rules_for_the_public_url(sim, gateway):
    ana = shopper(sim, "whatsapp")
    entry = say(sim, ana, "Hi <img src=x onerror=alert(1)> zażółć")
    [req] = gateway.wait_for(1)
    assert req["path"] == "/webhooks/whatsapp"
    params = form(req)
    expected_keys = {k for k, _ in parse_qsl(fixture_bytes("twilio/wa_text.form").decode())}
    assert set(params) == expected_keys
    assert params["Body"] == "Hi <img src=x onerror=alert(1)> zażółć"
    assert params["From"] == "whatsapp:" + ana["address"] and params["WaId"] == ana["address"][1:]
    assert params["To"] == "whatsapp:+12025550100" and params["AccountSid"] == ACCOUNT_SID
    assert params["ProfileName"] == "Ana Lima" and params["MessageSid"].startswith("SM")
    validator = RequestValidator(TWILIO_TOKEN)
    signature = req["headers"]["X-Twilio-Signature"]
    assert validator.validate(f"{PUBLIC}/webhooks/whatsapp", params, signature)
    assert not validator.validate(f"{gateway.url}/webhooks/whatsapp", params, signature)
    assert entry["status"] == 200 and entry["id"] == params["MessageSid"]


def test_whatsapp_content_button_tap_posts_button_payload(sim, gateway):
    ana = shopper(sim, "whatsapp")
    sid = sim.add_content(
        {"twilio/quick-reply": {"body": "Track?", "actions": [{"title": "Track", "id": "TRACK:1"}]}}
    )
    sent = requests.post(
        f"{sim.twilio_base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
        data={
            "To": "whatsapp:" + ana["address"],
            "From": "whatsapp:+12025550100",
            "ContentSid": sid,
        },
        auth=(ACCOUNT_SID, "t"),
        timeout=5,
    ).json()
    [item] = view(sim, ana)["items"]
    [[button]] = item["rows"]
    assert (button["title"], button["payload"], button["kind"]) == ("Track", "TRACK:1", "button")
    say(sim, ana, action={**button, "seq": item["seq"]})
    params = form(gateway.wait_for(1)[0])
    assert params["MessageType"] == "button" and params["ButtonPayload"] == "TRACK:1"
    assert params["ButtonText"] == "Track" and params["Body"] == "Track"
    assert params["OriginalRepliedMessageSid"] == sent["sid"]


def test_messenger_text_is_signed_over_the_exact_meta_encoded_bytes(sim, gateway):
    ana = shopper(sim, "messenger")
    say(sim, ana, "Dzień dobry / <script>alert(1)</script> 🧥")
    [req] = gateway.wait_for(1)
    body = req["body"]
    assert req["path"] == "/webhooks/messenger"
    assert body.isascii() and b"\\/" in body and b"\\u0144" in body
    expected = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(req["headers"]["X-Hub-Signature-256"], expected)
    assert req["headers"]["X-Hub-Signature"].startswith("sha1=")
    event = json.loads(body)["entry"][0]["messaging"][0]
    template = json.loads(fixture_bytes("messenger/text.json"))["entry"][0]["messaging"][0]
    assert set(event) == set(template) and set(event["message"]) == {"mid", "text"}
    assert event["sender"]["id"] == ana["address"]
    assert event["message"]["text"] == "Dzień dobry / <script>alert(1)</script> 🧥"


def test_messenger_quick_reply_and_postback_taps(sim, gateway):
    ana = shopper(sim, "messenger")
    say(sim, ana, action={"kind": "quick_reply", "title": "M", "payload": "SIZE_M"})
    say(sim, ana, action={"kind": "postback", "title": "Track", "payload": "TRACK"})
    first, second = (json.loads(r["body"])["entry"][0]["messaging"][0] for r in gateway.wait_for(2))
    assert (
        first["message"]["quick_reply"] == {"payload": "SIZE_M"} and first["message"]["text"] == "M"
    )
    assert second["postback"]["payload"] == "TRACK" and second["postback"]["title"] == "Track"
    assert second["postback"]["mid"].startswith("m_") and "message" not in second


def test_telegram_text_has_the_secret_header_and_a_bot_command_entity(sim, gateway):
    jan = shopper(sim, "telegram", "Jan Testowy")
    say(sim, jan, "/start ref_SPRING24")
    [req] = gateway.wait_for(1)
    assert req["path"] == "/webhooks/telegram"
    assert req["headers"]["X-Telegram-Bot-Api-Secret-Token"] == TG_SECRET
    update = json.loads(req["body"])
    message = update["message"]
    assert message["chat"] == {
        "id": int(jan["address"]),
        "first_name": "Jan",
        "last_name": "Testowy",
        "type": "private",
    }
    assert message["from"]["is_bot"] is False and message["text"] == "/start ref_SPRING24"
    assert message["entities"] == [{"offset": 0, "length": 6, "type": "bot_command"}]


def test_telegram_callback_carries_the_bot_message_and_can_be_answered(sim, gateway):
    jan = shopper(sim, "telegram", "Jan Testowy")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("M", callback_data="size:M")]])

    async def bot_does(action):
        async with Bot(BOT_TOKEN, base_url=sim.telegram_base_url) as bot:
            return await action(bot)

    sent = asyncio.run(
        bot_does(lambda b: b.send_message(int(jan["address"]), "Size?", reply_markup=keyboard))
    )
    [item] = view(sim, jan)["items"]
    [[button]] = item["rows"]
    say(sim, jan, action={**button, "seq": item["seq"]})
    update = json.loads(gateway.wait_for(1)[0]["body"])
    query = update["callback_query"]
    assert query["data"] == "size:M" and query["message"]["message_id"] == sent.message_id
    assert query["message"]["reply_markup"] == keyboard.to_dict()
    assert query["from"]["id"] == int(jan["address"])
    asyncio.run(bot_does(lambda b: b.answer_callback_query(query["id"], text="Saved")))
    notes = [i for i in view(sim, jan)["items"] if i["dir"] == "note"]
    assert [n["text"] for n in notes] == ["Saved"]


def test_every_webhook_gets_a_fresh_platform_id(sim, gateway):
    ids = {}
    for channel in ("whatsapp", "messenger", "telegram"):
        who = shopper(sim, channel)
        ids[channel] = [say(sim, who, f"m{i}")["id"] for i in range(4)]
    gateway.wait_for(12)
    for channel, values in ids.items():
        assert len(set(values)) == 4, channel
    updates = [int(u) for u in ids["telegram"]]
    assert updates == sorted(updates)  # Telegram update ids increase


def test_a_refused_webhook_shows_the_gateway_status(sim, gateway):
    gateway.status = 403
    ana = shopper(sim, "messenger")
    assert say(sim, ana, "hello")["status"] == 403
    [item] = view(sim, ana)["items"]
    assert (item["dir"], item["status"]) == ("in", 403)
    assert [w["status"] for w in sim.webhooks("messenger")] == [403]


def test_without_a_gateway_the_message_is_recorded_as_not_delivered():
    with Sandbox(env={}) as sb:
        entry = say(sb, shopper(sb, "telegram"), "hi")
    assert entry["status"] is None and entry["error"] == "no gateway"


def test_secrets_come_from_the_gateway_environment(gateway):
    env = {"TELEGRAM_SECRET_TOKEN": "other-secret", "MESSENGER_APP_SECRET": "s3"}
    with Sandbox(gateway_url=gateway.url, env=env) as sb:
        say(sb, shopper(sb, "telegram"), "hi")
        say(sb, shopper(sb, "messenger"), "hi")
        tg, ms = gateway.wait_for(2)
    assert tg["headers"]["X-Telegram-Bot-Api-Secret-Token"] == "other-secret"
    expected = "sha256=" + hmac.new(b"s3", ms["body"], hashlib.sha256).hexdigest()
    assert ms["headers"]["X-Hub-Signature-256"] == expected


def test_unknown_shopper_and_empty_text_are_refused(sim):
    url = f"{sim.base_url}/_sim/api/send"
    body = {"channel": "telegram", "address": "1", "text": "x"}
    assert requests.post(url, json=body, timeout=5).status_code == 404
    jan = shopper(sim, "telegram")
    body = {"channel": "telegram", "address": jan["address"], "text": "  "}
    assert requests.post(url, json=body, timeout=5).status_code == 400
    body = {**body, "action": {"kind": "callback", "seq": 999, "payload": "x"}}
    assert requests.post(url, json=body, timeout=5).status_code == 400


def test_view_hides_old_quick_replies_and_applies_keyboard_edits(sim):
    ana = shopper(sim, "messenger")
    graph = f"{sim.graph_base_url}/v19.0/me/messages?access_token=t"
    quick = [{"content_type": "text", "title": "M", "payload": "SIZE_M"}]
    message = {
        "recipient": {"id": ana["address"]},
        "message": {"text": "Size?", "quick_replies": quick},
    }
    requests.post(graph, json=message, timeout=5)
    assert view(sim, ana)["items"][0]["quick"][0]["payload"] == "SIZE_M"
    requests.post(
        graph, json={"recipient": {"id": ana["address"]}, "sender_action": "typing_on"}, timeout=5
    )
    assert view(sim, ana)["typing"] is True
    requests.post(
        graph, json={"recipient": {"id": ana["address"]}, "message": {"text": "Hm?"}}, timeout=5
    )
    items = view(sim, ana)["items"]
    assert [i["quick"] for i in items] == [[], []] and view(sim, ana)["typing"] is False


def test_view_follows_telegram_edits_and_reply_keyboards(sim):
    jan = shopper(sim, "telegram")
    api = f"{sim.telegram_base_url}{BOT_TOKEN}"
    chat = int(jan["address"])
    inline = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    msg = requests.post(
        f"{api}/sendMessage",
        json={"chat_id": chat, "text": "Pick", "reply_markup": inline},
        timeout=5,
    )
    reply_kb = {"keyboard": [["Yes", "No"]], "one_time_keyboard": True}
    requests.post(
        f"{api}/sendMessage",
        json={"chat_id": chat, "text": "Sure?", "reply_markup": reply_kb},
        timeout=5,
    )
    assert view(sim, jan)["keyboard"] == [["Yes", "No"]]
    edit = {"chat_id": chat, "message_id": msg.json()["result"]["message_id"]}
    requests.post(f"{api}/editMessageReplyMarkup", json=edit, timeout=5)
    first = view(sim, jan)["items"][0]
    assert first["text"] == "Pick" and first["rows"] == []
    requests.post(
        f"{api}/sendMessage",
        json={"chat_id": chat, "text": "ok", "reply_markup": {"remove_keyboard": True}},
        timeout=5,
    )
    assert view(sim, jan)["keyboard"] is None
