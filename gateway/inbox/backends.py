"""The inbox store a STORE_URL names: beside the messages, in the same SQLite file or Redis."""

from __future__ import annotations

from gateway.inbox.store import InboxStore


def open_inbox(url: str) -> InboxStore:
    if url.startswith("sqlite:///"):
        from gateway.inbox.sqlite_inbox import SQLiteInbox

        return SQLiteInbox(url[len("sqlite:///") :])
    if url.startswith(("redis://", "rediss://")):
        from gateway.inbox.redis_inbox import RedisInbox

        return RedisInbox(url)
    raise ValueError(f"STORE_URL {url!r}: no inbox backend for it")
