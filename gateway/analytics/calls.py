"""A phone call in the analytics (`a_call`): what the call-center arm of an experiment is
measured by, fed by Twilio Voice status callbacks (`gateway.web.voice`) and by
`gateway import calls` (`gateway.analytics.call_import`).

A call is a state, not an increment: it is written with an upsert on `call_id`, so a second
delivery or a re-import changes nothing and needs no `a_seen` key. Twilio reports one call
several times as it progresses (ringing, in-progress, completed), in no guaranteed order, so
each record carries its `stage` and never overwrites a row that got further: a late "ringing"
cannot undo a "completed". Records of the same stage replace each other (the last one written
wins: a corrected CSV row updates the call).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import astuple, dataclass
from typing import Final, Literal, get_args

Outcome = Literal["answered", "missed", "abandoned", "voicemail"]
Source = Literal["twilio", "csv"]
OUTCOMES: Final = frozenset(get_args(Outcome))
SOURCES: Final = frozenset(get_args(Source))

# How far a call had got when it was reported; the higher one wins (see the module's text).
QUEUED, RINGING, IN_PROGRESS, FINAL = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call as the analytics keep it: numbers in E.164, times in epoch seconds."""

    call_id: str
    started_at: float
    from_number: str
    to_number: str
    duration_s: float
    outcome: Outcome
    cost: float | None = None  # in the experiment's currency, when the call system says
    source: Source = "csv"
    stage: int = FINAL


# The columns of a_call (gateway/analytics/schema.py), in CallRecord's field order.
_COLUMNS = ("call_id", "started_at", "from_number", "to_number", "duration_s", "outcome",
            "cost", "source", "stage")  # fmt: skip
_CHANGED = " OR ".join(f"a_call.{c} IS NOT excluded.{c}" for c in _COLUMNS[1:])
UPSERT = (
    f"INSERT INTO a_call({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)}) "
    f"ON CONFLICT(call_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[1:])
    + f" WHERE excluded.stage >= a_call.stage AND ({_CHANGED})"
)


def apply_call(db: sqlite3.Connection, record: CallRecord) -> bool:
    """Write the call inside the caller's transaction; whether its row changed."""
    return db.execute(UPSERT, astuple(record)).rowcount > 0


def stored_call(db: sqlite3.Connection, call_id: str) -> CallRecord | None:
    row = db.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM a_call WHERE call_id = ?", (call_id,)
    ).fetchone()
    return None if row is None else CallRecord(*row)


def would_change(stored: CallRecord | None, record: CallRecord) -> bool:
    """What `apply_call` would do to `stored` (None: no row yet), without writing."""
    return stored is None or (record.stage >= stored.stage and record != stored)


def encode_call(record: CallRecord) -> str:
    """The call as a JSON array of its fields in `_COLUMNS` order (the Redis turn log's "c")."""
    return json.dumps(list(astuple(record)), separators=(",", ":"), ensure_ascii=False)


def decode_call(text: str) -> CallRecord:
    call_id, started_at, from_number, to_number, duration_s, outcome, cost, source, stage = (
        json.loads(text)
    )
    if outcome not in OUTCOMES or source not in SOURCES:
        raise ValueError(f"call {call_id!r}: outcome {outcome!r} or source {source!r} unknown")
    return CallRecord(
        str(call_id), float(started_at), str(from_number), str(to_number), float(duration_s),
        outcome, None if cost is None else float(cost), source, int(stage),
    )  # fmt: skip
