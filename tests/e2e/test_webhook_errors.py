"""Bad input gets a clear answer and loses nothing: 403, 400, 413, 405, never a 500."""

from __future__ import annotations

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import Stack, sign

SIGNED = [
    "twilio/wa_text.form",
    "messenger/text.json",
    "telegram/text_private.json",
]


@pytest.mark.parametrize("rel", SIGNED)
def test_tampered_body_is_refused_with_403_and_nothing_queued(stack: Stack, rel: str) -> None:
    body = bytearray(sign.read_fixture(rel))
    body[len(body) // 2] ^= 0x01
    info = sign.headers_for(
        rel, url=sign.load_manifest()[rel]["url"].replace("https://gateway.example.test", stack.url)
    )
    response = requests.post(info["url"], data=bytes(body), headers=info["headers"], timeout=5)
    if rel.startswith(
        "telegram"
    ):  # Telegram does not sign the body: the secret header is the check
        headers = {**info["headers"], "X-Telegram-Bot-Api-Secret-Token": "wrong"}
        response = requests.post(info["url"], data=bytes(body), headers=headers, timeout=5)
    assert response.status_code == 403
    assert "Traceback" not in response.text
    assert stack.gw.store.queue_depth() == 0


@pytest.mark.parametrize(
    ("rel", "platform"),
    [
        ("hostile/invalid_json.txt", "messenger"),
        ("hostile/messenger_wrong_shape.json", "messenger"),
        ("hostile/telegram_wrong_shape.json", "telegram"),
        ("hostile/empty_body.bin", "telegram"),
    ],
)
def test_malformed_signed_body_is_400(stack: Stack, rel: str, platform: str) -> None:
    path = {"messenger": "/webhooks/messenger", "telegram": "/webhooks/telegram"}[platform]
    info = sign.headers_for(rel, url=stack.url + path, platform=platform)
    response = requests.post(
        stack.url + path, data=sign.read_fixture(rel), headers=info["headers"], timeout=5
    )
    assert response.status_code == 400
    assert "Traceback" not in response.text


def test_body_over_one_mebibyte_is_413(stack: Stack) -> None:
    response = requests.post(stack.url + "/webhooks/telegram", data=b"x" * (1024 * 1024 + 1),
                             headers={"Content-Type": "application/json"}, timeout=10)  # fmt: skip
    assert response.status_code == 413


def test_wrong_method_is_405(stack: Stack) -> None:
    assert requests.put(stack.url + "/webhooks/telegram", data=b"{}", timeout=5).status_code == 405
    assert requests.get(stack.url + "/webhooks/telegram", timeout=5).status_code == 405


def test_messenger_handshake(stack: Stack) -> None:
    ok = requests.get(
        stack.url
        + "/webhooks/messenger?"
        + sign.read_fixture("messenger/verify_ok.query").decode(),
        timeout=5,
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = requests.get(
        stack.url
        + "/webhooks/messenger?"
        + sign.read_fixture("messenger/verify_bad_token.query").decode(),
        timeout=5,
    )
    assert bad.status_code == 403 and "1158201444" not in bad.text


def test_unknown_channel_is_404(stack: Stack) -> None:
    assert requests.post(stack.url + "/webhooks/sms", data=b"{}", timeout=5).status_code == 404


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(
        [
            "/webhooks/whatsapp",
            "/webhooks/messenger",
            "/webhooks/telegram",
            "/webhooks/whatsapp/status",
            "/healthz",
            "/readyz",
            "/metrics",
            "/nope",
        ]
    ),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    body=st.binary(max_size=2000),
    content_type=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "text/plain", ""]
    ),
    query=st.text(max_size=40),
)
def test_no_input_on_any_route_gives_a_500(stack: Stack, path: str, method: str, body: bytes,
                                           content_type: str, query: str) -> None:  # fmt: skip
    headers = {"Content-Type": content_type} if content_type else {}
    headers["X-Telegram-Bot-Api-Secret-Token"] = "fake-telegram-secret_0123456789"
    response = requests.request(
        method, stack.url + path, params={"q": query}, data=body, headers=headers, timeout=5
    )
    assert response.status_code < 500, (path, method, response.status_code, response.text)
    assert "Traceback" not in response.text
