"""A Twilio Voice status callback's form as a `CallRecord`.

https://www.twilio.com/docs/voice/api/call-resource#statuscallback: Twilio posts CallSid,
CallStatus, From, To, Direction, Timestamp (RFC 2822, when the event happened) and, once the
call is over, CallDuration (seconds). How CallStatus becomes an outcome (docs/experiments.md):

    queued, initiated, ringing  -> missed, provisional (nobody has answered yet)
    in-progress                 -> answered, provisional (answered, still talking)
    completed, CallDuration > 0 -> answered (voicemail when AnsweredBy says a machine took it)
    completed, CallDuration 0   -> abandoned (connected and hung up at once)
    busy, no-answer, failed, canceled -> missed

A provisional record is replaced by any later stage, never the other way round (`calls.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime

from gateway.analytics.calls import FINAL, IN_PROGRESS, QUEUED, RINGING, CallRecord, Outcome
from gateway.analytics.phones import to_e164

PROGRESS: dict[str, tuple[int, Outcome]] = {
    "queued": (QUEUED, "missed"),
    "initiated": (QUEUED, "missed"),
    "ringing": (RINGING, "missed"),
    "in-progress": (IN_PROGRESS, "answered"),
    "busy": (FINAL, "missed"),
    "no-answer": (FINAL, "missed"),
    "failed": (FINAL, "missed"),
    "canceled": (FINAL, "missed"),
}
# AnsweredBy values that mean no person took the call ("machine": answering machine detection
# before it told start from end).
MACHINE = ("machine", "machine_start", "machine_end_beep", "machine_end_silence",
           "machine_end_other", "fax")  # fmt: skip
CALL_SID_MAX = 64  # a CallSid is CA + 32 hex digits; anything far longer is not one


class BadCallback(ValueError):
    """The form is not a status callback we can record; the message says which field."""


def call_from_status(params: Mapping[str, str], country: str | None, now: float) -> CallRecord:
    """The call a status callback reports; BadCallback when a field is missing or wrong."""
    sid = params.get("CallSid", "").strip()
    if not sid or len(sid) > CALL_SID_MAX:
        raise BadCallback("CallSid: missing or too long")
    status = params.get("CallStatus", "").strip().lower()
    duration = _duration(params.get("CallDuration", ""))
    if status == "completed":
        stage = FINAL
        machine = params.get("AnsweredBy", "") in MACHINE
        outcome: Outcome = "voicemail" if machine else "answered" if duration else "abandoned"
    elif status in PROGRESS:
        stage, outcome = PROGRESS[status]
    else:
        raise BadCallback(f"CallStatus: {status!r} is not a Twilio call status")
    numbers = []
    for field in ("From", "To"):
        try:
            numbers.append(to_e164(params.get(field, ""), country))
        except ValueError as exc:
            raise BadCallback(f"{field}: {exc}") from None
    at = _timestamp(params.get("Timestamp", ""), now)
    return CallRecord(
        call_id=sid,
        started_at=at - duration,  # Timestamp is when this event happened: the end, once over
        from_number=numbers[0],
        to_number=numbers[1],
        duration_s=float(duration),
        outcome=outcome,
        source="twilio",
        stage=stage,
    )


def _duration(raw: str) -> int:
    if not raw.strip():
        return 0  # only the final callback carries it
    if not raw.strip().isdigit():
        raise BadCallback(f"CallDuration: {raw!r} is not a whole number of seconds")
    return int(raw)


def _timestamp(raw: str, now: float) -> float:
    if not raw.strip():
        return now  # older accounts' callbacks have none: the callback arrives as it happens
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        raise BadCallback(f"Timestamp: {raw!r} is not an RFC 2822 date") from None
    if when.tzinfo is None:  # "-0000": UTC, by RFC 2822's convention, never the host's zone
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
