"""A turn's commit on Redis: one script (COMMIT) writes the state, history, outbox items and
events of the conversation and marks its message done.

A busy turn worker makes one round trip a turn: its commit also records the replies it sent
since the last one, claims the reply it wrote for its sender, claims its next message and reads
the ready index (`RedisLane`), whose conversation comes with the claim (`load`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from gateway.store.base import (
    Committed,
    OutboxItem,
    SentMark,
    Turn,
    check_same_conversation,
    compact_json,
)
from gateway.store.redis.codec import flat_pairs, history_line, outbox_item, state_out
from gateway.store.redis.index import add_index, lowest
from gateway.store.redis.lane import CANDIDATES, ClaimAhead, CommitTrip
from gateway.store.redis.link import Link
from gateway.store.redis.outbox import RedisOutbox
from gateway.store.redis.queue import RedisQueue


class RedisCommits:
    """Commits turns; claims through `queue` and records replies sent through `outbox`."""

    def __init__(self, link: Link, queue: RedisQueue, outbox: RedisOutbox) -> None:
        self.link = link
        self.queue = queue
        self.outbox = outbox

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
        key, keys = claim.conversation, self.link.keys
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
            self.outbox.outbox_ttl_ms,
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
        batch = self.link.batch()
        marks = []  # other conversations' scripts, in the same round trip (one Cluster slot each)
        for item_id, platform_id in sent:
            sent_key = self.outbox.item_key(item_id)
            if sent_key is not None:
                at = self.outbox.add_step(batch, sent_key, item_id, "sent", platform_id or "")
                marks.append((sent_key, item_id, at))
        zadd_at = len(batch)
        if outbox:
            batch.command("ZADD", keys.due.zset, "NX", now, key)  # so a crash strands nothing
        conv_keys = [keys.conversation(key, s) for s in ("", ":q", ":h", ":o", ":op", ":e", ":s")]
        commit_at = batch.script("commit", conv_keys, args)
        if ahead is not None or read_ready:
            self.link.later.flush(batch)
        ahead_at, lease_until = None, 0.0
        if ahead is not None:  # leased from the commit on, not from the turn's start
            lease_until = time.time() + ahead.lease_s
            ahead_at = self.queue.add_claim(batch, ahead.key, time.time(), lease_until,
                                            ahead.token, ahead.worker)  # fmt: skip
        ready_at = len(batch) if read_ready else None
        if read_ready:
            batch.command(*lowest(keys.ready.zset, time.time(), CANDIDATES))
        results = batch.execute()
        following = None
        ready: list[str] | None = None if ready_at is None else results[ready_at]
        if ahead is not None and ahead_at is not None:  # held whatever became of the commit
            following = self.queue.claimed_one(ahead.key, results[ahead_at], lease_until,
                                               ahead.token)  # fmt: skip
            if following is None and ready is not None:  # busy: not the next claim's first
                ready = [k for k in ready if k != ahead.key]
        try:
            ok, handed = self._committed(key, results, zadd_at, commit_at, outbox, hand_over)
        finally:  # the marks' indexes after the commit's own: theirs may cost a trip
            for sent_key, item_id, at in marks:
                self.outbox.step_done(sent_key, item_id, "sent", results[at])
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
            self.outbox.remember([handed])
            oconv[handed.id] = key
        # The next message must become claimable now, and an outbox entry that was already
        # there (ZADD NX added nothing) may be later than the new items; the rest can wait.
        if queue_due == "" and not (outbox and results[zadd_at] == 0):
            self.link.later.defer(ready=ready, due=due, oconv=oconv, depth=-1)
            return True, handed
        keys = self.link.keys
        batch = self.link.batch(flush=True)
        add_index(batch, keys.ready, ready, -1)
        if due:
            add_index(batch, keys.due, due)
        if oconv:
            batch.command("HSET", keys.outbox_conversations, *flat_pairs(oconv))
        batch.execute()
        return True, handed
