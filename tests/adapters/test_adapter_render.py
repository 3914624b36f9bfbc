"""Rendering `Reply`s in each platform's own form: limits, splitting, buttons and their
degradation (never dropping an option), escaping, agents, calls, long payloads, plain JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from adapter_helpers import whatsapp_config

from adapters.base import Outgoing, WindowDecision
from adapters.common.text import utf16_len
from adapters.whatsapp.adapter import WhatsAppAdapter
from flows.messages import Attachment, Button, Reply, Template, short_payload

SIZES = (Button("S", "size:S"), Button("M", "size:M"), Button("L", "size:L"))
LONG_TEXT = "Zażółć gęślą jaźń, 👨‍👩‍👧 مرحبا! " * 300  # ~9,000 units, emoji and RTL


def texts(outs: tuple[Outgoing, ...], key: str = "body") -> list[str]:
    return [o.payload[key] for o in outs if key in o.payload]


def _words(parts: list[str]) -> list[str]:
    return [w for p in parts for w in p.split()]


# ---- all platforms ----


@pytest.mark.parametrize("platform", ["twilio", "messenger", "telegram"])
def test_outgoing_is_plain_json_and_round_trips(adapters: dict[str, Any], platform: str) -> None:
    reply = Reply(LONG_TEXT, buttons=SIZES, media=(Attachment("image", "https://cdn.test/a.jpg"),))
    for out in adapters[platform].render(reply, "100000002"):
        data = json.loads(json.dumps(out.to_dict()))
        assert Outgoing.from_dict(data) == out


@pytest.mark.parametrize("platform", ["twilio", "messenger", "telegram"])
def test_parts_are_numbered_and_media_come_first(adapters: dict[str, Any], platform: str) -> None:
    reply = Reply("Here it is", media=(Attachment("image", "https://cdn.test/a.jpg"),))
    outs = adapters[platform].render(reply, "100000002")
    assert [(o.part, o.parts) for o in outs] == [(1, 2), (2, 2)]
    assert "https://cdn.test/a.jpg" in json.dumps(outs[0].payload)
    assert "Here it is" in json.dumps(outs[1].payload)


# ---- WhatsApp (Twilio) ----


def test_whatsapp_buttons_become_a_numbered_list(whatsapp: Any) -> None:
    (out,) = whatsapp.render(Reply("Pick a size", buttons=SIZES), "+12025550143")
    assert out.payload == {"body": "Pick a size\n\n1. S\n2. M\n3. L"}


def test_whatsapp_long_text_is_split_with_the_options_on_the_last_part(whatsapp: Any) -> None:
    outs = whatsapp.render(Reply(LONG_TEXT, buttons=SIZES), "+12025550143")
    bodies = texts(outs)
    assert len(bodies) > 1 and all(utf16_len(b) <= 1600 for b in bodies)
    assert _words(bodies)[: len(LONG_TEXT.split())] == LONG_TEXT.split()
    assert bodies[-1].endswith("1. S\n2. M\n3. L")
    assert not any("1. S" in b for b in bodies[:-1])


def test_whatsapp_call_number_is_in_the_text(whatsapp: Any) -> None:
    (out,) = whatsapp.render(Reply("Call us", call="+48 22 123 45 67"), "+12025550143")
    assert out.payload["body"] == "Call us\n\n📞 +48 22 123 45 67"


def test_whatsapp_agent_is_named_first(whatsapp: Any) -> None:
    (out,) = whatsapp.render(Reply("I'll check.", author="Ann (Acme team)"), "+12025550143")
    assert out.payload["body"] == "Ann (Acme team): I'll check."


def test_whatsapp_rtl_and_emoji_text_goes_out_unchanged(whatsapp: Any) -> None:
    text = "مرحبا، طلبك في الطريق 🚚 👍🏽"
    (out,) = whatsapp.render(Reply(text), "+447700900123")
    assert out.payload["body"] == text


@pytest.fixture
def whatsapp_templates() -> Any:
    adapter = WhatsAppAdapter(whatsapp_config(quick_reply_sids={2: "HX2", 3: "HX3"}))
    yield adapter
    adapter.close()


def test_whatsapp_sends_a_configured_window_template_as_content() -> None:
    adapter = WhatsAppAdapter(whatsapp_config(templates={"reopen": "HXre0"}))
    try:
        reply = Reply("(history line)", media=(Attachment("image", "https://cdn.test/a.jpg"),),
                      author="Bea", template=Template("reopen", ("Ann", "Bea\nOrtiz  \t", "")))  # fmt: skip
        (out,) = adapter.render(reply, "+12025550143", WindowDecision(False, "24 h", needs_template=True))
        # one line each, never empty: WhatsApp refuses newlines, tabs and empty values
        assert out.payload == {"content_sid": "HXre0",
                               "content_variables": '{"1": "Ann", "2": "Bea Ortiz", "3": "-"}'}  # fmt: skip
        csat = Reply("(history)", template=Template("csat", ("Ann", "Bea")))
        assert texts(adapter.render(csat, "+12025550143")) == ["(history)"]  # not configured
    finally:
        adapter.close()


@pytest.mark.parametrize("platform", ["messenger", "telegram"])
def test_platforms_without_templates_send_the_text(adapters: dict[str, Any], platform: str) -> None:
    reply = Reply("Hi Ann", template=Template("reopen", ("Ann", "Bea")))
    assert "Hi Ann" in json.dumps([o.payload for o in adapters[platform].render(reply, "1000")])


def test_whatsapp_uses_the_quick_reply_template_when_one_fits(whatsapp_templates: Any) -> None:
    long_payload = "ORDER:" + "x" * 300
    buttons = (Button("Track", "TRACK"), Button("Cancel", long_payload))
    (out,) = whatsapp_templates.render(Reply("Your order?", buttons=buttons), "+12025550143")
    assert out.payload["content_sid"] == "HX2"
    assert json.loads(out.payload["content_variables"]) == {
        "1": "Your order?",
        "2": "Track",
        "3": "TRACK",
        "4": "Cancel",
        "5": short_payload(long_payload),
    }


@pytest.mark.parametrize(
    "buttons",
    [
        (Button("One", "1"),),  # no template configured for one button
        (*SIZES, Button("XL", "size:XL")),  # more than WhatsApp's 3 in-session buttons
        (Button("A title over twenty chars", "a"), Button("B", "b")),
        (Button("Shop", "https://shop.test", "url"), Button("B", "b")),
    ],
    ids=["no-sid", "four-buttons", "long-title", "url-button"],
)
def test_whatsapp_falls_back_to_numbered_text_when_no_template_fits(
    whatsapp_templates: Any, buttons: tuple[Button, ...]
) -> None:
    (out,) = whatsapp_templates.render(Reply("Choose", buttons=buttons), "+12025550143")
    assert "content_sid" not in out.payload
    assert all(b.title in out.payload["body"] for b in buttons)


def test_whatsapp_template_body_over_1024_is_split_before_it(whatsapp_templates: Any) -> None:
    outs = whatsapp_templates.render(Reply("word " * 400, buttons=SIZES), "+12025550143")
    variables = json.loads(outs[-1].payload["content_variables"])
    assert utf16_len(variables["1"]) <= 1024
    assert sum(len(t.split()) for t in [*texts(outs), variables["1"]]) == 400


# ---- Messenger ----


def test_messenger_reply_buttons_become_quick_replies(messenger: Any) -> None:
    (out,) = messenger.render(Reply("Pick a size", buttons=SIZES), "7300000000000001")
    assert out.payload == {
        "messaging_type": "RESPONSE",
        "message": {
            "text": "Pick a size",
            "quick_replies": [
                {"content_type": "text", "title": t, "payload": f"size:{t}"} for t in "SML"
            ],
        },
    }


def test_messenger_long_titles_keep_taps_as_numbers_with_the_full_list(messenger: Any) -> None:
    buttons = tuple(Button(f"A rather long option title {i}", f"opt{i}") for i in range(1, 4))
    (out,) = messenger.render(Reply("Which?", buttons=buttons), "7300000000000001")
    message = out.payload["message"]
    assert [q["title"] for q in message["quick_replies"]] == ["1", "2", "3"]
    assert [q["payload"] for q in message["quick_replies"]] == ["opt1", "opt2", "opt3"]
    assert all(f"{i}. {b.title}" in message["text"] for i, b in enumerate(buttons, start=1))


def test_messenger_more_than_13_options_degrade_to_numbered_text(messenger: Any) -> None:
    buttons = tuple(Button(f"Opt {i}", f"p{i}") for i in range(1, 15))
    outs = messenger.render(Reply("Pick", buttons=buttons), "7300000000000001")
    text = "\n".join(o.payload["message"]["text"] for o in outs)
    assert not any("quick_replies" in o.payload["message"] for o in outs)
    assert all(f"{i}. Opt {i}" in text for i in range(1, 15))


def test_messenger_links_and_calls_become_a_button_template(messenger: Any) -> None:
    buttons = (Button("Status", "ORDER_STATUS"), Button("Shop", "https://shop.test/p", "url"))
    (out,) = messenger.render(Reply("Help?", buttons=buttons, call="+48 22 123 45 67"), "73")
    payload = out.payload["message"]["attachment"]["payload"]
    assert payload["template_type"] == "button" and payload["text"] == "Help?"
    assert payload["buttons"] == [
        {"type": "postback", "title": "Status", "payload": "ORDER_STATUS"},
        {"type": "web_url", "title": "Shop", "url": "https://shop.test/p"},
        {"type": "phone_number", "title": "📞 +48221234567", "payload": "+48221234567"},
    ]


def test_messenger_template_text_over_640_is_split_before_it(messenger: Any) -> None:
    reply = Reply("word " * 300, buttons=(Button("Shop", "https://shop.test", "url"),))
    outs = messenger.render(reply, "73")
    template = outs[-1].payload["message"]["attachment"]["payload"]
    assert utf16_len(template["text"]) <= 640
    firsts = [o.payload["message"]["text"] for o in outs[:-1]]
    assert sum(len(t.split()) for t in [*firsts, template["text"]]) == 300


def test_messenger_more_than_three_template_buttons_degrade_to_numbered_text(
    messenger: Any,
) -> None:
    buttons = (*SIZES, Button("Shop", "https://shop.test", "url"))
    (out,) = messenger.render(Reply("Pick", buttons=buttons), "73")
    assert out.payload["message"] == {
        "text": "Pick\n\n1. S\n2. M\n3. L\n4. Shop: https://shop.test"
    }


def test_messenger_text_is_split_at_2000(messenger: Any) -> None:
    outs = messenger.render(Reply(LONG_TEXT), "73")
    parts = [o.payload["message"]["text"] for o in outs]
    assert len(parts) > 1 and all(utf16_len(p) <= 2000 for p in parts)
    assert _words(parts) == LONG_TEXT.split()


def test_messenger_long_payload_is_replaced_by_short_payload(messenger: Any) -> None:
    payload = "P" * 1001
    (out,) = messenger.render(Reply("Go", buttons=(Button("Go", payload),)), "73")
    assert out.payload["message"]["quick_replies"][0]["payload"] == short_payload(payload)


def test_messenger_human_agent_tag_comes_from_the_window(messenger: Any) -> None:
    window = messenger.window(0.0, 3 * 86400.0, author="Ann")
    (out,) = messenger.render(Reply("Sorry for the wait", author="Ann"), "73", window)
    assert out.payload["messaging_type"] == "MESSAGE_TAG"
    assert out.payload["tag"] == "HUMAN_AGENT"
    assert out.payload["message"]["text"] == "Ann: Sorry for the wait"


# ---- Telegram ----


def test_telegram_buttons_become_an_inline_keyboard(telegram: Any) -> None:
    (out,) = telegram.render(Reply("Pick a size", buttons=SIZES), "100000002")
    assert out.payload == {
        "method": "sendMessage",
        "text": "Pick a size",
        "reply_markup": {
            "inline_keyboard": [[{"text": t, "callback_data": f"size:{t}"} for t in "SML"]]
        },
    }


def test_telegram_callback_data_over_64_bytes_uses_short_payload(telegram: Any) -> None:
    polish = "rozmiar:" + "ż" * 30  # 68 bytes in UTF-8, 38 characters
    (out,) = telegram.render(Reply("Pick", buttons=(Button("Ż", polish),)), "1")
    data = out.payload["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert data == short_payload(polish) and len(data.encode()) <= 64


def test_telegram_sends_plain_text_so_markup_is_never_interpreted(telegram: Any) -> None:
    hostile = "<b>bold</b> *star* _under_ [x](tg://user?id=1) &amp;"
    (out,) = telegram.render(Reply(hostile, author="Eve <b>Test</b>"), "1")
    assert out.payload == {"method": "sendMessage", "text": f"Eve <b>Test</b>: {hostile}"}
    assert "parse_mode" not in json.dumps(out.payload)


def test_telegram_call_goes_in_the_text_not_a_tel_button(telegram: Any) -> None:
    buttons = (
        Button("Shop", "https://shop.test", "url"),
        Button("Call us", "+48221234567", "call"),
    )
    (out,) = telegram.render(Reply("Help?", buttons=buttons, call="+12025550100"), "1")
    assert out.payload["text"] == "Help?\n\n📞 Call us: +48221234567\n📞 +12025550100"
    assert out.payload["reply_markup"]["inline_keyboard"] == [
        [{"text": "Shop", "url": "https://shop.test"}]
    ]
    assert "tel:" not in json.dumps(out.payload)


def test_telegram_long_text_is_split_with_the_keyboard_on_the_last_part(telegram: Any) -> None:
    outs = telegram.render(Reply(LONG_TEXT, buttons=SIZES), "1")
    parts = texts(outs, "text")
    assert len(parts) == 3 and all(utf16_len(p) <= 4096 for p in parts)
    assert _words(parts) == LONG_TEXT.split()
    assert ["reply_markup" in o.payload for o in outs] == [False, False, True]


def test_telegram_too_many_buttons_degrade_to_numbered_text(telegram: Any) -> None:
    buttons = tuple(Button(f"Item {i}", f"i{i}") for i in range(1, 102))
    outs = telegram.render(Reply("Pick", buttons=buttons), "1")
    text = "\n".join(texts(outs, "text"))
    assert not any("reply_markup" in o.payload for o in outs)
    assert all(f"\n{i}. Item {i}" in text for i in range(1, 102))


def test_telegram_long_titles_get_a_row_each(telegram: Any) -> None:
    buttons = (Button("Track my order please", "t"), Button("Returns", "r"))
    (out,) = telegram.render(Reply("Hi", buttons=buttons), "1")
    assert [len(row) for row in out.payload["reply_markup"]["inline_keyboard"]] == [1, 1]


def test_telegram_buttons_without_text_still_send_a_message(telegram: Any) -> None:
    (out,) = telegram.render(Reply("", buttons=SIZES), "1")
    assert out.payload["text"] == "1. S\n2. M\n3. L"
    assert "reply_markup" in out.payload


# ---- windows ----

HOUR = 3600.0


@pytest.mark.parametrize(
    ("platform", "age_h", "author", "allowed", "tag"),
    [
        ("twilio", 23, "bot", True, None),
        ("twilio", 25, "Ann", False, None),
        ("messenger", 23, "bot", True, None),
        ("messenger", 25, "bot", False, None),
        ("messenger", 25, "Ann", True, "HUMAN_AGENT"),
        ("messenger", 24 * 8, "Ann", False, None),
        ("telegram", 24 * 365, "bot", True, None),
    ],
)
def test_window_says_whether_free_form_may_go_out_and_why(
    adapters: dict[str, Any], platform: str, age_h: int, author: str, allowed: bool, tag: str | None
) -> None:
    now = 1_800_000_000.0
    decision = adapters[platform].window(now - age_h * HOUR, now, author)
    assert isinstance(decision, WindowDecision)
    assert (decision.allowed, decision.tag) == (allowed, tag)
    assert decision.reason


def test_whatsapp_window_points_to_a_template(whatsapp: Any) -> None:
    decision = whatsapp.window(None, 1_800_000_000.0)
    assert not decision.allowed and decision.needs_template
