"""An intent classifier trained when a flow loads from its examples, in every language.

Each intent's examples (all languages together) become tf-idf vectors of character n-grams.
A message scores, per intent, a blend of two views: a linear model's probability (which
n-grams tell intents apart) and the similarity to the nearest examples and the intent's
centroid. A probability always sums to one, even for "what's the weather?"; a similarity falls
for a message unlike every example, so the blend is refused rather than forced into the
closest intent. Measured against scikit-learn in `bench/bench_understanding.py`.

Everything learnt is held in numpy arrays over one feature index, so a flow with 3,000
examples costs a few megabytes per process, not a dictionary per intent.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from flows.understanding.features import ngrams
from flows.understanding.linear import SoftmaxRegression

NEAREST = 2  # examples averaged for the nearest-example similarity
CENTROID_SHARE = 0.4
EXAMPLE_MIN_SHARE = 0.5  # a message counts as near an example at least half its length
LINEAR_SHARE = 0.7  # the linear model's probability in the blend (bench: +4 points accuracy)


@dataclass(frozen=True, slots=True)
class IntentScore:
    intent: str
    score: float  # 0 (nothing alike) to 1 (the same as an example)


class IntentClassifier:
    """Scores folded text against each intent's folded examples."""

    def __init__(
        self,
        examples: Mapping[str, Sequence[str]],
        *,
        linear: bool = True,
        nearest: bool = True,
        grams: Mapping[str, Counter[str]] | None = None,
    ) -> None:
        """`linear`, `nearest`: the views to blend (the centroid is always one);
        `grams`: n-grams already counted for some texts (two classifiers share them)."""
        self._use_nearest = nearest
        known = grams or {}
        rows = [
            (name, len(text), known.get(text) or ngrams(text))
            for name, texts in examples.items()
            for text in texts
        ]
        rows = [row for row in rows if row[2]]
        self.intents = tuple(dict.fromkeys(name for name, _, _ in rows))
        df: Counter[str] = Counter()
        for _, _, counts in rows:
            df.update(counts.keys())
        self._index = {feature: n for n, feature in enumerate(df)}
        total = len(rows)
        self._idf = np.array(
            [math.log((1 + total) / (1 + n)) + 1.0 for n in df.values()], dtype=np.float32
        )
        self._unseen = math.log(1 + total) + 1.0
        labels = np.array([self.intents.index(name) for name, _, _ in rows], dtype=np.int32)
        self._labels = labels
        self._lengths = np.array([length for _, length, _ in rows], dtype=np.int32)
        indptr, columns, values = [0], [], []
        for _, _, counts in rows:
            ids, weights = self._weigh(counts)
            columns.append(ids)
            values.append(weights)
            indptr.append(indptr[-1] + len(ids))
        cols = np.concatenate(columns) if columns else np.zeros(0, dtype=np.int64)
        vals = np.concatenate(values) if values else np.zeros(0, dtype=np.float32)
        ptr = np.array(indptr, dtype=np.int64)
        doc_of = np.repeat(np.arange(total), np.diff(ptr))
        # Each feature's examples, contiguous: a message's similarity to every example is
        # one bincount over the runs of its n-grams.
        order = np.argsort(cols, kind="stable")
        self._rows = doc_of[order].astype(np.int32)
        self._weights = vals[order]
        self._starts = np.searchsorted(cols[order], np.arange(len(self._index) + 1))
        centroids = np.zeros((len(self._index), len(self.intents)), dtype=np.float32)
        np.add.at(centroids, (cols, labels[doc_of]), vals)
        norms = np.linalg.norm(centroids, axis=0)
        self._centroids = centroids / np.where(norms > 0, norms, 1.0)
        self._linear = (
            SoftmaxRegression(ptr, cols, vals, labels, len(self._index), len(self.intents))
            if linear and len(self.intents) >= 2
            else None
        )

    def _weigh(self, counts: Counter[str]) -> tuple[np.ndarray, np.ndarray]:
        """Known features' ids and their sublinear tf-idf weights, L2-normalised over every
        feature (one never seen in training weighs as the rarest, and so lowers the rest)."""
        ids, weights, unseen = [], [], 0.0
        for feature, count in counts.items():
            tf = 1.0 + math.log(count)
            n = self._index.get(feature)
            if n is None:
                unseen += (tf * self._unseen) ** 2
            else:
                ids.append(n)
                weights.append(tf)
        id_array = np.array(ids, dtype=np.int64)
        w = np.array(weights, dtype=np.float32) * self._idf[id_array]
        norm = math.sqrt(float(w @ w) + unseen)
        return id_array, (w / norm if norm else w)

    def scores(self, folded: str) -> list[IntentScore]:
        """Every intent's score for the message, best first (empty when nothing is known)."""
        counts = ngrams(folded)
        if not counts or not self.intents:
            return []
        ids, weights = self._weigh(counts)
        centre = weights @ self._centroids[ids]
        similar = centre
        if self._use_nearest:
            near = self._nearest(ids, weights, len(folded))
            similar = (1 - CENTROID_SHARE) * near + CENTROID_SHARE * centre
        if self._linear is not None:
            similar = (
                LINEAR_SHARE * self._linear.probabilities(ids, weights)
                + (1 - LINEAR_SHARE) * similar
            )
        out = [IntentScore(name, float(s)) for name, s in zip(self.intents, similar, strict=True)]
        out.sort(key=lambda s: s.score, reverse=True)
        return out

    def _nearest(self, ids: np.ndarray, weights: np.ndarray, length: int) -> np.ndarray:
        """Per intent, the mean similarity of its `NEAREST` closest examples; an example much
        longer than the message does not count (one shared word of it is no match)."""
        out = np.zeros(len(self.intents), dtype=np.float32)
        if len(ids) == 0:
            return out
        starts, ends = self._starts[ids], self._starts[ids + 1]
        rows = np.concatenate([self._rows[a:b] for a, b in zip(starts, ends, strict=True)])
        contrib = np.concatenate(
            [self._weights[a:b] * w for a, b, w in zip(starts, ends, weights, strict=True)]
        )
        sims = np.bincount(rows, contrib, minlength=len(self._labels))
        sims[self._lengths > length / EXAMPLE_MIN_SHARE] = 0.0
        for k in range(len(self.intents)):
            mine = sims[self._labels == k]
            if len(mine) > NEAREST:
                mine = np.partition(mine, -NEAREST)[-NEAREST:]
            out[k] = mine.sum() / NEAREST
        return out
