"""Webhooks exactly as each platform sends them: real body shapes, fresh ids, real signatures.

Pure builders (no I/O): `delivery.py` posts what they return. The gateway verifies these with its
production code, so they follow the platforms' rules to the byte: Twilio signs the public URL plus
the sorted form params, Meta signs the exact (ASCII-escaped) body bytes, Telegram sends the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from sandbox.config import WEBHOOK_PATHS, SandboxConfig
from sandbox.shoppers import SimShopper
from sandbox.state import new_sid


@dataclass(frozen=True, slots=True)
class Webhook:
    """One request to the gateway: the public URL it is signed for, the bytes and the headers."""

    channel: str
    public_url: str
    body: bytes
    headers: dict[str, str]
    message_id: str
    summary: dict[str, Any] = field(default_factory=dict)


def meta_json(data: Any) -> bytes:
    """Meta's encoding: compact, non-ASCII as \\u escapes, '/' as '\\/' (signed as sent)."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/").encode("ascii")


def _public_url(config: SandboxConfig, channel: str) -> str:
    return config.public_url(channel) or ("http://gateway.invalid" + WEBHOOK_PATHS[channel])


def twilio_form(config: SandboxConfig, url: str, params: dict[str, str]) -> tuple[bytes, str]:
    """Form body and X-Twilio-Signature computed by Twilio's own validator on the public URL."""
    signature = RequestValidator(config.twilio_auth_token).compute_signature(url, params)
    return urlencode(params).encode(), signature


def whatsapp_message(
    config: SandboxConfig, shopper: SimShopper, text: str, button: dict[str, str] | None = None
) -> Webhook:
    """A WhatsApp message via Twilio; `button` (title, payload, reply_to) makes it a button tap."""
    sid = new_sid("SM")
    params = {
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ProfileName": shopper.name,
        "MessageType": "button" if button else "text",
        "SmsSid": sid,
        "WaId": shopper.address.lstrip("+"),
        "SmsStatus": "received",
        "Body": text,
        "To": config.twilio_whatsapp_from,
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": sid,
        "AccountSid": config.twilio_account_sid,
        "From": "whatsapp:" + shopper.address,
        "ApiVersion": "2010-04-01",
    }
    if button:
        params.update(
            {
                "OriginalRepliedMessageSender": config.twilio_whatsapp_from,
                "OriginalRepliedMessageSid": button.get("reply_to", ""),
                "ButtonText": button["title"],
                "ButtonPayload": button["payload"],
            }
        )
    url = _public_url(config, "whatsapp")
    body, signature = twilio_form(config, url, params)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
        "I-Twilio-Idempotency-Token": secrets.token_hex(16),
    }
    return Webhook("whatsapp", url, body, headers, sid)


def twilio_status(
    config: SandboxConfig, resource: dict[str, Any], status: str, callback_url: str
) -> Webhook:
    """A message status callback (sent, delivered...) signed for the StatusCallback URL."""
    params = {
        "ChannelPrefix": "whatsapp",
        "ApiVersion": "2010-04-01",
        "MessageStatus": status,
        "SmsSid": resource["sid"],
        "SmsStatus": status,
        "To": resource["to"],
        "From": resource["from"] or config.twilio_whatsapp_from,
        "MessageSid": resource["sid"],
        "AccountSid": resource["account_sid"],
        "ChannelToAddress": resource["to"].removeprefix("whatsapp:"),
    }
    body, signature = twilio_form(config, callback_url, params)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    return Webhook("whatsapp", callback_url, body, headers, resource["sid"])


def _messenger(config: SandboxConfig, shopper: SimShopper, event: dict[str, Any]) -> bytes:
    now = int(time.time() * 1000)
    item = {
        "sender": {"id": shopper.address},
        "recipient": {"id": config.messenger_page_id},
        "timestamp": now,
        **event,
    }
    return meta_json(
        {
            "object": "page",
            "entry": [{"id": config.messenger_page_id, "time": now + 20, "messaging": [item]}],
        }
    )


def new_mid() -> str:
    return "m_" + secrets.token_urlsafe(48)


def messenger_event(
    config: SandboxConfig,
    shopper: SimShopper,
    text: str,
    payload: str | None = None,
    postback: bool = False,
) -> Webhook:
    """A text, a quick-reply tap (`payload`) or a button-template postback (`postback=True`)."""
    mid = new_mid()
    if postback:
        event: dict[str, Any] = {"postback": {"mid": mid, "title": text, "payload": payload}}
    else:
        message: dict[str, Any] = {"mid": mid, "text": text}
        if payload is not None:
            message["quick_reply"] = {"payload": payload}
        event = {"message": message}
    body = _messenger(config, shopper, event)
    secret = config.messenger_app_secret.encode()
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest(),
        "X-Hub-Signature": "sha1=" + hmac.new(secret, body, hashlib.sha1).hexdigest(),
    }
    return Webhook("messenger", _public_url(config, "messenger"), body, headers, mid)


def telegram_user(shopper: SimShopper) -> dict[str, Any]:
    user: dict[str, Any] = {
        "id": int(shopper.address),
        "is_bot": False,
        "first_name": shopper.first_name,
    }
    if shopper.last_name:
        user["last_name"] = shopper.last_name
    user["language_code"] = shopper.locale
    return user


def telegram_chat(shopper: SimShopper) -> dict[str, Any]:
    chat: dict[str, Any] = {"id": int(shopper.address), "first_name": shopper.first_name}
    if shopper.last_name:
        chat["last_name"] = shopper.last_name
    chat["type"] = "private"
    return chat


def _telegram(config: SandboxConfig, update: dict[str, Any], **summary: Any) -> Webhook:
    body = json.dumps(update, ensure_ascii=False, indent=2).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Telegram-Bot-Api-Secret-Token": config.telegram_secret_token,
    }
    url = _public_url(config, "telegram")
    return Webhook("telegram", url, body, headers, str(update["update_id"]), summary)


def telegram_message(
    config: SandboxConfig, shopper: SimShopper, text: str, update_id: int, message_id: int
) -> Webhook:
    """A private-chat text; a leading /command gets its bot_command entity like Telegram adds."""
    message: dict[str, Any] = {
        "message_id": message_id,
        "from": telegram_user(shopper),
        "chat": telegram_chat(shopper),
        "date": int(time.time()),
        "text": text,
    }
    if text.startswith("/"):
        command = text.split(maxsplit=1)[0]
        length = len(command.encode("utf-16-le")) // 2  # Telegram counts UTF-16 code units
        message["entities"] = [{"offset": 0, "length": length, "type": "bot_command"}]
    return _telegram(config, {"update_id": update_id, "message": message})


def telegram_callback(
    config: SandboxConfig, shopper: SimShopper, message: dict[str, Any], data: str, update_id: int
) -> Webhook:
    """An inline-keyboard tap: the bot's message as Telegram holds it, plus `data`."""
    query = {
        "id": str(4382000000000000000 + secrets.randbelow(10**15)),
        "from": telegram_user(shopper),
        "message": message,
        "chat_instance": str(-5000000000000000000 - int(shopper.address)),
        "data": data,
    }
    update = {"update_id": update_id, "callback_query": query}
    return _telegram(config, update, query_id=query["id"])
