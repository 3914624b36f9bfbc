"""With Redis, turn records travel through one Redis stream to whoever reports.

Gateways on several hosts cannot share a SQLite file, so with `STORE_URL=redis://...` each
process appends its turn records to the stream `<prefix>{analytics}:turns` (XADD, trimmed to
the last `RETENTION_DAYS` with MINID), and `gateway report` or the inbox's report page first
copies what is new into its own analytics SQLite (`ingest`), then reports from that. Each
reader keeps its own cursor (the last stream id it copied, stored in the same transaction as
the rows), so any number of reporting hosts see everything, and a record that reaches the
stream twice (a message processed on two hosts) is still counted once by `a_seen`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import redis

from gateway.analytics.recorder import TurnRecord, analytics_path, connect, write_batch
from gateway.inbox.codec import thread_from_json, thread_to_json

RETENTION_DAYS = 35.0  # a reporting host that is away longer than this misses the oldest
READ_COUNT = 5000
CURSOR_SQL = """
CREATE TABLE IF NOT EXISTS a_cursor (stream TEXT PRIMARY KEY, last_id TEXT NOT NULL);
"""


def is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://"))


def encode(record: TurnRecord) -> str:
    data: dict[str, Any] = asdict(record)
    data["variants"] = [list(v) for v in record.variants]
    data["phone_nodes"] = sorted(record.phone_nodes)
    data["thread"] = thread_to_json(record.thread) if record.thread is not None else None
    data["events"] = list(record.events)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


def decode(text: str) -> TurnRecord:
    data = json.loads(text)
    data["variants"] = tuple((str(a), str(b)) for a, b in data.get("variants") or ())
    data["phone_nodes"] = frozenset(data.get("phone_nodes") or ())
    raw_thread = data.get("thread")
    data["thread"] = thread_from_json(raw_thread) if raw_thread else None
    return TurnRecord(**data)


class RedisTurnLog:
    """The shared stream of turn records: appended by every gateway, read by reporters."""

    def __init__(self, url: str, prefix: str = "", retention_days: float = RETENTION_DAYS) -> None:
        self._r = redis.Redis.from_url(url)
        self.key = f"{prefix}{{analytics}}:turns"
        self._retention_s = retention_days * 86_400

    def append(self, records: Sequence[TurnRecord]) -> None:
        if not records:
            return
        oldest = f"{int((time.time() - self._retention_s) * 1000)}-0"
        pipe = self._r.pipeline(transaction=False)
        for record in records:
            pipe.xadd(self.key, {"r": encode(record)}, minid=oldest, approximate=True)
        pipe.execute()

    def ingest(self, db: sqlite3.Connection) -> int:
        """Copy every record after this database's cursor into it; how many were new."""
        db.executescript(CURSOR_SQL)
        row = db.execute("SELECT last_id FROM a_cursor WHERE stream = ?", (self.key,)).fetchone()
        last = row[0] if row else "0-0"
        copied = 0
        while True:
            entries = self._r.xrange(self.key, min=f"({last}", count=READ_COUNT)
            if not entries:
                return copied
            records = [decode(fields[b"r"].decode("utf-8")) for _id, fields in entries]
            last = entries[-1][0].decode("ascii")
            copied += write_batch(
                db,
                records,
                after=lambda d, cursor=last: d.execute(
                    "INSERT INTO a_cursor(stream, last_id) VALUES (?, ?) "
                    "ON CONFLICT(stream) DO UPDATE SET last_id = excluded.last_id",
                    (self.key, cursor),
                ),
            )

    def close(self) -> None:
        self._r.close()


def open_report_db(store_url: str, analytics_url: str | None) -> sqlite3.Connection:
    """The analytics file to report from; with Redis, brought up to date from the stream."""
    db = connect(analytics_path(store_url, analytics_url))
    if is_redis(store_url):
        log = RedisTurnLog(store_url)
        try:
            log.ingest(db)
        finally:
            log.close()
    return db
