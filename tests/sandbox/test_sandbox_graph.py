"""The fake Graph API through pymessenger (the real client) and plain requests."""

from __future__ import annotations

import pytest
import requests
from conftest import fixture_bytes
from pymessenger.bot import Bot
from pymessenger.user_profile import UserProfileApi

PSID = "7300000000000001"


def graph_bot(sb, cls=Bot):
    bot = cls("page-token")
    bot.graph_url = f"{sb.graph_base_url}/v19.0"  # normally https://graph.facebook.com/v2.6
    return bot


def test_graph_text_send_answers_recipient_and_message_id(sb):
    answer = graph_bot(sb).send_text_message(PSID, "Hello </script>")
    assert answer["recipient_id"] == PSID and answer["message_id"].startswith("m_")
    [sent] = sb.sent("messenger")
    assert (sent["to"], sent["text"], sent["method"]) == (PSID, "Hello </script>", "messages")
    assert sent["id"] == answer["message_id"]
    assert "access_token" not in sent["raw"]


def test_graph_answer_uses_meta_encoding(sb):
    response = requests.post(
        f"{sb.graph_base_url}/v19.0/me/messages",
        params={"access_token": "t"},
        json={"recipient": {"id": PSID}, "message": {"text": "x"}},
        timeout=5,
    )
    assert response.status_code == 200
    assert response.content.startswith(b'{"recipient_id":"7300000000000001","message_id":"m_')


def test_graph_quick_replies_are_recorded_as_buttons(sb):
    quick = [
        {"content_type": "text", "title": "M", "payload": "SIZE_M"},
        {"content_type": "text", "title": "L", "payload": "SIZE_L"},
    ]
    graph_bot(sb).send_message(PSID, {"text": "Size?", "quick_replies": quick})
    [sent] = sb.sent()
    assert sent["quick_replies"] == quick
    assert [b["payload"] for b in sent["buttons"]] == ["SIZE_M", "SIZE_L"]
    assert {b["kind"] for b in sent["buttons"]} == {"quick_reply"}


def test_graph_button_template_gives_postback_and_url_buttons(sb):
    buttons = [
        {"type": "postback", "title": "Track", "payload": "TRACK"},
        {"type": "web_url", "title": "Shop", "url": "https://shop.example/"},
    ]
    graph_bot(sb).send_button_message(PSID, "What next?", buttons)
    [sent] = sb.sent()
    assert sent["text"] == "What next?"
    assert sent["buttons"] == [
        {"title": "Track", "payload": "TRACK", "kind": "postback"},
        {"title": "Shop", "payload": "https://shop.example/", "kind": "url"},
    ]


def test_graph_sender_action_answers_recipient_only(sb):
    assert graph_bot(sb).send_action(PSID, "typing_on") == {"recipient_id": PSID}
    [sent] = sb.sent()
    assert (sent["method"], sent["action"]) == ("sender_action", "typing_on")


def test_graph_fields_sent_as_json_strings_are_decoded(sb):
    graph_bot(sb).send_image_url(PSID, "https://shop.example/shoe.jpg")
    assert sb.sent()[0]["media"] == ["https://shop.example/shoe.jpg"]


def test_graph_without_token_is_refused(sb):
    response = requests.post(
        f"{sb.graph_base_url}/v19.0/me/messages",
        json={"recipient": {"id": PSID}, "message": {"text": "x"}},
        timeout=5,
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == 2500


def test_graph_text_over_2000_chars_is_refused(sb):
    answer = graph_bot(sb).send_text_message(PSID, "x" * 2001)
    assert answer["error"]["code"] == 100
    assert sb.sent() == [] and sb.attempts()[0]["status"] == 400


def test_graph_profile_of_a_known_shopper(sb):
    shopper = sb.add_shopper("messenger", "Ana Lima", locale="pt_BR")
    profile = graph_bot(sb, UserProfileApi).get(
        shopper["address"], fields=["first_name", "last_name", "profile_pic", "locale"]
    )
    assert profile["first_name"] == "Ana" and profile["last_name"] == "Lima"
    assert profile["locale"] == "pt_BR" and profile["id"] == shopper["address"]
    assert profile["profile_pic"].startswith(sb.base_url)
    assert requests.get(profile["profile_pic"], timeout=5).status_code == 200


def test_graph_profile_of_an_unknown_id_is_an_error(sb):
    assert graph_bot(sb, UserProfileApi).get("123", fields=["first_name"]) is None


@pytest.mark.parametrize(
    ("name", "fixture", "code"),
    [
        (None, "graph_10_2018278_outside_window.json", 10),
        ("outside_window", "graph_10_2018278_outside_window.json", 10),
        ("rate_limit", "graph_613_rate_limit.json", 613),
        ("app_rate_limit", "graph_4_app_rate_limit.json", 4),
        ("user_unavailable", "graph_551_user_unavailable.json", 551),
        ("invalid_token", "graph_190_invalid_token.json", 190),
    ],
)
def test_graph_fault_answers_the_real_error_body(sb, name, fixture, code):
    sb.fail_next("messenger", 400, body=name)
    response = requests.post(
        f"{sb.graph_base_url}/v19.0/me/messages",
        params={"access_token": "t"},
        json={"recipient": {"id": PSID}, "message": {"text": "x"}},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.content == fixture_bytes(f"outbound/{fixture}")
    assert response.json()["error"]["code"] == code
    assert graph_bot(sb).send_text_message(PSID, "again")["recipient_id"] == PSID


def test_graph_fault_can_target_one_method(sb):
    sb.fail_next("messenger", 400, body="rate_limit", method="messages")
    bot = graph_bot(sb)
    assert bot.send_action(PSID, "typing_on") == {"recipient_id": PSID}
    assert bot.send_text_message(PSID, "x")["error"]["code"] == 613


def test_graph_unknown_status_gets_a_graph_shaped_body(sb):
    sb.fail_next("messenger", 503)
    answer = graph_bot(sb).send_text_message(PSID, "x")
    assert answer["error"]["code"] == 2 and answer["error"]["is_transient"] is True
