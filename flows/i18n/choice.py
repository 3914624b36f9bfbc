"""Which language a conversation speaks, decided anew at every message, never on a whim.

The first message decides, when it says anything about its language; a message that says
nothing ("ok", "A1234", "👍", a button tap) falls back on what the platform tells (Telegram's
`language_code`, Messenger's locale) and then on the WhatsApp number's country. Later, the
language changes when the shopper picks one, at once on a message whose language is beyond
doubt (another script, or a longer sentence with a language's own letters), or after
`STEADY` messages in a row in the same other language.
"""

from __future__ import annotations

from dataclasses import dataclass

from flows.i18n.languages import info
from flows.understanding.language import LanguageGuess

STEADY = 2
FIRST_CONFIDENCE = 0.5  # a first message less sure than this defers to the platform's hints
AMBIGUOUS = 0.5  # a guess this unsure, between languages that include the current one, keeps it


@dataclass(frozen=True, slots=True)
class LanguageState:
    language: str | None  # None: not decided yet
    heard: str | None = None  # another language heard lately, not yet switched to
    heard_count: int = 0


def choose_language(
    state: LanguageState,
    guess: LanguageGuess | None,
    hint: str | None,
    languages: tuple[str, ...],
) -> LanguageState:
    """The conversation's language after one message (`hint`: from locale or phone)."""
    current = state.language if state.language in languages else None
    if current is None:
        return LanguageState(_first(guess, hint, languages))
    if guess is None or guess.language == current:
        return LanguageState(
            current, None if guess else state.heard, 0 if guess else state.heard_count
        )
    if current in guess.candidates and guess.confidence <= AMBIGUOUS:
        return LanguageState(current, state.heard, state.heard_count)  # 你好: either Chinese
    if guess.decisive:
        return LanguageState(guess.language)
    if all(info(c).script != info(current).script for c in guess.candidates):
        # Another script is beyond doubt even when it does not tell which of its languages
        # ("你好" after English): the platform's hint picks between them.
        return LanguageState(hint if hint in guess.candidates else guess.language)
    count = state.heard_count + 1 if state.heard == guess.language else 1
    if count >= STEADY:
        return LanguageState(guess.language)
    return LanguageState(current, guess.language, count)


def _first(guess: LanguageGuess | None, hint: str | None, languages: tuple[str, ...]) -> str:
    if guess is not None:
        if hint in guess.candidates and not guess.decisive:
            return hint
        if guess.confidence >= FIRST_CONFIDENCE or guess.decisive:
            return guess.language
    return hint or languages[0]
