"""With Redis, turn records travel through one Redis stream to whoever reports.

Gateways on several hosts cannot share a SQLite file, so with `STORE_URL=redis://...` each
process appends its turn records to the stream `<prefix>{analytics}:turns` (XADD, trimmed to
the last `RETENTION_DAYS` with MINID), and `gateway report` or the inbox's report page first
copies what is new into its own analytics SQLite (`ingest`), then reports from that. Each
reader keeps its own cursor (the last stream id it copied, stored in the same transaction as
the rows), so any number of reporting hosts see everything, and a record that reaches the
stream twice (a message processed on two hosts) is still counted once by `a_seen`.

An entry holds what the recorder reads of a record (`recorder.recorded`), as a JSON array
(see `encode`) in its field "r"; the object form written before that is still read. A phone
call travels the same way in the field "c" (`calls.encode_call`), so it reaches every
reporter in order with the turns.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from functools import partial
from typing import Any, cast

import redis
from redis.typing import EncodableT, FieldT

from gateway.analytics.calls import CallRecord, decode_call, encode_call
from gateway.analytics.recorder import (
    READ_FIELDS,
    Analytics,
    Record,
    TurnRecord,
    analytics_path,
    connect,
    recorded,
    write_batch,
)
from gateway.inbox.codec import thread_from_json
from gateway.inbox.model import Thread

RETENTION_DAYS = 35.0  # a reporting host that is away longer than this misses the oldest
READ_COUNT = 5000
CURSOR_SQL = """
CREATE TABLE IF NOT EXISTS a_cursor (stream TEXT PRIMARY KEY, last_id TEXT NOT NULL);
"""


def is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://"))


# A thread's fields in an entry (what the recorder stores of it).
THREAD = ("id", "conversation", "channel", "queue", "created_at", "status", "agent",
          "claimed_at", "first_response_at", "resolved_at", "outcome")  # fmt: skip
_DEFAULTS: tuple[Any, ...] = (0, 1, 0, "bot", [], [], None)  # of the values after the events


def encode(record: TurnRecord) -> str:
    """`recorded(record)` as [conversation, message_id, at, events, channel, shopper_turn,
    fresh, mode, variants, phone_nodes, thread], the trailing ones at their default left out.

    An event is [type, its READ_FIELDS...] (an object if one is missing), the channel 0
    when it is the conversation key's prefix, the flags 0 or 1, the thread an array of THREAD.
    """
    r = recorded(record)
    events: list[Any] = []
    for event in r.events:
        names = READ_FIELDS[event["type"]]
        # Trailing fields may be missing (a Fallback before it carried its language): the
        # array is then shorter, and decode leaves them out the same way.
        have = [n for n in names if n in event]
        full = have == list(names[: len(have)])
        events.append([event["type"], *(event[n] for n in have)] if full else event)
    prefix = r.conversation.split(":", 1)[0]
    values: list[Any] = [
        r.conversation, r.message_id, r.at, events,
        0 if r.channel == prefix else r.channel, int(r.shopper_turn), int(r.fresh), r.mode,
        [list(v) for v in r.variants], sorted(r.phone_nodes),
        None if r.thread is None else [getattr(r.thread, n) for n in THREAD],
    ]  # fmt: skip
    while len(values) > 4 and values[-1] == _DEFAULTS[len(values) - 5]:
        values.pop()
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False, default=str)


def decode(text: str) -> TurnRecord:
    data: list[Any] | dict[str, Any] = json.loads(text)
    if isinstance(data, dict):  # the object form, written before entries were arrays
        return _decode_object(data)
    conversation, message_id, at, raw_events, *rest = data
    channel, shopper_turn, fresh, mode, variants, phones, thread = (
        *rest, *_DEFAULTS[len(rest) :]
    )  # fmt: skip
    return TurnRecord(
        conversation=conversation,
        message_id=message_id,
        channel=conversation.split(":", 1)[0] if channel == 0 else channel,
        at=at,
        events=[_event(e) for e in raw_events],
        shopper_turn=bool(shopper_turn),
        fresh=bool(fresh),
        mode=mode,
        variants=tuple((str(a), str(b)) for a, b in variants),
        phone_nodes=frozenset(phones),
        thread=None if thread is None else _thread(dict(zip(THREAD, thread, strict=False))),
    )


def _event(raw: list[Any] | dict[str, Any]) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    names = READ_FIELDS.get(raw[0], ())  # a type or field unknown here is left out
    return {"type": raw[0], **dict(zip(names, raw[1:], strict=False))}


def _thread(data: dict[str, Any]) -> Thread:
    return Thread(
        data.pop("id"), data.pop("conversation"), data.pop("channel"), data.pop("queue"), "",
        data.pop("created_at"), **data,
    )  # fmt: skip


def _decode_object(data: dict[str, Any]) -> TurnRecord:
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

    def append(self, records: Sequence[Record]) -> None:
        if not records:
            return
        oldest = f"{int((time.time() - self._retention_s) * 1000)}-0"
        pipe = self._r.pipeline(transaction=False)
        for record in records:
            pipe.xadd(self.key, _fields(record), minid=oldest, approximate=True)
        pipe.execute()

    def ingest(self, db: sqlite3.Connection) -> int:
        """Copy every record after this database's cursor into it; how many were new."""
        db.executescript(CURSOR_SQL)
        row = db.execute("SELECT last_id FROM a_cursor WHERE stream = ?", (self.key,)).fetchone()
        last = row[0] if row else "0-0"
        copied = 0
        while True:
            # redis-py types every reply as `bytes | str` (it cannot see decode_responses, off
            # here) and an entry's id and fields as optional (for XCLAIM's deleted entries);
            # XRANGE on this client returns bytes ids with their fields, never None.
            entries = cast(
                "list[tuple[bytes, dict[bytes, bytes]]]",
                self._r.xrange(self.key, min=f"({last}", count=READ_COUNT),
            )
            if not entries:
                return copied
            records = [_entry(fields) for _id, fields in entries]
            last = entries[-1][0].decode("ascii")
            copied += write_batch(db, records, after=partial(self._save_cursor, last_id=last))

    def _save_cursor(self, db: sqlite3.Connection, last_id: str) -> None:
        db.execute(
            "INSERT INTO a_cursor(stream, last_id) VALUES (?, ?) "
            "ON CONFLICT(stream) DO UPDATE SET last_id = excluded.last_id",
            (self.key, last_id),
        )

    def close(self) -> None:
        self._r.close()


def _fields(record: Record) -> dict[FieldT, EncodableT]:
    if isinstance(record, CallRecord):
        return {"c": encode_call(record)}
    return {"r": encode(record)}


def _entry(fields: dict[bytes, bytes]) -> Record:
    call = fields.get(b"c")
    if call is not None:
        return decode_call(call.decode("utf-8"))
    return decode(fields[b"r"].decode("utf-8"))


def open_analytics(store_url: str, analytics_url: str | None) -> Analytics:
    """The recorder a gateway writes through: its own analytics file, or with Redis the turn
    log every reporter copies (so what one host records reaches every host's report)."""
    sink = RedisTurnLog(store_url) if is_redis(store_url) else None
    return Analytics(analytics_path(store_url, analytics_url), sink=sink)


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
