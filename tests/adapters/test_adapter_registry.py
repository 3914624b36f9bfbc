"""Building adapters from the environment: missing secrets disable one channel with a message
naming the variable, never crash the others; no secret reaches a repr or a library log line."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from adapter_helpers import BOT_TOKEN, PAGE_TOKEN, sign

from adapters.base import Adapter
from adapters.common.redact import MASK
from adapters.messenger.adapter import MessengerAdapter
from adapters.registry import ADAPTERS, BuiltAdapters, build_adapters, delivery_reporting
from adapters.telegram.adapter import TelegramAdapter
from adapters.whatsapp.adapter import WhatsAppAdapter

FULL_ENV = {
    "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000001",
    "TWILIO_AUTH_TOKEN": sign.DEFAULTS["twilio_auth_token"],
    "TWILIO_WHATSAPP_FROM": "+12025550100",
    "TWILIO_QUICK_REPLY_CONTENT_SIDS": "1=HX11111111111111111111111111111111, 3=HX33",
    "PUBLIC_BASE_URL": "https://bot.shop.example/",
    "MESSENGER_APP_SECRET": sign.DEFAULTS["meta_app_secret"],
    "MESSENGER_PAGE_TOKEN": PAGE_TOKEN,
    "MESSENGER_VERIFY_TOKEN": sign.DEFAULTS["messenger_verify_token"],
    "GRAPH_API_BASE_URL": "http://127.0.0.1:9/graph",
    "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
    "TELEGRAM_SECRET_TOKEN": sign.DEFAULTS["telegram_secret_token"],
    "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/telegram/bot",
}
SECRET_NAMES = (
    *("TWILIO_AUTH_TOKEN", "MESSENGER_APP_SECRET", "MESSENGER_PAGE_TOKEN"),
    *("MESSENGER_VERIFY_TOKEN", "TELEGRAM_BOT_TOKEN", "TELEGRAM_SECRET_TOKEN"),
)
SECRETS = [FULL_ENV[k] for k in SECRET_NAMES]


def build(env: dict[str, str]) -> Iterator[BuiltAdapters]:
    built = build_adapters(env)
    yield built
    built.close()


@pytest.fixture
def everything() -> Iterator[BuiltAdapters]:
    yield from build(FULL_ENV)


def test_registry_names_one_class_per_channel() -> None:
    expected = {
        "whatsapp": WhatsAppAdapter,
        "messenger": MessengerAdapter,
        "telegram": TelegramAdapter,
    }
    assert expected == ADAPTERS


def test_complete_environment_enables_every_channel(everything: BuiltAdapters) -> None:
    assert everything.disabled == {}
    assert sorted(everything.adapters) == ["messenger", "telegram", "whatsapp"]
    for channel, adapter in everything.adapters.items():
        assert isinstance(adapter, Adapter) and adapter.channel == channel


def test_settings_are_read_from_the_design_variable_names(everything: BuiltAdapters) -> None:
    whatsapp = everything.adapters["whatsapp"].config
    assert whatsapp.from_number == "whatsapp:+12025550100"
    assert whatsapp.quick_reply_sids == {1: "HX11111111111111111111111111111111", 3: "HX33"}
    assert whatsapp.status_callback_url == "https://bot.shop.example/webhooks/whatsapp/status"
    assert everything.adapters["messenger"].config.graph_base_url == "http://127.0.0.1:9/graph"
    assert everything.adapters["telegram"].config.api_base_url == "http://127.0.0.1:9/telegram/bot"


@pytest.mark.parametrize(
    ("missing", "channel"),
    [
        ("TWILIO_AUTH_TOKEN", "whatsapp"),
        ("TWILIO_ACCOUNT_SID", "whatsapp"),
        ("MESSENGER_APP_SECRET", "messenger"),
        ("MESSENGER_VERIFY_TOKEN", "messenger"),
        ("TELEGRAM_SECRET_TOKEN", "telegram"),
        ("TELEGRAM_BOT_TOKEN", "telegram"),
    ],
)
def test_missing_secret_disables_only_its_channel_naming_the_variable(
    missing: str, channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    env = {k: v for k, v in FULL_ENV.items() if k != missing}
    with caplog.at_level(logging.WARNING, logger="adapters.registry"):
        for built in build(env):
            assert built.disabled == {channel: f"{channel} disabled: set {missing}"}
            assert sorted(built.adapters) == sorted(set(ADAPTERS) - {channel})
    assert [r.getMessage() for r in caplog.records] == [
        f"channel_disabled channel={channel} reason={channel} disabled: set {missing}"
    ]


def test_empty_environment_disables_all_without_crashing() -> None:
    for built in build({}):
        assert built.adapters == {}
        assert built.disabled["messenger"] == (
            "messenger disabled: set MESSENGER_APP_SECRET, MESSENGER_PAGE_TOKEN, MESSENGER_VERIFY_TOKEN"
        )


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("TELEGRAM_SECRET_TOKEN", "has spaces!", "TELEGRAM_SECRET_TOKEN must be 1-256"),
        ("TWILIO_WHATSAPP_FROM", "12025550100", "TWILIO_WHATSAPP_FROM must be like"),
        ("TWILIO_QUICK_REPLY_CONTENT_SIDS", "two=HX1", "TWILIO_QUICK_REPLY_CONTENT_SIDS items"),
        ("TWILIO_REOPEN_CONTENT_SID", "reopen-template", "TWILIO_REOPEN_CONTENT_SID must be"),
        ("TWILIO_CSAT_CONTENT_SID", "HX 12", "TWILIO_CSAT_CONTENT_SID must be"),
    ],
)
def test_malformed_setting_disables_its_channel_with_the_fix(
    name: str, value: str, reason: str
) -> None:
    for built in build({**FULL_ENV, name: value}):
        (message,) = built.disabled.values()
        assert reason in message and len(built.adapters) == 2


def test_window_templates_are_read_by_purpose() -> None:
    env = {**FULL_ENV, "TWILIO_REOPEN_CONTENT_SID": " HXa1 ", "TWILIO_CSAT_CONTENT_SID": ""}
    for built in build(env):
        whatsapp = built.adapters["whatsapp"]
        assert whatsapp.config.templates == {"reopen": "HXa1"}  # type: ignore[attr-defined]
        templates = built.templates["whatsapp"]
        assert templates.has_template("reopen") and not templates.has_template("csat")


def test_what_only_some_platforms_can_do_is_found_once_by_channel(
    everything: BuiltAdapters,
) -> None:
    assert set(everything.profiles) == {"messenger"}  # the User Profile API
    assert set(everything.paced) == {"telegram"}
    assert everything.pace("telegram") is not None and everything.pace("whatsapp") is None
    assert set(everything.templates) == {"whatsapp"}
    assert set(everything.two_step) == {"telegram"}


def test_no_secret_appears_in_any_repr(everything: BuiltAdapters) -> None:
    shown = repr(everything) + "".join(repr(a.config) for a in everything.adapters.values())
    assert not [s for s in SECRETS if s in shown]


@pytest.mark.parametrize(
    ("logger_name", "message", "secret"),
    [
        ("httpx", "HTTP Request: POST http://x/bot%s/sendMessage", BOT_TOKEN),
        ("urllib3.connectionpool", "POST /v25.0/me/messages?access_token=%s", PAGE_TOKEN),
        ("telegram.Bot", "Set Bot API URL: http://x/bot%s", BOT_TOKEN),
    ],
)
def test_library_log_lines_never_carry_the_tokens(
    everything: BuiltAdapters, logger_name: str, message: str, secret: str
) -> None:
    captured: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda r: captured.append(r.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        logger.handle(
            logging.LogRecord(logger_name, logging.INFO, __file__, 1, message, (secret,), None)
        )
    finally:
        logger.removeHandler(handler)
    assert captured == [message % MASK]


def test_only_whatsapp_reports_delivery() -> None:
    """Twilio's status callbacks are the only delivery reports the gateway takes."""
    assert delivery_reporting() == frozenset({"whatsapp"})
