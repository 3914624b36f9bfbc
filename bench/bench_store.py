"""Store figures: a history append stays as cheap with a million stored messages as with a
thousand (SQLite, and Redis when redis-server is installed), and what an idle conversation costs
in Redis memory.

- `history_append_us_1k` / `_1m`: the median wall time of one `append_history` call (one line,
  through the public API, to a random existing conversation) with 1,000 and with 1,000,000
  messages stored, beside their ratio. The stored messages are bulk-loaded directly (100 per
  conversation), which takes seconds; only the appends are timed.
- `redis_bytes_per_idle_conversation`: 10,000 Telegram conversations each take one real turn
  (webhook parse, enqueue, claim, the bench flow's `/start` turn committed by the turn worker,
  the reply claimed and marked sent), then `MEMORY USAGE` (samples=0: exact) of every key of
  the store is summed and divided by 10,000: the conversation's own keys, its platform id
  lookup (`pid`, only on channels that report delivery: none for Telegram) and the global
  indexes. This is the figure right after the turn. Where the
  bytes go is printed beside it (per key kind: `hash` the counters and, when it fits, the
  state; `h` history; `o` sent outbox; `e` events; `d` dedupe; `s` a state too long for the
  hash; `pid`; `global` the indexes).
  Left out of it: the analytics turn log, the stream `{analytics}:turns` (one entry per
  processed message, trimmed to 35 days, read by reporters): a bounded time log, not state
  a conversation keeps. It is `redis_analytics_bytes_per_turn`: the stream's MEMORY USAGE over
  its entries (one per conversation here).
- `redis_bytes_per_idle_conversation_after_expiry`: what stays once the short-lived keys have
  expired. Measured for real on the same keys: every key with a TTL (the store sets one on the
  sent outbox `o` and the events `e`, 3 days after the last send or turn, on `pid`, 3 days,
  and on the dedupe hash `d`, 7 days) is given `PEXPIRE 1` ms, Redis removes them, and the
  MEMORY USAGE of every key left is summed again (per kind beside it). The TTLs the store set
  are printed as `redis_idle_conversation_expires_h_<kind>` (the longest per kind, hours).
  Issue 5's "≤ 1,024 bytes per idle conversation" is met by this figure; the one right after
  the turn is larger, until the sent outbox, the events and the dedupe entry expire.

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
from typing import Any

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
    from gateway.store.sqlite.sql import SQL_HISTORY

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
    from gateway.store.redis import RedisStore
    from gateway.store.redis.codec import history_line

    redis.flush()
    store = RedisStore(redis.url)
    try:
        pipe = store.client.pipeline(transaction=False)
        for c in range(messages // PER_CONVERSATION):
            lines = [history_line(entry(key(c), s)) for s in range(1, PER_CONVERSATION + 1)]
            pipe.rpush(store.keys.conversation(key(c), ":h"), *lines)
            if len(pipe) >= 200:
                pipe.execute()
        pipe.execute()
        return time_appends(store, messages // PER_CONVERSATION)
    finally:
        store.close()


def kind_of(name: str) -> str:
    if "{conv:" in name:  # a conversation's own keys, by suffix
        return name.split("}", 1)[1].strip(":") or "hash"
    if name.split(":")[1] == "pid":
        return "pid"
    return "analytics" if name.startswith("{analytics}") else "global"  # or the indexes


def sizes(client: Any) -> Counter[str]:
    """MEMORY USAGE of every key, summed by kind."""
    kinds: Counter[str] = Counter()
    for name in client.scan_iter(count=1000):
        kinds[kind_of(name)] += client.memory_usage(name, samples=0) or 0
    return kinds


def expire_now(client: Any) -> dict[str, float]:
    """Expire every key that has a TTL, for real; the longest TTL per kind, in hours."""
    names = list(client.scan_iter(count=1000))
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.pttl(name)
    ttls: dict[str, float] = {}
    for name, ttl in zip(names, pipe.execute(), strict=True):
        if ttl > 0:
            kind = kind_of(name)
            ttls[kind] = max(ttls.get(kind, 0.0), ttl / 3_600_000)
            pipe.pexpire(name, 1)
    pipe.execute()
    time.sleep(0.05)
    left = list(client.scan_iter(count=1000))  # SCAN deletes the expired keys it meets
    for name in left:
        pipe.pttl(name)
    assert all(ttl == -1 for ttl in pipe.execute()), "a key with a TTL is still there"
    assert client.dbsize() == len(left)
    return ttls


def idle_conversation_bytes(
    redis: Redis,
) -> tuple[dict[str, float], float, dict[str, float], dict[str, float]]:
    """Bytes per conversation after one real turn each, by key kind; the turn log's bytes per
    turn; the same by kind once the keys with a TTL have expired; those TTLs in hours."""
    import logging

    from adapters.base import WebhookRequest
    from gateway.assemble import build_gateway
    from gateway.config import Config
    from gateway.turns.worker import TurnWorker

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
        assert gw.analytics is not None
        gw.analytics.flush()  # the turn records, to the stream
        client = gw.store.client  # type: ignore[attr-defined]
        turns = client.xlen("{analytics}:turns")
        assert turns == IDLE_CONVERSATIONS, turns
        first = sizes(client)
        per_turn = first.pop("analytics") / turns
        ttls = expire_now(client)
        after = sizes(client)
        after.pop("analytics", None)
    finally:
        gw.close()
    per = {k: v / IDLE_CONVERSATIONS for k, v in first.items()}
    stays = {k: v / IDLE_CONVERSATIONS for k, v in after.items()}
    return per, per_turn, stays, ttls


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
            kinds, per_turn, stays, ttls = idle_conversation_bytes(redis)
            for name, by_kind in (("", kinds), ("_after_expiry", stays)):
                total = sum(by_kind.values())
                lines.append((f"redis_bytes_per_idle_conversation{name}", f"{total:.0f}", "bytes"))
                for kind, size in sorted(by_kind.items(), key=lambda kv: -kv[1]):
                    lines.append(
                        (f"redis_bytes_per_idle_conversation{name}_{kind}", f"{size:.0f}", "bytes")
                    )
            for kind, hours in sorted(ttls.items()):
                lines.append((f"redis_idle_conversation_expires_h_{kind}", f"{hours:.0f}", "h"))
            lines.append(("redis_analytics_bytes_per_turn", f"{per_turn:.0f}", "bytes"))
        for name, value, unit in lines:
            print(f"{name}: {value} {unit}")
    finally:
        if redis is not None:
            redis.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
