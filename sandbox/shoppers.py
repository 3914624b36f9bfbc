"""Simulated shoppers: a name gets a stable, fake platform identity per channel.

Numbers come from the fiction range +1 202-555-01xx, PSIDs and Telegram ids from ranges no real
account uses, so nothing the simulator produces can reach a real person.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

_BASES = {"whatsapp": 12025550101, "messenger": 7300000000000101, "telegram": 100000101}
_LOCALES = {"whatsapp": "en_US", "messenger": "en_US", "telegram": "en"}


@dataclass(frozen=True, slots=True)
class SimShopper:
    """One shopper on one channel; `address` is what the bot sends to (number, PSID, chat id)."""

    channel: str
    name: str
    address: str
    first_name: str
    last_name: str
    locale: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ShopperBook:
    """Thread-safe registry; adding the same name twice on a channel returns the same shopper."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[tuple[str, str], SimShopper] = {}
        self._by_address: dict[tuple[str, str], SimShopper] = {}

    def add(self, channel: str, name: str, locale: str | None = None) -> SimShopper:
        if channel not in _BASES:
            raise ValueError(f"unknown channel {channel!r}")
        name = " ".join(name.split())[:64] or "Shopper"
        with self._lock:
            known = self._by_name.get((channel, name))
            if known is not None:
                return known
            number = _BASES[channel] + sum(1 for c, _ in self._by_name if c == channel)
            address = f"+{number}" if channel == "whatsapp" else str(number)
            first, _, last = name.partition(" ")
            locale = _platform_locale(channel, locale) if locale else _LOCALES[channel]
            shopper = SimShopper(channel, name, address, first, last, locale)
            self._by_name[(channel, name)] = shopper
            self._by_address[(channel, address)] = shopper
            return shopper

    def find(self, channel: str, address: str) -> SimShopper | None:
        with self._lock:
            return self._by_address.get((channel, address.removeprefix("whatsapp:")))

    def all(self) -> list[SimShopper]:
        with self._lock:
            return list(self._by_name.values())


def _platform_locale(channel: str, locale: str) -> str:
    """The locale as each platform reports it: Messenger `pl_PL`, Telegram's IETF tag `pl`
    or `zh-hant`."""
    if channel != "telegram":
        return locale
    base, _, region = locale.partition("_")
    if base == "zh":
        return "zh-hant" if region in ("TW", "HK", "MO") else "zh-hans"
    return base
