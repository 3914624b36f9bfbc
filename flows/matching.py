"""Understanding what the shopper meant: buttons, global intents and typed answers.

A reply picks a button by its payload, its exact title (case- and accent-insensitive), its
number ("2"), or a close fuzzy match ("trak my ordr"); an ambiguous fuzzy match picks nothing,
because a wrong guess costs the shopper more than a "sorry, which one?".
"""

from __future__ import annotations

import re
from typing import Any

from rapidfuzz import fuzz, process

from flows.messages import SHORT_PAYLOAD_PREFIX, short_payload
from flows.model import ButtonSpec, Intent, Validation
from flows.normalise import normalise
from flows.understanding.entities import find_builtin, find_patterns
from flows.understanding.fold import clean

_NUMBER_CHOICE = re.compile(r"^\s*#?\s*(\d{1,2})\s*[.)]?\s*$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s.]{2,63}$")
_PHONE_CHARS = re.compile(r"^\+?[\d\s().-]{7,22}$")
_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")
AMBIGUITY_MARGIN = 4.0
FUZZY_LENGTH_FACTOR = 1.3
EXAMPLE_MIN_SHARE = 0.6  # a message must be at least this long, relative to an example phrase
MAX_MATCH_CHARS = 200  # longer texts are not button titles; do not pay to fuzz-match them


def match_button(
    text: str,
    payload: str | None,
    buttons: tuple[ButtonSpec, ...],
    fuzzy: float | None,
    *,
    numbers: bool = True,
) -> ButtonSpec | None:
    """The button the shopper meant; `fuzzy` is the similarity cut-off (None: exact only).

    `numbers=False` where a typed number is an answer, not a choice ("How many pairs?" → "1").
    """
    if payload:
        for button in buttons:
            if payload == button.payload:
                return button
        if payload.startswith(SHORT_PAYLOAD_PREFIX):
            for button in buttons:
                if short_payload(button.payload) == payload:
                    return button
    if not text or len(text) > MAX_MATCH_CHARS:
        return None
    number = _NUMBER_CHOICE.match(text) if numbers else None
    if number:
        index = int(number[1]) - 1
        return buttons[index] if 0 <= index < len(buttons) else None
    wanted = normalise(text)
    if not wanted:
        return None
    for button in buttons:
        if wanted in button.norms:
            return button
    if fuzzy is None:
        return None
    titles = [n for b in buttons for n in b.norms]
    owners = tuple(b for b in buttons for _ in b.norms)
    return _fuzzy_pick(wanted, titles, owners, fuzzy)


def _fuzzy_pick(
    wanted: str, titles: list[str], buttons: tuple[ButtonSpec, ...], threshold: float
) -> ButtonSpec | None:
    # A sentence much longer than every title is a question, not a misspelt button:
    # "when will my order arrive?" must not pick "Track my order".
    if not titles or len(wanted) > max(len(t) for t in titles) * FUZZY_LENGTH_FACTOR + 4:
        return None
    scored = process.extract(wanted, titles, scorer=fuzz.WRatio, limit=3, score_cutoff=threshold)
    if not scored:
        return None
    best = buttons[scored[0][2]]
    rivals = [s for s in scored[1:] if buttons[s[2]] is not best]
    if rivals and scored[0][1] - rivals[0][1] < AMBIGUITY_MARGIN:
        return None
    return best


def match_intent(
    text: str, intents: tuple[Intent, ...], keyword_max_words: int, threshold: float
) -> Intent | None:
    """A global intent by keyword (in a short message) or by a close example phrase.

    Keywords only count in short messages: "stop" ends the chat, but "when will this delay
    finally stop?" is a question about an order. Examples match only messages of a similar
    length, so one shared word ("to", "someone") never triggers an intent.
    """
    if not text or len(text) > MAX_MATCH_CHARS:
        return None
    wanted = normalise(text)
    if not wanted:
        return None
    padded = f" {wanted} "
    if len(wanted.split()) <= keyword_max_words:
        for intent in intents:
            for keyword in intent.padded:
                if keyword in padded:
                    return intent
    best: tuple[float, Intent] | None = None
    for intent in intents:
        if not intent.examples:
            continue
        fitting = [e for e in intent.examples if len(wanted) >= len(e) * EXAMPLE_MIN_SHARE]
        if not fitting:
            continue
        found = process.extractOne(
            wanted, fitting, scorer=fuzz.token_set_ratio, score_cutoff=threshold
        )
        if found and (best is None or found[1] > best[0]):
            best = (found[1], intent)
    return best[1] if best else None


def check_answer(text: str, rule: Validation) -> tuple[bool, Any]:
    """Is `text` a valid answer, and the value to save (typed, normalised)? Read on the cleaned
    text: "A١٢٣٤" and "Ａ１２３４" are A1234."""
    # Free text is kept as written; anything checked reads digits and widths folded.
    value = text.strip() if rule.kind == "any" else clean(text).strip()
    if rule.transform == "upper":
        value = value.upper()
    elif rule.transform == "lower":
        value = value.lower()
    if not value:
        return False, None
    match rule.kind:
        case "any":
            return True, value
        case "regex":
            return (rule.pattern.fullmatch(value) is not None), value
        case "email":
            return (_EMAIL.match(value) is not None), value.lower()
        case "phone":
            return _check_phone(value)
        case "number":
            return _check_number(value, rule)
        case "one_of":
            wanted = normalise(value)
            for option in rule.options:
                if normalise(option) == wanted:
                    return True, option
            return False, None
    return False, None


def slot_value(text: str, rule: Validation) -> Any:
    """The answer to a question that a longer message already holds ("where is my order
    A1234" answers "What's your order number?"), or None. Only answers that can be told
    apart from the words around them are taken: a pattern, an email, a phone number."""
    if rule.kind == "regex":
        patterns = [("answer", rule.pattern, rule.transform)]
        found = find_patterns(text, patterns)
        return found[0].value if len(found) == 1 else None
    if rule.kind in ("email", "phone"):
        values = [e.value for e in find_builtin(text) if e.kind == rule.kind]
        return values[0] if len(values) == 1 else None
    return None


def _check_phone(value: str) -> tuple[bool, Any]:
    if not _PHONE_CHARS.match(value):
        return False, None
    digits = re.sub(r"\D", "", value)
    if not 7 <= len(digits) <= 15:
        return False, None
    return True, ("+" + digits) if value.startswith("+") else digits


def _check_number(value: str, rule: Validation) -> tuple[bool, Any]:
    if not _NUMBER.match(value):
        return False, None
    number = float(value.replace(",", "."))
    if rule.integer and not number.is_integer():
        return False, None
    if (rule.low is not None and number < rule.low) or (
        rule.high is not None and number > rule.high
    ):
        return False, None
    return True, int(number) if number.is_integer() else number
