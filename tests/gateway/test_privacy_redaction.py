"""What is redacted by default (docs/privacy.md): cards and CVVs in any digit form everywhere;
IBAN, PESEL and CNP in history (REDACT_HISTORY); emails and phones in the analytics'
not-understood phrases, but kept in history for agents; card numbers in log lines."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.common.redact import secret_filter
from gateway.analytics.recorder import Analytics, TurnRecord, recorded
from gateway.analytics.report import build_report
from gateway.cli.main import main
from gateway.config import VARIABLES, Config
from gateway.redaction import (
    CARD_MASK,
    EMAIL_MASK,
    IBAN_MASK,
    ID_MASK,
    MASK,
    PHONE_MASK,
    Redactor,
    luhn_ok,
    redact_contacts,
    redact_payment,
)

ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@pytest.mark.parametrize(
    "card",
    [
        "4111 1111 1111 1111",
        "4111.1111.1111.1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "4111 1111 1111 1111".translate(ARABIC),
        "4111.1111.1111.1111".translate(ARABIC),
        "4111 1111 1111 1111".translate(PERSIAN),
        "4111111111111111".translate(FULLWIDTH),
        "3782 822463 10005",  # Amex, 4-6-5
        "\u200f٤١١١ ١١١١ ١١١١ ١١١١\u200f",  # with the RTL marks an Arabic keyboard adds
        "٤١١١\u200f ١١١١\u200f ١١١١\u200f ١١١١",  # a mark and a space between the groups
        "4111 -1111 -1111 -1111",
    ],
)
def test_cards_in_any_digit_form_are_redacted(card: str) -> None:
    out = redact_payment(f"my card {card} thanks")
    assert out.replace("\u200f", "") == f"my card {CARD_MASK} thanks"


def test_luhn_reads_every_digit_script() -> None:
    assert luhn_ok("4111111111111111".translate(ARABIC))
    assert luhn_ok("4111111111111111".translate(PERSIAN))
    assert not luhn_ok("4111111111111112".translate(FULLWIDTH))


@pytest.mark.parametrize(
    "text",
    [
        "order A1234",
        "order 1234567890123456",  # 16 digits failing Luhn
        "ref 1234 5678 9012 3456",
        "١٢٣٤ ٥٦٧٨ ٩٠١٢ ٣٤٥٦",  # the same, Arabic-Indic
        "tracking 9400 1000 0000 0000 0000 00",
        "call +4915112345678",  # a phone (E.164, 14 digits) that happens to pass Luhn
        "size 42, 3 pairs, 2024-05-01",
    ],
)
def test_what_is_not_a_card_is_kept(text: str) -> None:
    assert redact_payment(text) == text
    assert Redactor(history=["cards"])(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my CVC: 987", f"my CVC: {MASK}"),
        ("cvv2 is 1234", f"cvv2 is {MASK}"),
        ("security code - 555", f"security code - {MASK}"),
        ("kod CVV 321", f"kod CVV {MASK}"),
        ("cod de securitate: 456", f"cod de securitate: {MASK}"),
        ("رمز الأمان ٣٤٥", f"رمز الأمان {MASK}"),
        ("安全码是123", f"安全码是{MASK}"),
        ("安全碼：1234", f"安全碼：{MASK}"),
        ("123 (cvv)", f"{MASK} (cvv)"),
        ("card 4111 1111 1111 1111 123", f"card {CARD_MASK} {MASK}"),  # the CVV after it
        ("4111111111111111 ١٢/٢٩", f"{CARD_MASK} {MASK}"),  # its expiry
        ("4111 1111 1111 1111 5500 0000 0000 0004", f"{CARD_MASK} {CARD_MASK}"),  # two in a row
        ("exp 12/29", f"exp {MASK}"),
    ],
)
def test_cvvs_and_expiries_next_to_their_label_or_card(text: str, expected: str) -> None:
    assert redact_payment(text) == expected


def test_redaction_is_idempotent() -> None:
    text = "card 4111 1111 1111 1111 exp 12/29 cvv 123, IBAN PL61 1090 1014 0000 0712 1981 2874"
    once = Redactor(history=["iban"])(text)
    assert Redactor(history=["iban"])(once) == once


# ---- history: IBAN and national ids by default, emails and phones kept ----

HISTORY_CASES = {
    "iban": ("IBAN PL61 1090 1014 0000 0712 1981 2874 thanks", f"IBAN {IBAN_MASK} thanks"),
    "iban compact": ("to DE89370400440532013000.", f"to {IBAN_MASK}."),
    "iban letters": ("RO49 AAAA 1B31 0075 9384 0000", IBAN_MASK),
    "polish account": ("nr 61 1090 1014 0000 0712 1981 2874", f"nr {IBAN_MASK}"),
    "pesel": ("PESEL 44051401359", f"PESEL {ID_MASK}"),
    "cnp": ("CNP 1800101221144", f"CNP {ID_MASK}"),
}
KEPT = [
    "IBAN PL62 1090 1014 0000 0712 1981 2874",  # mod 97 fails
    "PESEL 44051401358",  # checksum fails
    "CNP 1800101221145",  # checksum fails
    "mail jan.kowalski@example.pl, tel +48 600 700 800",  # for the agent
]


@pytest.mark.parametrize("case", list(HISTORY_CASES))
def test_history_redacts_iban_and_national_ids_by_default(case: str) -> None:
    text, expected = HISTORY_CASES[case]
    assert Redactor(history=None)(text) == expected  # REDACT_HISTORY unset: the default
    assert Redactor(history=["cards"])(text) == text  # REDACT_HISTORY=cards keeps them


@pytest.mark.parametrize("text", KEPT)
def test_history_keeps_emails_phones_and_checksum_failures(text: str) -> None:
    assert Redactor()(text) == text


def test_redact_history_adds_emails_and_phones() -> None:
    redact = Redactor(history="cards,email,phone")
    assert redact("mail jan@example.pl, tel +48 600 700 800") == (
        f"mail {EMAIL_MASK}, tel {PHONE_MASK}"
    )
    assert redact("IBAN DE89370400440532013000") == "IBAN DE89370400440532013000"  # not named


def test_redact_history_comes_from_the_configuration_not_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = Config.from_env({"REDACT_HISTORY": "email"})
    redact = Redactor(config.redact_patterns, config.redact_history)
    assert redact("jan@example.pl 4111111111111111") == f"{EMAIL_MASK} {CARD_MASK}"
    monkeypatch.setenv("REDACT_HISTORY", "email")  # read once, by Config, at the top
    assert Redactor()("jan@example.pl") == "jan@example.pl"


def test_cards_stay_redacted_whatever_redact_history_says() -> None:
    assert Redactor(history="email")("4111 1111 1111 1111") == CARD_MASK


def test_redact_patterns_still_work_with_the_defaults() -> None:
    redact = Redactor([r"\bAB\d{6}\b"])
    assert redact("passport AB123456, PESEL 44051401359") == f"passport {MASK}, PESEL {ID_MASK}"


def test_redact_history_is_a_documented_validated_variable() -> None:
    assert "REDACT_HISTORY" in VARIABLES and "iban" in VARIABLES["REDACT_HISTORY"]
    shown = CliRunner().invoke(main, ["serve", "--help"]).output.splitlines()
    (line,) = [x for x in shown if x.split()[:1] == ["REDACT_HISTORY"]]
    assert VARIABLES["REDACT_HISTORY"] in line
    assert Config.from_env({}).redact_history == ("cards", "iban", "national_id")
    assert Config.from_env({"REDACT_HISTORY": "email, phone"}).redact_history == (
        "cards", "email", "phone",
    )  # fmt: skip
    with pytest.raises(ValueError, match="REDACT_HISTORY names ibna"):
        Config.from_env({"REDACT_HISTORY": "ibna"})


# ---- analytics: the not-understood phrases ----


def test_contacts_are_redacted_for_analytics() -> None:
    text = "call me +48 600 700 800 or 600-700-800 or jan.kowalski@example.pl, order A1234 x2"
    assert redact_contacts(text) == (
        f"call me {PHONE_MASK} or {PHONE_MASK} or {EMAIL_MASK}, order A1234 x2"
    )


def _fallback_turn(text: str) -> TurnRecord:
    return TurnRecord(
        conversation="whatsapp:c1", message_id="m1", channel="whatsapp", at=1_795_000_000.0,
        events=[{"type": "NodeEntered", "node": "menu"},
                {"type": "Fallback", "node": "menu", "text": text, "misses": 1}],
    )  # fmt: skip


def test_fallback_phrases_hold_no_email_or_phone(tmp_path: Path) -> None:
    text = "My mail is Jan.Kowalski@Example.pl and phone +48 600 700 800"
    recorder = Analytics(str(tmp_path / "a.db"))
    try:
        recorder.record(_fallback_turn(text))
        recorder.flush()
        db = recorder.reader()
        report = build_report(db, {}, now=1_795_000_100.0)
        db.close()
    finally:
        recorder.close()
    phrases = [f.phrase for f in report.fallbacks]
    assert phrases == [f"my mail is {EMAIL_MASK} and phone {PHONE_MASK}"]
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"kowalski" not in raw.lower() and b"600 700 800" not in raw
    # The Redis turn log ships `recorded(record)`: cut to the same phrase, contacts gone.
    shipped = recorded(_fallback_turn(text)).events[-1]["text"]
    assert "kowalski" not in shipped and "600" not in shipped


def test_fallback_phrases_keep_ordinary_words(tmp_path: Path) -> None:
    recorder = Analytics(str(tmp_path / "a.db"))
    try:
        recorder.record(_fallback_turn("Where is order A1234?"))
        recorder.flush()
    finally:
        recorder.close()
    db = sqlite3.connect(tmp_path / "a.db")
    assert db.execute("SELECT phrase FROM a_fallback").fetchall() == [("where is order a1234?",)]
    db.close()


# ---- logs ----


def test_a_card_in_a_log_line_is_masked() -> None:
    record = logging.LogRecord("gateway", logging.WARNING, __file__, 1, "bad card %s", ("4111 1111 1111 1111",), None)  # fmt: skip
    record.error = "platform said: 4111111111111111 invalid"
    assert secret_filter().filter(record)
    assert record.getMessage() == f"bad card {CARD_MASK}"
    assert record.error == f"platform said: {CARD_MASK} invalid"


def test_a_long_run_of_digit_groups_is_redacted_quickly() -> None:
    """A message of 2,000 one-digit groups (or 200 cards) costs milliseconds, not seconds."""
    started = time.perf_counter()
    assert redact_payment("1 " * 2000) == "1 " * 2000
    assert redact_payment("4111 1111 1111 1111 " * 200) == f"{CARD_MASK} " * 200
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    "text",
    ["4111 - 1111 - 1111 - 1111", "4111   1111   1111   1111", "4111\n1111\n1111\n1111",
     "4111/1111/1111/1111", "4111, 1111, 1111, 1111"],
)  # fmt: skip
def test_cards_with_wider_separators_are_redacted(text: str) -> None:
    assert redact_payment(text) == CARD_MASK


@pytest.mark.parametrize(
    "text", ["what is the cvv? order A1234", "A1234 cvv?", "رمز الطلب A1234", "رمز الخصم 1234"]
)
def test_order_numbers_and_other_codes_beside_a_label_are_kept(text: str) -> None:
    assert redact_payment(text) == text
