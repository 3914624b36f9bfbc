"""One call that reads a shopper's message: language, intent (or none), confidence, entities.

Built once per flow version when the flow loads (training takes milliseconds) and shared by
every worker thread: it holds no per-message state.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from flows.understanding.entities import Entity, find_builtin, find_patterns
from flows.understanding.features import ngrams
from flows.understanding.fold import fold, has_han
from flows.understanding.intents import IntentClassifier, IntentScore
from flows.understanding.language import LanguageGuess, LanguageGuesser

MAX_UNDERSTAND_CHARS = 1_000  # a 20,000-character message is understood by its start
KEYWORD_MAX_HAN = 12  # a Chinese message this short may be a keyword alone ("退订")


@dataclass(frozen=True, slots=True)
class IntentExamples:
    """What the classifier learns an intent from: folded keywords and examples."""

    name: str
    keywords: tuple[str, ...]
    examples: tuple[str, ...]
    by_language: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (language, phrases as written)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """`sure`: the score an intent needs to be acted on; `unsure`: the score from which it is
    offered as a "did you mean" button; `margin`: how far ahead of the runner-up it must be."""

    # Chosen on half of the labelled set (bench/bench_understanding.py), checked on the other.
    sure: float = 0.22
    unsure: float = 0.14
    margin: float = 0.02


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True, slots=True)
class Understanding:
    text: str
    language: LanguageGuess | None
    intent: str | None
    confidence: float
    unsure: tuple[str, ...]  # no sure intent: the two or three likely ones, best first
    entities: tuple[Entity, ...]

    def entity(self, kind: str) -> str | None:
        return next((e.value for e in self.entities if e.kind == kind), None)


NOTHING = Understanding("", None, None, 0.0, (), ())


def decide(scores: Sequence[IntentScore], thresholds: Thresholds) -> str | None:
    """The intent the scores are sure of: high enough, and clearly ahead of the next."""
    if not scores:
        return None
    best = scores[0]
    runner = scores[1].score if len(scores) > 1 else 0.0
    if best.score >= thresholds.sure and best.score - runner >= thresholds.margin:
        return best.intent
    return None


class Understander:
    def __init__(
        self,
        languages: tuple[str, ...],
        intents: Sequence[IntentExamples],
        patterns: Sequence[tuple[str, re.Pattern[str], str]] = (),
        keyword_max_words: int = 4,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
    ) -> None:
        self.languages = languages
        vocabulary: dict[str, list[str]] = {}
        for intent in intents:
            for language, texts in intent.by_language:
                vocabulary.setdefault(language, []).extend(fold(t) for t in texts)
        grams = {text: ngrams(text) for i in intents for text in (*i.examples, *i.keywords)}
        self.guesser = LanguageGuesser(languages, vocabulary, grams)
        # Keywords act alone, in short messages only ("stop" ends the chat, "when will this
        # delay finally stop?" is a question): they do not teach the classifier.
        self.classifier = IntentClassifier(
            {i.name: i.examples for i in intents if i.examples}, grams=grams
        )
        self.keywords = tuple((i.name, tuple((k, has_han(k)) for k in i.keywords)) for i in intents)
        self.patterns = tuple(patterns)
        self.keyword_max_words = keyword_max_words
        self.thresholds = thresholds

    def language(self, text: str) -> LanguageGuess | None:
        return self.guesser.guess(text)

    def scores(self, text: str) -> list[IntentScore]:
        return self.classifier.scores(fold(text[:MAX_UNDERSTAND_CHARS]))

    def intent(self, text: str) -> tuple[str | None, float, tuple[str, ...]]:
        """The intent meant (or None), its confidence, and the likely ones when unsure."""
        folded = fold(text[:MAX_UNDERSTAND_CHARS])
        if not folded:
            return None, 0.0, ()
        keyword = self._keyword(folded)
        if keyword is not None:
            return keyword, 1.0, ()
        scores = self.classifier.scores(folded)
        if not scores:
            return None, 0.0, ()
        sure = decide(scores, self.thresholds)
        if sure is not None:
            return sure, scores[0].score, ()
        likely = tuple(s.intent for s in scores[:3] if s.score >= self.thresholds.unsure)
        return None, scores[0].score, likely if len(likely) >= 2 else ()

    def _keyword(self, folded: str) -> str | None:
        padded = f" {folded} "
        short = len(folded.split()) <= self.keyword_max_words
        han = has_han(folded)
        for name, keywords in self.keywords:
            for keyword, keyword_han in keywords:
                if han and keyword_han:
                    if len(folded) <= KEYWORD_MAX_HAN and keyword in folded:
                        return name
                elif short and f" {keyword} " in padded:
                    return name
        return None

    def entities(self, text: str, region: str | None = None) -> tuple[Entity, ...]:
        found = find_patterns(text, self.patterns) + find_builtin(text, region)
        return tuple(found)

    def understand(self, text: str, region: str | None = None) -> Understanding:
        intent, confidence, unsure = self.intent(text)
        return Understanding(
            text=text,
            language=self.language(text),
            intent=intent,
            confidence=confidence,
            unsure=unsure,
            entities=self.entities(text, region),
        )
