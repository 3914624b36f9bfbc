"""Calls in the analytics: `gateway import calls`, the Twilio status mapping, the join to the
experiment's arms in the report, on SQLite and through the Redis turn log."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from flows.model import Experiment
from gateway.analytics.calls import FINAL, RINGING, CallRecord
from gateway.analytics.recorder import Analytics, TurnRecord, connect, write_batch
from gateway.analytics.render import as_csv, as_json, as_text
from gateway.analytics.render_calls import NONE_YET
from gateway.analytics.report import build_report
from gateway.analytics.turn_log import RedisTurnLog, decode_call, encode_call, open_report_db
from gateway.analytics.twilio_voice import BadCallback, call_from_status
from gateway.cli.main import main
from gateway.config import VARIABLES, Config
from tests.conftest import ROOT, always_open_flows
from tests.contract.conftest import redis_database, redis_url  # noqa: F401  (its redis-server)

EXP = Experiment("bot_vs_callcenter", default="bot")
T0 = 1_795_000_000.0
BOT_SHOPPER, PHONE_SHOPPER, STRANGER = "+4915112345678", "+4915187654321", "+4930901820"
HEADER = "call_id,started_at,from,to,duration_s,outcome,cost\n"
ROWS = (
    "c1,2026-11-18T10:00:00+01:00,+49 151 1234 5678,+49 30 1234567,120,answered,0.80\n"
    "c2,2026-11-18T11:00:00+01:00,0049 151 87654321,+49 30 1234567,300,answered,1.50\n"
    "c3,2026-11-18T12:00:00+01:00,0151 87654321,030 1234567,0,missed,\n"
    "c4,2026-11-18T13:00:00Z,(030) 901820,+49 30 1234567,60,voicemail,0.10\n"
)


def shopper_turn(number: str, variant: str, n: int = 0) -> TurnRecord:
    return TurnRecord(
        conversation=f"whatsapp:{number}", message_id=f"{number}-{n}", channel="whatsapp",
        at=T0 + n, events=[{"type": "NodeEntered", "node": "welcome"}], fresh=n == 0,
        variants=((EXP.name, variant),),
    )  # fmt: skip


def run_cli(args: list[str], env: dict[str, str]) -> Result:
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"STORE_URL": f"sqlite:///{tmp_path / 'gw.db'}", "SHOP_COUNTRY": "DE"}


def write_csv(tmp_path: Path, text: str, name: str = "calls.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def calls_in(path: Path) -> dict[str, tuple]:
    with closing(connect(str(path))) as db:
        rows = db.execute(
            "SELECT call_id, from_number, to_number, duration_s, outcome, cost FROM a_call"
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


# ---- the CSV import ----


def test_numbers_in_any_format_become_e164(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_cli(["import", "calls", str(write_csv(tmp_path, HEADER + ROWS))], env)
    assert result.exit_code == 0, result.output
    assert "imported 4, updated 0, unchanged 0, skipped 0" in result.output
    assert calls_in(tmp_path / "gw-analytics.db") == {
        "c1": (BOT_SHOPPER, "+49301234567", 120.0, "answered", 0.8),
        "c2": (PHONE_SHOPPER, "+49301234567", 300.0, "answered", 1.5),
        "c3": (PHONE_SHOPPER, "+49301234567", 0.0, "missed", None),
        "c4": (STRANGER, "+49301234567", 60.0, "voicemail", 0.1),
    }


def test_importing_the_same_file_twice_changes_nothing(tmp_path: Path, env: dict[str, str]
                                                       ) -> None:  # fmt: skip
    path = write_csv(tmp_path, HEADER + ROWS)
    run_cli(["import", "calls", str(path)], env)
    before = calls_in(tmp_path / "gw-analytics.db")
    again = run_cli(["import", "calls", str(path)], env)
    assert "imported 0, updated 0, unchanged 4, skipped 0" in again.output
    assert calls_in(tmp_path / "gw-analytics.db") == before


def test_a_corrected_row_updates_its_call(tmp_path: Path, env: dict[str, str]) -> None:
    run_cli(["import", "calls", str(write_csv(tmp_path, HEADER + ROWS))], env)
    fixed = ROWS.replace("300,answered,1.50", "310,answered,1.60")
    result = run_cli(["import", "calls", str(write_csv(tmp_path, HEADER + fixed, "b.csv"))], env)
    assert "imported 0, updated 1, unchanged 3, skipped 0" in result.output
    assert calls_in(tmp_path / "gw-analytics.db")["c2"][2:] == (310.0, "answered", 1.6)


def test_bad_rows_are_reported_by_line_and_the_rest_imported(tmp_path: Path,
                                                             env: dict[str, str]) -> None:  # fmt: skip
    bad = (
        HEADER
        + "b1,2026-11-18T10:00:00,+4915112345678,+49301234567,10,answered,\n"  # line 2
        + ROWS.splitlines(keepends=True)[0]  # line 3: fine
        + "b2,2026-11-18T10:00:00+01:00,not a phone,+49301234567,10,answered,\n"  # line 4
        + "b3,2026-11-18T10:00:00+01:00,+4915112345678,+49301234567,-5,answered,\n"  # line 5
        + "b4,2026-11-18T10:00:00+01:00,+4915112345678,+49301234567,10,hung up,\n"  # line 6
        + "b5,yesterday,+4915112345678,+49301234567,10,answered,\n"  # line 7
        + ",2026-11-18T10:00:00+01:00,+4915112345678,+49301234567,10,answered,\n"  # line 8
        + "b6,2026-11-18T10:00:00+01:00,+4915112345678,+49301234567,10,missed,1,extra\n"  # 9
        + "b7,2026-11-18T10:00:00+01:00,+999 123,+49301234567,10,answered,\n"  # line 10
        + "b8,2026-11-18T10:00:00+01:00,+4915112345678,+49301234567,10,answered,free\n"  # 11
    )
    path = write_csv(tmp_path, bad)
    result = CliRunner().invoke(main, ["import", "calls", str(path)], env=env)
    assert result.exit_code == 0
    lines = [line for line in result.output.splitlines() if line.endswith("skipped")]
    assert [line.split(":")[1] for line in lines] == [str(n) for n in (2, 4, 5, 6, 7, 8, 9, 10,
                                                                        11)]  # fmt: skip
    assert "has no UTC offset" in lines[0]
    assert "from: 'not a phone' is not a phone number" in lines[1]
    assert "outcome: 'hung up' is not one of" in lines[3]
    assert "imported 1, updated 0, unchanged 0, skipped 9" in result.output
    assert list(calls_in(tmp_path / "gw-analytics.db")) == ["c1"]


def test_a_national_number_without_shop_country_is_reported(tmp_path: Path) -> None:
    env = {"STORE_URL": f"sqlite:///{tmp_path / 'gw.db'}"}
    result = CliRunner().invoke(main, ["import", "calls",
                                       str(write_csv(tmp_path, HEADER + ROWS))], env=env)  # fmt: skip
    assert "calls.csv:4: from: '0151 87654321' is a national number and SHOP_COUNTRY is not " \
           "set; skipped" in result.output  # fmt: skip
    assert "imported 2, updated 0, unchanged 0, skipped 2" in result.output


def test_a_file_without_the_columns_imports_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    path = write_csv(tmp_path, "id,when\n1,2\n")
    result = CliRunner().invoke(main, ["import", "calls", str(path)], env=env)
    assert result.exit_code == 1
    assert "the header has no column call_id, started_at" in result.output


def test_an_unknown_shop_country_is_a_usage_error(tmp_path: Path) -> None:
    env = {"STORE_URL": f"sqlite:///{tmp_path / 'gw.db'}", "SHOP_COUNTRY": "XX"}
    result = CliRunner().invoke(main, ["import", "calls",
                                       str(write_csv(tmp_path, HEADER + ROWS))], env=env)  # fmt: skip
    assert result.exit_code == 2
    assert "SHOP_COUNTRY='XX'" in result.output


# ---- Twilio's statuses ----


def status(call_status: str, **more: str) -> dict[str, str]:
    return {"CallSid": "CA" + "0" * 32, "CallStatus": call_status, "From": "+4915112345678",
            "To": "+49301234567", "Direction": "inbound",
            "Timestamp": "Wed, 18 Nov 2026 10:00:00 +0000", **more}  # fmt: skip


@pytest.mark.parametrize(
    ("call_status", "more", "outcome", "stage"),
    [
        ("ringing", {}, "missed", RINGING),
        ("in-progress", {}, "answered", 2),
        ("completed", {"CallDuration": "42"}, "answered", FINAL),
        ("completed", {"CallDuration": "0"}, "abandoned", FINAL),
        ("completed", {"CallDuration": "30", "AnsweredBy": "machine_end_beep"}, "voicemail", FINAL),
        ("no-answer", {}, "missed", FINAL),
        ("busy", {}, "missed", FINAL),
        ("failed", {}, "missed", FINAL),
        ("canceled", {}, "missed", FINAL),
    ],
)
def test_call_status_maps_to_an_outcome(
    call_status: str, more: dict[str, str], outcome: str, stage: int
) -> None:
    call = call_from_status(status(call_status, **more), None, T0)
    assert (call.outcome, call.stage, call.source) == (outcome, stage, "twilio")


def test_a_completed_call_started_its_duration_before_the_callback() -> None:
    call = call_from_status(status("completed", CallDuration="42"), None, T0)
    assert call.started_at == datetime(2026, 11, 18, 10, tzinfo=UTC).timestamp() - 42
    assert call.duration_s == 42.0


@pytest.mark.parametrize(
    "params",
    [
        {"CallStatus": "completed"},
        status("exploded"),
        status("completed", CallDuration="long"),
        status("completed", From="anonymous"),
        status("completed", Timestamp="yesterday"),
    ],
)
def test_a_malformed_callback_says_which_field(params: dict[str, str]) -> None:
    with pytest.raises(BadCallback):
        call_from_status(params, None, T0)


def test_a_later_stage_updates_the_call_and_a_late_ringing_does_not_undo_it(tmp_path: Path
                                                                            ) -> None:  # fmt: skip
    ringing = call_from_status(status("ringing"), None, T0)
    completed = call_from_status(status("completed", CallDuration="42"), None, T0)
    with closing(connect(str(tmp_path / "a.db"))) as db:
        assert write_batch(db, [ringing]) == 1
        assert write_batch(db, [completed]) == 1
        assert write_batch(db, [ringing, completed]) == 0  # out of order, redelivered
        row = db.execute("SELECT outcome, duration_s, stage FROM a_call").fetchall()
    assert row == [("answered", 42.0, FINAL)]


# ---- the report ----


def seed_shoppers(analytics: Analytics) -> None:
    analytics.record(shopper_turn(BOT_SHOPPER, "bot"))
    analytics.record(shopper_turn(BOT_SHOPPER, "bot", 1))
    analytics.record(shopper_turn(PHONE_SHOPPER, "call_center"))
    analytics.record(shopper_turn("+15550000000", "call_center"))  # never called
    analytics.flush()


def test_calls_join_the_arm_of_the_callers_whatsapp_conversation(tmp_path: Path,
                                                                  env: dict[str, str]) -> None:  # fmt: skip
    analytics = Analytics(str(tmp_path / "gw-analytics.db"))
    seed_shoppers(analytics)
    analytics.close()
    run_cli(["import", "calls", str(write_csv(tmp_path, HEADER + ROWS))], env)
    with closing(connect(str(tmp_path / "gw-analytics.db"))) as db:
        report = build_report(db, {EXP.name: EXP}, now=T0 + 86_400)
    calls = report.experiments[0].calls
    assert calls is not None
    arms = {a.arm: (a.calls, a.answered, a.minutes, a.cost) for a in calls.arms}
    assert arms == {"bot": (1, 1, 2.0, 0.8), "call_center": (2, 1, 5.0, 1.5)}
    u = calls.unattributed
    assert (u.calls, u.answered, u.minutes, u.cost) == (1, 0, 1.0, 0.1)
    text = as_text(report)
    block = text[text.index("  Calls (") : text.index("  Method:")]
    assert "Unattributed (callers never seen in this experiment): 1 call," in block
    assert "1.50 (1 of 2 calls)" in block  # c3 said nothing of its cost
    assert max(len(line) for line in block.splitlines()) <= 100
    assert '"unattributed"' in as_json(report)
    assert "calls,bot_vs_callcenter,call_center,phone,,answered," in as_csv(report)


def test_without_calls_the_report_says_none_were_imported(tmp_path: Path) -> None:
    analytics = Analytics(str(tmp_path / "a.db"))
    seed_shoppers(analytics)
    with closing(analytics.reader()) as db:
        report = build_report(db, {EXP.name: EXP}, now=T0 + 86_400)
    analytics.close()
    text = as_text(report)
    assert f"Calls: {NONE_YET}\n" in text
    assert max(len(line) for line in text.splitlines() if "Calls" in line or "/webhooks" in line
               ) <= 100  # fmt: skip


# ---- Redis: the turn log carries calls to every reporter ----


@pytest.fixture
def redis_env(tmp_path: Path, redis_url: str) -> Iterator[dict[str, str]]:  # noqa: F811
    with redis_database(redis_url, 14) as url:
        yield {"STORE_URL": url, "ANALYTICS_URL": f"sqlite:///{tmp_path / 'importer.db'}",
               "SHOP_COUNTRY": "DE"}  # fmt: skip


def test_a_call_survives_the_turn_log_entry() -> None:
    call = CallRecord("CA1", T0, BOT_SHOPPER, "+49301234567", 12.0, "answered", None, "twilio",
                      RINGING)  # fmt: skip
    assert decode_call(encode_call(call)) == call


def test_imported_calls_reach_another_hosts_report_through_redis(
    tmp_path: Path, redis_env: dict[str, str]
) -> None:
    gateway = Analytics(str(tmp_path / "host-a.db"), sink=RedisTurnLog(redis_env["STORE_URL"]))
    seed_shoppers(gateway)  # turns shipped to the stream by a serving host
    gateway.close()
    path = write_csv(tmp_path, HEADER + ROWS)
    first = run_cli(["import", "calls", str(path)], redis_env)
    assert "imported 4, updated 0, unchanged 0, skipped 0" in first.output
    again = run_cli(["import", "calls", str(path)], redis_env)
    assert "imported 0, updated 0, unchanged 4, skipped 0" in again.output
    with closing(open_report_db(redis_env["STORE_URL"], f"sqlite:///{tmp_path / 'b.db'}")) as db:
        report = build_report(db, {EXP.name: EXP}, now=T0 + 86_400)
        assert db.execute("SELECT COUNT(*) FROM a_call").fetchone() == (4,)
    calls = report.experiments[0].calls
    assert calls is not None
    assert {a.arm: a.calls for a in calls.arms} == {"bot": 1, "call_center": 2}
    assert calls.unattributed.calls == 1


# ---- SHOP_COUNTRY ----


def test_shop_country_is_documented_and_checked() -> None:
    shown = CliRunner().invoke(main, ["serve", "--help"]).output.splitlines()
    (line,) = [x for x in shown if x.split()[:1] == ["SHOP_COUNTRY"]]
    assert VARIABLES["SHOP_COUNTRY"] in line
    assert "`SHOP_COUNTRY`" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert Config.from_env({}).shop_country is None  # national numbers refused, not guessed
    assert Config.from_env({"SHOP_COUNTRY": " de "}).shop_country == "DE"
    with pytest.raises(ValueError, match="SHOP_COUNTRY='Germany' is not an ISO country code"):
        Config.from_env({"SHOP_COUNTRY": "Germany"})


def test_gateway_report_prints_calls_per_arm_within_100_columns(tmp_path: Path,
                                                                 env: dict[str, str]) -> None:  # fmt: skip
    env = {**env, "FLOWS_PATH": str(always_open_flows(tmp_path))}
    report = ["report", "--experiment", EXP.name]
    assert f"Calls: {NONE_YET}" in run_cli(report, env).output
    analytics = Analytics(str(tmp_path / "gw-analytics.db"))
    seed_shoppers(analytics)
    analytics.close()
    run_cli(["import", "calls", str(write_csv(tmp_path, HEADER + ROWS))], env)
    text = run_cli(report, env).output
    block = text[text.index("  Calls (") : text.index("  Method:")].splitlines()
    assert block[2].split() == ["bot", "1", "1", "2.0", "0.80"]
    assert block[3].split()[:5] == ["call_center", "2", "1", "5.0", "1.50"]
    assert max(len(line) for line in block) <= 100
