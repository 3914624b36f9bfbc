"""One round trip of raw commands on a connection this thread keeps: the Redis store's hot path.

A redis-py `Pipeline` costs about 110 µs of CPU a trip in redis-py 8 (command objects,
response callbacks, pool checkout and return, observability hooks), three times what the same
trip costs on one of the pool's own connections (measured on the bench machine, 2 commands a
trip), and a turn made four or five trips. So the store sends its batches here: packed by
hiredis (as the pipeline's packer does), the replies read raw, an error reply kept in its
place as the pipeline's `raise_on_error=False` does. A lost connection is not retried (a batch
may hold a commit and a claim: running it twice would lose both answers), as the store's
client, made by `from_url`, does not retry either.

Each thread takes one connection from the client's pool and keeps it while it lives: gateway
threads are a fixed pool (web server threads, turn workers, the outbox sender); a thread that
ends gives its connection back to the pool, and closing the pool closes them all.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import hiredis
import redis
from redis.exceptions import ResponseError

Command = Sequence[Any]


class Wire:
    """Raw one-trip batches on a per-thread connection of `client`'s pool."""

    def __init__(self, client: redis.Redis) -> None:
        self._pool = client.connection_pool
        self._local = threading.local()

    def _connection(self) -> Any:
        held: _Held | None = getattr(self._local, "held", None)
        if held is not None and held.pid == os.getpid():
            connection = held.connection
            try:  # between trips nothing is due: a readable socket was closed by the server
                if connection.can_read():  # (a restart, an idle timeout), as the pool checks
                    connection.disconnect()
            except (redis.ConnectionError, redis.TimeoutError):
                connection.disconnect()  # the next write connects again
            return connection
        # A new thread, or a forked child: the parent's socket is not ours to use.
        connection = self._pool.get_connection()
        self._local.held = _Held(self._pool, connection)
        return connection

    def run(self, commands: Sequence[Command]) -> list[Any]:
        """The replies of `commands`, sent in one write; an error reply is returned as its
        `ResponseError` in its place. A lost connection raises (and is made again on the next
        call), never sends the batch twice: not every script in it can run twice."""
        return _trip(self._connection(), commands)


class _Held:
    """A thread's connection; back to the pool when the thread ends (its locals go)."""

    def __init__(self, pool: redis.ConnectionPool, connection: Any) -> None:
        self.pid = os.getpid()
        self.connection = connection
        weakref.finalize(self, pool.release, connection)


def _trip(connection: Any, commands: Sequence[Command]) -> list[Any]:
    # Packed by hiredis itself, as redis-py's packer does for these (no command name with a
    # space in it), without its per-argument checks: a commit has dozens of arguments.
    connection.send_packed_command([b"".join([hiredis.pack_command(tuple(c)) for c in commands])])
    replies: list[Any] = []
    for _ in commands:  # every reply is read, so that the connection never falls out of step
        try:
            replies.append(connection.read_response())
        except ResponseError as error:
            replies.append(error)
    return replies
