"""Calls per arm of an experiment: how many, answered, minutes and cost, from `a_call`.

The join rule: a call belongs to the shopper whose WhatsApp conversation is
`whatsapp:<the caller's E.164 number>` (WhatsApp is the only channel whose address is a phone
number today), and so to that shopper's variant of the experiment, whenever the call was made.
A call from a number never seen in the experiment is "unattributed": still a cost of the call
center, but of no arm.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

PHONE_CHANNEL = "whatsapp"  # the conversation key of a caller is f"{PHONE_CHANNEL}:{number}"
UNATTRIBUTED = ""  # the arm of calls from numbers the experiment never saw


@dataclass(frozen=True, slots=True)
class ArmCalls:
    arm: str  # the variant, or UNATTRIBUTED
    calls: int
    answered: int
    minutes: float  # all the calls' durations added up
    cost: float | None  # the known costs added up; None when no call said its cost
    costed: int  # calls whose cost is known


@dataclass(frozen=True, slots=True)
class CallSummary:
    arms: tuple[ArmCalls, ...]  # one per variant, in the report's order, zeros included
    unattributed: ArmCalls
    calls_ever: int  # in a_call, whatever the window: 0 means "no calls imported yet"


def _empty(arm: str) -> ArmCalls:
    return ArmCalls(arm, 0, 0, 0.0, None, 0)


def _arm(arm: str, n: int, answered: int | None, seconds: float | None, cost: float | None,
         costed: int) -> ArmCalls:  # fmt: skip
    return ArmCalls(arm, int(n), int(answered or 0), float(seconds or 0.0) / 60,
                    float(cost) if costed and cost is not None else None, int(costed))  # fmt: skip


def call_summary(
    db: sqlite3.Connection, experiment: str, variants: Sequence[str], since: float | None
) -> CallSummary:
    # One pass over the window's calls; each looks its caller's arm up through the
    # conversation index (a_session_conv) rather than joining every session of the experiment.
    rows = db.execute(
        """SELECT COALESCE(arm, ?), COUNT(*), SUM(outcome = 'answered'), SUM(duration_s),
                  SUM(cost), COUNT(cost)
           FROM (SELECT c.outcome, c.duration_s, c.cost,
                        (SELECT v.variant FROM a_session s
                         JOIN a_variant v ON v.session = s.id AND v.experiment = ?
                         WHERE s.conversation = ? || ':' || c.from_number LIMIT 1) AS arm
                 FROM a_call c WHERE c.started_at >= ?)
           GROUP BY 1""",
        (UNATTRIBUTED, experiment, PHONE_CHANNEL, since or 0.0),
    ).fetchall()
    found = {row[0]: _arm(*row) for row in rows}
    ever = int(db.execute("SELECT COUNT(*) FROM a_call").fetchone()[0])
    arms = [*variants, *sorted(a for a in found if a != UNATTRIBUTED and a not in variants)]
    return CallSummary(
        arms=tuple(found.get(arm) or _empty(arm) for arm in arms),
        unattributed=found.get(UNATTRIBUTED) or _empty(UNATTRIBUTED),
        calls_ever=ever,
    )
