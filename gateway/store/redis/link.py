"""What the parts of the Redis store (queue, commit, conversations, outbox) share: one `Link`."""

from __future__ import annotations

from typing import Any

import redis

from gateway.store.redis.batch import Batch, Scripts
from gateway.store.redis.index import Later
from gateway.store.redis.keys import RedisKeys
from gateway.store.redis.wire import Wire


class Link:
    """The store's connection to Redis, its key names and its waiting index updates.

    `client` holds the connections (a pool; `Wire` keeps one per thread); every command goes
    through `batch()`.
    """

    def __init__(self, url: str, keys: RedisKeys) -> None:
        # decode_responses: every reply is str.
        self.client = redis.Redis.from_url(url, decode_responses=True)
        self.keys = keys
        self.later = Later(keys)
        self._wire = Wire(self.client)
        self._scripts = Scripts(self.client)

    def batch(self, *, flush: bool = False) -> Batch:
        """A new batch; with `flush`, what waits for the store's next call (`Later`) goes
        first in it."""
        batch = Batch(self._wire, self._scripts)
        if flush:
            self.later.flush(batch)
        return batch

    def run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """One script, alone in its round trip; its reply."""
        batch = self.batch()
        batch.script(name, keys, args)
        return batch.execute()[0]

    def close(self) -> None:
        self.client.close()
