"""Business hours: open/closed in the shop's time zone, the next opening in words, the errors a
marketer gets for a bad `hours:` section, and what the engine promises at a handoff."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from flows.engine import step
from flows.hours import BusinessHours, parse_days, parse_spans
from flows.messages import HandoffRequested, Inbound
from flows.services import InboxStatus, StubServices
from flows.state import ConversationState
from tests.conftest import check_yaml, flow_from, msg

NY = ZoneInfo("America/New_York")
WEEK = (((540, 1080),),) * 5 + (((600, 840),), ())  # mon-fri 9-18, sat 10-14, sun closed
HOURS = BusinessHours("America/New_York", WEEK, frozenset({date(2026, 12, 25)}))


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=NY).timestamp()


@pytest.mark.parametrize(
    ("when", "is_open", "next_open"),
    [
        ("2026-11-23 09:00", True, "today at 9:00 AM (New York time)"),
        ("2026-11-23 08:59", False, "today at 9:00 AM (New York time)"),
        ("2026-11-23 18:00", False, "tomorrow at 9:00 AM (New York time)"),
        ("2026-11-28 14:30", False, "on Monday at 9:00 AM (New York time)"),
        ("2026-12-24 19:00", False, "on Saturday at 10:00 AM (New York time)"),  # 25th: holiday
        ("2026-12-25 12:00", False, "tomorrow at 10:00 AM (New York time)"),
    ],
)
def test_open_and_next_opening_in_the_shops_time_zone(
    when: str, is_open: bool, next_open: str
) -> None:
    assert HOURS.is_open(ts(when)) is is_open
    if not is_open:
        assert HOURS.describe_next(ts(when)) == next_open


def test_hours_follow_daylight_saving_time() -> None:
    # 9:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer.
    winter = datetime(2026, 1, 5, 14, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    summer = datetime(2026, 7, 6, 13, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    assert HOURS.is_open(winter) and HOURS.is_open(summer)
    assert not HOURS.is_open(summer - 60)


@pytest.mark.parametrize(
    ("language", "next_open"),
    [
        ("pl", "w poniedziałek o 09:00 (czasu New York)"),
        ("ro", "luni la 09:00 (ora New York)"),
        ("ar", "يوم الاثنين الساعة 9:00 ص (بتوقيت New York)"),
        ("zh-Hans", "星期一09:00（New York时间）"),
        ("zh-Hant", "星期一上午9:00（New York時間）"),
    ],
)
def test_the_next_opening_reads_in_the_shoppers_language(language: str, next_open: str) -> None:
    assert HOURS.describe_next(ts("2026-11-28 14:30"), language) == next_open


def test_a_far_opening_names_the_date_and_a_shop_never_open_promises_nothing() -> None:
    closed_for_weeks = replace(HOURS, holidays=frozenset(date(2026, 12, d) for d in range(1, 20)))
    assert closed_for_weeks.describe_next(ts("2026-11-30 19:00")).startswith("on December 21, 2026")
    never = BusinessHours("Europe/Madrid", ((),) * 7)
    assert never.describe_next(ts("2026-11-30 19:00")) == "as soon as we can"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("9-18", "'9-18' is not a time range like 09:00-18:00"),
        ("18:00-09:00", "ends before it starts"),
        ("09:00-12:00, 11:00-13:00", "overlap"),
        ("09:00-25:00", "is not a time range"),
    ],
)
def test_bad_time_ranges_say_what_is_wrong(text: str, problem: str) -> None:
    spans, message = parse_spans(text)
    assert spans == () and message is not None and problem in message


def test_days_and_ranges_of_days() -> None:
    assert parse_days("mon-fri") == ([0, 1, 2, 3, 4], None)
    assert parse_days("saturday, sun") == ([5, 6], None)
    assert parse_days("fri-mon")[1] is not None
    assert parse_spans("09:00-12:00, 13:00-24:00") == (((540, 720), (780, 1440)), None)


HEAD = """\
version: 1
settings:
  start: menu
  disclosure: "I'm a bot."
  person_button: {title: Talk to a person, goto: human}
nodes:
  menu:
    say: Hi
    buttons: [{Shipping: done}]
  done: {say: Bye, end: true}
  human:
    say: Passing you on.
    handoff: {queue: support, then: menu}
"""


def errors(hours_yaml: str) -> list[str]:
    return [d.format() for d in check_yaml(HEAD + hours_yaml).errors]


def test_unknown_time_zone_suggests_the_closest() -> None:
    errs = errors("hours:\n  timezone: America/New_Yrok\n  open: {mon-fri: '09:00-17:00'}\n")
    assert errs == [
        "flows.yaml:15:13: error: unknown time zone 'America/New_Yrok'; "
        "did you mean 'America/New_York'?"
    ]


def test_bad_day_range_and_repeated_day_are_errors_with_lines() -> None:
    errs = errors(
        "hours:\n  timezone: UTC\n  open:\n    mon-fri: '09:00-17:00'\n    fri: '10:00-12:00'\n"
        "    funday: '10:00-12:00'\n    sat: 9-5\n"
    )
    assert any("flows.yaml:18:5: error: fri is given twice" in e for e in errs), errs
    assert any("flows.yaml:19:5: error: 'funday' is not a day" in e for e in errs), errs
    assert any("flows.yaml:20:10: error: '9-5' is not a time range" in e for e in errs), errs


def test_bad_holiday_and_missing_parts() -> None:
    assert errors(
        "hours:\n  timezone: UTC\n  open: {mon: '09:00-10:00'}\n  holidays: [soon]\n"
    ) == ["flows.yaml:17:14: error: 'soon' is not a date; write dates as 2026-12-25"]
    assert "'hours' has no 'timezone'" in errors("hours:\n  open: {mon: '09:00-10:00'}\n")[0]


OPEN_FLOW = HEAD + "hours:\n  timezone: America/New_York\n  open: {mon-fri: '09:00-18:00'}\n"


def at(text: str, when: str, payload: str | None = None) -> Inbound:
    return replace(msg(text, payload), timestamp=ts(when))


def test_the_person_button_disappears_when_closed_and_returns_when_open() -> None:
    flow = flow_from(OPEN_FLOW)
    open_reply = step(flow, ConversationState(), at("hi", "2026-11-23 10:00")).replies[0]
    closed_reply = step(flow, ConversationState(), at("hi", "2026-11-23 20:00")).replies[0]
    assert [b.title for b in open_reply.buttons] == ["Shipping", "Talk to a person"]
    assert [b.title for b in closed_reply.buttons] == ["Shipping"]


def test_closed_person_button_can_become_a_call_button() -> None:
    flow = flow_from(
        OPEN_FLOW.replace(
            "goto: human}", "goto: human, closed: {title: Call us, call: '+12025550100'}}"
        )
    )
    reply = step(flow, ConversationState(), at("hi", "2026-11-23 20:00")).replies[0]
    assert [(b.title, b.payload, b.kind) for b in reply.buttons] == [
        ("Shipping", "shipping", "reply"),
        ("Call us", "+12025550100", "call"),
    ]


@pytest.mark.parametrize(
    ("when", "status", "notice", "says"),
    [
        ("2026-11-23 10:00", InboxStatus(2, 1, 150.0), "open", "(usually within 3 minutes)"),
        ("2026-11-23 10:00", None, "open", "will join you here shortly. A person"),
        ("2026-11-23 10:00", InboxStatus(0, 4), "busy", "Nobody from our team is on duty"),
        ("2026-11-23 20:00", InboxStatus(3, 0), "closed", "here tomorrow at 9:00 AM (New York"),
    ],
)
def test_a_handoff_tells_the_shopper_what_happens_next(
    when: str, status: InboxStatus | None, notice: str, says: str
) -> None:
    flow = flow_from(OPEN_FLOW)
    waiting = step(flow, ConversationState(), at("hi", "2026-11-23 10:00")).state
    result = step(flow, waiting, at("", when, "person"), StubServices({}, status))
    assert result.replies[0].text == "Passing you on."
    assert says in result.replies[1].text
    handoff = next(e for e in result.events if isinstance(e, HandoffRequested))
    assert handoff.notice == notice
    assert result.state.mode == "handoff"


def test_a_broken_inbox_does_not_break_the_handoff() -> None:
    class Broken(StubServices):
        def inbox_status(self, queue: str) -> InboxStatus | None:
            raise ConnectionError("redis down")

    flow = flow_from(OPEN_FLOW)
    waiting = step(flow, ConversationState(), at("hi", "2026-11-23 10:00")).state
    result = step(flow, waiting, at("", "2026-11-23 10:00", "person"), Broken({}))
    assert result.state.mode == "handoff" and "shortly" in result.replies[1].text
