"""Durations and opening times in the shopper's language, with CLDR data (Babel).

Plural forms follow each language's rules ("2 minuty", "5 minut"; "3 دقائق"; "3分钟"), day
names and clock formats are the locale's own.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, format_timedelta

from flows.i18n.languages import info
from flows.i18n.system_texts import system_text


@lru_cache(maxsize=64)
def cldr_locale(language: str) -> str:
    """The CLDR locale for a language; English for a code CLDR does not know, so that an
    unusual language in flows.yaml never breaks a handoff notice."""
    name = info(language).babel
    try:
        Locale.parse(name)
    except (UnknownLocaleError, ValueError):
        return "en"
    return name


# "on Thursday" takes the accusative and a preposition in Polish; CLDR has the nominative only.
_POLISH_ON_DAY = (
    "w poniedziałek", "we wtorek", "w środę", "w czwartek", "w piątek", "w sobotę", "w niedzielę",
)  # fmt: skip


def wait_phrase(seconds: float | None, language: str) -> str:
    """A typical wait at a glance: '3 minutes', '3 minuty', '3 دقائق', '3分钟'."""
    if seconds is None or seconds < 0:
        return ""
    minutes = max(1, math.ceil(seconds / 60))
    span = timedelta(minutes=minutes) if minutes < 60 else timedelta(hours=round(minutes / 60))
    return format_timedelta(span, locale=cldr_locale(language))


def opening_phrase(when: datetime | None, now: datetime, city: str, language: str) -> str:
    """When people are back, as a shopper reads it: 'tomorrow at 9:00 AM (New York time)',
    'jutro o 09:00 (czasu New York)', '明天09:00（New York时间）'."""
    if when is None:
        return system_text("open_unknown", language)
    locale = cldr_locale(language)
    # CLDR puts a narrow no-break space before AM/PM; some chat fonts show it as a box.
    clock = format_time(when, format="short", locale=locale).replace("\u202f", " ")
    days = (when.date() - now.date()).days
    if days == 0:
        phrase = system_text("open_today", language).format(time=clock)
    elif days == 1:
        phrase = system_text("open_tomorrow", language).format(time=clock)
    elif days < 7:
        day = (
            _POLISH_ON_DAY[when.weekday()]
            if locale == "pl"
            else format_date(when, format="EEEE", locale=locale)
        )
        phrase = system_text("open_weekday", language).format(day=day, time=clock)
    else:
        date = format_date(when, format="long", locale=locale)
        phrase = system_text("open_date", language).format(date=date, time=clock)
    return system_text("open_zone", language).format(when=phrase, city=city)
