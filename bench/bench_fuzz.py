"""Hostile webhooks: 10,000 mutated, correctly signed requests through the real app; how many
got a 5xx (must be 0: a platform redelivers those forever) and how much the process grew.

The requests are `tests/e2e/test_fuzz_webhooks.py`'s (mutations of tests/fixtures/: bit flips,
truncation, deep nesting, huge numbers, lone surrogates, wrong types, huge strings, duplicated
keys, null bytes), seeded, sent through the Flask test client to the gateway's own app on a
SQLite store. Memory: this process's RSS (/proc/self/statm) after 1,000 warm-up requests of
another seed, then after the 10,000, each after a `gc.collect()`.

Prints `name: value unit` lines. Environment: BENCH_FUZZ_COUNT (default 10000).
Run: `make bench` or `.venv/bin/python bench/bench_fuzz.py`.
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.web.app import create_app  # noqa: E402
from tests.e2e.test_fuzz_webhooks import (  # noqa: E402
    SEED,
    Fuzzer,
    build_gateway_for_fuzz,
    quiet_warnings,
    run_test_client,
)

COUNT = int(os.environ.get("BENCH_FUZZ_COUNT") or 10_000)
WARM_UP = 1_000
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / (1024 * 1024)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, quiet_warnings():
        gw = build_gateway_for_fuzz(Path(folder))
        try:
            app = create_app(gw)
            run_test_client(app, Fuzzer(SEED + 1000).cases(WARM_UP))
            before = rss_mb()
            start = time.perf_counter()
            statuses, failures = run_test_client(app, Fuzzer(SEED).cases(COUNT))
            seconds = time.perf_counter() - start
            after = rss_mb()
        finally:
            gw.close()
    for failure in failures[:10]:
        print(f"# {failure}", file=sys.stderr)
    served = Counter({k: v for k, v in statuses.items() if k < 500})
    print(f"fuzz_requests: {sum(statuses.values())} requests")
    print(f"fuzz_5xx: {sum(v for k, v in statuses.items() if k >= 500)} requests")
    print(f"fuzz_unexpected_status: {len(failures)} requests")
    print(f"fuzz_200: {served[200]} requests")
    print(f"fuzz_400: {served[400]} requests")
    print(f"fuzz_requests_per_s: {sum(statuses.values()) / seconds:.0f} requests/s")
    print(f"fuzz_rss_growth_mb: {after - before:.1f} MB")


if __name__ == "__main__":
    main()
