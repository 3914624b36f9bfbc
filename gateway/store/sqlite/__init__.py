"""The SQLite backend of the `Store` (see store.py for how its parts fit)."""

from gateway.store.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
