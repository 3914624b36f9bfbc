"""The report from recorded turns: per variant and channel, comparisons, funnel, fallbacks and
agents; each message counted once even when processed twice; `gateway report` in 3 formats."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.messages import Inbound, Shopper
from flows.model import Experiment
from gateway.analytics.recorder import Analytics, TurnRecord, analytics_path, connect
from gateway.analytics.render import as_csv, as_json, as_text
from gateway.analytics.report import ALL, build_report
from gateway.analytics.stats import wilson
from gateway.cli.main import main
from gateway.context import Gateway
from gateway.inbox.model import Thread
from gateway.turns.worker import TurnWorker
from tests.conftest import always_open_flows
from tests.harness import MakeGateway

DAY = 86_400.0
T0 = 1_795_000_000.0  # a Thursday in 2026, noon-ish UTC
EXP = Experiment("bvc", goals=("resolved",), csat="csat", default="bot", agent_cost_per_hour=36)
PHONE = frozenset({"call_center"})


@pytest.fixture
def analytics(tmp_path: Path) -> Iterator[Analytics]:
    recorder = Analytics(str(tmp_path / "a.db"))
    yield recorder
    recorder.close()


def turn(conv: str, n: int, at: float, events: list[dict], variant: str = "bot", *,
         mode: str = "bot", channel: str = "whatsapp", thread: Thread | None = None,
         shopper: bool = True) -> TurnRecord:  # fmt: skip
    return TurnRecord(
        conversation=f"{channel}:{conv}", message_id=f"{conv}-{n}", channel=channel, at=at,
        events=events, fresh=n == 0 and shopper, mode=mode, variants=(("bvc", variant),),
        phone_nodes=PHONE, thread=thread, shopper_turn=shopper,
    )  # fmt: skip


def node(name: str) -> dict:
    return {"type": "NodeEntered", "node": name}


def seed(recorder: Analytics) -> None:
    """bot: 10 sessions on WhatsApp (6 resolved, 2 handed to a person, 1 abandoned, 1 still
    talking), 3 on Telegram; call_center: 8 sent to the phone number. Days 0-2."""
    for i in range(10):
        at = T0 + (i % 3) * DAY
        c = f"b{i}"
        recorder.record(turn(c, 0, at, [node("welcome"), node("route"), node("menu")]))
        if i < 6:
            events = [node("resolved"), {"type": "GoalReached", "goal": "resolved"}, node("csat")]
            recorder.record(turn(c, 1, at + 60, events))
            if i < 3:
                score = (5, 4, 2)[i]
                rated = [{"type": "Rated", "kind": "csat", "score": score}, node("thanks")]
                recorder.record(turn(c, 2, at + 90, [*rated, {"type": "ConversationEnded"}],
                                     mode="ended"))  # fmt: skip
        elif i < 8:
            handoff = [node("handoff_request"), {"type": "HandoffRequested", "queue": "support"}]
            recorder.record(turn(c, 1, at + 60, handoff, mode="handoff"))
        elif i == 8:
            miss = {"type": "Fallback", "node": "menu", "text": "  Where is my PARCEL  "}
            recorder.record(turn(c, 1, at + 60, [miss]))  # then silence: abandoned
        else:
            miss = {"type": "Fallback", "node": "menu", "text": "where is my parcel"}
            recorder.record(turn(c, 1, T0 + 10 * DAY - 60, [miss]))  # a minute ago: active
    for i in range(3):
        recorder.record(turn(f"t{i}", 0, T0 + i * DAY, [node("welcome"), node("menu")],
                             channel="telegram"))  # fmt: skip
    for i in range(8):
        at = T0 + (i % 3) * DAY
        events = [
            node("welcome"),
            node("route"),
            node("call_center"),
            {"type": "ConversationEnded"},
        ]
        recorder.record(turn(f"c{i}", 0, at, events, "call_center", mode="ended"))
    # Agents: b6 solved in 10 minutes (first answer after 2), b7 not solved, then a new thread.
    for conv, outcome, when in (("b6", "solved", 0.0), ("b7", "not_solved", 0.0)):
        thread = Thread(f"th-{conv}", f"whatsapp:{conv}", "whatsapp", "support", "asked",
                        T0 + 100 + when, status="resolved", agent="ann",
                        claimed_at=T0 + 160, first_response_at=T0 + 220,
                        resolved_at=T0 + 760, outcome=outcome)  # fmt: skip
        recorder.record(turn(conv, 9, T0 + 760, [], thread=thread, shopper=False))
    again = Thread("th-b7-2", "whatsapp:b7", "whatsapp", "support", "asked", T0 + DAY,
                   status="waiting")  # fmt: skip
    recorder.record(turn("b7", 10, T0 + DAY, [], thread=again, shopper=False))
    recorder.flush()


def test_variant_rates_costs_and_comparisons(analytics: Analytics) -> None:
    seed(analytics)
    seed(analytics)  # every message a second time: recorded once
    report = build_report(analytics._db, {"bvc": EXP}, now=T0 + 10 * DAY)
    (exp,) = report.experiments
    rows = {(r.variant, r.channel): r for r in exp.rows}
    bot, phone = rows[("bot", "whatsapp")], rows[("call_center", ALL)]
    assert (bot.conversations, bot.shoppers) == (10, 10)
    assert bot.conversion == wilson(6, 10)
    assert bot.handoff == wilson(2, 10) and bot.abandonment == wilson(1, 10)
    assert bot.containment == wilson(6, 10)  # resolved without a person or the phone
    assert bot.csat == wilson(2, 3)
    assert bot.avg_turns == pytest.approx((10 + 6 + 3 + 2 + 1 + 1) / 10)
    # Agent time: b6 and b7 each 600 s claimed to resolved, at 36/h, over 10 conversations.
    assert bot.cost_per_conversation == pytest.approx(2 * 600 / 3600 * 36 / 10)
    assert rows[("bot", ALL)].conversations == 13 and rows[("bot", "telegram")].conversations == 3
    assert phone.phone == wilson(8, 8) and phone.containment == wilson(0, 8)
    conversion = next(c for c in exp.comparisons if c.metric == "conversion")
    assert conversion.control == "bot" and conversion.variant == "call_center"
    assert conversion.difference == pytest.approx(0 - 6 / 13)
    assert exp.looks == 3  # three days of data, one look at the end of each
    assert conversion.verdict.startswith("not enough data yet: about")
    assert "Wilson" in exp.method and "mSPRT" in exp.method


def test_funnel_fallbacks_and_channels(analytics: Analytics) -> None:
    seed(analytics)
    report = build_report(
        analytics._db, {"bvc": EXP}, now=T0 + 10 * DAY, node_order=("welcome", "route", "menu")
    )
    steps = {(s.variant, s.channel, s.node): s for s in report.funnel}
    menu = steps[("bot", "whatsapp", "menu")]
    assert (menu.reached, menu.share, menu.dropped) == (10, 1.0, 2)  # b8 and b9 stopped there
    assert steps[("call_center", "whatsapp", "call_center")].reached == 8
    assert [s.node for s in report.funnel if s.variant == "bot" and s.channel == "whatsapp"][
        :3
    ] == ["welcome", "route", "menu"]
    (top,) = report.fallbacks
    assert (top.phrase, top.node, top.channel, top.count) == ("where is my parcel", "menu",
                                                              "whatsapp", 2)  # fmt: skip
    whatsapp = next(c for c in report.channels if c.channel == "whatsapp")
    assert (whatsapp.handoffs, whatsapp.threads_resolved) == (2, 2)
    assert whatsapp.first_response_median_s == 120.0 and whatsapp.resolution_median_s == 660.0
    assert whatsapp.first_contact_resolution == wilson(1, 2)  # b7 was not solved


def test_since_leaves_out_older_conversations(analytics: Analytics) -> None:
    seed(analytics)
    report = build_report(analytics._db, {"bvc": EXP}, now=T0 + 10 * DAY, since=T0 + 2 * DAY - 1)
    rows = {(r.variant, r.channel): r for r in report.experiments[0].rows}
    assert rows[("bot", "whatsapp")].conversations == 3  # b2, b5 and b8 started on day 2
    with pytest.raises(KeyError, match="no experiment 'nope'"):
        build_report(analytics._db, {"bvc": EXP}, now=T0, only="nope")


def test_text_json_and_csv_say_the_same(analytics: Analytics) -> None:
    seed(analytics)
    report = build_report(analytics._db, {"bvc": EXP}, now=T0 + 10 * DAY)
    text = as_text(report)
    assert "Experiment bvc (control: bot" in text and "not enough data yet" in text
    assert "'where is my parcel'" in text
    data = json.loads(as_json(report))
    row = data["experiments"][0]["rows"][0]
    assert row["conversion"]["value"] == row["conversion"]["successes"] / row["conversion"]["n"]
    rows = list(csv.DictReader(io.StringIO(as_csv(report))))
    sections = {r["section"] for r in rows}
    assert sections == {"variant", "comparison", "funnel", "fallback", "channel"}
    conv = next(r for r in rows if r["section"] == "variant" and r["variant"] == "bot"
                and r["channel"] == "whatsapp" and r["metric"] == "conversion")  # fmt: skip
    assert (conv["count"], conv["n"]) == ("6", "10")


@pytest.fixture
def gw(make_gateway: MakeGateway, tmp_path: Path) -> Gateway:
    return make_gateway(tmp_path)


def test_a_message_processed_twice_is_recorded_once_by_the_real_worker(gw: Gateway) -> None:
    worker = TurnWorker(gw, "w1")
    inbound = Inbound("telegram", "42", "m1", Shopper("42", name="Ann Lee"), text="hi",
                      timestamp=T0)  # fmt: skip
    assert gw.store.enqueue(inbound, T0, 3600)
    claim = gw.store.claim("w1", T0, 30)
    assert claim is not None
    assert worker.process(claim, T0)[0].ok
    worker.process(claim, T0)  # as after a crash between commit and acknowledgement
    assert gw.analytics is not None
    gw.analytics.flush()
    with closing(gw.analytics.reader()) as db:
        assert db.execute("SELECT COUNT(*), SUM(turns) FROM a_session").fetchone() == (1, 1)
        nodes = db.execute("SELECT COUNT(*) FROM a_node").fetchone()[0]
        assert nodes >= 2  # welcome, route, then menu or call_center: once each
        variant = db.execute("SELECT experiment FROM a_variant").fetchall()
    assert variant == [("bot_vs_callcenter",)]


def test_gateway_report_command_reads_the_same_store(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'gw.db'}"
    recorder = Analytics(analytics_path(store_url, None))
    seed(recorder)
    recorder.close()
    env = {"STORE_URL": store_url, "FLOWS_PATH": str(always_open_flows(tmp_path))}
    runner = CliRunner()
    result = runner.invoke(main, ["report", "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["experiments"][0]["name"] == "bot_vs_callcenter"  # the sample's, no data in it
    assert data["fallbacks"][0]["phrase"] == "where is my parcel"
    bad = runner.invoke(main, ["report", "--experiment", "nope"], env=env)
    assert bad.exit_code == 2 and "no experiment 'nope'" in bad.output
    assert runner.invoke(main, ["report", "--since", "yesterday"], env=env).exit_code == 2
    db = connect(analytics_path(store_url, None))
    assert db.execute("SELECT COUNT(*) FROM a_session").fetchone()[0] == 21
    db.close()
