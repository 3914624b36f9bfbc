"""Redact payment cards and other sensitive data before anything is stored or logged.

Three layers (docs/privacy.md):

* `redact_payment` (cards, CVVs, expiries) runs on every inbound message before its first
  durable write (the stores' `enqueue`, through `redact_inbound`): the text, the button
  payload, the shopper's names, a shared contact's or location's name, free-text extras. So
  no file, queue, history, outbox, analytics table or log line ever sees them. It is not
  configurable.
* `Redactor` (the gateway's `gw.redact`) runs on what history, the inbox and the stored
  events keep: cards always, then the kinds REDACT_HISTORY names (default IBAN and national
  ids; emails and phones stay for agents unless named), then REDACT_PATTERNS.
* `redact_contacts` (emails, phones) runs on the analytics' not-understood phrases.

A card number is a run of 13–19 digits, in any script (ASCII, Arabic-Indic, Persian,
full-width...: what `\\d` matches), grouped by spaces, dots or dashes, that passes the Luhn
check: a 16-digit order number that fails Luhn survives. In a longer run, a Luhn-valid start
or end at a group boundary is the card (a card followed by its CVV, 4111 1111 1111 1111 123).
A CVV next to its label (cvv, cvc, security code, kod cvv, cod de securitate, رمز, 安全码...)
goes too, as does an expiry after its label and, in a message that held a card, any MM/YY
and the 3–4 digits right after the card. A valid IBAN is never taken for a card.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import replace

from adapters.common.redact import secret_filter
from flows.messages import Inbound, Shopper

CARD_MASK = "[card redacted]"
MASK = "[redacted]"
IBAN_MASK = "[iban redacted]"
ID_MASK = "[id redacted]"
EMAIL_MASK = "[email redacted]"
PHONE_MASK = "[phone redacted]"

# What REDACT_HISTORY may name; cards (and CVVs) are redacted whatever it says.
HISTORY_KINDS = ("cards", "iban", "national_id", "email", "phone")
DEFAULT_HISTORY = ("cards", "iban", "national_id")

_DIGIT = re.compile(r"\d")
# Between the groups of a number: spaces (also no-break and thin ones), dots, dashes, slashes,
# commas, underscores, line breaks, and the invisible direction marks an RTL keyboard puts
# around digits; up to three of them ("4111 - 1111", "4111, 1111").
_SEP = (
    r"[ \t\n\r.,/_\-\u00a0\u2007\u2009\u202f\u3000\u2010-\u2015\u2212\uff0c\uff0d\uff0e\uff0f"
    r"\u200b\u200e\u200f\u061c]"
)
_RUN = re.compile(rf"\d+(?:{_SEP}{{1,3}}\d+)*")
_THIRTEEN = re.compile(rf"\d(?:{_SEP}{{0,3}}\d){{12}}")  # the shortest card: a cheap first look
_TWO = re.compile(r"\d\d")
_THREE = re.compile(r"\d{3}")
_GROUP = re.compile(r"\d+")
_LATIN_CVV = (
    r"cvv2?|cvc2?|csc|security\s+code|card\s+code|kod\s+cvv|kod\s+cvc|kod\s+zabezpieczaj\w*"
    r"|cod(?:ul)?\s+de\s+securitate|cod(?:ul)?\s+cvv|c[oó]digo\s+de\s+seguridad"
    r"|code\s+de\s+s[ée]curit[ée]|kartenpr[üu]fnummer|pr[üu]fziffer"
)
# Arabic: "the security code", "the verification code" (a bare "رمز", any code, is not one).
_CVV_LABEL = rf"(?:\b(?:{_LATIN_CVV})\b|رمز\s*(?:الأمان|الامان|التحقق|cvv|cvc)|安全码|安全碼)"
_CVV_WORDS = ("cv", "csc", "code", "cod", "kod", "digo", "prüf", "pruf", "رمز", "安全")  # in each
# The label, a short gap without digits, the 3 or 4 digits; or the digits just before it.
# The digits stand apart from Latin letters: "order A1234" after a CVV label is an order
# number, not a CVV (while "安全码是123" is a CVV: CJK letters are word characters too).
_CVV_AFTER = re.compile(rf"(?i)({_CVV_LABEL})([^\d\n]{{0,20}}?)(?<![A-Za-z0-9])(\d{{3,4}})(?!\d)")
_CVV_BEFORE = re.compile(rf"(?i)(?<![A-Za-z0-9])(\d{{3,4}})([\s:=(),\-]{{0,3}})(?={_CVV_LABEL})")
_EXPIRY_LABELLED = re.compile(
    r"(?i)\b(exp(?:iry|iration)?(?:\s+date)?|valid\s+(?:thru|through|until)|wa[żz]na\s+do"
    r"|data\s+expir[aă]rii|expir[aă])\b([^\d\n]{0,12}?)(\d{1,2}\s*[/／]\s*(?:\d{4}|\d{2}))(?!\d)"
)
_EXPIRY = re.compile(r"(?<![\d/])(\d{1,2})\s*[/／]\s*(\d{4}|\d{2})(?![\d/])")
_AFTER_CARD = re.compile(rf"({re.escape(CARD_MASK)}[\s,;:/.\-]{{1,3}})(\d{{3,4}})(?!\d)")

# IBAN length by country (the SWIFT registry); another country code is not an IBAN.
_IBAN_LENGTH = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip
_IBAN_START = re.compile(r"(?<![^\W_])([A-Za-z]{2})(\d\d)")
_IBAN_SEP = frozenset(" -\u00a0")
_NRB = re.compile(r"(?<!\d)\d\d(?:[ \u00a0]?\d){24}(?!\d)")  # a Polish account: PL's IBAN digits
_PESEL = re.compile(r"(?<!\d)\d{11}(?!\d)")
_CNP = re.compile(r"(?<!\d)\d{13}(?!\d)")
_EMAIL = re.compile(r"(?<![\w.+\-])[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[^\W\d_]{2,}")
_PHONE = re.compile(r"(?<![\w+])(\+|00)?\(?\d[\d \-.()\u00a0]{4,22}\d(?!\d)")


def luhn_ok(digits: str) -> bool:
    """The Luhn check on digits of any script (int() reads ٤ and ４ as 4)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdecimal())


def _ascii(digits: str) -> str:
    return "".join(str(int(ch)) for ch in digits)


# ---- cards, CVVs, expiries: always, before the first write ----


def redact_payment(text: str) -> str:
    """Cards, labelled CVVs and expiries; in a message with a card, its MM/YY and the 3–4
    digits right after it. Idempotent. Leaves a valid IBAN alone (it is not a card)."""
    if not text or not _DIGIT.search(text):
        return text
    out = _redact_cards(text) if _THIRTEEN.search(text) else text
    if CARD_MASK in out:  # a message with a card: any MM/YY in it is the card's expiry
        out = _EXPIRY.sub(_mask_expiry, out)
        out = _AFTER_CARD.sub(lambda m: f"{m[1]}{MASK}", out)
    # The labelled ones, only where a label and enough digits could be (the cheap test first).
    if ("/" in out or "／" in out) and _TWO.search(out):
        out = _EXPIRY_LABELLED.sub(lambda m: f"{m[1]}{m[2]}{MASK}", out)
    if _THREE.search(out) and any(word in out.lower() for word in _CVV_WORDS):
        out = _CVV_AFTER.sub(lambda m: f"{m[1]}{m[2]}{MASK}", out)
        out = _CVV_BEFORE.sub(lambda m: f"{MASK}{m[2]}", out)
    return out


def _redact_cards(text: str) -> str:
    ibans = _iban_spans(text)
    parts: list[str] = []
    last = 0
    for run in _RUN.finditer(text):
        if any(start < run.end() and run.start() < end for start, end in ibans):
            continue
        found = run[0]
        before = text[max(run.start() - 2, 0) : run.start()]
        if before.strip().endswith("+") and len(_digits(found)) <= 15:
            continue  # +4915112345678: a phone (E.164 has at most 15 digits), never a card
        masked = _mask_run(found)
        if masked is not found:
            parts += [text[last : run.start()], masked]
            last = run.end()
    return "".join([*parts, text[last:]]) if parts else text


def _mask_run(run: str) -> str:
    """The run with its cards masked, or `run` itself. The whole run if it is a card; else
    the longest Luhn-valid start or end at a group boundary (a card and its CVV or expiry
    after it), and again in what is left (two cards in a row)."""
    groups = [(g.start(), g.end()) for g in _GROUP.finditer(run)]
    upto = list(itertools.accumulate((e - s for s, e in groups), initial=0))  # digits before
    spans: list[tuple[int, int]] = []
    first, last = 0, len(groups)  # the groups still to look at: groups[first:last]
    while upto[last] - upto[first] >= 13:
        # Longest first; a card has at most 19 digits, so at most 19 groups (more would make
        # this quadratic in a long run of short groups).
        for n in range(min(last - first, 19), 0, -1):
            if _card_like(_digits_of(run, groups[first : first + n])):
                spans.append((groups[first][0], groups[first + n - 1][1]))
                first += n
                break
            if _card_like(_digits_of(run, groups[last - n : last])):
                spans.insert(0, (groups[last - n][0], groups[last - 1][1]))
                last -= n
                break
        else:
            break
    if not spans:
        return run
    out, at = [], 0
    for start, end in sorted(spans):
        out += [run[at:start], CARD_MASK]
        at = end
    return "".join([*out, run[at:]])


def _digits_of(run: str, groups: list[tuple[int, int]]) -> str:
    return "".join(run[s:e] for s, e in groups)


def _card_like(digits: str) -> bool:
    """13–19 digits passing Luhn, not starting with 0 (no card number does: 0000 0000 0000 00
    passes Luhn)."""
    return 13 <= len(digits) <= 19 and int(digits[0]) != 0 and luhn_ok(digits)


def _mask_expiry(m: re.Match[str]) -> str:
    month, year = int(m[1]), int(m[2])
    if 1 <= month <= 12 and (len(m[2]) == 2 or 2000 <= year <= 2099):
        return MASK
    return m[0]


def redact_shopper(shopper: Shopper) -> Shopper:
    """The shopper's display and first name without cards (the same object if none)."""
    names = {n: redact_payment(getattr(shopper, n) or "") for n in ("name", "first_name")}
    if all(v == (getattr(shopper, n) or "") for n, v in names.items()):
        return shopper
    return replace(shopper, name=names["name"] or None, first_name=names["first_name"] or None)


def redact_inbound(inbound: Inbound) -> Inbound:
    """`inbound` with cards and CVVs gone from everything a shopper can type or name: text,
    payload, names, a contact's or location's name, free-text extras (ids are left alone).
    The same object when there is nothing to redact (the usual case: no digits)."""
    changes: dict[str, object] = {}
    for name in ("text", "payload"):
        value = getattr(inbound, name)
        if value and (clean := redact_payment(value)) != value:
            changes[name] = clean
    shopper = redact_shopper(inbound.shopper)
    if shopper is not inbound.shopper:
        changes["shopper"] = shopper
    contact = inbound.contact
    if contact and contact.name and (clean := redact_payment(contact.name)) != contact.name:
        changes["contact"] = replace(contact, name=clean)
    place = inbound.location
    if place and (place.name or place.address):
        named = {n: redact_payment(getattr(place, n) or "") or None for n in ("name", "address")}
        if any(v != getattr(place, n) for n, v in named.items()):
            changes["location"] = replace(place, name=named["name"], address=named["address"])
    extras = tuple(
        (k, v if _is_id(k) else redact_payment(v)) for k, v in inbound.extras
    )  # fmt: skip
    if extras != inbound.extras:
        changes["extras"] = extras
    return replace(inbound, **changes) if changes else inbound  # type: ignore[arg-type]


_ID_KEY = re.compile(r"(?i)(?:id|sid|_at|_date|_from)$")


def _is_id(key: str) -> bool:
    """Extras that are platform ids or counts (callback_query_id, chat_message_id...): kept."""
    return bool(_ID_KEY.search(key))


# ---- IBAN, national ids: history by default ----


def _iban_spans(text: str) -> list[tuple[int, int]]:
    """Where `text` holds a valid IBAN (country length, mod 97), or a Polish account number."""
    spans = []
    for m in _IBAN_START.finditer(text):
        length = _IBAN_LENGTH.get(m[1].upper())
        if length is None:
            continue
        chars, end = [m[1].upper(), _ascii(m[2])], m.end()
        count = 4
        while count < length and end < len(text):
            ch = text[end]
            if ch.isdecimal() or (ch.isascii() and ch.isalpha()):
                chars.append(_ascii(ch) if ch.isdecimal() else ch.upper())
                count += 1
                end += 1
            elif ch in _IBAN_SEP and end + 1 < len(text) and text[end + 1] not in _IBAN_SEP:
                end += 1
            else:
                break
        if count != length or (end < len(text) and text[end].isalnum()):
            continue
        if _mod97("".join(chars)):
            spans.append((m.start(), end))
    for m in _NRB.finditer(text):
        inside = any(s <= m.start() < e for s, e in spans)  # the digits of a PL IBAN
        if not inside and _mod97("PL" + _ascii(_digits(m[0]))):
            spans.append((m.start(), m.end()))
    return spans


def _mod97(iban: str) -> bool:
    moved = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def redact_ibans(text: str) -> str:
    if not text or not _DIGIT.search(text):
        return text
    spans = _iban_spans(text)
    for start, end in sorted(spans, reverse=True):
        text = f"{text[:start]}{IBAN_MASK}{text[end:]}"
    return text


def _pesel_ok(d: str) -> bool:
    """PESEL: the checksum, and a real month (the century is added to it) and day."""
    n = [int(c) for c in d]
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    check = (10 - sum(w * x for w, x in zip(weights, n, strict=False)) % 10) % 10
    month = (n[2] * 10 + n[3]) % 20
    day = n[4] * 10 + n[5]
    return check == n[10] and 1 <= month <= 12 and 1 <= day <= 31


def _cnp_ok(d: str) -> bool:
    """Romanian CNP: sex/century 1-9, a real month and day, a county 01-52, the checksum."""
    n = [int(c) for c in d]
    weights = (2, 7, 9, 1, 4, 6, 3, 5, 8, 2, 7, 9)
    rest = sum(w * x for w, x in zip(weights, n, strict=False)) % 11
    month, day, county = n[3] * 10 + n[4], n[5] * 10 + n[6], n[7] * 10 + n[8]
    return (
        n[0] != 0
        and n[12] == (1 if rest == 10 else rest)
        and 1 <= month <= 12
        and 1 <= day <= 31
        and 1 <= county <= 52
    )


def redact_national_ids(text: str) -> str:
    """Polish PESEL and Romanian CNP numbers whose checksum holds."""
    if not text or not _DIGIT.search(text):
        return text
    text = _CNP.sub(lambda m: ID_MASK if _cnp_ok(m[0]) else m[0], text)
    return _PESEL.sub(lambda m: ID_MASK if _pesel_ok(m[0]) else m[0], text)


# ---- emails, phones: analytics always, history if named ----


def redact_emails(text: str) -> str:
    return _EMAIL.sub(EMAIL_MASK, text) if text and "@" in text else text


def redact_phones(text: str) -> str:
    """Numbers that look like phones: 8-15 digits after + or 00, else 9-15 digits."""
    if not text or not _DIGIT.search(text):
        return text

    def mask(m: re.Match[str]) -> str:
        count = len(_digits(m[0]))
        return PHONE_MASK if (8 if m[1] else 9) <= count <= 15 else m[0]

    return _PHONE.sub(mask, text)


def redact_contacts(text: str) -> str:
    """Emails and phone numbers: what the analytics' phrases never keep."""
    return redact_phones(redact_emails(text))


# ---- the history redactor ----


def history_kinds(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """REDACT_HISTORY parsed: comma-separated kinds; empty or None means the default.
    Cards are always among them. Raises ValueError on a kind it does not know."""
    if value is None:
        return DEFAULT_HISTORY
    items = value.split(",") if isinstance(value, str) else list(value)
    kinds = [k.strip().lower() for k in items if k.strip()]
    if not kinds:
        return DEFAULT_HISTORY
    unknown = [k for k in kinds if k not in HISTORY_KINDS]
    if unknown:
        raise ValueError(
            f"REDACT_HISTORY names {', '.join(unknown)}: the kinds are {', '.join(HISTORY_KINDS)}"
            f" (default {','.join(DEFAULT_HISTORY)})"
        )
    return tuple(k for k in HISTORY_KINDS if k in kinds or k == "cards")


class Redactor:
    """What history, the inbox and the stored events keep redacted: cards and CVVs always,
    the kinds of `history` (REDACT_HISTORY, `Config.redact_history`; None: the default, cards,
    IBAN, national ids), and the configured extra patterns (REDACT_PATTERNS)."""

    def __init__(self, patterns: Iterable[str] = (), history: Iterable[str] | None = None) -> None:
        self.extra = [re.compile(p) for p in patterns]
        chosen = history_kinds(history)
        self.kinds = frozenset(chosen)
        steps: list[Callable[[str], str]] = [redact_payment]
        if "iban" in self.kinds:
            steps.append(redact_ibans)
        if "national_id" in self.kinds:
            steps.append(redact_national_ids)
        if "email" in self.kinds:
            steps.append(redact_emails)
        if "phone" in self.kinds:
            steps.append(redact_phones)
        self._steps = steps

    def __call__(self, text: str) -> str:
        if not text:
            return text
        out = text
        for step in self._steps:
            out = step(out)
        for pattern in self.extra:
            out = pattern.sub(MASK, out)
        return out


def _scrub_log(text: str) -> str:
    return redact_payment(text)


# Log lines too: the filter on the gateway's handler and the client libraries' loggers.
secret_filter().scrub_with(_scrub_log)
