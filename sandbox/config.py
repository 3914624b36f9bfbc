"""Sandbox settings: where the gateway is and the secrets it checks, read as the gateway does.

The sandbox signs webhooks with the same environment variables the gateway verifies with, so a
locally started pair agrees without any set-up. The defaults are the fake test secrets of
`shared/fixtures/sign.py`, never real credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_GATEWAY_URL = "http://127.0.0.1:8080"

# Fake secrets shared with the fixtures (shared/fixtures/sign.py DEFAULTS): demo use only.
TEST_TWILIO_AUTH_TOKEN = "fake_twilio_auth_token_000000000"
TEST_META_APP_SECRET = "fake_meta_app_secret_0123456789ab"
TEST_TELEGRAM_SECRET_TOKEN = "fake-telegram-secret_0123456789"
TEST_TWILIO_ACCOUNT_SID = "AC00000000000000000000000000000001"
TEST_WHATSAPP_FROM = "whatsapp:+12025550100"
TEST_PAGE_ID = "100000000000001"

WEBHOOK_PATHS: Mapping[str, str] = {
    "whatsapp": "/webhooks/whatsapp",
    "messenger": "/webhooks/messenger",
    "telegram": "/webhooks/telegram",
}


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """What the sandbox needs; `gateway_url` None: the simulator records but posts nothing."""

    gateway_url: str | None = None
    public_base_url: str | None = None
    twilio_auth_token: str = TEST_TWILIO_AUTH_TOKEN
    twilio_account_sid: str = TEST_TWILIO_ACCOUNT_SID
    twilio_whatsapp_from: str = TEST_WHATSAPP_FROM
    messenger_app_secret: str = TEST_META_APP_SECRET
    messenger_page_id: str = TEST_PAGE_ID
    telegram_secret_token: str = TEST_TELEGRAM_SECRET_TOKEN
    status_callbacks: bool = True
    webhook_timeout: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str], gateway_url: str | None) -> SandboxConfig:
        """Read the gateway's variable names; an empty or unset variable keeps the test default."""

        def pick(name: str, default: str) -> str:
            return env.get(name) or default

        gateway = gateway_url.rstrip("/") if gateway_url else None
        public = env.get("PUBLIC_BASE_URL") or gateway
        sender = pick("TWILIO_WHATSAPP_FROM", TEST_WHATSAPP_FROM)
        if not sender.startswith("whatsapp:"):
            sender = "whatsapp:" + sender
        return cls(
            gateway_url=gateway,
            public_base_url=public.rstrip("/") if public else None,
            twilio_auth_token=pick("TWILIO_AUTH_TOKEN", TEST_TWILIO_AUTH_TOKEN),
            twilio_account_sid=pick("TWILIO_ACCOUNT_SID", TEST_TWILIO_ACCOUNT_SID),
            twilio_whatsapp_from=sender,
            messenger_app_secret=pick("MESSENGER_APP_SECRET", TEST_META_APP_SECRET),
            messenger_page_id=pick("MESSENGER_PAGE_ID", TEST_PAGE_ID),
            telegram_secret_token=pick("TELEGRAM_SECRET_TOKEN", TEST_TELEGRAM_SECRET_TOKEN),
        )

    def public_url(self, channel: str) -> str | None:
        """The webhook URL the platform would call (what Twilio signs)."""
        return self.public_base_url + WEBHOOK_PATHS[channel] if self.public_base_url else None

    def delivery_url(self, public_url: str) -> str | None:
        """Where to really POST a callback addressed to `public_url`.

        A URL under PUBLIC_BASE_URL is re-rooted at the gateway URL (the sandbox cannot reach the
        public host); any other URL is used only when it points at this machine.
        """
        public, gateway = self.public_base_url, self.gateway_url
        if public and gateway and public_url.startswith(public):
            return gateway + public_url[len(public) :]
        host = public_url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
        if host in ("127.0.0.1", "localhost", "[::1]"):
            return public_url
        return None
