"""Stored history redacts cards (Luhn-checked), labelled CVVs and expiries, and configured patterns."""

from __future__ import annotations

import sys
import urllib.parse

import pytest

from gateway.redaction import CARD_MASK, Redactor, luhn_ok
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
import sign


def test_the_hostile_card_fixture_is_redacted_but_the_order_number_survives() -> None:
    form = dict(
        urllib.parse.parse_qsl(sign.read_fixture("hostile/twilio_card_number.form").decode())
    )
    out = Redactor()(form["Body"])
    assert "4111" not in out and "12/29" not in out and "123." not in out
    assert CARD_MASK in out
    assert "1234 5678 9012 3456" in out  # a 16-digit order number failing Luhn is kept


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111-1111-1111-1111 thanks", "card [card redacted] thanks"),
        ("amex 378282246310005", "amex [card redacted]"),
        ("order 1234567890123456", "order 1234567890123456"),
        ("my CVC: 987", "my CVC: [redacted]"),
        ("phone +1 202 555 0143", "phone +1 202 555 0143"),
        ("", ""),
    ],
)
def test_redaction_table(text: str, expected: str) -> None:
    assert Redactor()(text) == expected


def test_configured_patterns_are_redacted() -> None:
    assert Redactor([r"\b[A-Z]{2}\d{6}\b"])("passport AB123456 ok") == "passport [redacted] ok"


def test_luhn() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
