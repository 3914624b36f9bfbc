"""Calls from any call-center system's CSV export (`gateway import calls FILE.csv`).

Columns (a header row names them, in any order; others are ignored): call_id, started_at
(ISO 8601 with its UTC offset), from, to (phone numbers, any format: see `phones.py`),
duration_s, outcome (answered|missed|abandoned|voicemail), cost (optional). A row that does
not fit is reported with its line number and why, and skipped; the rest are imported.

Each row is compared with what the analytics hold before anything is written, so the summary
can say what was new, what a corrected row updated and what was already there, and a second
import of the same file writes nothing at all (not even into the Redis turn log).
"""

from __future__ import annotations

import csv
import math
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from typing import cast, get_args

from gateway.analytics.calls import CallRecord, Outcome, stored_call, would_change
from gateway.analytics.phones import to_e164
from gateway.analytics.recorder import BATCH_MAX, Analytics

REQUIRED = ("call_id", "started_at", "from", "to", "duration_s", "outcome")
CALL_ID_MAX = 128


class BadRow(ValueError):
    """Why one row cannot be imported."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int  # in the file, counting the header as line 1
    reason: str


@dataclass(frozen=True, slots=True)
class ImportSummary:
    imported: int  # calls the analytics did not have
    updated: int  # calls whose row changed (a corrected export, a later stage)
    unchanged: int  # already there as they are (a re-import)


def read_calls(
    lines: Iterable[str], country: str | None
) -> tuple[list[CallRecord], list[RowProblem]]:
    """The file's calls and its rows that are not; ValueError when the header lacks a column."""
    reader = csv.DictReader(lines)
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or ())]
    if missing:
        raise ValueError(f"the header has no column {', '.join(missing)}; it needs "
                         f"{', '.join(REQUIRED)} and may have cost")  # fmt: skip
    calls: list[CallRecord] = []
    problems: list[RowProblem] = []
    for row in reader:
        try:
            calls.append(call_from_row(row, country))
        except BadRow as exc:  # line_num: where this row ended (a quoted field may span lines)
            problems.append(RowProblem(reader.line_num, str(exc)))
    return calls, problems


def call_from_row(row: dict[str | None, str | None], country: str | None) -> CallRecord:
    if None in row:  # DictReader's key for fields past the header's
        raise BadRow(f"{len(row) - 1 + len(row[None] or ())} fields, the header has fewer")
    text = {key: (value or "").strip() for key, value in row.items() if key is not None}
    call_id = text["call_id"]
    if not call_id or len(call_id) > CALL_ID_MAX:
        raise BadRow(f"call_id: empty or longer than {CALL_ID_MAX} characters")
    numbers = []
    for column in ("from", "to"):
        try:
            numbers.append(to_e164(text[column], country))
        except ValueError as exc:
            raise BadRow(f"{column}: {exc}") from None
    cost = text.get("cost", "")
    return CallRecord(
        call_id=call_id,
        started_at=_started_at(text["started_at"]),
        from_number=numbers[0],
        to_number=numbers[1],
        duration_s=_amount("duration_s", text["duration_s"]),
        outcome=_outcome(text["outcome"]),
        cost=_amount("cost", cost) if cost else None,
        source="csv",
    )


def _outcome(text: str) -> Outcome:
    for outcome in get_args(Outcome):
        if text.lower() == outcome:
            return cast("Outcome", outcome)
    raise BadRow(f"outcome: {text!r} is not one of {', '.join(get_args(Outcome))}")


def _started_at(text: str) -> float:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BadRow(f"started_at: {text!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:  # the call center's local time or UTC? Refused, not guessed
        raise BadRow(f"started_at: {text!r} has no UTC offset (write 2026-11-01T09:30:00+01:00)")
    return when.timestamp()


def _amount(column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadRow(f"{column}: {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise BadRow(f"{column}: {text!r} is not a number of 0 or more")
    return value


def import_calls(analytics: Analytics, calls: Sequence[CallRecord]) -> ImportSummary:
    """Record the calls that change something, through the recorder (its file, or the Redis
    turn log every reporter copies); raises when they could not be written."""
    with closing(analytics.reader()) as db:  # with Redis: after copying what others shipped
        changed, imported, unchanged = _changes(db, calls)
    for start in range(0, len(changed), BATCH_MAX):
        analytics.write_now(changed[start : start + BATCH_MAX])
    return ImportSummary(imported, len(changed) - imported, unchanged)


def _changes(
    db: sqlite3.Connection, calls: Sequence[CallRecord]
) -> tuple[list[CallRecord], int, int]:
    """The calls that would change a row, how many of them are new, how many change nothing
    (a call twice in one file: its second row is compared with its first)."""
    current: dict[str, CallRecord | None] = {}
    changed: list[CallRecord] = []
    imported = unchanged = 0
    for call in calls:
        if call.call_id not in current:
            current[call.call_id] = stored_call(db, call.call_id)
        before = current[call.call_id]
        if not would_change(before, call):
            unchanged += 1
            continue
        imported += before is None
        current[call.call_id] = call
        changed.append(call)
    return changed, imported, unchanged
