"""Which adapters exist and how the environment turns them on.

`build_adapters(env)` reads the DESIGN.md variable names. A channel whose secret is missing (or
malformed) is disabled with one message naming the variable to set; the other channels still
start. Messages never contain a secret's value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from adapters.base import (
    Adapter,
    HasTemplates,
    LooksUpProfiles,
    Pace,
    PacedPerChat,
    SendsInTwoSteps,
)
from adapters.messenger.adapter import MessengerAdapter, MessengerConfig
from adapters.messenger.client import DEFAULT_VERSION
from adapters.telegram.adapter import SECRET_RE, TelegramAdapter, TelegramConfig
from adapters.whatsapp.adapter import WhatsAppAdapter, WhatsAppConfig

logger = logging.getLogger(__name__)

ADAPTERS: dict[str, type[Adapter]] = {
    "whatsapp": WhatsAppAdapter,
    "messenger": MessengerAdapter,
    "telegram": TelegramAdapter,
}


def delivery_reporting() -> frozenset[str]:
    """The channels whose platform reports what became of a sent message (an adapter's
    `reports_delivery`): only their platform ids need to be found again (`update_delivery`)."""
    return frozenset(c for c, cls in ADAPTERS.items() if cls.reports_delivery)


# Optional: twilio/quick-reply templates by button count, "1=HX…,2=HX…,3=HX…" (docs/adapters.md).
QUICK_REPLY_VAR = "TWILIO_QUICK_REPLY_CONTENT_SIDS"
# Optional approved templates for when the 24-hour window is closed, by purpose (docs/inbox.md):
# "reopen" ({{1}} first name, {{2}} agent) and "csat" (the 1-5 question, same variables).
TEMPLATE_SETTINGS: dict[str, dict[str, str]] = {
    "whatsapp": {"reopen": "TWILIO_REOPEN_CONTENT_SID", "csat": "TWILIO_CSAT_CONTENT_SID"},
}
STATUS_PATH = "/webhooks/whatsapp/status"


class SettingError(ValueError):
    """A channel cannot start: the message names the variable and the fix."""


@dataclass(frozen=True)
class BuiltAdapters:
    """The enabled adapters by channel, and for each disabled channel the reason; and, found
    once here, what only some of them can do (see the protocols at the end of base.py)."""

    adapters: dict[str, Adapter] = field(default_factory=dict)
    disabled: dict[str, str] = field(default_factory=dict)
    profiles: dict[str, LooksUpProfiles] = field(init=False)
    paced: dict[str, PacedPerChat] = field(init=False)
    templates: dict[str, HasTemplates] = field(init=False)
    two_step: dict[str, SendsInTwoSteps] = field(init=False)

    def __post_init__(self) -> None:
        found = self.adapters.items()
        # A frozen dataclass sets its derived fields this way, once.
        object.__setattr__(
            self, "profiles", {c: a for c, a in found if isinstance(a, LooksUpProfiles)}
        )
        object.__setattr__(self, "paced", {c: a for c, a in found if isinstance(a, PacedPerChat)})
        object.__setattr__(
            self, "templates", {c: a for c, a in found if isinstance(a, HasTemplates)}
        )
        object.__setattr__(
            self, "two_step", {c: a for c, a in found if isinstance(a, SendsInTwoSteps)}
        )

    def pace(self, channel: str) -> Pace | None:
        """The channel's per-chat limit, if its platform has one."""
        paced = self.paced.get(channel)
        return paced.pace if paced is not None else None

    def close(self) -> None:
        for adapter in self.adapters.values():
            adapter.close()


def _required(env: Mapping[str, str], channel: str, *names: str) -> list[str]:
    missing = [n for n in names if not env.get(n, "").strip()]
    if missing:
        raise SettingError(f"{channel} disabled: set {', '.join(missing)}")
    return [env[n].strip() for n in names]


def whatsapp_config(env: Mapping[str, str]) -> WhatsAppConfig:
    sid, token, sender = _required(
        env, "whatsapp", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_WHATSAPP_FROM"
    )
    number = sender.removeprefix("whatsapp:")
    if not number.startswith("+") or not number[1:].isdigit():
        raise SettingError("whatsapp disabled: TWILIO_WHATSAPP_FROM must be like whatsapp:+1202…")
    public = env.get("PUBLIC_BASE_URL", "").strip().rstrip("/")
    return WhatsAppConfig(
        account_sid=sid,
        auth_token=token,
        from_number="whatsapp:" + number,
        api_base_url=env.get("TWILIO_API_BASE_URL") or None,
        quick_reply_sids=quick_reply_sids(env.get(QUICK_REPLY_VAR, "")),
        templates=template_sids(env, TEMPLATE_SETTINGS["whatsapp"]),
        status_callback_url=public + STATUS_PATH if public else None,
    )


def quick_reply_sids(value: str) -> dict[int, str]:
    """'1=HXa,3=HXc' → {1: 'HXa', 3: 'HXc'}; a malformed item disables the channel."""
    sids: dict[int, str] = {}
    for item in filter(None, (p.strip() for p in value.split(","))):
        count, _, sid = item.partition("=")
        if not count.strip().isdigit() or not sid.strip().startswith("HX"):
            raise SettingError(
                f"whatsapp disabled: {QUICK_REPLY_VAR} items must look like 2=HX…, got {item!r}"
            )
        sids[int(count)] = sid.strip()
    return sids


def template_sids(env: Mapping[str, str], settings: Mapping[str, str]) -> dict[str, str]:
    """{"reopen": "HX…"} for each template variable that is set; a malformed one disables the
    channel, like a malformed quick-reply list, so a typo shows at start and not at send."""
    sids: dict[str, str] = {}
    for name, variable in settings.items():
        value = env.get(variable, "").strip()
        if value and not (value.startswith("HX") and value[2:].isalnum()):
            raise SettingError(
                f"whatsapp disabled: {variable} must be an approved Content SID like HX…, "
                f"got {value!r}"
            )
        if value:
            sids[name] = value
    return sids


def messenger_config(env: Mapping[str, str]) -> MessengerConfig:
    secret, token, verify = _required(
        env, "messenger", "MESSENGER_APP_SECRET", "MESSENGER_PAGE_TOKEN", "MESSENGER_VERIFY_TOKEN"
    )
    return MessengerConfig(
        app_secret=secret,
        page_token=token,
        verify_token=verify,
        page_id=env.get("MESSENGER_PAGE_ID") or None,
        graph_base_url=env.get("GRAPH_API_BASE_URL") or None,
        api_version=(env.get("GRAPH_API_VERSION") or DEFAULT_VERSION).removeprefix("v"),
    )


def telegram_config(env: Mapping[str, str]) -> TelegramConfig:
    token, secret = _required(env, "telegram", "TELEGRAM_BOT_TOKEN", "TELEGRAM_SECRET_TOKEN")
    if not SECRET_RE.fullmatch(secret):
        raise SettingError(
            "telegram disabled: TELEGRAM_SECRET_TOKEN must be 1-256 of A-Z a-z 0-9 _ -"
        )
    return TelegramConfig(
        bot_token=token, secret_token=secret, api_base_url=env.get("TELEGRAM_API_BASE_URL") or None
    )


FACTORIES: dict[str, Callable[[Mapping[str, str]], Adapter]] = {
    "whatsapp": lambda env: WhatsAppAdapter(whatsapp_config(env)),
    "messenger": lambda env: MessengerAdapter(messenger_config(env)),
    "telegram": lambda env: TelegramAdapter(telegram_config(env)),
}


def build_adapters(env: Mapping[str, str]) -> BuiltAdapters:
    """Every channel whose settings are complete; one log line per disabled channel."""
    adapters: dict[str, Adapter] = {}
    disabled: dict[str, str] = {}
    for channel, factory in FACTORIES.items():
        try:
            adapters[channel] = factory(env)
        except SettingError as exc:
            disabled[channel] = str(exc)
            logger.warning("channel_disabled channel=%s reason=%s", channel, exc)
    return BuiltAdapters(adapters, disabled)
