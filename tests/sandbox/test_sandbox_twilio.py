"""The fake Twilio API through the real twilio library."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest
import requests
from conftest import ACCOUNT_SID, fixture_bytes
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.rest.content.v1.content import ContentList

from sandbox.server import Sandbox

BOT = "whatsapp:+12025550100"
SHOPPER = "whatsapp:+447700900123"


def twilio_client(sb: Sandbox) -> Client:
    client = Client(ACCOUNT_SID, "any-token")
    client.api.base_url = sb.twilio_base_url  # the Api domain, normally https://api.twilio.com
    return client


def test_twilio_create_message_answers_201_resource_and_is_recorded(sb):
    message = twilio_client(sb).messages.create(to=SHOPPER, from_=BOT, body="Hi <b>there</b>")
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.status == "queued"
    assert (message.to, message.from_, message.body) == (SHOPPER, BOT, "Hi <b>there</b>")
    assert message.account_sid == ACCOUNT_SID
    [sent] = sb.sent("whatsapp")
    assert sent["to"] == SHOPPER and sent["conversation"] == "+447700900123"
    assert sent["text"] == "Hi <b>there</b>" and sent["id"] == message.sid
    assert sent["raw"]["From"] == BOT and sent["status"] == 201


def test_twilio_resource_has_the_fixture_shape(sb):
    expected = json.loads(fixture_bytes("outbound/twilio_create_201.json"))
    response = requests.post(
        f"{sb.twilio_base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
        data={"To": SHOPPER, "From": BOT, "Body": "x"},
        auth=(ACCOUNT_SID, "t"),
        timeout=5,
    )
    assert response.status_code == 201
    assert set(response.json()) == set(expected)


def test_twilio_every_message_gets_a_fresh_sid(sb):
    client = twilio_client(sb)
    sids = {client.messages.create(to=SHOPPER, from_=BOT, body=str(i)).sid for i in range(5)}
    assert len(sids) == 5


def test_twilio_message_can_be_fetched_by_sid(sb):
    client = twilio_client(sb)
    sid = client.messages.create(to=SHOPPER, from_=BOT, body="x").sid
    assert client.messages(sid).fetch().body == "x"
    with pytest.raises(TwilioRestException) as err:
        client.messages("SM" + "0" * 32).fetch()
    assert err.value.status == 404 and err.value.code == 20404


def test_twilio_without_basic_auth_is_401_authenticate(sb):
    response = requests.post(
        f"{sb.twilio_base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
        data={"To": SHOPPER, "From": BOT, "Body": "x"},
        timeout=5,
    )
    assert response.status_code == 401
    assert response.json()["code"] == 20003
    assert sb.attempts() == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"to": "", "from_": BOT, "body": "x"}, 21604),
        ({"to": SHOPPER, "body": "x"}, 21603),
        ({"to": SHOPPER, "from_": BOT}, 21602),
        ({"to": SHOPPER, "from_": BOT, "body": "x" * 1601}, 21617),
    ],
)
def test_twilio_invalid_create_gives_twilio_error_code(sb, params, code):
    with pytest.raises(TwilioRestException) as err:
        twilio_client(sb).messages.create(**params)
    assert err.value.status == 400 and err.value.code == code
    assert sb.sent() == [] and sb.attempts()[0]["status"] == 400


def test_twilio_media_urls_are_recorded(sb):
    urls = ["https://shop.example/a.jpg", "https://shop.example/b.jpg"]
    message = twilio_client(sb).messages.create(to=SHOPPER, from_=BOT, media_url=urls)
    assert message.num_media == "2"
    assert sb.sent()[0]["media"] == urls


def test_twilio_content_quick_reply_is_rendered_with_its_buttons(sb):
    sid = sb.add_content(
        {
            "twilio/quick-reply": {
                "body": "Hi {{1}}, track your order?",
                "actions": [
                    {"title": "Track", "id": "TRACK:{{2}}"},
                    {"title": "Agent", "id": "HUMAN"},
                ],
            }
        }
    )
    twilio_client(sb).messages.create(
        to=SHOPPER,
        from_=BOT,
        content_sid=sid,
        content_variables=json.dumps({"1": "Ana", "2": "A-1"}),
    )
    [sent] = sb.sent()
    assert sent["text"] == "Hi Ana, track your order?"
    assert sent["buttons"] == [
        {"title": "Track", "payload": "TRACK:A-1", "kind": "button"},
        {"title": "Agent", "payload": "HUMAN", "kind": "button"},
    ]
    assert sent["content_sid"] == sid


def test_twilio_content_api_creates_templates(sb):
    response = requests.post(
        f"{sb.twilio_base_url}/v1/Content",
        json={"friendly_name": "menu", "types": {"twilio/text": {"body": "Hello"}}},
        auth=(ACCOUNT_SID, "t"),
        timeout=5,
    )
    assert response.status_code == 201
    sid = response.json()["sid"]
    assert sid.startswith("HX")
    twilio_client(sb).messages.create(to=SHOPPER, from_=BOT, content_sid=sid)
    assert sb.sent()[0]["text"] == "Hello"


@pytest.mark.parametrize(("status", "code"), [(429, 20429), (400, 21211), (500, 20500)])
def test_twilio_fault_answers_the_real_error(sb, status, code):
    sb.fail_next("whatsapp", status)
    client = twilio_client(sb)
    with pytest.raises(TwilioRestException) as err:
        client.messages.create(to=SHOPPER, from_=BOT, body="x")
    assert (err.value.status, err.value.code) == (status, code)
    assert client.messages.create(to=SHOPPER, from_=BOT, body="x").status == "queued"
    assert [a["status"] for a in sb.attempts()] == [status, 201]


def test_twilio_429_has_retry_after_and_the_fixture_body(sb):
    sb.fail_next("whatsapp", 429)
    url = f"{sb.twilio_base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    response = requests.post(url, data={"To": SHOPPER}, auth=("a", "b"), timeout=5)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.content == fixture_bytes("outbound/twilio_429_20429.json")


def test_twilio_status_callbacks_are_signed_for_the_public_url(gateway):
    env = {"PUBLIC_BASE_URL": "https://bot.shop.example"}
    with Sandbox(gateway_url=gateway.url, env=env) as sandbox:
        callback = "https://bot.shop.example/webhooks/whatsapp/status?tenant=acme"
        sid = (
            twilio_client(sandbox)
            .messages.create(to=SHOPPER, from_=BOT, body="x", status_callback=callback)
            .sid
        )
        first, second = gateway.wait_for(2)
    validator = RequestValidator("fake_twilio_auth_token_000000000")
    for req, status in ((first, "sent"), (second, "delivered")):
        assert req["path"] == "/webhooks/whatsapp/status" and req["query"] == "tenant=acme"
        params = dict(parse_qsl(req["body"].decode(), keep_blank_values=True))
        assert params["MessageSid"] == sid and params["MessageStatus"] == status
        assert validator.validate(callback, params, req["headers"]["X-Twilio-Signature"])


def test_twilio_library_content_api_works_against_the_sandbox(sb):
    client = twilio_client(sb)
    client.content.base_url = sb.twilio_base_url  # normally https://content.twilio.com
    request = ContentList.ContentCreateRequest(
        {
            "friendly_name": "track",
            "language": "en",
            "variables": {"1": "order"},
            "types": {
                "twilio/quick-reply": {
                    "body": "Track your {{1}}?",
                    "actions": [{"title": "Track", "id": "TRACK"}],
                }
            },
        }
    )
    content = client.content.v1.contents.create(request)
    assert content.sid.startswith("HX")
    client.messages.create(to=SHOPPER, from_=BOT, content_sid=content.sid)
    [sent] = sb.sent()
    assert sent["text"] == "Track your order?"
    assert sent["buttons"] == [{"title": "Track", "payload": "TRACK", "kind": "button"}]
