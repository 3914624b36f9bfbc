"""A full disk under the SQLite store, against the real gateway and sandbox: webhooks answered
5xx other than 503, replies lost and doubled, log lines, recovery time, WAL sizes after it.

200 Telegram conversations (BENCH_DISK_FULL_CHATS) talk to a gateway whose store, and its
analytics file beside it as by default, sit on a 32 MB tmpfs (BENCH_DISK_FULL_MB) with the
shipped WAL sizes. The disk fills while they talk; for 10 seconds (BENCH_DISK_FULL_S) Telegram
retries every refused update and re-posts some it had taken (as when an answer is lost); then
the filler is deleted, the retries go on until every update is taken, and each chat sends 3
more messages (BENCH_DISK_FULL_ROUNDS). Counted at the fake platform: every message answered
200 must be processed once and each of its replies arrive once. Exits 1 on a reply lost or
doubled or a webhook answered 5xx other than 503 (or not at all). Mounting needs root: without
it this says so and passes, unless CI=true. Prints `name: value unit` lines. Run: `make
faults` or `.venv/bin/python bench/fault_disk_full.py` (about BENCH_DISK_FULL_S + 60 s).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import Stack, start_stack  # noqa: E402  (the real stack the e2e tests use)
from tests.e2e.test_disk_full import (  # noqa: E402  (the test's tmpfs, filler and platform)
    NEARLY_FULL,
    STORE,
    Platform,
    all_replied,
    fill,
    free_bytes,
    mount_tmpfs,
    readyz,
    reply_problems,
    unmount,
    wait_for,
    wal_bound,
    wal_sizes,
)

CHATS = int(os.environ.get("BENCH_DISK_FULL_CHATS", "200"))
DISK_MB = int(os.environ.get("BENCH_DISK_FULL_MB", "32"))
OUTAGE_S = float(os.environ.get("BENCH_DISK_FULL_S", "10"))
ROUNDS = int(os.environ.get("BENCH_DISK_FULL_ROUNDS", "3"))
WORKERS = 4
SENDERS = 16  # the platform's concurrent webhook posts (one per chat at a time)
DEADLINE_S = 180.0  # for recovery and for every reply to arrive (an outbox lease is 30 s)
MB = 1024 * 1024


class LogLines(logging.Handler):
    """Counts, by logger, what the gateway logs at WARNING and above while `on`."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.by_logger: Counter[str] = Counter()
        self.on = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.on and record.name.startswith("gateway"):
            self.by_logger[record.name] += 1


class Watch:
    """From the filler's deletion on: when /readyz first answered 200, and from then on the
    largest WAL file and the least free space seen."""

    def __init__(self, stack: Stack, disk: Path) -> None:
        self.stack, self.disk = stack, disk
        self.deleted = time.monotonic()
        self.ready_after_s: float | None = None
        self.largest_wal = 0
        self.least_free = free_bytes(disk)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="disk-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            if self.ready_after_s is None:
                with contextlib.suppress(requests.RequestException):
                    if readyz(self.stack).status_code == 200:
                        self.ready_after_s = time.monotonic() - self.deleted
                continue
            self.largest_wal = max(self.largest_wal, *wal_sizes(self.disk).values())
            self.least_free = min(self.least_free, free_bytes(self.disk))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def scenario(tmp: Path, disk: Path, lines: LogLines) -> int:
    stack, stop = start_stack(tmp, store_url=f"sqlite:///{disk / STORE}", workers=WORKERS)
    pool = ThreadPoolExecutor(SENDERS)
    watch: Watch | None = None
    try:
        platform = Platform(stack)
        chats = [stack.shopper("telegram", f"Shopper {i}", variant=None) for i in range(CHATS)]

        def each(post: Callable[[str], object]) -> None:
            list(pool.map(post, chats))

        each(lambda chat: platform.say(chat, "hi"))
        wait_for(lambda: all_replied(stack, platform), DEADLINE_S, every=0.25)

        lines.on = True
        filler = fill(disk, leave=NEARLY_FULL)  # the conversations take the last bytes
        each(lambda chat: platform.say(chat, "before"))
        fill(disk)
        started, round_ = time.monotonic(), 0
        while time.monotonic() - started < OUTAGE_S:
            fill(disk)  # what filled the disk goes on: what the gateway frees is taken again
            each(lambda chat, r=round_: platform.retry_or_say(chat, f"full {r}"))
            platform.repeat(chats[round_ % CHATS])
            round_ += 1
        refused = platform.statuses[503]

        os.unlink(filler)
        watch = Watch(stack, disk)
        while platform.waiting() and time.monotonic() - watch.deleted < DEADLINE_S:
            each(platform.redeliver)
        wait_for(lambda: watch.ready_after_s is not None, DEADLINE_S)
        lines.on = False

        for round_ in range(ROUNDS):
            each(lambda chat, r=round_: platform.say(chat, f"after {r}"))
        wait_for(lambda: all_replied(stack, platform), DEADLINE_S, every=0.25)
        watch.stop()

        lost, doubled = reply_problems(stack, platform)
        never_taken = platform.waiting()  # refused until the deadline: the gateway never recovered
        other_5xx = sum(n for s, n in platform.statuses.items() if s and s >= 500 and s != 503)
        unanswered = platform.statuses[None]
        analytics = sum(n for name, n in lines.by_logger.items() if ".analytics" in name)
        recovery = "never" if watch.ready_after_s is None else f"{watch.ready_after_s:.2f}"
        print(f"disk_full_chats: {CHATS} chats, {DISK_MB} MB tmpfs, {OUTAGE_S:.0f} s full")
        print(f"disk_full_webhooks_refused: {refused} requests")
        print(f"disk_full_webhook_5xx_other_than_503: {other_5xx} requests")
        print(f"disk_full_webhook_unanswered: {unanswered} requests")
        print(f"disk_full_updates_never_taken: {never_taken} requests")
        print(f"disk_full_replies_lost: {lost} replies")
        print(f"disk_full_replies_doubled: {doubled} replies")
        print(f"disk_full_log_lines: {sum(lines.by_logger.values()) - analytics} lines")
        print(f"disk_full_log_lines_analytics: {analytics} lines")
        print(f"disk_full_recovery_s: {recovery} s")
        print(f"disk_full_wal_after_recovery_mb: {watch.largest_wal / MB:.2f} MB")
        print(f"disk_full_wal_bound_mb: {wal_bound(disk) / MB:.2f} MB")
        print(f"disk_full_least_free_after_recovery_mb: {watch.least_free / MB:.2f} MB")
        return 1 if lost or doubled or other_5xx or unanswered or never_taken else 0
    finally:
        if watch is not None:
            watch.stop()
        pool.shutdown()
        stop()


def main() -> int:
    # As in pyproject's pytest settings: the Telegram adapter sends through do_api_request.
    warnings.filterwarnings("ignore", message=r"Please use 'Bot\.")
    lines = LogLines()
    logging.getLogger().addHandler(lines)  # and nothing printed: the output is the figures
    with tempfile.TemporaryDirectory() as tmp:
        disk = Path(tmp) / "disk"
        disk.mkdir()
        try:
            mount_tmpfs(disk, f"{DISK_MB}m")
        except OSError as exc:
            if exc.errno != errno.EPERM or os.environ.get("CI") == "true":
                raise
            print(f"disk_full_skipped: {exc} (mounting a tmpfs needs root)")
            return 0
        try:
            return scenario(Path(tmp), disk, lines)
        finally:
            unmount(disk)


if __name__ == "__main__":
    sys.exit(main())
