"""Every inbound fixture in tests/fixtures, through its adapter, gives what its manifest tag says.

The table below states the exact fields per fixture; `test_table_covers_every_inbound_fixture`
keeps it in step with manifest.json.
"""

from __future__ import annotations

from typing import Any

import pytest
from adapter_helpers import RECEIVED_AT, sign, signed_request

from adapters.base import ParseError, ParseResult, StatusUpdate, Unreachable
from adapters.common.text import INBOUND_TEXT_LIMIT
from flows.messages import Attachment, Contact, Location

MANIFEST: dict[str, dict[str, Any]] = sign.load_manifest()
INBOUND = sorted(rel for rel, e in MANIFEST.items() if e["direction"] == "inbound")
POSTS = [rel for rel in INBOUND if MANIFEST[rel]["method"] == "POST"]
ADAPTER_OF = {"twilio": "twilio", "messenger": "messenger", "telegram": "telegram"}

WA_USER = "+12025550143"
UK_USER = "+447700900123"
PSID_1, PSID_2 = "7300000000000001", "7300000000000002"


def mid(n: int) -> str:
    return f"m_FAKE-mid-{n:04d}-aGVsbG8tdGhpcy1pcy1hLWZha2UtbWVzc2FnZS1pZA"


# rel → the Inbound fields each message must have, in order.
MESSAGES: dict[str, list[dict[str, Any]]] = {
    "twilio/wa_text.form": [
        dict(
            conversation=WA_USER,
            message_id="SM00000000000000000000000000001001",
            kind="text",
            text="Hi! Do you ship to Canada? 🚚",
            shopper_name="Test User",
            shopper_phone=WA_USER,
        )
    ],
    "twilio/wa_text_arabic.form": [
        dict(
            conversation=UK_USER,
            message_id="SM00000000000000000000000000001002",
            kind="text",
            text="مرحبا، أريد تتبع طلبي رقم 1042 من فضلك 🙏",
            shopper_name="ليلى تجربة",
            extras={"Forwarded": "true"},
        )
    ],
    "twilio/wa_media_image.form": [
        dict(
            conversation=UK_USER,
            message_id="MM00000000000000000000000000001003",
            kind="media",
            text="Czy ten model jest dostępny w rozmiarze 42? Zażółć gęślą jaźń.",
            attachments=(
                Attachment(
                    "image",
                    "https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages/MM00000000000000000000000000001003/Media/ME00000000000000000000000000001003",
                    "image/jpeg",
                ),
            ),
            extras={"MessagingServiceSid": "MG00000000000000000000000000000001"},
        )
    ],
    "twilio/wa_location.form": [
        dict(
            conversation=WA_USER,
            message_id="SM00000000000000000000000000001004",
            kind="location",
            text="",
            location=Location(
                52.2296756,
                21.0122287,
                name="Odbiór / pickup point",
                address="Plac Defilad 1, 00-901 Warszawa",
            ),
        )
    ],
    "twilio/wa_button_reply.form": [
        dict(
            conversation=WA_USER,
            message_id="SM00000000000000000000000000001005",
            kind="button",
            payload="TRACK_ORDER:A-1042",
            text="Track my order",
            extras={"OriginalRepliedMessageSid": "SM00000000000000000000000000002001"},
        )
    ],
    "twilio/wa_list_reply.form": [
        dict(
            conversation=WA_USER,
            message_id="SM00000000000000000000000000001006",
            kind="button",
            payload="size_m",
            text="Size M",
        )
    ],
    "hostile/twilio_card_number.form": [
        dict(
            conversation=UK_USER,
            message_id="SM00000000000000000000000000004001",
            kind="text",
            text="Płatność nie przeszła. Moja karta: 4111 1111 1111 1111, ważna 12/29, CVV 123. (Nr zamówienia 1234 5678 9012 3456)",
        )
    ],
    "hostile/twilio_img_onerror.form": [
        dict(
            conversation=WA_USER,
            message_id="SM00000000000000000000000000004002",
            kind="text",
            text="<img src=x onerror=alert(1)>",
            shopper_name="Eve <b>Test</b>",
        )
    ],
    "messenger/text.json": [
        dict(
            conversation=PSID_1,
            message_id=mid(1),
            kind="text",
            text="Dzień dobry! Czy macie te buty w rozmiarze 42? Zażółć gęślą jaźń.",
            timestamp=1718000000.1,
            extras={"page_id": "100000000000001"},
        )
    ],
    "messenger/text_chinese_emoji.json": [
        dict(
            conversation=PSID_2,
            message_id=mid(2),
            kind="text",
            text="你好！我想退货，订单号 A-1042 😅🙏 👨\u200d👩\u200d👧",
        )
    ],
    "messenger/quick_reply.json": [
        dict(
            conversation=PSID_1,
            message_id=mid(3),
            kind="button",
            payload="SIZE_M",
            text="Rozmiar M",
        )
    ],
    "messenger/postback.json": [
        dict(
            conversation=PSID_1,
            message_id=mid(4),
            kind="button",
            payload="ORDER_STATUS",
            text="Sprawdź zamówienie",
        )
    ],
    "messenger/attachment_image.json": [
        dict(
            conversation=PSID_2,
            message_id=mid(5),
            kind="media",
            text="",
            attachments=(
                Attachment(
                    "image",
                    "https://scontent.xx.fbcdn.net/v/t1.15752-9/fake_image_0005.jpg?_nc_cat=1&oh=00_FAKE&oe=66700000",
                ),
            ),
        )
    ],
    "messenger/batch_two_entries.json": [
        dict(conversation=PSID_1, message_id=mid(9), text="Pierwsza wiadomość"),
        dict(conversation=PSID_2, message_id=mid(10), text="第二条消息"),
    ],
    "messenger/batch_two_messaging_items.json": [
        dict(conversation=PSID_1, message_id=mid(11), text="Item one"),
        dict(conversation=PSID_1, message_id=mid(12), text="Item two"),
    ],
    "hostile/messenger_script_tag.json": [
        dict(conversation=PSID_1, message_id=mid(13), kind="text", text="<script>alert(1)</script>")
    ],
    "telegram/text_private.json": [
        dict(
            conversation="100000001",
            message_id="900000001",
            kind="text",
            text="你好！请问这件外套还有M码吗？🧥",
            shopper_name="测试 用户",
            first_name="测试",
            locale="zh-hans",
            timestamp=1718000010.0,
            extras={"chat_message_id": "11"},
        )
    ],
    "telegram/text_private_redelivery.json": [
        dict(
            conversation="100000001",
            message_id="900000001",
            kind="text",
            text="你好！请问这件外套还有M码吗？🧥",
        )
    ],
    "telegram/start_deeplink.json": [
        dict(
            conversation="100000002",
            message_id="900000002",
            kind="start",
            text="/start ref_SPRING24-pl",
            first_name="Jan",
            locale="pl",
            extras={"start_param": "ref_SPRING24-pl"},
        )
    ],
    "telegram/callback_query.json": [
        dict(
            conversation="100000002",
            message_id="900000003",
            kind="button",
            payload="size:M",
            text="M",
            timestamp=RECEIVED_AT,
            extras={"callback_query_id": "4382000000000000003"},
        )
    ],
    "telegram/edited_message.json": [
        dict(
            conversation="100000001",
            message_id="900000004",
            kind="edit",
            text="你好！请问这件外套还有L码吗？🧥",
            extras={"chat_message_id": "11", "edit_date": "1718000070"},
        )
    ],
    "telegram/photo.json": [
        dict(
            conversation="100000003",
            message_id="900000005",
            kind="media",
            text="هل هذا متوفر بمقاس L؟",
            locale="ar",
            attachments=(
                Attachment(
                    "image",
                    "telegram-file:AgACAgQAAxkBAAIFAKEfake0000000000000000000000000000000000000000000000000001280",
                    "image/jpeg",
                ),
            ),
        )
    ],
    "telegram/location.json": [
        dict(
            conversation="100000002",
            message_id="900000006",
            kind="location",
            location=Location(52.229676, 21.012229),
        )
    ],
    "telegram/contact.json": [
        dict(
            conversation="100000002",
            message_id="900000007",
            kind="contact",
            contact=Contact("+447700900123", "Jan Testowy"),
            shopper_phone="+447700900123",
        )
    ],
    "hostile/telegram_bidi_zero_width.json": [
        dict(
            conversation="100000003",
            message_id="900000010",
            kind="text",
            text="invoice\u202eFDP.exe\u202c \u200b\u200d مرحبا 👩\u200d💻 \u2066test\u2069",
        )
    ],
}
IGNORED: dict[str, tuple[str, str | None]] = {
    "messenger/echo.json": ("echo", PSID_1),
    "messenger/delivery.json": ("delivery", PSID_1),
    "messenger/read.json": ("read", PSID_1),
    "telegram/group_message.json": ("group_chat", "-1001000000001"),
}
STATUSES = {
    "twilio/status_delivered.form": StatusUpdate(
        "whatsapp",
        "SM00000000000000000000000000003001",
        "delivered",
        None,
        None,
        WA_USER,
        RECEIVED_AT,
    ),
    "twilio/status_failed_63016.form": StatusUpdate(
        "whatsapp",
        "SM00000000000000000000000000003002",
        "failed",
        "63016",
        "needs_template",
        WA_USER,
        RECEIVED_AT,
    ),
}
UNREACHABLE = {
    "telegram/my_chat_member_kicked.json": Unreachable(
        "telegram", "100000001", "blocked", 1718000090.0
    )
}
REJECTED = {
    "hostile/empty_body.bin": ParseError("body", "empty body"),
    "hostile/invalid_json.txt": ParseError("body", "invalid JSON at line 1 column 101"),
    "hostile/messenger_wrong_shape.json": ParseError("entry", "expected an array, got object"),
    "hostile/telegram_wrong_shape.json": ParseError("update_id", "expected an integer, got string"),
}
HANDSHAKES = {
    "messenger/verify_ok.query": (200, "1158201444"),
    "messenger/verify_bad_token.query": (403, "forbidden"),
}
SIZE_POLICY = {"hostile/messenger_long_20000.json"}


def adapter_for(adapters: dict[str, Any], rel: str, platform: str | None = None) -> Any:
    return adapters[platform or MANIFEST[rel]["platform"]]


def parse(adapters: dict[str, Any], rel: str, platform: str | None = None) -> Any:
    request = signed_request(rel, platform=platform)
    adapter = adapter_for(adapters, rel, platform)
    assert adapter.verify(request), f"{rel}: a correctly signed request must verify"
    return adapter.parse(request)


def test_table_covers_every_inbound_fixture() -> None:
    tables = [MESSAGES, IGNORED, STATUSES, UNREACHABLE, REJECTED, HANDSHAKES, SIZE_POLICY]
    assert sorted(k for t in tables for k in t) == INBOUND


def _check_inbound(message: Any, want: dict[str, Any], channel: str) -> None:
    assert message.channel == channel
    for key, value in want.items():
        if key == "extras":
            for name, expected in value.items():
                assert message.extra(name) == expected, name
        elif key.startswith("shopper_"):
            assert getattr(message.shopper, key.removeprefix("shopper_")) == value
        elif key in ("first_name", "locale"):
            assert getattr(message.shopper, key) == value
        else:
            assert getattr(message, key) == value, key


@pytest.mark.parametrize("rel", sorted(MESSAGES))
def test_inbound_fixture_gives_exactly_these_messages(adapters: dict[str, Any], rel: str) -> None:
    result = parse(adapters, rel)
    assert isinstance(result, ParseResult)
    assert (result.statuses, result.ignored, result.unreachable) == ((), (), ())
    assert len(result.inbound) == len(MESSAGES[rel])
    assert MANIFEST[rel]["expect"].startswith(("inbound_message", "duplicate", "edit_existing"))
    channel = {"twilio": "whatsapp"}.get(MANIFEST[rel]["platform"], MANIFEST[rel]["platform"])
    for message, want in zip(result.inbound, MESSAGES[rel], strict=True):
        _check_inbound(message, want, channel)


@pytest.mark.parametrize("rel", sorted(IGNORED))
def test_non_shopper_events_are_ignored_on_purpose(adapters: dict[str, Any], rel: str) -> None:
    result = parse(adapters, rel)
    assert MANIFEST[rel]["expect"] in ("ignore", "policy_group")
    assert isinstance(result, ParseResult) and result.inbound == ()
    assert [(i.reason, i.conversation) for i in result.ignored] == [IGNORED[rel]]


@pytest.mark.parametrize("rel", sorted(STATUSES))
def test_twilio_status_callback_is_a_status_update(adapters: dict[str, Any], rel: str) -> None:
    assert MANIFEST[rel]["expect"] == "status_update"
    assert parse(adapters, rel) == ParseResult(statuses=(STATUSES[rel],))


def test_telegram_kicked_bot_marks_the_chat_unreachable(adapters: dict[str, Any]) -> None:
    rel = "telegram/my_chat_member_kicked.json"
    assert MANIFEST[rel]["expect"] == "mark_unreachable"
    assert parse(adapters, rel) == ParseResult(unreachable=(UNREACHABLE[rel],))


REJECT_CASES = [
    (rel, platform)
    for rel in sorted(REJECTED)
    for platform in ("twilio", "messenger", "telegram")
    if MANIFEST[rel]["platform"] in ("any", platform)
]


@pytest.mark.parametrize(("rel", "platform"), REJECT_CASES)
def test_malformed_body_gives_an_error_naming_the_field(
    adapters: dict[str, Any], rel: str, platform: str
) -> None:
    result = parse(adapters, rel, platform)
    assert MANIFEST[rel]["expect"] == "reject_4xx"
    if platform == "twilio":  # not a form at all: Twilio reads no JSON path
        assert isinstance(result, ParseError) and result.path == "body"
    else:
        assert result == REJECTED[rel]
    assert adapter_for(adapters, rel, platform).webhook_reply(result).status == 400


def test_overlong_text_is_truncated_with_a_marker(adapters: dict[str, Any]) -> None:
    result = parse(adapters, "hostile/messenger_long_20000.json")
    (message,) = result.inbound
    assert len(message.text) == INBOUND_TEXT_LIMIT
    assert message.text.startswith("Lorem ipsum")
    assert message.extra("truncated_from") == "20000"


@pytest.mark.parametrize("rel", sorted(HANDSHAKES))
def test_messenger_handshake_echoes_only_a_valid_challenge(
    adapters: dict[str, Any], rel: str
) -> None:
    reply = adapters["messenger"].handshake(signed_request(rel))
    assert (reply.status, reply.body) == HANDSHAKES[rel]
    assert reply.content_type == "text/plain"
    assert MANIFEST[rel]["expect"] == (
        "handshake_200_challenge" if reply.status == 200 else "handshake_403"
    )


@pytest.mark.parametrize("platform", ["twilio", "telegram"])
def test_platforms_without_a_handshake_say_so(adapters: dict[str, Any], platform: str) -> None:
    assert adapters[platform].handshake(signed_request("messenger/verify_ok.query")) is None
