"""The shared store: Redis, for several gateway processes on several hosts (and Redis Cluster).

Every key of one conversation carries the hash tag `{conv:<key>}`, so one Lua script can change
all of them atomically (enqueue with dedupe, claim of the head, commit_turn, release, bury, each
outbox step) and the conversation lives on one Cluster node:

    <p>:{conv:K}     hash of small values (so Redis keeps it a compact listpack): li last
                     inbound, u updated, v version, oq outbox seq, od dead outbox items, s the
                     state when it fits (INLINE_MAX bytes, see below), and while a message is
                     in flight its lease: lt token, lu lease_until, lw worker, hn attempts, ha
                     available_at, he last error (cut to INLINE_MAX bytes)
    <p>:{conv:K}:s   the state when it is longer than INLINE_MAX (one longer value would turn
                     the hash above into a hashtable, several times larger, for good)
    <p>:{conv:K}:q   list of queued messages, oldest first: [arrived_at, id, inbound]
    <p>:{conv:K}:x   list of buried messages (for an operator)
    <p>:{conv:K}:d   hash message_id -> dedupe expiry; the key expires with the last message
    <p>:{conv:K}:h   list of history lines; seq is the position (1-based), so pages are LRANGEs;
                     a line is [at, who, text, data?] with the usual (direction, author) pairs
                     as one digit and data's usual keys as one letter (see redis_codec.history_line)
    <p>:{conv:K}:o   hash outbox id -> "<mutable JSON>\\n[channel, created_at]\\n<payload JSON>";
                     a sent item loses its payload line (what was said is in the history;
                     the payload was two thirds of an idle conversation's memory); the hash
                     expires when idle
    <p>:{conv:K}:op  zset of pending outbox ids by seq (the head is the first)
    <p>:{conv:K}:e   list "#<message id>", that turn's events, ...: LPOS finds a message
                     already recorded, so a turn processed twice records its events once; the
                     latest EVENT_TURNS turns, and the list expires with the sent outbox: it
                     is for tests and debugging while a retry can still come (the analytics
                     turn log has every turn's events, counted once by message id)
    <p>:pid:<id>     "<K>\\n<outbox id>" for delivery reports, expires after delivery_ttl_s; only
                     for channels whose platform reports delivery (WhatsApp through Twilio)

What stays of an idle conversation once the sent outbox, its events and the dedupe hash have
expired is the hash (with the state in it) and the history: about 560 bytes after the bench's
`/start` turn (bench/bench_store.py).

Which conversation has work is a global sorted set per queue, `<p>:{<p>:q}:ready` (inbound) and
`<p>:{<p>:o}:due` (outbox), scored by when the conversation's head can next be taken: its
arrival or retry time, or its lease_until while leased, so a dead worker's lease simply comes
due. A claimer reads the lowest scores and asks each conversation's script for its head; the
script is the judge (leased? not due yet? empty?), so the index is only a hint and may lag.
It cannot sit in the conversation's slot, so it is updated right after the script, from the
script's answer, with a per-conversation version: every script that changes the head bumps `v`,
and the index applies an update only if its version is newer. Updates from racing clients can
arrive in any order and the index still ends at the newest state. A message for a conversation
with nothing queued (a shopper waiting for a reply) needs no second trip: the enqueue proposes
the version itself, the time in microseconds, and its index update rides in the same trip after
the script, which takes that version (ENQUEUE). Before a message or an outbox item is written,
its conversation is added to the index (ZADD NX), and the next message of a conversation
restores a missing entry, so a crash between a script and its index update leaves an early
entry or, at worst, one message waiting for the next. Updates that can only leave an
entry early (a lease taken, an emptied queue) ride along with the store's next call instead of
costing a round trip of their own (`_defer`): an early entry just makes a claimer ask the
script, hear "busy", and correct it. A stream with a
consumer group (DESIGN.md) gives one entry per message, not per conversation, and cannot express
"not while this conversation has one in flight" without the same per-conversation lease, so the
sorted set is the simpler shape.

Dedupe is a small hash per conversation instead of a key per message: one key with a TTL costs
far less memory than thousands, and expiry follows the caller's clock like the SQLite backend.

A busy turn worker makes one round trip a turn: its commit also reads the ready index and claims
its next message (`RedisLane`), whose conversation comes with the claim (`load`). Each trip is
a raw batch on a connection the thread keeps (`redis_wire.Wire`), not a redis-py pipeline.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any, cast

import redis
from redis.exceptions import NoScriptError

from flows.messages import Inbound, from_dict, to_dict
from flows.state import ConversationState
from gateway.redaction import redact_inbound
from gateway.store.base import (
    Buried,
    Claim,
    Committed,
    Conversation,
    HistoryEntry,
    Lane,
    OutboxItem,
    SentMark,
    Turn,
    check_same_conversation,
    compact_json,
    delivery_rank,
)
from gateway.store.redis_codec import (
    buried_entry,
    buried_score,
    conversation_of,
    flat_pairs,
    history_entry,
    history_line,
    outbox_item,
    state_out,
)
from gateway.store.redis_lane import CANDIDATES, ClaimAhead, ClaimRead, CommitTrip, RedisLane
from gateway.store.redis_lua import INLINE_MAX, SCRIPTS
from gateway.store.redis_wire import Wire

logger = logging.getLogger(__name__)
ITEM_CACHE = 50_000  # outbox id -> conversation remembered between claim_outbox and its result

Update = tuple[str, Any, Any]  # (conversation, version, score or "") for INDEX


def _lowest(index: str, now: float, limit: int) -> tuple[Any, ...]:
    """ZRANGEBYSCORE: the first `limit` members due at `now`."""
    return ("ZRANGEBYSCORE", index, "-inf", now, "LIMIT", 0, limit)


def _index_args(delta: int, updates: Sequence[Update]) -> list[Any]:
    args: list[Any] = [delta]
    for update in updates:
        args.extend(update)
    return args


class _Batch:
    """Commands for one round trip (`Wire`) that run our scripts by SHA, loading one only if
    the server lacks it (redis-py's own pipelines ask SCRIPT EXISTS first, every time)."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.commands: list[tuple[Any, ...]] = []
        self.scripts: list[tuple[int, str]] = []  # where a script's reply will be, its name

    def __len__(self) -> int:
        return len(self.commands)

    def command(self, *args: Any) -> int:
        """Add a command; returns where its reply will be."""
        self.commands.append(args)
        return len(self.commands) - 1

    def script(self, name: str, keys: list[str], args: list[Any]) -> int:
        self.scripts.append((len(self.commands), name))
        return self.command("EVALSHA", self.store._sha[name], len(keys), *keys, *args)

    def execute(self) -> list[Any]:
        results = self.store._wire.run(self.commands) if self.commands else []
        for i, name in self.scripts:
            if isinstance(results[i], NoScriptError):  # the server restarted or was flushed
                self.store._r.script_load(SCRIPTS[name])
                results[i] = self.store._wire.run([self.commands[i]])[0]
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results


class RedisStore:
    """`Store` on Redis (see the module docstring for the key layout and the queue design)."""

    def __init__(
        self,
        url: str,
        prefix: str = "gw",
        *,
        outbox_ttl_s: float = 3 * 86_400.0,
        delivery_ttl_s: float = 3 * 86_400.0,
        delivery_channels: frozenset[str] | None = None,
    ) -> None:
        """`outbox_ttl_s`: how long a conversation's sent outbox stays after its last send,
        and its recent events after its last turn that had some; `delivery_ttl_s`: how long a
        platform id still finds its item for delivery reports; `delivery_channels`: the
        channels whose platform reports delivery (None: all). Only their sent messages get a
        `pid:` key: on the others it would be a write a turn and memory for 3 days that
        nothing ever looks up."""
        if not prefix or "{" in prefix or "}" in prefix:
            raise ValueError(f"Redis key prefix {prefix!r} must be non-empty and free of braces")
        self.prefix = prefix
        # decode_responses: every reply is str. redis-py's hints say `bytes | str` (they cannot
        # see the option), so the reads below `cast` the replies to their str forms.
        self._r = redis.Redis.from_url(url, decode_responses=True)
        self._wire = Wire(self._r)
        self._sha = {name: hashlib.sha1(src.encode()).hexdigest() for name, src in SCRIPTS.items()}
        self._outbox_ttl_ms = int(outbox_ttl_s * 1000)
        self._delivery_ttl_s = int(delivery_ttl_s)
        self._delivery_channels = delivery_channels
        q, o = f"{prefix}:{{{prefix}:q}}", f"{prefix}:{{{prefix}:o}}"
        self._ready_keys = [f"{q}:ready", f"{q}:ver", f"{q}:depth"]
        self._due_keys = [f"{o}:due", f"{o}:ver"]
        self._oconv = f"{o}:conv"  # outbox id -> conversation, until sent
        self._odead = f"{o}:dead"  # dead outbox ids by created_at
        x = f"{prefix}:{{{prefix}:x}}"  # conversations with buried messages, as an index
        self._buried_keys = [f"{x}:buried", f"{x}:ver", f"{x}:count"]
        # Index updates that may wait for this store's next call (see _defer).
        self._lock = threading.Lock()
        self._later_ready: list[Update] = []
        self._later_due: list[Update] = []
        self._later_oconv: dict[str, str] = {}
        self._later_unmap: list[str] = []
        self._later_depth = 0
        self._item_conv: dict[str, str] = {}

    # ---- plumbing ----

    def _k(self, key: str, suffix: str = "") -> str:
        return f"{self.prefix}:{{conv:{key}}}{suffix}"

    def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        batch = _Batch(self)
        batch.script(name, keys, args)
        return batch.execute()[0]

    def _defer(
        self,
        ready: Sequence[Update] = (),
        due: Sequence[Update] = (),
        oconv: dict[str, str] | None = None,
        unmap: Sequence[str] = (),
        depth: int = 0,
    ) -> None:
        """Updates that may ride along with this store's next call instead of costing a trip.

        Only those whose delay hides no work: an index entry that stays *earlier* than the
        truth (a claimer asks the conversation's script, hears "busy", "not yet" or "empty",
        and fixes the entry), a removal, a lookup entry, the depth counter.
        """
        with self._lock:
            self._later_ready.extend(ready)
            self._later_due.extend(due)
            self._later_oconv.update(oconv or {})
            self._later_unmap.extend(unmap)
            self._later_depth += depth

    def _flush(self, batch: _Batch) -> None:
        with self._lock:
            ready, self._later_ready = self._later_ready, []
            due, self._later_due = self._later_due, []
            oconv, self._later_oconv = self._later_oconv, {}
            unmap, self._later_unmap = self._later_unmap, []
            depth, self._later_depth = self._later_depth, 0
        if ready or depth:
            batch.script("index", self._ready_keys, _index_args(depth, ready))
        if due:
            batch.script("index", self._due_keys, _index_args(0, due))
        if oconv:
            batch.command("HSET", self._oconv, *flat_pairs(oconv))
        if unmap:
            batch.command("HDEL", self._oconv, *unmap)

    def _remember(self, items: Sequence[OutboxItem]) -> None:
        if len(self._item_conv) > ITEM_CACHE:
            self._item_conv.clear()
        for item in items:
            self._item_conv[item.id] = item.conversation

    # ---- inbound queue ----

    def enqueue(self, inbound: Inbound, now: float, dedupe_ttl_s: float) -> bool:
        """One round trip when the conversation had nothing queued (a shopper waiting for a
        reply): the index update rides along with a version proposed here, which the script
        takes (see ENQUEUE); otherwise a second trip sets the index from the script's answer."""
        key = inbound.key
        # Cards and CVVs go before the first write: neither Redis nor its AOF holds them.
        entry = compact_json([now, uuid.uuid4().hex, to_dict(redact_inbound(inbound))])
        proposed = time.time_ns() // 1000  # newer than any version a script has handed out
        batch = _Batch(self)
        batch.command("ZADD", self._ready_keys[0], "NX", now, key)  # so a crash strands nothing
        at = batch.script(
            "enqueue",
            [self._k(key), self._k(key, ":q"), self._k(key, ":d")],
            [inbound.message_id, now, now + dedupe_ttl_s, max(1, int(dedupe_ttl_s * 1000)),
             entry, proposed],
        )  # fmt: skip
        batch.script("index", self._ready_keys, _index_args(1, [(key, proposed, now)]))
        added, version, due = batch.execute()[at]
        if added and str(version) == str(proposed):
            return True
        update = (key, version, due)
        self._run("index", self._ready_keys, _index_args(0 if added else -1, [update]))
        return bool(added)

    def claim(self, worker: str, now: float, lease_s: float) -> Claim | None:
        got = self.claim_from(self.ready(now), worker, now, lease_s)
        return None if got is None else got.claim

    def lane(self, worker: str, lease_s: float, send_lease_s: float) -> Lane:
        return RedisLane(self, worker, lease_s, send_lease_s)

    def ready(self, now: float) -> list[str]:
        """The conversations the ready index has due at `now`, oldest first (one trip, with
        what waits for this store's next call, see _defer)."""
        batch = _Batch(self)
        self._flush(batch)
        batch.command(*_lowest(self._ready_keys[0], now, CANDIDATES))
        return cast("list[str]", batch.execute()[-1])

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
            batch = _Batch(self)
            self._flush(batch)  # what waits for our next call rides along (see _defer)
            self._add_claim(batch, key, now, lease_until, token, worker)
            got = self._claimed_one(key, batch.execute()[-1], lease_until, token)
            if got is not None:
                tried = set(order[: i + 1])
                return ClaimRead(got[0], got[1], [k for k in found if k not in tried])
        return None

    def unclaim(self, key: str, token: str) -> None:
        """Give back a claim ahead never worked on (if `token` holds it): claimable at once,
        its attempt taken back (a stopping worker costs a message no attempt)."""
        result = self._run("unclaim", [self._k(key)], [token, time.time()])
        if result[0]:
            self._run("index", self._ready_keys, _index_args(0, [(key, result[1], result[2])]))

    def _add_claim(self, batch: _Batch, key: str, now: float, lease_until: float, token: str,
                   worker: str) -> int:  # fmt: skip
        keys = [self._k(key), self._k(key, ":q"), self._k(key, ":s")]
        return batch.script("claim", keys, [now, lease_until, token, worker])

    def _claimed_one(self, key: str, result: list[Any], lease_until: float, token: str
                     ) -> tuple[Claim, Conversation] | None:  # fmt: skip
        """A CLAIM's answer: the claim and the conversation as it read it, or None (busy,
        not due, empty); the index is fixed on the next trip either way (see _defer)."""
        self._defer(ready=[(key, result[1], result[2])])
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

    def commit_turn(
        self,
        claim: Claim,
        state: ConversationState,
        history: Sequence[HistoryEntry],
        outbox: Sequence[OutboxItem],
        events: Sequence[dict[str, Any]],
        now: float,
    ) -> bool:
        turn = Turn(claim, state, history, outbox, events, now)
        return self.commit_pipelined(turn).committed.ok

    def commit_pipelined(
        self,
        turn: Turn,
        sent: Sequence[SentMark] = (),
        send_lease_s: float | None = None,
        ahead: ClaimAhead | None = None,
        read_ready: bool = False,
    ) -> CommitTrip:
        """`commit_turn`, and what `Lane.commit` adds, in the same round trip: `sent`
        recorded first, the turn's head reply claimed for `send_lease_s` (if given), the
        `ahead` conversation's head claimed, and (`read_ready`) the ready index read for the
        worker's next claim. Deferred index updates go before that claim, so that the read
        sees this turn's lease."""
        claim, now, outbox = turn.claim, turn.now, turn.outbox
        key = claim.conversation
        check_same_conversation(key, turn.history)
        check_same_conversation(key, outbox)
        last_inbound = claim.inbound.timestamp or now
        args: list[Any] = [
            claim.token,
            now,
            state_out(turn.state),
            int(last_inbound) if last_inbound == int(last_inbound) else last_inbound,
            claim.inbound.message_id,
            compact_json(list(turn.events)) if turn.events else "",
            self._outbox_ttl_ms,
            len(turn.history),
        ]
        args.extend(history_line(h) for h in turn.history)
        args.append(len(outbox))
        for o in outbox:
            fixed = compact_json([o.channel, o.created_at])
            args.extend((o.id, o.next_at, f"{fixed}\n{compact_json(o.payload)}"))
        hand_over = send_lease_s is not None and bool(outbox)
        at_commit = time.time()
        if send_lease_s is not None and outbox:
            args.extend((at_commit, at_commit + send_lease_s))
        else:
            args.extend(("", ""))
        batch = _Batch(self)
        marks = []  # other conversations' scripts, in the same round trip (one Cluster slot each)
        for item_id, platform_id in sent:
            sent_key = self._item_key(item_id)
            if sent_key is not None:
                at = self._add_step(batch, sent_key, item_id, "sent", platform_id or "")
                marks.append((sent_key, item_id, at))
        zadd_at = len(batch)
        if outbox:
            batch.command("ZADD", self._due_keys[0], "NX", now, key)  # so a crash strands nothing
        keys = [self._k(key, s) for s in ("", ":q", ":h", ":o", ":op", ":e", ":s")]
        commit_at = batch.script("commit", keys, args)
        if ahead is not None or read_ready:
            self._flush(batch)
        ahead_at, lease_until = None, 0.0
        if ahead is not None:  # leased from the commit on, not from the turn's start
            lease_until = time.time() + ahead.lease_s
            ahead_at = self._add_claim(batch, ahead.key, time.time(), lease_until, ahead.token,
                                       ahead.worker)  # fmt: skip
        ready_at = len(batch) if read_ready else None
        if read_ready:
            batch.command(*_lowest(self._ready_keys[0], time.time(), CANDIDATES))
        results = batch.execute()
        following = None
        ready: list[str] | None = None if ready_at is None else results[ready_at]
        if ahead is not None and ahead_at is not None:  # held whatever became of the commit
            following = self._claimed_one(ahead.key, results[ahead_at], lease_until, ahead.token)
            if following is None and ready is not None:  # busy: not the next claim's first
                ready = [k for k in ready if k != ahead.key]
        try:
            ok, handed = self._committed(key, results, zadd_at, commit_at, outbox, hand_over)
        finally:  # the marks' indexes after the commit's own: theirs may cost a trip
            for sent_key, item_id, at in marks:
                self._step_done(sent_key, item_id, "sent", results[at])
        committed = Committed(ok, handed, None if following is None else following[0])
        return CommitTrip(committed, None if following is None else following[1], ready)

    def _committed(self, key: str, results: list[Any], zadd_at: int, commit_at: int,
                   outbox: Sequence[OutboxItem], hand_over: bool
                   ) -> tuple[bool, OutboxItem | None]:  # fmt: skip
        """The indexes after a COMMIT answered (see commit_pipelined); whether it committed
        and the reply it claimed for the lane's sender."""
        result = results[commit_at]
        if not result[0]:
            return False, None
        _ok, version, queue_due, outbox_due, added, handed_raw = result
        ready = [(key, version, queue_due)]
        due = [(key, version, outbox_due)] if outbox else []
        oconv = dict.fromkeys(added, key)
        handed = None
        if handed_raw and hand_over:
            handed = outbox_item(key, handed_raw[0], handed_raw[1])
            self._remember([handed])
            oconv[handed.id] = key
        # The next message must become claimable now, and an outbox entry that was already
        # there (ZADD NX added nothing) may be later than the new items; the rest can wait.
        if queue_due == "" and not (outbox and results[zadd_at] == 0):
            self._defer(ready=ready, due=due, oconv=oconv, depth=-1)
            return True, handed
        batch = _Batch(self)
        self._flush(batch)
        batch.script("index", self._ready_keys, _index_args(-1, ready))
        if due:
            batch.script("index", self._due_keys, _index_args(0, due))
        if oconv:
            batch.command("HSET", self._oconv, *flat_pairs(oconv))
        batch.execute()
        return True, handed

    def release(self, claim: Claim, retry_at: float, error: str) -> None:
        key = claim.conversation
        # Cut so that the hash stays a compact listpack (one longer value makes it a hashtable
        # for good); the worker logs the whole failure.
        error = error.encode()[:INLINE_MAX].decode("utf-8", "ignore")
        result = self._run("release", [self._k(key)], [claim.token, retry_at, error])
        if result[0]:
            self._run("index", self._ready_keys, _index_args(0, [(key, result[1], result[2])]))

    def bury(self, claim: Claim, error: str, now: float) -> None:
        """The conversation goes into the buried index before the script (a crash leaves an
        entry early, never a buried message nobody can list), which then gets its version."""
        key = claim.conversation
        keys = [self._k(key), self._k(key, ":q"), self._k(key, ":x")]
        batch = _Batch(self)
        batch.command("ZADD", self._buried_keys[0], "NX", now, key)
        at = batch.script("bury", keys, [claim.token, error, now])
        result = batch.execute()[at]
        if result[0]:
            batch = _Batch(self)
            batch.script("index", self._ready_keys, _index_args(-1, [(key, result[1], result[2])]))
            update = (key, result[1], buried_score(result[3]))
            batch.script("index", self._buried_keys, _index_args(1, [update]))
            batch.execute()

    def buried(self, limit: int = 100) -> list[Buried]:
        """Conversations by their oldest burial, a page at a time, until no later one can
        hold a burial older than the `limit`-th found."""
        found: list[Buried] = []
        start, page = 0, max(1, min(limit, 100))
        while limit > 0:
            scored = cast(
                "list[tuple[str, float]]",
                self._r.zrange(self._buried_keys[0], start, start + page - 1, withscores=True),
            )
            if not scored or (len(found) >= limit and scored[0][1] > found[limit - 1].buried_at):
                break
            pipe = self._r.pipeline(transaction=False)
            for key, _score in scored:
                pipe.lrange(self._k(key, ":x"), 0, -1)
            for (key, _score), entries in zip(scored, pipe.execute(), strict=True):
                found.extend(buried_entry(key, raw) for raw in entries)
            found.sort(key=lambda b: b.buried_at)
            start += page
        return found[:limit]

    def buried_count(self) -> int:
        """A counter beside the index, as queue_depth's."""
        return max(0, int(self._r.get(self._buried_keys[2]) or 0))

    def retry_buried(self, conversation: str, buried_id: str, now: float) -> bool:
        return self._unbury(conversation, buried_id, now, again=True)

    def discard_buried(self, conversation: str, buried_id: str) -> bool:
        return self._unbury(conversation, buried_id, time.time(), again=False)

    def _unbury(self, key: str, buried_id: str, now: float, *, again: bool) -> bool:
        x = self._k(key, ":x")
        entries = cast("list[str]", self._r.lrange(x, 0, -1))
        raw = next((r for r in entries if buried_entry(key, r).id == buried_id), None)
        if raw is None:
            return False
        entry = ""
        if again:
            inbound = json.loads(raw)[3][2]
            entry = compact_json([now, buried_id, inbound])
            self._r.zadd(self._ready_keys[0], {key: now}, nx=True)  # as enqueue: strands nothing
        result = self._run("unbury", [self._k(key), self._k(key, ":q"), x], [raw, entry, now])
        if not result[0]:
            return False
        batch = _Batch(self)
        if again:
            batch.script("index", self._ready_keys, _index_args(1, [(key, result[1], result[2])]))
        update = (key, result[1], buried_score(result[3]))
        batch.script("index", self._buried_keys, _index_args(-1, [update]))
        batch.execute()
        return True

    def queue_depth(self) -> int:
        """A counter beside the index: exact once every store has flushed (see _defer), unless
        a process died between a script and its index update."""
        batch = _Batch(self)
        self._flush(batch)
        batch.command("GET", self._ready_keys[2])
        return max(0, int(batch.execute()[-1] or 0))

    # ---- conversations and history ----

    def load(self, key: str) -> Conversation:
        pipe = self._r.pipeline(transaction=True)  # a commit may move the state in between
        pipe.hmget(self._k(key), "li", "u", "s")
        pipe.get(self._k(key, ":s"))
        (last_inbound, updated, inline), apart = pipe.execute()
        return conversation_of(key, inline or apart, last_inbound, updated)

    def history(
        self, key: str, before_seq: int | None = None, limit: int = 50
    ) -> list[HistoryEntry]:
        if limit <= 0:
            return []
        before = "" if before_seq is None else before_seq
        first, *lines = self._run("history", [self._k(key, ":h")], [before, limit])
        return [history_entry(key, seq, line) for seq, line in enumerate(lines, start=int(first))]

    def append_history(self, entries: Sequence[HistoryEntry]) -> None:
        by_key: dict[str, list[str]] = {}
        for h in entries:
            line = history_line(h)
            by_key.setdefault(h.conversation, []).append(line)
        if by_key:
            pipe = self._r.pipeline(transaction=False)
            for key, lines in by_key.items():
                pipe.rpush(self._k(key, ":h"), *lines)
            pipe.execute()

    # ---- outbox ----

    def claim_outbox(self, now: float, lease_s: float, limit: int) -> list[OutboxItem]:
        if limit <= 0:
            return []
        batch = _Batch(self)
        self._flush(batch)
        batch.command(*_lowest(self._due_keys[0], now, limit))
        keys = batch.execute()[-1]
        if not keys:
            return []
        batch = _Batch(self)
        for key in keys:
            conv_keys = [self._k(key), self._k(key, ":o"), self._k(key, ":op")]
            batch.script("outbox_claim", conv_keys, [now, now + lease_s])
        results = batch.execute()
        items = [outbox_item(key, r[3], r[4]) for key, r in zip(keys, results, strict=True) if r[0]]
        self._remember(items)
        self._defer(
            due=[(key, r[1], r[2]) for key, r in zip(keys, results, strict=True)],
            oconv={i.id: i.conversation for i in items},
        )
        return sorted(items, key=lambda o: (o.created_at, o.seq))

    def _outbox_step(self, item_id: str, action: str, a: Any = "", b: Any = "") -> bool:
        """One OUTBOX_STEP on an item; False if there is no such item in a fitting status."""
        key = self._item_key(item_id)
        if key is None:
            return False
        batch = _Batch(self)
        at = self._add_step(batch, key, item_id, action, a, b)
        return self._step_done(key, item_id, action, batch.execute()[at])

    def record_sent(self, sent: Sequence[SentMark], read_ready: bool = False) -> list[str] | None:
        """`outbox_sent` of several replies in one trip; with `read_ready` the ready index is
        read in the same trip and returned (a turn worker's next claim uses it)."""
        batch = _Batch(self)
        steps = []
        for item_id, platform_id in sent:
            key = self._item_key(item_id)
            if key is not None:
                steps.append((key, item_id, self._add_step(batch, key, item_id, "sent",
                                                           platform_id or "")))  # fmt: skip
        ready_at = len(batch) if read_ready else None
        if read_ready:
            batch.command(*_lowest(self._ready_keys[0], time.time(), CANDIDATES))
        results = batch.execute()
        for key, item_id, at in steps:
            self._step_done(key, item_id, "sent", results[at])
        return None if ready_at is None else cast("list[str]", results[ready_at])

    def _item_key(self, item_id: str) -> str | None:
        """The conversation of an outbox item (remembered, else from the id -> conv hash)."""
        return self._item_conv.get(item_id) or cast(
            "str | None", self._r.hget(self._oconv, item_id)
        )

    def _add_step(self, batch: _Batch, key: str, item_id: str, action: str, a: Any = "",
                  b: Any = "") -> int:  # fmt: skip
        """Add an OUTBOX_STEP to `batch`; returns where its answer will be."""
        if action == "sent" and a and self._reports_delivery(key):  # first: a report may race
            pid_key = f"{self.prefix}:pid:{a}"
            batch.command("SET", pid_key, f"{key}\n{item_id}", "EX", self._delivery_ttl_s)
        batch.script(
            "outbox_step",
            [self._k(key), self._k(key, ":o"), self._k(key, ":op")],
            [item_id, action, self._outbox_ttl_ms, a, b],
        )
        return len(batch) - 1

    def _reports_delivery(self, key: str) -> bool:
        """Whether the conversation's channel (its key's prefix) reports delivery."""
        channels = self._delivery_channels
        return channels is None or key.split(":", 1)[0] in channels

    def _step_done(self, key: str, item_id: str, action: str, result: list[Any]) -> bool:
        """The indexes after an OUTBOX_STEP answered: deferred where that hides no work."""
        if not result[0]:
            return False
        update = (key, result[1], result[2])
        if action == "sent":
            self._item_conv.pop(item_id, None)
            if result[2] == "":  # nothing else to send: the removal can wait
                self._defer(due=[update], unmap=[item_id])
                return True
        batch = _Batch(self)
        self._flush(batch)
        batch.script("index", self._due_keys, _index_args(0, [update]))
        item = outbox_item(key, item_id, result[3])
        if action == "sent":
            batch.command("HDEL", self._oconv, item_id)
        elif action == "dead":
            batch.command("HSET", self._oconv, item_id, key)
            batch.command("ZADD", self._odead, item.created_at, item_id)
        elif action == "retry_dead":
            batch.command("ZREM", self._odead, item_id)
        batch.execute()
        return True

    def outbox_sent(self, item_id: str, platform_id: str | None, now: float) -> None:
        self._outbox_step(item_id, "sent", platform_id or "")

    def outbox_retry(self, item_id: str, next_at: float, error: str) -> None:
        self._outbox_step(item_id, "retry", next_at, error)

    def outbox_defer(self, item_id: str, next_at: float) -> None:
        self._outbox_step(item_id, "defer", next_at)

    def outbox_dead(self, item_id: str, error: str) -> None:
        self._outbox_step(item_id, "dead", "", error)

    def dead_letters(self, limit: int = 100) -> list[OutboxItem]:
        ids = cast("list[str]", self._r.zrange(self._odead, 0, limit - 1)) if limit > 0 else []
        keys = cast("list[str | None]", self._r.hmget(self._oconv, ids)) if ids else []
        found = [(i, k) for i, k in zip(ids, keys, strict=True) if k is not None]
        pipe = self._r.pipeline(transaction=False)
        for item_id, key in found:
            pipe.hget(self._k(key, ":o"), item_id)
        raws = pipe.execute() if found else []
        return [outbox_item(k, i, raw) for (i, k), raw in zip(found, raws, strict=True) if raw]

    def retry_dead(self, item_id: str, now: float) -> bool:
        """The item goes to the back of its conversation's outbox (after what is pending now)."""
        return self._outbox_step(item_id, "retry_dead", now)

    def update_delivery(self, platform_id: str, status: str, error: str | None) -> bool:
        found = cast("str | None", self._r.get(f"{self.prefix}:pid:{platform_id}"))
        if found is None:
            return False
        key, item_id = found.split("\n", 1)
        args = [item_id, status, delivery_rank(status), error or ""]
        return bool(self._run("delivery", [self._k(key, ":o")], args))

    def outbox_items(self, conversation: str) -> list[OutboxItem]:
        raw = cast("dict[str, str]", self._r.hgetall(self._k(conversation, ":o")))
        items = [outbox_item(conversation, item_id, value) for item_id, value in raw.items()]
        return sorted(items, key=lambda o: o.seq)

    def events(self, key: str, limit: int = 100) -> list[dict[str, Any]]:
        if limit <= 0:
            return []
        # The list is [marker, turn, marker, turn...]; the last `limit` turns hold enough events.
        lines = cast("list[str]", self._r.lrange(self._k(key, ":e"), -2 * limit, -1))
        turns = [json.loads(line) for line in lines if not line.startswith("#")]
        # A turn is its list of events, or [at, events] as written before the events expired.
        return [e for t in turns for e in (t if isinstance(t[0], dict) else t[1])][-limit:]

    # ---- operations ----

    def ping(self) -> bool:
        try:
            return bool(self._r.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        try:
            batch = _Batch(self)
            self._flush(batch)
            batch.execute()
        except redis.RedisError:  # the entries it would have fixed heal on the next claim
            logger.warning("redis_store_flush_failed", exc_info=True)
        finally:
            self._r.close()
