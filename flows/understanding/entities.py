"""Facts in free text, in any script: order numbers, emails, phone numbers, shoe sizes.

Everything is read from the cleaned text (digits as 0-9, full-width folded), so "A١٢٣٤" is
A1234 and "４２码" is size 42. Order numbers follow the flow's own `expect: {regex: ...}`
questions, so a shop whose numbers look different needs no code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers

from flows.understanding.fold import clean

MAX_ENTITY_CHARS = 1_000
_HAN_RUN = re.compile(r"([\u3400-\u9fff\uf900-\ufaff]+)")
_EMAIL = re.compile(r"[^@\s<>()\[\],;:\"']{1,64}@[A-Za-z0-9.-]{1,255}\.[A-Za-z]{2,63}")
_TOKEN = re.compile(r"[^\s,.;:!?()\[\]{}\"'،؟。，！？：；（）]+")
_SIZE_WORDS = (
    r"size|sizes|rozmiar(?:ze|u)?|numer|nr|m[aă]rime[a]?|m[aă]rimi|num[aă]rul|talla|"
    r"مقاس|المقاس|قياس|尺码|尺碼|码|碼|号|號"
)
_SIZE = re.compile(
    rf"(?:(?:{_SIZE_WORDS})\s*:?\s*(?P<a>\d{{1,2}}(?:[.,]5)?)(?!\d))"
    rf"|(?:(?<![0-9A-Za-z.])(?P<b>\d{{1,2}}(?:[.,]5)?)\s*(?:{_SIZE_WORDS})(?!\w))",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Entity:
    kind: str  # order_number (or the variable an `expect` saves), email, phone, size
    value: str
    text: str  # as written


def find_patterns(text: str, patterns: Iterable[tuple[str, re.Pattern[str], str]]) -> list[Entity]:
    """Tokens that fully match one of the flow's answer patterns: (kind, pattern, case)."""
    out = []
    cleaned = _HAN_RUN.sub(r" \1 ", clean(text[:MAX_ENTITY_CHARS]))
    for token in _TOKEN.findall(cleaned):
        for kind, pattern, case in patterns:
            value = (
                token.upper() if case == "upper" else token.lower() if case == "lower" else token
            )
            if pattern.fullmatch(value):
                out.append(Entity(kind, value, token))
                break
    return out


def find_builtin(text: str, region: str | None = None) -> list[Entity]:
    """Emails, phone numbers (international, or national where `region` is known) and sizes."""
    cleaned = clean(text[:MAX_ENTITY_CHARS])
    out = [Entity("email", m.group(0).lower(), m.group(0)) for m in _EMAIL.finditer(cleaned)]
    without_emails = _EMAIL.sub(" ", cleaned)
    for found in phonenumbers.PhoneNumberMatcher(without_emails, region):
        number = phonenumbers.format_number(found.number, phonenumbers.PhoneNumberFormat.E164)
        out.append(Entity("phone", number, found.raw_string))
    for match in _SIZE.finditer(without_emails):
        value = (match.group("a") or match.group("b")).replace(",", ".")
        out.append(Entity("size", value, match.group(0)))
    return out
