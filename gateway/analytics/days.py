"""Report days: `--since 2026-11-01` and `?since=2026-11-01` mean the same UTC midnight."""

from __future__ import annotations

from datetime import UTC, date, datetime


def day_start(text: str) -> float:
    """The epoch time of the day's 00:00 UTC; ValueError for anything but YYYY-MM-DD."""
    day = date.fromisoformat(text)
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
