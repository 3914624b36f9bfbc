"""Adapters built with the fixtures' fake secrets, shared by the tests: verify, parse, render and
window keep no state (send tests build their own, pointed at the sandbox)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from adapter_helpers import messenger_config, telegram_config, whatsapp_config

from adapters.messenger.adapter import MessengerAdapter
from adapters.telegram.adapter import TelegramAdapter
from adapters.whatsapp.adapter import WhatsAppAdapter


@pytest.fixture(scope="session")
def whatsapp() -> Iterator[WhatsAppAdapter]:
    adapter = WhatsAppAdapter(whatsapp_config())
    yield adapter
    adapter.close()


@pytest.fixture(scope="session")
def messenger() -> Iterator[MessengerAdapter]:
    adapter = MessengerAdapter(messenger_config())
    yield adapter
    adapter.close()


@pytest.fixture(scope="session")
def telegram() -> Iterator[TelegramAdapter]:
    adapter = TelegramAdapter(telegram_config())
    yield adapter
    adapter.close()


@pytest.fixture(scope="session")
def adapters(whatsapp, messenger, telegram) -> dict[str, object]:
    """By the manifest's platform name."""
    return {"twilio": whatsapp, "messenger": messenger, "telegram": telegram}
