"""Platform outages as every gateway process sees them, through the store's backend.

A circuit opens in the process whose sends failed (`gateway.turns.circuit`); in a scaled-out layout
that is a `gateway worker`, while /readyz, /metrics and the inbox are answered by web
processes that never send. So each open circuit is also put on a board in the SQLite file or
Redis the processes share, and taken off when a probe closes it. An entry expires on its own
(`expires_at`) so that one left by a process that died does not outlive the outage: the
process that holds a circuit open renews its entry at each failed probe.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Protocol, cast

import redis

from gateway.store.sqlite.file import SQLiteFile

logger = logging.getLogger(__name__)

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS platform_outages (
    channel TEXT PRIMARY KEY,
    since REAL NOT NULL,
    until REAL NOT NULL,                   -- when the next probe may go
    reason TEXT NOT NULL,
    expires_at REAL NOT NULL               -- forgotten after this unless renewed
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class Outage:
    channel: str
    since: float
    until: float  # when the next probe may go
    reason: str


class OutageBoard(Protocol):
    def publish(self, outage: Outage, expires_at: float) -> None: ...

    def clear(self, channel: str) -> None: ...

    def current(self, now: float) -> list[Outage]:
        """The outages whose entry has not expired at `now`, by channel."""

    def close(self) -> None: ...


class SQLiteOutageBoard:
    """A table in the store's own file."""

    def __init__(self, path: str) -> None:
        self._db = SQLiteFile(path, SQLITE_SCHEMA)

    def publish(self, outage: Outage, expires_at: float) -> None:
        self._db.write_one(
            "INSERT INTO platform_outages(channel, since, until, reason, expires_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(channel) DO UPDATE SET since = min(since, "
            "excluded.since), until = excluded.until, reason = excluded.reason, "
            "expires_at = excluded.expires_at",
            (outage.channel, outage.since, outage.until, outage.reason, expires_at),
        )

    def clear(self, channel: str) -> None:
        self._db.write_one("DELETE FROM platform_outages WHERE channel = ?", (channel,))

    def current(self, now: float) -> list[Outage]:
        rows = self._db.read(
            "SELECT channel, since, until, reason FROM platform_outages WHERE expires_at > ? "
            "ORDER BY channel", (now,),
        )  # fmt: skip
        return [Outage(*row) for row in rows]

    def close(self) -> None:
        self._db.close()


class RedisOutageBoard:
    """One small hash, channel -> [since, until, reason, expires_at]."""

    def __init__(self, url: str, prefix: str = "gw") -> None:
        # decode_responses: replies are str, where redis-py's hints say `bytes | str`.
        self._r = redis.Redis.from_url(url, decode_responses=True)
        self._key = f"{prefix}:outages"

    def publish(self, outage: Outage, expires_at: float) -> None:
        value = [outage.since, outage.until, outage.reason, expires_at]
        self._r.hset(self._key, outage.channel, json.dumps(value))

    def clear(self, channel: str) -> None:
        self._r.hdel(self._key, channel)

    def current(self, now: float) -> list[Outage]:
        found = []
        rows = cast("dict[str, str]", self._r.hgetall(self._key))
        for channel, raw in sorted(rows.items()):
            since, until, reason, expires_at = json.loads(raw)
            if expires_at > now:
                found.append(Outage(channel, since, until, reason))
        return found

    def close(self) -> None:
        self._r.close()


def open_outage_board(url: str) -> OutageBoard:
    """The board beside the messages a STORE_URL names (the store has made the folder)."""
    if url.startswith("sqlite:///"):
        return SQLiteOutageBoard(url[len("sqlite:///") :])
    if url.startswith(("redis://", "rediss://")):
        return RedisOutageBoard(url)
    raise ValueError(f"STORE_URL {url!r}: no outage board for it")
