"""Storage: the `Store` interface and its SQLite and Redis backends."""

from __future__ import annotations

from pathlib import Path

from gateway.store.base import Store

ACCEPTED = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db, "
    "redis://host:port/db (or rediss:// for TLS)"
)


def open_store(url: str, delivery_channels: frozenset[str] | None = None) -> Store:
    """The store a STORE_URL names; the backends are imported only when used.

    `delivery_channels`: the channels whose platform ids delivery reports look up (None: all).
    Redis keeps a lookup key per sent message for those only; SQLite indexes the column."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path or path == ":memory:":
            raise ValueError(
                f"STORE_URL {url!r} names no file: a shared queue needs one. Accepted: {ACCEPTED}"
            )
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        from gateway.store.sqlite import SQLiteStore

        return SQLiteStore(path)
    if url.startswith(("redis://", "rediss://")):
        from gateway.store.redis import RedisStore

        return RedisStore(url, delivery_channels=delivery_channels)
    raise ValueError(f"STORE_URL {url!r} is not a store this gateway knows. Accepted: {ACCEPTED}")


__all__ = ["ACCEPTED", "Store", "open_store"]
