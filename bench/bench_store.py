"""Store figures: a history append stays as cheap with a million stored messages as with a
thousand (SQLite, and Redis when redis-server is installed), and what an idle conversation costs
in Redis memory.

- `history_append_us_1k` / `_1m`: the median wall time of one `append_history` call (one line,
  through the public API, to a random existing conversation) with 1,000 and with 1,000,000
  messages stored, beside their ratio. The stored messages are bulk-loaded directly (100 per
  conversation), which takes seconds; only the appends are timed.
- `redis_bytes_per_idle_conversation`: 10,000 Telegram conversations each take one real turn
  (webhook parse, enqueue, claim, the bench flow's `/start` turn committed by the turn worker,
  the reply claimed and marked sent), then `MEMORY USAGE` of every key of the store is summed
  and divided by 10,000. Where the bytes go is printed beside it (per key kind).

Prints `name: value unit` lines. Environment: BENCH_QUICK=1 (100,000 instead of 1,000,000
messages, 2,000 conversations). Run: `make bench` or `.venv/bin/python bench/bench_store.py`.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_e2e import FLOWS, SECRET, TOKEN, Redis  # noqa: E402

from gateway.store.base import HistoryEntry, Store  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK") == "1"
PER_CONVERSATION = 100  # stored messages per conversation in the bulk load
SIZES = {"1k": 1_000, "1m": 100_000 if QUICK else 1_000_000}
APPENDS = 2_000  # timed appends per size
IDLE_CONVERSATIONS = 2_000 if QUICK else 10_000
NOW = 1_700_000_000.0
LINE = ("in", "shopper", "Where is my order A1234? It should have arrived on Tuesday.")
DATA = {"kind": "text", "message_id": "1000001"}


def entry(conversation: str, i: int) -> HistoryEntry:
    return HistoryEntry(conversation, NOW + i, *LINE, DATA)


def key(i: int) -> str:
    return f"telegram:{7_000_000_000 + i}"


def time_appends(store: Store, conversations: int) -> float:
    """Median µs of one append to a random existing conversation."""
    rng = random.Random(7)
    times = []
    for n in range(APPENDS):
        line = entry(key(rng.randrange(conversations)), n)
        start = time.perf_counter()
        store.append_history([line])
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def load_sqlite(path: str, messages: int) -> None:
    """`messages` history rows, PER_CONVERSATION per conversation, straight into the file."""
    from gateway.store.sqlite_sql import SQL_HISTORY

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    data = json.dumps(DATA, separators=(",", ":"))
    conversations = messages // PER_CONVERSATION
    for c in range(conversations):
        rows = [(key(c), s, NOW + s, *LINE, data) for s in range(1, PER_CONVERSATION + 1)]
        db.executemany(SQL_HISTORY, rows)
    db.executemany(
        "INSERT INTO conversations(key, hseq) VALUES (?, ?)",
        [(key(c), PER_CONVERSATION) for c in range(conversations)],
    )
    db.execute("COMMIT")
    db.close()


def sqlite_appends(work: Path, messages: int) -> float:
    from gateway.store.sqlite import SQLiteStore

    path = str(work / f"history-{messages}.db")
    SQLiteStore(path).close()  # the schema
    load_sqlite(path, messages)
    store = SQLiteStore(path)
    try:
        store.append_history([entry(key(0), 0)])  # a warm connection
        return time_appends(store, messages // PER_CONVERSATION)
    finally:
        store.close()
        for f in work.glob(f"history-{messages}.db*"):
            f.unlink()


def redis_appends(redis: Redis, messages: int) -> float:
    from gateway.store.redis_store import RedisStore, _line

    redis.flush()
    store = RedisStore(redis.url)
    try:
        pipe = store._r.pipeline(transaction=False)
        for c in range(messages // PER_CONVERSATION):
            lines = [_line(entry(key(c), s)) for s in range(1, PER_CONVERSATION + 1)]
            pipe.rpush(store._k(key(c), ":h"), *lines)
            if len(pipe) >= 200:
                pipe.execute()
        pipe.execute()
        return time_appends(store, messages // PER_CONVERSATION)
    finally:
        store.close()


def idle_conversation_bytes(redis: Redis) -> tuple[float, dict[str, float]]:
    """Bytes per conversation after one real turn each, and by key kind."""
    import logging

    from adapters.base import WebhookRequest
    from gateway.config import Config
    from gateway.context import build_gateway
    from gateway.worker import TurnWorker

    redis.flush()
    env = {
        "FLOWS_PATH": str(FLOWS), "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot",
        "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_SECRET_TOKEN": SECRET, "STORE_URL": redis.url,
    }  # fmt: skip
    logging.disable(logging.WARNING)  # the disabled channels' notes
    gw = build_gateway(Config.from_env(env))
    logging.disable(logging.NOTSET)
    try:
        worker, telegram = TurnWorker(gw, "bench"), gw.adapters.adapters["telegram"]
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        for i in range(IDLE_CONVERSATIONS):
            now = time.time()
            chat = 7_000_000_000 + i
            update = {
                "update_id": 500_000_000 + i,
                "message": {
                    "message_id": 1, "date": int(now), "text": "/start",
                    "from": {"id": chat, "is_bot": False, "first_name": "Ann", "language_code": "en"},
                    "chat": {"id": chat, "type": "private", "first_name": "Ann"},
                    "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
                },
            }  # fmt: skip
            body = json.dumps(update).encode()
            request = WebhookRequest("POST", "http://gw/webhooks/telegram", headers, body,
                                     received_at=now)  # fmt: skip
            (inbound,) = telegram.parse(request).inbound
            assert gw.store.enqueue(inbound, now, gw.config.dedupe_ttl_s)
            claim = gw.store.claim("bench", now, gw.config.lease_s)
            assert claim is not None and worker.process(claim, now)
            for item in gw.store.claim_outbox(now, 30.0, 10):
                gw.store.outbox_sent(item.id, str(100 + i), now)
        gw.store.queue_depth()  # flushes what the Redis store deferred
        client = gw.store._r  # type: ignore[attr-defined]
        kinds: Counter[str] = Counter()
        for name in client.scan_iter(count=1000):
            size = client.memory_usage(name, samples=0) or 0
            if "{conv:" in name:  # a conversation's own keys, by suffix
                kind = name.split("}", 1)[1].strip(":") or "hash"
            else:  # global: the platform id lookup, the indexes
                kind = "pid" if name.split(":")[1] == "pid" else "global"
            kinds[kind] += size
    finally:
        gw.close()
    per = {k: v / IDLE_CONVERSATIONS for k, v in kinds.items()}
    return sum(per.values()), per


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-store-"))
    redis: Redis | None = None
    try:
        lines: list[tuple[str, str, str]] = []
        ratio: Callable[[dict[str, float]], str] = lambda d: f"{d['1m'] / d['1k']:.2f}"  # noqa: E731
        sqlite = {size: sqlite_appends(work, n) for size, n in SIZES.items()}
        lines += [(f"history_append_us_{s}", f"{v:.1f}", "us") for s, v in sqlite.items()]
        lines.append(("history_append_1m_vs_1k_ratio", ratio(sqlite), "x"))
        if shutil.which("redis-server") is None:
            print("store: no Redis figures: redis-server is not installed", file=sys.stderr)
        else:
            redis = Redis(work)
            red = {size: redis_appends(redis, n) for size, n in SIZES.items()}
            lines += [(f"redis_history_append_us_{s}", f"{v:.1f}", "us") for s, v in red.items()]
            lines.append(("redis_history_append_1m_vs_1k_ratio", ratio(red), "x"))
            total, kinds = idle_conversation_bytes(redis)
            lines.append(("redis_bytes_per_idle_conversation", f"{total:.0f}", "bytes"))
            for kind, size in sorted(kinds.items(), key=lambda kv: -kv[1]):
                lines.append((f"redis_bytes_per_idle_conversation_{kind}", f"{size:.0f}", "bytes"))
        for name, value, unit in lines:
            print(f"{name}: {value} {unit}")
    finally:
        if redis is not None:
            redis.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
