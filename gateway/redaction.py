"""Redact payment cards and other sensitive data before anything is stored or logged.

A card number is a 13–19 digit run (spaces or dashes allowed) that passes the Luhn check, so a
16-digit order number that fails Luhn survives. A CVV or expiry next to its label goes too, and
in a message that held a card, any MM/YY date (the expiry, in whatever language).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_LABELLED = re.compile(
    r"(?i)\b(cvv2?|cvc2?|csc|security code|exp(?:iry|iration)?(?: date)?)\b(\s*[:=]?\s*)"
    r"(\d{1,2}\s*/\s*\d{2,4}|\d{3,4})"
)
_EXPIRY = re.compile(r"(?<![\d/])(0[1-9]|1[0-2])\s*/\s*(\d{2}|20\d{2})(?![\d/])")
CARD_MASK = "[card redacted]"
MASK = "[redacted]"


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


class Redactor:
    """Redacts cards, labelled CVVs and expiries, and the configured extra patterns."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self.extra = [re.compile(p) for p in patterns]

    def __call__(self, text: str) -> str:
        if not text:
            return text
        out = _CARD.sub(_mask_card, text) if any(c.isdigit() for c in text) else text
        if CARD_MASK in out:  # a message with a card: any MM/YY in it is the card's expiry
            out = _EXPIRY.sub(MASK, out)
        out = _LABELLED.sub(lambda m: f"{m[1]}{m[2]}{MASK}", out)
        for pattern in self.extra:
            out = pattern.sub(MASK, out)
        return out


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match[0])
    return CARD_MASK if 13 <= len(digits) <= 19 and luhn_ok(digits) else match[0]
