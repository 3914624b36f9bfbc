"""A turn's commit on SQLite: one write transaction of the main file saves the state, history,
outbox items and events of the conversation and deletes its message from the queue; for a
lane it also records the replies sent, hands over the turn's first reply and claims the
worker's next message (`SQLiteLane`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from gateway.store.base import Committed, SentMark, Turn, check_same_conversation, compact_json
from gateway.store.sqlite.conversations import history_rows, insert_history
from gateway.store.sqlite.file import SQLiteFile
from gateway.store.sqlite.ingress import Ingress
from gateway.store.sqlite.lane import LaneTerms
from gateway.store.sqlite.outbox import SQLiteOutbox, outbox_item, record_sent
from gateway.store.sqlite.queue import claim_of
from gateway.store.sqlite.sql import (
    SQL_CLAIM_HEAD,
    SQL_CLAIM_OTHER,
    SQL_EVENT,
    SQL_NEXT_HEAD,
    SQL_OUTBOX,
    SQL_OUTBOX_HEAD,
    SQL_SAVE_CONVERSATION,
)


class SQLiteCommits:
    """Commits turns; a lane's claims pump what has arrived (`ingress`) first, and the
    replies sent are kept by `outbox` if their write fails."""

    def __init__(self, main: SQLiteFile, ingress: Ingress, outbox: SQLiteOutbox) -> None:
        self.main = main
        self.ingress = ingress
        self.outbox = outbox

    def commit_pipelined(
        self, turn: Turn, sent: Sequence[SentMark] = (), terms: LaneTerms | None = None
    ) -> Committed:
        """`commit_turn`, and for a lane (`terms`) what `Lane.commit` adds, in the same
        transaction: two write transactions a busy worker's turn (this and its send)."""
        claim, now = turn.claim, turn.now
        key = claim.conversation
        check_same_conversation(key, turn.history)
        check_same_conversation(key, turn.outbox)
        # Everything is encoded before the write lock is taken; only the seqs come from inside.
        state_json = turn.state.to_json()
        hrows = history_rows(turn.history)
        outbox_rows = [
            (o.id, key, o.channel, compact_json(o.payload), o.next_at, o.created_at)
            for o in turn.outbox
        ]
        message_id = claim.inbound.message_id
        event_rows = [
            (key, message_id, i, e.get("at", now), e.get("type"), compact_json(e))
            for i, e in enumerate(turn.events)
        ]
        last_inbound = claim.inbound.timestamp or now
        head: list[Any] = []
        arrived: list[Any] = []
        token, lease_until, send_until, claim_now = "", 0.0, 0.0, now
        if terms is not None:  # leased from the commit on, not from the turn's start
            arrived, token = self.ingress.arrived(), uuid.uuid4().hex
            claim_now = time.time()
            lease_until = claim_now + terms.lease_s
            send_until = claim_now + terms.send_lease_s
        upto, following = 0, []
        self.outbox.record_unrecorded()  # before this commit can hand over (claim) a reply again
        with self.outbox.kept_if_failed(sent), self.main.write() as c:
            for item_id, platform_id in sent:  # committed even if the lease was lost below
                record_sent(c, item_id, platform_id)
            done = c.execute(
                "DELETE FROM queue WHERE id = ? AND token = ? AND status = 'leased'",
                (int(claim.id), claim.token),
            )
            if done.rowcount == 1:
                c.execute(SQL_NEXT_HEAD, (key,))
                hseq, oseq = c.execute(
                    SQL_SAVE_CONVERSATION,
                    (key, state_json, last_inbound, now, len(hrows), len(outbox_rows)),
                ).fetchall()[0]
                insert_history(c, key, hrows, hseq - len(hrows))
                if outbox_rows:
                    first = oseq - len(outbox_rows)
                    c.executemany(
                        SQL_OUTBOX,
                        [(i, k, first + n + 1, *rest)
                         for n, (i, k, *rest) in enumerate(outbox_rows)],
                    )  # fmt: skip
                    c.execute(SQL_OUTBOX_HEAD, (key,))
                    if terms is not None:  # as claim_outbox would, for this conversation
                        head = c.execute(SQL_CLAIM_HEAD, (send_until, key, claim_now)).fetchall()
                if event_rows:
                    c.executemany(SQL_EVENT, event_rows)
            if terms is not None:  # this worker's next message, whatever became of the turn
                upto = self.ingress.pump(c, arrived) if arrived else 0
                claim_args = (claim_now, token, lease_until, terms.worker, key)
                following = c.execute(SQL_CLAIM_OTHER, claim_args).fetchall()
        self.ingress.moved(upto)
        return Committed(
            ok=done.rowcount == 1,
            handed=outbox_item(head[0]) if head else None,
            next_claim=claim_of(following[0], token, lease_until) if following else None,
        )
