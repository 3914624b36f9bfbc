"""The Redis store's one way to send commands: a `Batch`, one round trip on `Wire`.

Every command of the store goes in a batch, reads included, and every operation sends as few
batches as it can (most send one). redis-py's client is used for the connections only, and to
load a script the server lacks.
"""

from __future__ import annotations

import hashlib
from typing import Any

import redis
from redis.exceptions import NoScriptError

from gateway.store.redis.lua import SCRIPTS
from gateway.store.redis.wire import Wire


class Scripts:
    """Our Lua scripts (`lua.SCRIPTS`) by their SHA, as EVALSHA names them."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self.sha = {name: hashlib.sha1(src.encode()).hexdigest() for name, src in SCRIPTS.items()}

    def load(self, name: str) -> None:
        """Into the server's script cache (after a restart or a SCRIPT FLUSH)."""
        self._client.script_load(SCRIPTS[name])


class Batch:
    """Commands for one round trip (`Wire`) that run our scripts by SHA, loading one only if
    the server lacks it (redis-py's own pipelines ask SCRIPT EXISTS first, every time)."""

    def __init__(self, wire: Wire, scripts: Scripts) -> None:
        self._wire = wire
        self._scripts = scripts
        self.commands: list[tuple[Any, ...]] = []
        self._script_at: list[tuple[int, str]] = []  # where a script's reply will be, its name

    def __len__(self) -> int:
        return len(self.commands)

    def command(self, *args: Any) -> int:
        """Add a command; returns where its reply will be."""
        self.commands.append(args)
        return len(self.commands) - 1

    def script(self, name: str, keys: list[str], args: list[Any]) -> int:
        """Add one of our scripts; returns where its reply will be."""
        self._script_at.append((len(self.commands), name))
        return self.command("EVALSHA", self._scripts.sha[name], len(keys), *keys, *args)

    def execute(self) -> list[Any]:
        """Every reply, in order, from one round trip (none for an empty batch); an error
        reply raises once all are read."""
        results = self._wire.run(self.commands) if self.commands else []
        for i, name in self._script_at:
            if isinstance(results[i], NoScriptError):  # the server restarted or was flushed
                self._scripts.load(name)
                results[i] = self._wire.run([self.commands[i]])[0]
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results
