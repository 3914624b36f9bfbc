"""Reading `hours:` and the handoff notices from flows.yaml, with precise errors and their fix."""

from __future__ import annotations

import zoneinfo
from datetime import date

from flows.diagnostics import did_you_mean
from flows.hours import DAYS, BusinessHours, Span, parse_days, parse_spans
from flows.model import HandoffNotices
from flows.node_reader import NodeFacts, read_text
from flows.translations import system_wording
from flows.yamlsrc import Wild

NOTICE_KINDS = ("open", "busy", "closed")


def default_notices(languages: tuple[str, ...] = ("en",)) -> HandoffNotices:
    return HandoffNotices(**{k: system_wording(f"handoff_{k}", languages) for k in NOTICE_KINDS})


def read_notices(w: Wild | None, facts: NodeFacts) -> HandoffNotices:
    """`settings.handoff_notice`: what the shopper is told after a handoff (open, busy, closed)."""
    notices = default_notices(facts.languages)
    if w is None or not w.expect(dict, what="a mapping with 'open', 'busy' and 'closed'"):
        return notices
    w.only_keys(set(NOTICE_KINDS), "'settings.handoff_notice'")
    texts = {}
    for key in NOTICE_KINDS:
        if (part := w.get(key)) is not None:
            texts[key] = read_text(part, facts) or getattr(notices, key)
    return HandoffNotices(**{k: texts.get(k, getattr(notices, k)) for k in NOTICE_KINDS})


def read_hours(w: Wild | None) -> BusinessHours | None:
    """`hours:` with `timezone`, `open` (days → time ranges) and `holidays` (dates)."""
    if w is None or not w.expect(dict, what="a mapping with 'timezone', 'open' and 'holidays'"):
        return None
    w.only_keys({"timezone", "open", "holidays"}, "'hours'")
    tz_part = w.get("timezone")
    timezone = tz_part.str() if tz_part is not None else None
    if tz_part is None:
        w.diags.error(w.pos, "'hours' has no 'timezone'", "add 'timezone: Europe/Paris' (IANA)")
    elif timezone is not None and timezone not in zoneinfo.available_timezones():
        tz_part.diags.error(
            tz_part.pos,
            f"unknown time zone '{timezone}'",
            did_you_mean(timezone, zoneinfo.available_timezones(), "time zone")
            or "use an IANA name such as America/New_York or Europe/Madrid",
        )
        timezone = None
    weekly = _read_weekly(w.get("open"), w)
    holidays = _read_holidays(w.get("holidays"))
    if timezone is None or weekly is None:
        return None
    return BusinessHours(timezone, weekly, holidays)


def _read_weekly(w: Wild | None, parent: Wild) -> tuple[tuple[Span, ...], ...] | None:
    if w is None:
        parent.diags.error(
            parent.pos, "'hours' has no 'open'", "add 'open: {mon-fri: 09:00-18:00}'"
        )
        return None
    if not w.expect(dict, what="a mapping of days to time ranges, like mon-fri: 09:00-18:00"):
        return None
    week: list[tuple[Span, ...] | None] = [None] * 7
    ok = True
    for days_text, part in w.items():
        days, problem = parse_days(str(days_text))
        if problem:
            w.diags.error(w.key_pos(days_text), problem, f"use day names {', '.join(DAYS)}")
            ok = False
            continue
        spans, problem = parse_spans(str(part.value)) if part.expect(str) else ((), "not a text")
        if problem:
            part.diags.error(part.pos, problem, "write ranges like '09:00-12:00, 13:00-18:00'")
            ok = False
            continue
        for day in days:
            if week[day] is not None:
                w.diags.error(
                    w.key_pos(days_text),
                    f"{DAYS[day]} is given twice in 'hours.open'",
                    "name every day once (e.g. mon-fri, then sat)",
                )
                ok = False
            week[day] = spans
    return tuple(s or () for s in week) if ok else None


def _read_holidays(w: Wild | None) -> frozenset[date]:
    if w is None or not w.expect(list, what="a list of dates like 2026-12-25"):
        return frozenset()
    out = set()
    for item in w.elements():
        value = item.value
        if isinstance(value, date):
            out.add(value)
            continue
        try:
            out.add(date.fromisoformat(str(value)))
        except ValueError:
            item.diags.error(item.pos, f"'{value}' is not a date", "write dates as 2026-12-25")
    return frozenset(out)
