"""Which of a flow's languages a message is written in, and how sure that is.

Script first: Arabic letters are Arabic, Han characters are Chinese, and which Chinese is told
by the characters themselves (訂 is only Traditional, 订 only Simplified; 你好 is both). Latin
text goes to letters only one language uses (ł, ș, ñ), then to lingua, restricted to the flow's
Latin-script languages in its low-accuracy mode (16 MB instead of 90, 12 µs a message; measured
in `bench/bench_understanding.py`). Short or neutral messages ("ok", "A1234", "👍") have no
language: they never change the one a conversation speaks.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lingua import IsoCode639_1, LanguageDetectorBuilder

from flows.i18n.chinese import convert
from flows.i18n.languages import info
from flows.understanding.fold import clean, fold, is_han
from flows.understanding.intents import IntentClassifier

MAX_SCAN_CHARS = 400
MIN_LETTERS = 4  # fewer Latin letters than this ("ok", "tak", "no") say nothing of a language
DECISIVE_CONFIDENCE = 0.9
VOCABULARY_SHARE = 0.5
DECOYS = ("es", "pt", "fr", "de", "it")
DECOY_CONFIDENCE = 0.9
OWN_WORDS = 0.25  # similarity to the flow's own examples in a language that outweighs a decoy
_CUES = {
    "pl": frozenset("ąęłńśźżćĄĘŁŃŚŹŻĆ"),
    "ro": frozenset("ășțşţĂȘȚŞŢ"),
    "es": frozenset("ñ¿¡Ñ"),
}


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    """The languages a message may be in, most likely first; `decisive` when the evidence is
    strong enough to switch a conversation's language on this message alone."""

    candidates: tuple[str, ...]
    confidence: float
    decisive: bool

    @property
    def language(self) -> str:
        return self.candidates[0]


def _script(ch: str) -> str | None:
    if "\u0600" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u077f" or "\ufb50" <= ch <= "\ufeff":
        return "Arabic" if ch.isalpha() else None
    if is_han(ch):
        return "Han"
    if ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN"):
        return "Latin"
    return "Other" if ch.isalpha() else None


class LanguageGuesser:
    """`vocabulary`: texts the flow holds in each language (its intents' examples): shop
    words a general detector knows less well ("comanda", "paczka") tip the balance."""

    def __init__(
        self,
        languages: tuple[str, ...],
        vocabulary: Mapping[str, Iterable[str]] | None = None,
        grams: Mapping[str, Counter[str]] | None = None,
    ) -> None:
        self.languages = languages
        self._by_script: dict[str, tuple[str, ...]] = {}
        for code in languages:
            script = info(code).script
            self._by_script[script] = (*self._by_script.get(script, ()), code)
        latin = self._by_script.get("Latin", ())
        self._lingua = {}
        isos = []
        for code in latin:
            iso = getattr(IsoCode639_1, code.split("-")[0].upper(), None)
            if iso is not None:
                isos.append(iso)
                self._lingua[code.split("-")[0]] = code
        # Common languages the flow does not speak, so that Spanish is not taken for the
        # closest of en/pl/ro: a message in one of them says nothing of the shopper's.
        decoys = [getattr(IsoCode639_1, d.upper()) for d in DECOYS if d not in self._lingua]
        self._detector = (
            LanguageDetectorBuilder.from_iso_codes_639_1(*isos, *decoys)
            .with_low_accuracy_mode()
            .with_preloaded_language_models()
            .build()
            if isos
            else None
        )
        latin_vocabulary = {c: list((vocabulary or {}).get(c, ())) for c in latin}
        usable = {c: texts for c, texts in latin_vocabulary.items() if texts}
        self._vocabulary = (
            IntentClassifier(usable, linear=False, nearest=False, grams=grams)
            if len(usable) >= 2
            else None
        )

    def guess(self, text: str) -> LanguageGuess | None:
        """None for a message that says nothing about its language."""
        sample = clean(text[:MAX_SCAN_CHARS])
        counts: dict[str, int] = {}
        for ch in sample:
            script = _script(ch)
            if script is not None:
                counts[script] = counts.get(script, 0) + 1
        if not counts:
            return None
        # Shoppers mix in English shop words ("free shipping من كام؟", "我的 tracking"), never
        # the other way round: letters of a flow's non-Latin script decide.
        scripts = [s for s in counts if s != "Latin" and s in self._by_script and counts[s] >= 2]
        script = scripts[0] if scripts else max(counts, key=counts.__getitem__)
        letters = counts[script]
        own = self._by_script.get(script, ())
        if not own or letters < 2:
            return None
        if script == "Han":
            return self._chinese(sample, own)
        if script != "Latin":
            return LanguageGuess(own, 1.0, letters >= 3)
        return self._latin(sample, own, letters)

    def _chinese(self, sample: str, own: tuple[str, ...]) -> LanguageGuess:
        han = "".join(ch for ch in sample if _script(ch) == "Han")
        traditional = sum(a != b for a, b in zip(han, convert(han, "zh-Hans"), strict=False))
        simplified = sum(a != b for a, b in zip(han, convert(han, "zh-Hant"), strict=False))
        ranked = sorted(
            own, key=lambda c: 0 if (c == "zh-Hant") == (traditional > simplified) else 1
        )
        if traditional == simplified:  # only characters both scripts share: 你好, 我要
            return LanguageGuess(tuple(own), 0.5, len(own) == 1)
        return LanguageGuess(tuple(ranked), 1.0, True)

    def _latin(self, sample: str, own: tuple[str, ...], letters: int) -> LanguageGuess | None:
        words = [w for w in sample.split() if any(ch.isalpha() for ch in w)]
        if letters < MIN_LETTERS or (len(words) == 1 and any(ch.isdigit() for ch in words[0])):
            return None
        cued = [code for code in own if _CUES.get(code, frozenset()) & set(sample)]
        if len(cued) == 1:
            rest = tuple(c for c in own if c != cued[0])
            return LanguageGuess((cued[0], *rest), 0.95, len(words) >= 2)
        if self._detector is None:
            return LanguageGuess(own, 0.6, False)
        values = self._detector.compute_language_confidence_values(sample)
        near = self._near(sample)
        top = values[0]
        decoy = top.language.iso_code_639_1.name.lower() not in self._lingua
        if decoy and top.value >= DECOY_CONFIDENCE and max(near.values(), default=0) < OWN_WORDS:
            return None  # a language the flow does not speak, in words unlike its own
        scores = {
            self._lingua[name]: v.value
            for v in values
            if (name := v.language.iso_code_639_1.name.lower()) in self._lingua
        }
        mass = sum(scores.values())  # among the flow's own languages, as if alone
        scores = {c: v / mass for c, v in scores.items()} if mass > 0 else scores
        if near:
            total = sum(near.values())
            if total > 0:
                scores = {
                    c: (1 - VOCABULARY_SHARE) * v + VOCABULARY_SHARE * near.get(c, 0.0) / total
                    for c, v in scores.items()
                }
        ranked = sorted(
            ((c, v) for c, v in scores.items() if c in own), key=lambda cv: cv[1], reverse=True
        )
        if not ranked:
            return None
        confidence = ranked[0][1]
        decisive = confidence >= DECISIVE_CONFIDENCE and len(words) >= 3
        return LanguageGuess(tuple(code for code, _ in ranked), confidence, decisive)

    def _near(self, sample: str) -> dict[str, float]:
        """Each Latin flow language's similarity to the message, from the flow's examples."""
        if self._vocabulary is None:
            return {}
        return {s.intent: max(s.score, 0.0) for s in self._vocabulary.scores(fold(sample))}
