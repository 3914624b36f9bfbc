"""Understanding: accuracy on the labelled multilingual set, speed, memory and training time.

The set (`tests/data/understanding/*.yaml`, or the folder in UNDERSTANDING_SET, e.g. a held-out
set) was written apart from flows.yaml's examples and is never trained on. Baselines measured
in the same run: the keyword-and-fuzzy matcher the bot had before (rapidfuzz over the same
examples) and scikit-learn's logistic regression on the same character n-grams, each in a
fresh process for memory.

Prints `name: value unit` lines. Run: `make bench` or `.venv/bin/python
bench/bench_understanding.py`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("UNDERSTANDING_SET") or ROOT / "tests" / "data" / "understanding")
FLOWS = Path(os.environ.get("FLOWS_PATH") or ROOT / "flows.yaml")
LANGUAGES = ("en", "pl", "ro", "ar", "zh-Hans", "zh-Hant")
NONE = "none"
# The six intents the set labels. A message the bot takes for a greeting or a menu request
# gets the menu: no wrong answer, so for out-of-scope messages it counts as refused.
LABELLED = {"track_order", "returns", "shipping", "agent", "product", "cancel_order"}


def labelled() -> list[tuple[str, str, str]]:
    """(language, intent or 'none', text) for every message of the set."""
    rows = []
    for language in LANGUAGES:
        path = DATA / f"{language}.yaml"
        if not path.exists():
            continue
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
        for intent, texts in (data.get("intents") or {}).items():
            rows += [(language, intent, str(t)) for t in texts]
        rows += [(language, NONE, str(t)) for t in data.get("out_of_scope") or ()]
    return rows


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def measure_ours() -> dict[str, object]:
    """Runs in a fresh process: memory added by loading the flow and its understanding."""
    import flows.engine  # noqa: F401  the engine a worker has loaded anyway

    before = rss_mb()
    start = time.perf_counter()
    from flows.loader import load_flow

    flow = load_flow(FLOWS, {})
    load_s = time.perf_counter() - start
    understander = flow.understander
    assert understander is not None
    rows = labelled()
    predictions = []
    times = []
    for _, _, text in rows:
        t0 = time.perf_counter()
        found = understander.understand(text)
        times.append(time.perf_counter() - t0)
        guessed = found.language.language if found.language else None
        predictions.append((found.intent or NONE, guessed))
    for _, _, text in rows:  # second pass: warm caches, the latency a busy worker sees
        t0 = time.perf_counter()
        understander.understand(text + " ")
        times.append(time.perf_counter() - t0)
    return {
        "load_s": load_s,
        "rss_mb": rss_mb() - before,
        "predictions": predictions,
        "times": times,
    }


def measure_sklearn() -> dict[str, object]:
    """The library baseline: scikit-learn logistic regression on the same n-grams, trained
    on the same examples, with its probability as the confidence."""
    import flows.engine  # noqa: F401

    before = rss_mb()
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from flows.loader import load_flow
    from flows.understanding.fold import fold

    flow = load_flow(FLOWS, {})
    texts, labels = [], []
    for intent in flow.intents:
        for example in (*intent.examples, *intent.keywords):
            texts.append(example)
            labels.append(intent.name)
    start = time.perf_counter()
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
    model = LogisticRegression(max_iter=2000, C=10.0).fit(vectorizer.fit_transform(texts), labels)
    train_s = time.perf_counter() - start
    rows = labelled()
    predictions, times = [], []
    for _, _, text in rows:
        t0 = time.perf_counter()
        probs = model.predict_proba(vectorizer.transform([fold(text)]))[0]
        times.append(time.perf_counter() - t0)
        best = probs.argmax()
        predictions.append((model.classes_[best] if probs[best] >= 0.5 else NONE, None))
    return {
        "load_s": train_s,
        "rss_mb": rss_mb() - before,
        "predictions": predictions,
        "times": times,
    }


def measure_fuzzy() -> dict[str, object]:
    """The matcher the bot had before: keywords, then rapidfuzz over the examples."""
    from flows.loader import load_flow
    from flows.matching import match_intent

    flow = load_flow(FLOWS, {})
    settings = flow.settings
    predictions = []
    for _, _, text in labelled():
        found = match_intent(
            text, flow.intents, settings.keyword_max_words, settings.fuzzy_threshold
        )
        predictions.append((found.name if found else NONE, None))
    return {"predictions": predictions}


def in_subprocess(name: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", name],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
    )
    return json.loads(out.stdout)


def scores(rows: list[tuple[str, str, str]], predictions: list) -> dict[str, float]:
    by_language: Counter[str] = Counter()
    right: Counter[str] = Counter()
    refused = oos = 0
    for (language, intent, _), (got, _) in zip(rows, predictions, strict=True):
        got = got if got in LABELLED else NONE
        if intent == NONE:
            oos += 1
            refused += got == NONE
            continue
        by_language[language] += 1
        right[language] += got == intent
    out = {f"intent_accuracy_{lang}": right[lang] / n for lang, n in by_language.items()}
    out["intent_accuracy"] = sum(right.values()) / max(1, sum(by_language.values()))
    out["out_of_scope_refused"] = refused / max(1, oos)
    return out


def main() -> None:
    rows = labelled()
    print(f"understanding_set_messages: {len(rows)} messages")
    ours = in_subprocess("ours")
    for name, value in scores(rows, ours["predictions"]).items():  # type: ignore[arg-type]
        print(f"{name}: {value:.3f} ratio")
    languages = [p[1] for p in ours["predictions"]]  # type: ignore[union-attr]
    judged = [(row[0], got) for row, got in zip(rows, languages, strict=True)]
    print(f"language_accuracy: {sum(a == b for a, b in judged) / len(judged):.3f} ratio")
    neutral = sum(got is None for _, got in judged)
    print(f"language_undecided: {neutral / len(judged):.3f} ratio")
    times = sorted(ours["times"])  # type: ignore[arg-type]
    print(f"understand_us_p50: {statistics.median(times) * 1e6:.0f} us")
    print(f"understand_us_p99: {times[int(len(times) * 0.99)] * 1e6:.0f} us")
    print(f"understand_rss_mb: {ours['rss_mb']:.1f} MB")
    print(f"flow_load_with_training_s: {ours['load_s']:.3f} s")
    fuzzy = measure_fuzzy()
    base = scores(rows, fuzzy["predictions"])  # type: ignore[arg-type]
    print(f"baseline_fuzzy_intent_accuracy: {base['intent_accuracy']:.3f} ratio")
    print(f"baseline_fuzzy_out_of_scope_refused: {base['out_of_scope_refused']:.3f} ratio")
    try:
        sk = in_subprocess("sklearn")
    except subprocess.CalledProcessError as exc:
        print(f"baseline_sklearn: not measured ({exc.stderr.strip().splitlines()[-1]})")
        return
    sk_scores = scores(rows, sk["predictions"])  # type: ignore[arg-type]
    sk_times = sorted(sk["times"])  # type: ignore[arg-type]
    print(f"baseline_sklearn_intent_accuracy: {sk_scores['intent_accuracy']:.3f} ratio")
    print(f"baseline_sklearn_out_of_scope_refused: {sk_scores['out_of_scope_refused']:.3f} ratio")
    print(f"baseline_sklearn_us_p99: {sk_times[int(len(sk_times) * 0.99)] * 1e6:.0f} us")
    print(f"baseline_sklearn_rss_mb: {sk['rss_mb']:.1f} MB")
    print(f"rss_vs_sklearn_ratio: {ours['rss_mb'] / max(0.1, sk['rss_mb']):.2f} ratio")  # type: ignore[operator]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the goal says
        result = measure_ours() if sys.argv[2] == "ours" else measure_sklearn()
        print(json.dumps(result))
    else:
        main()
