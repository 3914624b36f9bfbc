"""Twilio signs the public URL: behind a load balancer the gateway must rebuild it."""

from __future__ import annotations

from dataclasses import replace

from gateway.web.app import create_app
from tests.e2e.conftest import Stack, sign

FIXTURE = "twilio/wa_text.form"
PUBLIC = "https://gateway.example.test/webhooks/whatsapp"


def test_forwarded_headers_rebuild_the_signed_url_when_the_proxy_is_trusted(stack: Stack) -> None:
    gw = replace(stack.gw, config=replace(stack.gw.config, public_base_url=None, trust_proxy=True))
    client = create_app(gw).test_client()
    headers = sign.headers_for(FIXTURE, url=PUBLIC)["headers"]
    forwarded = {
        **headers,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "gateway.example.test",
    }
    response = client.post("/webhooks/whatsapp", data=sign.read_fixture(FIXTURE), headers=forwarded)
    assert response.status_code == 200


def test_forwarded_headers_are_ignored_without_trust(stack: Stack) -> None:
    gw = replace(stack.gw, config=replace(stack.gw.config, public_base_url=None, trust_proxy=False))
    client = create_app(gw).test_client()
    headers = sign.headers_for(FIXTURE, url=PUBLIC)["headers"]
    forwarded = {
        **headers,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "gateway.example.test",
    }
    response = client.post("/webhooks/whatsapp", data=sign.read_fixture(FIXTURE), headers=forwarded)
    assert response.status_code == 403  # a forged Host must not make a signature valid


def test_public_base_url_wins(stack: Stack) -> None:
    gw = replace(
        stack.gw, config=replace(stack.gw.config, public_base_url="https://gateway.example.test")
    )
    client = create_app(gw).test_client()
    headers = sign.headers_for(FIXTURE, url=PUBLIC)["headers"]
    response = client.post("/webhooks/whatsapp", data=sign.read_fixture(FIXTURE), headers=headers)
    assert response.status_code == 200
