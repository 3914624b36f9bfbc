"""Helpers for the adapter tests: the repo's copy of the platform fixtures (tests/fixtures, with
sign.py) and adapter settings made of the fixtures' fake secrets, never real credentials."""

from __future__ import annotations

import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
sys.path.insert(0, str(FIXTURES))

import sign  # noqa: E402  (tests/fixtures/sign.py, stdlib only)

from adapters.base import WebhookRequest  # noqa: E402
from adapters.messenger.adapter import MessengerConfig  # noqa: E402
from adapters.telegram.adapter import TelegramConfig  # noqa: E402
from adapters.whatsapp.adapter import WhatsAppConfig  # noqa: E402

ACCOUNT_SID = "AC00000000000000000000000000000001"
BOT_TOKEN = "123456789:fake-bot-token_abcdefghijklmnopqrst"
PAGE_TOKEN = "fake-page-token-0123456789"
RECEIVED_AT = 1718000500.0


def whatsapp_config(**changes: object) -> WhatsAppConfig:
    base = {
        "account_sid": ACCOUNT_SID,
        "auth_token": sign.DEFAULTS["twilio_auth_token"],
        "from_number": "whatsapp:+12025550100",
    }
    return WhatsAppConfig(**{**base, **changes})  # type: ignore[arg-type]


def messenger_config(**changes: object) -> MessengerConfig:
    base = {
        "app_secret": sign.DEFAULTS["meta_app_secret"],
        "page_token": PAGE_TOKEN,
        "verify_token": sign.DEFAULTS["messenger_verify_token"],
    }
    return MessengerConfig(**{**base, **changes})  # type: ignore[arg-type]


def telegram_config(**changes: object) -> TelegramConfig:
    base = {"bot_token": BOT_TOKEN, "secret_token": sign.DEFAULTS["telegram_secret_token"]}
    return TelegramConfig(**{**base, **changes})  # type: ignore[arg-type]


def signed_request(rel: str, platform: str | None = None, **sign_kwargs: object) -> WebhookRequest:
    """The fixture's exact bytes with valid headers, as the gateway would hand them over."""
    spec = sign.headers_for(rel, platform=platform, **sign_kwargs)
    body = b"" if spec["method"] == "GET" else sign.read_fixture(rel)
    return WebhookRequest(
        spec["method"], spec["url"], spec["headers"], body, received_at=RECEIVED_AT
    )
