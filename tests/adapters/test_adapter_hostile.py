"""Whatever body arrives, `parse` answers with a value (a result or an error naming a field),
never an exception: the gateway must be able to answer 400 instead of 500."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adapters.base import ParseError, ParseResult, WebhookRequest

KEYS = (
    *("update_id", "message", "edited_message", "callback_query", "my_chat_member", "chat"),
    *("id", "type", "text", "caption", "from", "first_name", "date", "message_id", "data"),
    *("photo", "file_id", "file_unique_id", "width", "height", "contact", "phone_number"),
    *("location", "latitude", "longitude", "new_chat_member", "status", "reply_markup"),
    *("object", "entry", "messaging", "standby", "sender", "recipient", "mid", "postback"),
    *("payload", "title", "attachments", "url", "quick_reply", "is_echo", "timestamp"),
    *("referral", "ref", "delivery", "read", "watermark", "user_id", "document", "edit_date"),
)
scalars = st.none() | st.booleans() | st.integers(-3, 10**10) | st.floats() | st.text(max_size=6)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=25,
)
SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _request(body: bytes, content_type: str = "application/json") -> WebhookRequest:
    return WebhookRequest(
        "POST", "https://gw.test/webhooks/x", {"Content-Type": content_type}, body
    )


def _parses_to_a_value(adapter: Any, body: bytes, content_type: str = "application/json") -> None:
    result = adapter.parse(_request(body, content_type))
    assert isinstance(result, ParseResult | ParseError)
    assert adapter.webhook_reply(result).status in (200, 400)


@SETTINGS
@given(
    update=st.dictionaries(st.sampled_from(KEYS), values, max_size=6),
    update_id=st.integers(0, 10**9),
)
def test_telegram_parse_never_raises(telegram: Any, update: dict[str, Any], update_id: int) -> None:
    _parses_to_a_value(telegram, json.dumps({**update, "update_id": update_id}).encode())


@SETTINGS
@given(entry=values, obj=st.sampled_from(["page", "instagram", None]))
def test_messenger_parse_never_raises(messenger: Any, entry: Any, obj: str | None) -> None:
    _parses_to_a_value(messenger, json.dumps({"object": obj, "entry": entry}).encode())


@SETTINGS
@given(body=st.binary(max_size=200))
def test_any_bytes_parse_to_a_value(adapters: dict[str, Any], body: bytes) -> None:
    for adapter in adapters.values():
        _parses_to_a_value(adapter, body)
    _parses_to_a_value(adapters["twilio"], body, "application/x-www-form-urlencoded")


@SETTINGS
@given(
    fields=st.dictionaries(
        st.sampled_from(
            [
                "MessageSid",
                "From",
                "Body",
                "MessageType",
                "NumMedia",
                "MediaUrl0",
                "Latitude",
                "Longitude",
                "ButtonPayload",
                "ListId",
                "MessageStatus",
                "ErrorCode",
            ]
        ),
        st.text(max_size=8),
        max_size=8,
    )
)
@example(fields={"MessageSid": "0", "MessageStatus": "", "From": "", "ErrorCode": "¹"})
def test_twilio_any_form_parses_to_a_value(whatsapp: Any, fields: dict[str, str]) -> None:
    _parses_to_a_value(whatsapp, urlencode(fields).encode(), "application/x-www-form-urlencoded")


def test_non_finite_numbers_are_a_parse_error(messenger: Any) -> None:
    body = b'{"object":"page","entry":[{"messaging":[{"sender":{"id":"9"},"timestamp":NaN}]}]}'
    assert messenger.parse(_request(body)) == ParseError(
        "entry[0].messaging[0].timestamp", "expected a finite number"
    )


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ("NumMedia=lots", "NumMedia"),
        ("NumMedia=%C2%B2", "NumMedia"),  # a superscript two: a digit to isdigit, not to int
        ("MessageType=location&Latitude=nan&Longitude=1", "Latitude/Longitude"),
    ],
)
def test_twilio_bad_numbers_name_the_field(whatsapp: Any, fields: str, path: str) -> None:
    body = b"MessageSid=SM1&From=whatsapp%3A%2B1&" + fields.encode()
    assert whatsapp.parse(_request(body, "application/x-www-form-urlencoded")) == ParseError(
        path, "not a number"
    )
