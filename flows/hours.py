"""Business hours: when people answer, in the shop's own time zone, with holidays.

Pure and deterministic given a timestamp, so the engine can decide what to promise a shopper
("a person joins shortly" or "we answer Monday at 9:00") without a clock of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from flows.i18n.formatting import opening_phrase

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
LOOKAHEAD_DAYS = 400  # a shop closed for longer than a year has no "next opening" to promise

Span = tuple[int, int]  # minutes since midnight, [start, end)


@dataclass(frozen=True, slots=True)
class BusinessHours:
    timezone: str
    weekly: tuple[tuple[Span, ...], ...]  # seven days, Monday first
    holidays: frozenset[date] = frozenset()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _spans(self, day: date) -> tuple[Span, ...]:
        return () if day in self.holidays else self.weekly[day.weekday()]

    def is_open(self, ts: float) -> bool:
        local = datetime.fromtimestamp(ts, self.zone)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self._spans(local.date()))

    def next_open(self, ts: float) -> datetime | None:
        """The next moment the team is on duty (now, if open now), in the shop's time zone."""
        zone = self.zone
        local = datetime.fromtimestamp(ts, zone)
        minute = local.hour * 60 + local.minute
        for offset in range(LOOKAHEAD_DAYS):
            day = local.date() + timedelta(days=offset)
            for start, end in self._spans(day):
                if offset == 0 and minute >= end:
                    continue
                if offset == 0 and minute >= start:
                    return local
                return datetime(day.year, day.month, day.day, start // 60, start % 60, tzinfo=zone)
        return None

    def describe_next(self, ts: float, language: str = "en") -> str:
        """'tomorrow at 9:00 AM (New York time)' in the shopper's language, with the time
        zone's city so a shopper abroad is not misled."""
        now = datetime.fromtimestamp(ts, self.zone)
        return opening_phrase(self.next_open(ts), now, self.city, language)

    @property
    def city(self) -> str:
        return self.timezone.rsplit("/", 1)[-1].replace("_", " ")


def parse_clock(text: str) -> int | None:
    """'9:00' or '09:30' → minutes since midnight; '24:00' is the end of the day."""
    hours, sep, minutes = text.strip().partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        return None
    value = int(hours) * 60 + int(minutes)
    return value if 0 <= int(minutes) < 60 and value <= 24 * 60 else None


def parse_spans(text: str) -> tuple[tuple[Span, ...], str | None]:
    """'09:00-12:00, 13:00-18:00' or 'closed' → spans, or an error message saying what is wrong."""
    text = text.strip().lower()
    if text in ("closed", ""):
        return (), None
    spans: list[Span] = []
    for part in text.split(","):
        start_text, sep, end_text = part.partition("-")
        start, end = parse_clock(start_text), parse_clock(end_text)
        if not sep or start is None or end is None:
            return (), f"'{part.strip()}' is not a time range like 09:00-18:00"
        if end <= start:
            return (), (
                f"'{part.strip()}' ends before it starts; split a range past midnight "
                "over two days (e.g. 22:00-24:00 and 00:00-02:00)"
            )
        spans.append((start, end))
    spans.sort()
    for (_, end), (start, _) in pairwise(spans):
        if start < end:
            return (), f"the ranges in '{text}' overlap"
    return tuple(spans), None


def parse_days(text: str) -> tuple[list[int], str | None]:
    """'mon-fri', 'sat', 'mon,wed' or 'every day' → weekday numbers (Monday is 0)."""
    text = text.strip().lower()
    if text in ("every day", "daily", "mon-sun"):
        return list(range(7)), None
    out: list[int] = []
    for part in text.split(","):
        first, sep, last = part.strip().partition("-")
        names = [first.strip()[:3], last.strip()[:3]] if sep else [first.strip()[:3]]
        if any(name not in DAYS for name in names):
            return [], f"'{part.strip()}' is not a day or a range of days like mon-fri"
        a, b = DAYS.index(names[0]), DAYS.index(names[-1])
        if b < a:
            return [], f"'{part.strip()}' runs backwards; write it as two parts, e.g. 'sat,sun,mon'"
        out += range(a, b + 1)
    return out, None
