"""How well a flow's intents are understood: cross-validation on its own examples.

Each example is classified by a classifier trained without it (k folds), so a marketer sees
which intents and languages need more examples and which phrases get confused, before any
shopper does. `gateway test --intents` prints it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from flows.understanding.fold import fold as fold_text
from flows.understanding.intents import IntentClassifier
from flows.understanding.understander import (
    DEFAULT_THRESHOLDS,
    IntentExamples,
    Thresholds,
    decide,
)

FOLDS = 5


@dataclass(slots=True)
class Tally:
    right: int = 0
    total: int = 0
    confused: Counter[str] = field(default_factory=Counter)  # "phrase → intent (or none)"

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 0.0


def cross_validate(
    intents: Sequence[IntentExamples],
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    folds: int = FOLDS,
) -> dict[tuple[str, str], Tally]:
    """Accuracy per (intent, language): each example judged by a model trained without it."""
    rows = [
        (intent.name, language, text)
        for intent in intents
        for language, texts in intent.by_language
        for text in texts
    ]
    tallies: dict[tuple[str, str], Tally] = defaultdict(Tally)
    for fold in range(folds):
        train: dict[str, list[str]] = defaultdict(list)
        test = []
        for index, (name, language, text) in enumerate(rows):
            if index % folds == fold:
                test.append((name, language, text))
            else:
                train[name].append(fold_text(text))
        classifier = IntentClassifier(train)
        for name, language, text in test:
            got = decide(classifier.scores(fold_text(text)), thresholds)
            tally = tallies[(name, language)]
            tally.total += 1
            if got == name:
                tally.right += 1
            else:
                tally.confused[f"{text} → {got or 'not understood'}"] += 1
    return dict(tallies)
