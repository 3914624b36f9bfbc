"""Only correctly signed requests verify: every signed fixture, tampered, re-keyed or bare, is
refused; Twilio's URL is accepted with and without the default port, as the SDK does."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from adapter_helpers import sign, signed_request

from adapters.base import WebhookRequest

MANIFEST = sign.load_manifest()
SIGNED = sorted(
    rel
    for rel, e in MANIFEST.items()
    if e["direction"] == "inbound" and e["method"] == "POST" and e["platform"] != "any"
)
HEADER = {
    "twilio": "X-Twilio-Signature",
    "messenger": "X-Hub-Signature-256",
    "telegram": "X-Telegram-Bot-Api-Secret-Token",
}
WRONG_SECRET = {
    "twilio": {"twilio_token": "wrong_twilio_auth_token_00000000"},
    "messenger": {"app_secret": "wrong_meta_app_secret_0123456789"},
    "telegram": {"telegram_secret": "wrong-telegram-secret_012345678"},
}
TW_TOKEN = sign.DEFAULTS["twilio_auth_token"]


def _platform(rel: str) -> str:
    return MANIFEST[rel]["platform"]


def _flip_one_byte(data: bytes) -> bytes:
    if not data:
        return b"x"
    i = len(data) // 2
    return data[:i] + (b"x" if data[i : i + 1] != b"x" else b"y") + data[i + 1 :]


@pytest.mark.parametrize("rel", SIGNED)
def test_signed_fixture_verifies(adapters: dict[str, Any], rel: str) -> None:
    assert adapters[_platform(rel)].verify(signed_request(rel))


@pytest.mark.parametrize("rel", SIGNED)
def test_missing_signature_header_is_refused(adapters: dict[str, Any], rel: str) -> None:
    request = signed_request(rel)
    headers = {k: v for k, v in request.headers.items() if k != HEADER[_platform(rel)]}
    assert not adapters[_platform(rel)].verify(replace(request, headers=headers))


@pytest.mark.parametrize("rel", SIGNED)
def test_wrong_secret_is_refused(adapters: dict[str, Any], rel: str) -> None:
    request = signed_request(rel, **WRONG_SECRET[_platform(rel)])
    assert not adapters[_platform(rel)].verify(request)


@pytest.mark.parametrize("rel", [r for r in SIGNED if _platform(r) != "telegram"])
def test_body_with_one_byte_changed_is_refused(adapters: dict[str, Any], rel: str) -> None:
    request = signed_request(rel)
    tampered = replace(request, body=_flip_one_byte(request.body))
    assert not adapters[_platform(rel)].verify(tampered)


@pytest.mark.parametrize("rel", [r for r in SIGNED if _platform(r) == "telegram"])
def test_telegram_secret_with_one_byte_changed_is_refused(
    adapters: dict[str, Any], rel: str
) -> None:
    """Telegram signs nothing: the secret header is the whole proof, so tamper with it."""
    request = signed_request(rel)
    name = HEADER["telegram"]
    headers = {**request.headers, name: _flip_one_byte(request.headers[name].encode()).decode()}
    assert not adapters["telegram"].verify(replace(request, headers=headers))


@pytest.mark.parametrize("platform", ["twilio", "messenger", "telegram"])
def test_empty_body_with_valid_credentials_verifies_then_is_rejected(
    adapters: dict[str, Any], platform: str
) -> None:
    request = signed_request("hostile/empty_body.bin", platform=platform)
    adapter = adapters[platform]
    assert adapter.verify(request)
    assert adapter.webhook_reply(adapter.parse(request)).status == 400


def test_headers_are_matched_case_insensitively(adapters: dict[str, Any]) -> None:
    request = signed_request("messenger/text.json")
    lowered = {k.lower(): v for k, v in request.headers.items()}
    assert adapters["messenger"].verify(replace(request, headers=lowered))


def test_messenger_legacy_sha1_header_alone_is_refused(adapters: dict[str, Any]) -> None:
    request = signed_request("messenger/text.json")
    body = request.body
    legacy = {
        "X-Hub-Signature": sign.messenger_signature_sha1(sign.DEFAULTS["meta_app_secret"], body)
    }
    assert not adapters["messenger"].verify(replace(request, headers=legacy))


URL = "https://gateway.example.test/webhooks/whatsapp"
URL_443 = "https://gateway.example.test:443/webhooks/whatsapp"
URL_8443 = "https://gateway.example.test:8443/webhooks/whatsapp"


@pytest.mark.parametrize(
    ("signed_for", "requested"),
    [(URL, URL), (URL_443, URL), (URL, URL_443), (URL_8443, URL_8443), (URL, URL_8443)],
    ids=["plain", "signed-with-443", "request-with-443", "port-kept", "port-dropped"],
)
def test_twilio_accepts_the_url_with_and_without_its_port(
    whatsapp: Any, signed_for: str, requested: str
) -> None:
    body = sign.read_fixture("twilio/wa_text.form")
    signature = sign.twilio_signature(TW_TOKEN, signed_for, sign.parse_form(body))
    request = WebhookRequest("POST", requested, {"X-Twilio-Signature": signature}, body)
    assert whatsapp.verify(request)


def test_twilio_refuses_a_signature_for_another_url(whatsapp: Any) -> None:
    request = signed_request("twilio/wa_text.form", url=URL + "/other")
    assert not whatsapp.verify(replace(request, url=URL))


def test_twilio_status_url_query_string_is_part_of_the_signature(whatsapp: Any) -> None:
    request = signed_request("twilio/status_delivered.form")
    assert whatsapp.verify(request)
    assert not whatsapp.verify(replace(request, url=request.url.replace("acme", "evil")))


def test_twilio_json_body_is_checked_against_body_sha256(whatsapp: Any) -> None:
    body = '{"EventType":"onMessageAdded","Body":"zażółć 🚀"}'.encode()
    signed_url, signature = sign.twilio_json_signature(TW_TOKEN, URL, body)
    headers = {"X-Twilio-Signature": signature, "Content-Type": "application/json"}
    request = WebhookRequest("POST", signed_url, headers, body)
    assert whatsapp.verify(request)
    assert not whatsapp.verify(replace(request, body=body + b" "))


def test_twilio_non_utf8_body_is_refused_not_raised(whatsapp: Any) -> None:
    request = signed_request("twilio/wa_text.form")
    assert not whatsapp.verify(replace(request, body=b"\xff\xfe" + request.body))
