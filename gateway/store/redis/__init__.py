"""The Redis backend of the `Store` (see store.py for how its parts fit)."""

from gateway.store.redis.store import RedisStore

__all__ = ["RedisStore"]
