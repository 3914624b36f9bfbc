"""Sparse character n-gram features of folded text, the same for every language.

Character n-grams need no word segmentation (Chinese has no spaces), survive inflection
("zamówienie", "zamówienia") and typos, and cost a few dictionary operations a message.
Latin and Arabic words give n-grams of 3 to 5 letters within the word, padded with a space so
a stem at the start of a word counts; Chinese gives single characters and pairs.
"""

from __future__ import annotations

from collections import Counter

from flows.understanding.fold import has_han

MAX_FEATURE_CHARS = 300  # a classifier learns nothing more from a longer message than its start


def ngrams(folded: str) -> Counter[str]:
    """Counts of the n-grams of an already folded text."""
    out: Counter[str] = Counter()
    text = folded[:MAX_FEATURE_CHARS]
    for word in text.split():
        if has_han(word):
            _han_grams(word, out)
            continue
        out["w:" + word] += 1
        padded = f" {word} "
        for n in (3, 4, 5):
            for i in range(len(padded) - n + 1):
                out[padded[i : i + n]] += 1
    return out


def _han_grams(word: str, out: Counter[str]) -> None:
    for i, ch in enumerate(word):
        out[ch] += 1
        if i + 1 < len(word):
            out[word[i : i + 2]] += 1
        if i + 2 < len(word):
            out[word[i : i + 3]] += 1
