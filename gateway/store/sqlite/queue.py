"""The inbound queue on SQLite (`Queue`, but for the enqueue: ingress.py, and the commit:
commit.py): claims, release, and buried messages for an operator.

Queue: a conversation's oldest active row (its *head*) carries `due`, the time it can be
claimed: its `available_at` while queued, its `lease_until` while leased (so an expired lease
is simply due again). Other rows have `due` NULL. `claim()` is one UPDATE of the row with the
smallest `due` in a partial index: never two rows of one conversation, in arrival order, no
scan. The outbox uses the same trick for "the earliest pending item of each conversation".
A committed message's row is deleted in the commit itself: the cheapest purge there is. A turn
worker's commit also claims its next message (`SQLiteLane`): two write transactions a turn.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from flows.messages import Inbound, from_dict
from gateway.store.base import Buried, Claim
from gateway.store.sqlite.file import SQLiteFile
from gateway.store.sqlite.ingress import Ingress
from gateway.store.sqlite.sql import ACTIVE, SQL_ANY_DUE, SQL_CLAIM, SQL_NEXT_HEAD


def claim_of(row: Any, token: str, lease_until: float) -> Claim:
    """A claimed queue row (id, conversation, message, attempts) as a `Claim`."""
    row_id, conversation, message, attempts = row
    return Claim(
        id=str(row_id),
        conversation=conversation,
        inbound=from_dict(Inbound, json.loads(message)),
        attempts=attempts,
        lease_until=lease_until,
        token=token,
    )


def _buried(row: Any) -> Buried:
    row_id, conversation, message, error, attempts, buried_at = row
    return Buried(
        id=str(row_id), conversation=conversation, inbound=from_dict(Inbound, json.loads(message)),
        error=error or "", attempts=attempts, buried_at=buried_at,
    )  # fmt: skip


class SQLiteQueue:
    def __init__(self, main: SQLiteFile, ingress: Ingress) -> None:
        self.main = main
        self.ingress = ingress

    def claim(self, worker: str, now: float, lease_s: float) -> Claim | None:
        return self.claim_next(worker, now, lease_s, busy=False)

    def claim_next(self, worker: str, now: float, lease_s: float, busy: bool) -> Claim | None:
        """`claim`; a claimer that found nothing last time (not `busy`) reads first and takes
        no write lock while nothing is due (idle workers poll here); a busy one goes
        straight to the write."""
        arrived = self.ingress.arrived()
        if not arrived and not busy and not self.main.read(SQL_ANY_DUE, (now,)):
            return None
        token = uuid.uuid4().hex
        lease_until = now + lease_s
        args = (now, token, lease_until, worker)
        if arrived:  # moved and claimed in one transaction: one commit, one lock
            with self.main.write() as c:
                upto = self.ingress.pump(c, arrived)
                rows = c.execute(SQL_CLAIM, args).fetchall()
            self.ingress.moved(upto)
        else:  # one statement under the write lock, so two claimers never pick one row
            rows = self.main.write_one(SQL_CLAIM, args)
        return claim_of(rows[0], token, lease_until) if rows else None

    def unclaim(self, claim: Claim) -> None:
        """Give back a claim ahead that was never worked on: queued again at once, and the
        attempt it counted taken back (a stopping worker costs a message no attempt)."""
        self.main.write_one(
            "UPDATE queue SET status = 'queued', token = NULL, lease_until = NULL, "
            "worker = NULL, due = available_at, attempts = attempts - 1 "
            "WHERE id = ? AND token = ? AND status = 'leased'",
            (int(claim.id), claim.token),
        )

    def release(self, claim: Claim, retry_at: float, error: str) -> None:
        self.main.write_one(
            "UPDATE queue SET status = 'queued', token = NULL, lease_until = NULL, worker = NULL, "
            "available_at = ?1, due = ?1, error = ?2 "
            "WHERE id = ?3 AND token = ?4 AND status = 'leased'",
            (retry_at, error, int(claim.id), claim.token),
        )

    def bury(self, claim: Claim, error: str, now: float) -> None:
        with self.main.write() as c:
            cur = c.execute(  # available_at: when it was buried (a dead row is never due)
                "UPDATE queue SET status = 'dead', token = NULL, lease_until = NULL, due = NULL, "
                "worker = NULL, available_at = ?, error = ? "
                "WHERE id = ? AND token = ? AND status = 'leased'",
                (now, error, int(claim.id), claim.token),
            )
            if cur.rowcount == 1:
                c.execute(SQL_NEXT_HEAD, (claim.conversation,))

    def buried(self, limit: int = 100) -> list[Buried]:
        rows = self.main.read(
            "SELECT id, conversation, message, error, attempts, available_at FROM queue "
            "WHERE status = 'dead' ORDER BY available_at, id LIMIT ?", (limit,),
        )  # fmt: skip
        return [_buried(row) for row in rows]

    def buried_count(self) -> int:
        return int(self.main.read("SELECT count(*) FROM queue WHERE status = 'dead'")[0][0])

    def retry_buried(self, conversation: str, buried_id: str, now: float) -> bool:
        if not buried_id.isdigit():
            return False
        # Back through the ingress, as if it arrived now: behind whatever came in meanwhile,
        # pumped and claimed the usual way. The ingress commits first (it never waits for the
        # main file), so a crash between the two leaves it queued and still listed, not lost.
        with self.main.write() as c:
            row = c.execute(
                "DELETE FROM queue WHERE id = ? AND conversation = ? AND status = 'dead' "
                "RETURNING message", (int(buried_id), conversation),
            ).fetchall()  # fmt: skip
            if not row:
                return False
            self.ingress.requeue(conversation, row[0][0], now)
        return True

    def discard_buried(self, conversation: str, buried_id: str) -> bool:
        if not buried_id.isdigit():
            return False
        return bool(self.main.write_one(
            "DELETE FROM queue WHERE id = ? AND conversation = ? AND status = 'dead' RETURNING 1",
            (int(buried_id), conversation),
        ))  # fmt: skip

    def queue_depth(self) -> int:
        # The queue and the mark in one snapshot, then what arrived past that mark: a row a
        # worker moves meanwhile is counted once, not twice or never.
        queued, epoch, upto = self.main.read(
            f"SELECT (SELECT count(*) FROM queue WHERE {ACTIVE}), "
            "(SELECT epoch FROM pumped), (SELECT upto FROM pumped)"
        )[0]
        return int(queued) + self.ingress.waiting(epoch, upto)
