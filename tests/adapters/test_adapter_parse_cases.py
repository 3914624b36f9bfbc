"""Parsing cases the shared fixtures do not cover: deep-link validation, other Telegram content
and update kinds, Messenger referrals and standby, Twilio JSON and unsupported messages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from adapter_helpers import sign

from adapters.base import Ignored, ParseError, ParseResult, WebhookRequest
from flows.messages import Attachment, Contact, Location


def telegram_request(update: dict[str, Any]) -> WebhookRequest:
    headers = {"X-Telegram-Bot-Api-Secret-Token": sign.DEFAULTS["telegram_secret_token"]}
    return WebhookRequest(
        "POST", "https://gw.test/webhooks/telegram", headers, json.dumps(update).encode()
    )


def private_message(**content: Any) -> dict[str, Any]:
    user = {"id": 5, "is_bot": False, "first_name": "Ann", "language_code": "en"}
    chat = {"id": 5, "type": "private", "first_name": "Ann"}
    return {
        "update_id": 77,
        "message": {"message_id": 3, "date": 1718000000, "from": user, "chat": chat, **content},
    }


@pytest.mark.parametrize(
    ("text", "param"),
    [
        ("/start", None),
        ("/start ref_ok-1", "ref_ok-1"),
        ("/start@shop_bot promo_2", "promo_2"),
        ("/start " + "a" * 65, None),
        ("/start <script>", None),
    ],
)
def test_telegram_start_parameter_is_validated_or_dropped(
    telegram: Any, text: str, param: str | None
) -> None:
    (message,) = telegram.parse(telegram_request(private_message(text=text))).inbound
    assert message.kind == "start" and message.extra("start_param") == param


def test_telegram_text_starting_with_start_but_longer_is_plain_text(telegram: Any) -> None:
    (message,) = telegram.parse(telegram_request(private_message(text="/startled me"))).inbound
    assert message.kind == "text"


@pytest.mark.parametrize(
    ("content", "attachment"),
    [
        (
            {"document": {"file_id": "D1", "file_unique_id": "u", "mime_type": "application/pdf"}},
            Attachment("file", "telegram-file:D1", "application/pdf"),
        ),
        (
            {
                "voice": {
                    "file_id": "V1",
                    "file_unique_id": "u",
                    "duration": 2,
                    "mime_type": "audio/ogg",
                }
            },
            Attachment("audio", "telegram-file:V1", "audio/ogg"),
        ),
        (
            {
                "sticker": {
                    "file_id": "S1",
                    "file_unique_id": "u",
                    "type": "regular",
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                }
            },
            Attachment("sticker", "telegram-file:S1", "image/webp"),
        ),
    ],
    ids=["document", "voice", "sticker"],
)
def test_telegram_files_become_media(
    telegram: Any, content: dict[str, Any], attachment: Attachment
) -> None:
    (message,) = telegram.parse(telegram_request(private_message(**content))).inbound
    assert (message.kind, message.attachments) == ("media", (attachment,))


def test_telegram_unsupported_content_is_ignored(telegram: Any) -> None:
    dice = private_message(dice={"emoji": "🎲", "value": 3})
    assert telegram.parse(telegram_request(dice)).ignored == (Ignored("unsupported_content", "5"),)


def test_telegram_other_update_kinds_are_ignored_on_purpose(telegram: Any) -> None:
    post = {
        "update_id": 78,
        "channel_post": {"message_id": 1, "date": 1, "chat": {"id": -100, "type": "channel"}},
    }
    assert telegram.parse(telegram_request(post)) == ParseResult(
        ignored=(Ignored("unsupported_update", detail="channel_post"),)
    )


def test_telegram_callback_from_a_group_is_not_answered_into_it(telegram: Any) -> None:
    update = json.loads(sign.read_fixture("telegram/callback_query.json"))
    update["callback_query"]["message"]["chat"] = {"id": -42, "type": "group", "title": "G"}
    result = telegram.parse(telegram_request(update))
    assert result.inbound == () and result.ignored[0].reason == "group_chat"


def test_telegram_wrong_nested_type_names_its_path(telegram: Any) -> None:
    update = private_message(text="hi")
    update["message"]["chat"]["id"] = "5"
    assert telegram.parse(telegram_request(update)) == ParseError(
        "message.chat.id", "expected an integer, got string"
    )


def test_telegram_photo_takes_the_first_of_the_largest_sizes(telegram: Any) -> None:
    sizes = [
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90},
        {"file_id": "big", "file_unique_id": "b", "width": 800, "height": 600, "file_size": 9},
        {"file_id": "same", "file_unique_id": "x", "width": 600, "height": 800, "file_size": 9},
    ]
    (message,) = telegram.parse(telegram_request(private_message(photo=sizes))).inbound
    assert message.attachments[0].url == "telegram-file:big"
    assert message.extra("file_unique_id") == "b"


def test_telegram_venue_names_the_location(telegram: Any) -> None:
    where = {"latitude": 52.2, "longitude": 21.0}
    venue = {"location": where, "title": "Shop", "address": "Main St 1"}
    (message,) = telegram.parse(
        telegram_request(private_message(location=where, venue=venue))
    ).inbound
    assert message.location == Location(52.2, 21.0, name="Shop", address="Main St 1")


def test_telegram_contact_of_someone_else_keeps_the_shoppers_phone_unset(telegram: Any) -> None:
    card = {"phone_number": "+44 7700 900123", "first_name": "Bo", "user_id": 6}
    (message,) = telegram.parse(telegram_request(private_message(contact=card))).inbound
    assert message.contact == Contact("+447700900123", "Bo")
    assert message.shopper.phone is None and message.shopper.name == "Ann"


def test_telegram_edit_without_edit_date_uses_the_date(telegram: Any) -> None:
    update = private_message(text="hi")
    update["edited_message"] = update.pop("message")
    (message,) = telegram.parse(telegram_request(update)).inbound
    assert (message.kind, message.extra("edit_date")) == ("edit", "1718000000")


@pytest.mark.parametrize(
    ("content", "path"),
    [
        ({"location": {"latitude": 1.0}}, "message.location.longitude"),
        ({"photo": [{"file_id": "p", "width": 1}]}, "message.photo[0].height"),
        ({"document": {"file_unique_id": "u"}}, "message.document.file_id"),
        (
            {"text": "hi", "from": {"id": 5, "first_name": "A", "last_name": 7}},
            "message.from.last_name",
        ),
    ],
)
def test_telegram_fields_we_read_name_their_path(telegram: Any, content: dict, path: str) -> None:
    result = telegram.parse(telegram_request(private_message(**content)))
    assert isinstance(result, ParseError) and result.path == path


def test_telegram_callback_with_a_broken_keyboard_names_its_path(telegram: Any) -> None:
    update = json.loads(sign.read_fixture("telegram/callback_query.json"))
    update["callback_query"]["message"]["reply_markup"]["inline_keyboard"][0][1]["text"] = 5
    assert telegram.parse(telegram_request(update)) == ParseError(
        "callback_query.message.reply_markup.inline_keyboard[0][1].text",
        "expected a string, got number",
    )


def messenger_request(body: dict[str, Any]) -> WebhookRequest:
    raw = json.dumps(body).encode()
    headers = {
        "X-Hub-Signature-256": sign.messenger_signature(sign.DEFAULTS["meta_app_secret"], raw)
    }
    return WebhookRequest("POST", "https://gw.test/webhooks/messenger", headers, raw)


def entry(*items: dict[str, Any], key: str = "messaging") -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": "100", "time": 1, key: list(items)}]}


def test_messenger_referral_is_a_start_with_its_ref(messenger: Any) -> None:
    item = {
        "sender": {"id": "9"},
        "recipient": {"id": "100"},
        "timestamp": 1718000000000,
        "referral": {"ref": "SPRING24", "source": "SHORTLINK", "type": "OPEN_THREAD"},
    }
    (message,) = messenger.parse(messenger_request(entry(item))).inbound
    assert (message.kind, message.extra("start_param"), message.message_id) == (
        "start",
        "SPRING24",
        "referral:9:1718000000000",
    )


def test_messenger_ref_with_a_trailing_newline_is_dropped(messenger: Any) -> None:
    item = {"sender": {"id": "9"}, "timestamp": 1, "referral": {"ref": "SPRING24\n"}}
    (message,) = messenger.parse(messenger_request(entry(item))).inbound
    assert message.kind == "start" and message.extra("start_param") is None


def test_messenger_standby_events_belong_to_another_app(messenger: Any) -> None:
    item = {
        "sender": {"id": "9"},
        "recipient": {"id": "100"},
        "timestamp": 1,
        "message": {"mid": "m1", "text": "hi"},
    }
    assert messenger.parse(messenger_request(entry(item, key="standby"))) == ParseResult(
        ignored=(Ignored("standby", "9"),)
    )


def test_messenger_non_page_object_is_ignored(messenger: Any) -> None:
    assert messenger.parse(messenger_request({"object": "instagram", "entry": []})).ignored[
        0
    ].reason == ("not_a_page_event")


def test_messenger_message_without_mid_names_the_field(messenger: Any) -> None:
    item = {"sender": {"id": "9"}, "message": {"text": "hi"}}
    assert messenger.parse(messenger_request(entry(item))) == ParseError(
        "entry[0].messaging[0].message.mid", "missing"
    )


def twilio_form(**fields: str) -> WebhookRequest:
    body = "&".join(f"{k}={v}" for k, v in fields.items()).encode()
    return WebhookRequest("POST", "https://gw.test/webhooks/whatsapp", {}, body)


def test_twilio_unsupported_message_type_is_ignored(whatsapp: Any) -> None:
    request = twilio_form(
        MessageSid="SM1", From="whatsapp%3A%2B12025550143", MessageType="unsupported"
    )
    assert whatsapp.parse(request) == ParseResult(ignored=(Ignored("unsupported", "+12025550143"),))


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"From": "whatsapp%3A%2B1"}, ParseError("MessageSid", "missing")),
        ({"MessageSid": "SM1"}, ParseError("From", "missing")),
        (
            {"MessageSid": "SM1", "From": "x", "MessageType": "location", "Latitude": "north"},
            ParseError("Latitude/Longitude", "not a number"),
        ),
    ],
)
def test_twilio_missing_or_bad_fields_name_the_field(
    whatsapp: Any, fields: dict[str, str], error: ParseError
) -> None:
    assert whatsapp.parse(twilio_form(**fields)) == error


def test_twilio_json_body_is_parsed_like_the_form(whatsapp: Any) -> None:
    body = json.dumps(
        {"MessageSid": "SM9", "From": "whatsapp:+12025550143", "Body": "hej"}
    ).encode()
    request = WebhookRequest(
        "POST", "https://gw.test/webhooks/whatsapp", {"Content-Type": "application/json"}, body
    )
    (message,) = whatsapp.parse(request).inbound
    assert (message.message_id, message.conversation, message.text) == (
        "SM9",
        "+12025550143",
        "hej",
    )


def test_replies_to_the_platform(adapters: dict[str, Any]) -> None:
    empty = ParseResult()
    assert adapters["twilio"].webhook_reply(empty).body == "<Response/>"
    assert adapters["messenger"].webhook_reply(empty).body == "EVENT_RECEIVED"
    assert adapters["telegram"].webhook_reply(empty).status == 200
