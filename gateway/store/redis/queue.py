"""The inbound queue on Redis (`Queue`, but for the commit: commit.py): enqueue with dedupe,
claims of a conversation's head, release, and buried messages for an operator.

A conversation's messages wait in its own list (`:q`), its lease in its hash; the ready index
(index.py) says which conversations have a head due. Each step is one script on the
conversation's keys, then the index from the script's answer.

Dedupe is a small hash per conversation instead of a key per message: one key with a TTL costs
far less memory than thousands, and expiry follows the caller's clock like the SQLite backend.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from typing import Any

from flows.messages import Inbound, from_dict, to_dict
from gateway.redaction import redact_inbound
from gateway.store.base import Buried, Claim, Conversation, compact_json
from gateway.store.redis.batch import Batch
from gateway.store.redis.codec import buried_entry, buried_score, conversation_of, pairs
from gateway.store.redis.index import add_index, lowest
from gateway.store.redis.lane import CANDIDATES, ClaimRead
from gateway.store.redis.link import Link
from gateway.store.redis.lua import INLINE_MAX


class RedisQueue:
    def __init__(self, link: Link) -> None:
        self.link = link

    def enqueue(self, inbound: Inbound, now: float, dedupe_ttl_s: float) -> bool:
        """One round trip when the conversation had nothing queued (a shopper waiting for a
        reply): the index update rides along with a version proposed here, which the script
        takes (see ENQUEUE); otherwise a second trip sets the index from the script's answer."""
        key, keys = inbound.key, self.link.keys
        # Cards and CVVs go before the first write: neither Redis nor its AOF holds them.
        entry = compact_json([now, uuid.uuid4().hex, to_dict(redact_inbound(inbound))])
        proposed = time.time_ns() // 1000  # newer than any version a script has handed out
        batch = self.link.batch()
        batch.command("ZADD", keys.ready.zset, "NX", now, key)  # so a crash strands nothing
        at = batch.script(
            "enqueue",
            [keys.conversation(key, s) for s in ("", ":q", ":d")],
            [inbound.message_id, now, now + dedupe_ttl_s, max(1, int(dedupe_ttl_s * 1000)),
             entry, proposed],
        )  # fmt: skip
        add_index(batch, keys.ready, [(key, proposed, now)], 1)
        added, version, due = batch.execute()[at]
        if added and str(version) == str(proposed):
            return True
        batch = self.link.batch()
        add_index(batch, keys.ready, [(key, version, due)], 0 if added else -1)
        batch.execute()
        return bool(added)

    def claim(self, worker: str, now: float, lease_s: float) -> Claim | None:
        got = self.claim_from(self.ready(now), worker, now, lease_s)
        return None if got is None else got.claim

    def ready(self, now: float) -> list[str]:
        """The conversations the ready index has due at `now`, oldest first (one trip, with
        what waits for this store's next call, see `Later`)."""
        batch = self.link.batch(flush=True)
        batch.command(*lowest(self.link.keys.ready.zset, now, CANDIDATES))
        return list(batch.execute()[-1])

    def claim_from(self, found: list[str], worker: str, now: float, lease_s: float
                   ) -> ClaimRead | None:  # fmt: skip
        """The head of the first of `found` (a read of the ready index, only hints) that has
        a message for us: the oldest first, the rest shuffled so that racing claimers spread
        out; a trip each, until one answers."""
        lease_until = now + lease_s
        token = uuid.uuid4().hex
        rest = found[1:]
        random.shuffle(rest)
        order = found[:1] + rest
        for i, key in enumerate(order):
            batch = self.link.batch(flush=True)  # what waits for our next call rides along
            self.add_claim(batch, key, now, lease_until, token, worker)
            got = self.claimed_one(key, batch.execute()[-1], lease_until, token)
            if got is not None:
                tried = set(order[: i + 1])
                return ClaimRead(got[0], got[1], [k for k in found if k not in tried])
        return None

    def unclaim(self, key: str, token: str) -> None:
        """Give back a claim ahead never worked on (if `token` holds it): claimable at once,
        its attempt taken back (a stopping worker costs a message no attempt)."""
        result = self.link.run("unclaim", [self.link.keys.conversation(key)], [token, time.time()])
        if result[0]:
            self._index_ready([(key, result[1], result[2])])

    def add_claim(self, batch: Batch, key: str, now: float, lease_until: float, token: str,
                  worker: str) -> int:  # fmt: skip
        """Add a CLAIM of `key`'s head to `batch`; returns where its answer will be."""
        keys = [self.link.keys.conversation(key, s) for s in ("", ":q", ":s")]
        return batch.script("claim", keys, [now, lease_until, token, worker])

    def claimed_one(self, key: str, result: list[Any], lease_until: float, token: str
                    ) -> tuple[Claim, Conversation] | None:  # fmt: skip
        """A CLAIM's answer: the claim and the conversation as it read it, or None (busy,
        not due, empty); the index is fixed on the next trip either way (see `Later`)."""
        self.link.later.defer(ready=[(key, result[1], result[2])])
        if not result[0]:
            return None
        _at, entry_id, message = json.loads(result[3])
        state, last_inbound, updated = result[5:8]
        claim = Claim(
            id=entry_id,
            conversation=key,
            inbound=from_dict(Inbound, message),
            attempts=int(result[4]),
            lease_until=lease_until,
            token=token,
        )
        return claim, conversation_of(key, state, last_inbound, updated)

    def release(self, claim: Claim, retry_at: float, error: str) -> None:
        key = claim.conversation
        # Cut so that the hash stays a compact listpack (one longer value makes it a hashtable
        # for good); the worker logs the whole failure.
        error = error.encode()[:INLINE_MAX].decode("utf-8", "ignore")
        c = self.link.keys.conversation(key)
        result = self.link.run("release", [c], [claim.token, retry_at, error])
        if result[0]:
            self._index_ready([(key, result[1], result[2])])

    def _index_ready(self, updates: list[tuple[str, Any, Any]], delta: int = 0) -> None:
        """The ready index from a script's answer, in a trip of its own."""
        batch = self.link.batch()
        add_index(batch, self.link.keys.ready, updates, delta)
        batch.execute()

    def bury(self, claim: Claim, error: str, now: float) -> None:
        """The conversation goes into the buried index before the script (a crash leaves an
        entry early, never a buried message nobody can list), which then gets its version."""
        key, keys = claim.conversation, self.link.keys
        batch = self.link.batch()
        batch.command("ZADD", keys.buried.zset, "NX", now, key)
        at = batch.script("bury", [keys.conversation(key, s) for s in ("", ":q", ":x")],
                          [claim.token, error, now])  # fmt: skip
        result = batch.execute()[at]
        if result[0]:
            batch = self.link.batch()
            add_index(batch, keys.ready, [(key, result[1], result[2])], -1)
            add_index(batch, keys.buried, [(key, result[1], buried_score(result[3]))], 1)
            batch.execute()

    def buried(self, limit: int = 100) -> list[Buried]:
        """Conversations by their oldest burial, a page at a time, until no later one can
        hold a burial older than the `limit`-th found."""
        keys = self.link.keys
        found: list[Buried] = []
        start, page = 0, max(1, min(limit, 100))
        while limit > 0:
            batch = self.link.batch()
            batch.command("ZRANGE", keys.buried.zset, start, start + page - 1, "WITHSCORES")
            scored = [(key, float(score)) for key, score in pairs(batch.execute()[0])]
            if not scored or (len(found) >= limit and scored[0][1] > found[limit - 1].buried_at):
                break
            batch = self.link.batch()
            for key, _score in scored:
                batch.command("LRANGE", keys.conversation(key, ":x"), 0, -1)
            for (key, _score), entries in zip(scored, batch.execute(), strict=True):
                found.extend(buried_entry(key, raw) for raw in entries)
            found.sort(key=lambda b: b.buried_at)
            start += page
        return found[:limit]

    def buried_count(self) -> int:
        """A counter beside the index, as queue_depth's."""
        batch = self.link.batch()
        batch.command("GET", self.link.keys.buried.counter)
        return max(0, int(batch.execute()[0] or 0))

    def retry_buried(self, conversation: str, buried_id: str, now: float) -> bool:
        return self._unbury(conversation, buried_id, now, again=True)

    def discard_buried(self, conversation: str, buried_id: str) -> bool:
        return self._unbury(conversation, buried_id, time.time(), again=False)

    def _unbury(self, key: str, buried_id: str, now: float, *, again: bool) -> bool:
        keys = self.link.keys
        x = keys.conversation(key, ":x")
        batch = self.link.batch()
        batch.command("LRANGE", x, 0, -1)
        entries: list[str] = batch.execute()[0]
        raw = next((r for r in entries if buried_entry(key, r).id == buried_id), None)
        if raw is None:
            return False
        entry = ""
        batch = self.link.batch()
        if again:
            inbound = json.loads(raw)[3][2]
            entry = compact_json([now, buried_id, inbound])
            batch.command("ZADD", keys.ready.zset, "NX", now, key)  # as enqueue: strands nothing
        at = batch.script("unbury", [keys.conversation(key), keys.conversation(key, ":q"), x],
                          [raw, entry, now])  # fmt: skip
        result = batch.execute()[at]
        if not result[0]:
            return False
        batch = self.link.batch()
        if again:
            add_index(batch, keys.ready, [(key, result[1], result[2])], 1)
        add_index(batch, keys.buried, [(key, result[1], buried_score(result[3]))], -1)
        batch.execute()
        return True

    def queue_depth(self) -> int:
        """A counter beside the index: exact once every store has flushed (see `Later`),
        unless a process died between a script and its index update."""
        batch = self.link.batch(flush=True)
        batch.command("GET", self.link.keys.ready.counter)
        return max(0, int(batch.execute()[-1] or 0))
