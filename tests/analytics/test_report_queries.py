"""The report's grouped queries give what the plain queries give: on a few hundred random
sessions (several per conversation, some without a variant, another experiment beside, goals
that do and do not count, handoffs, ratings, agent actions that open a session with no node),
every count of the experiment table, the daily looks behind the always-valid p-values and every
funnel step equal those of straightforward per-table queries, with and without --since."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flows.model import Experiment
from gateway.analytics.recorder import Analytics, TurnRecord
from gateway.analytics.report import ALL, Report, build_report, cumulative_looks
from gateway.analytics.stats import always_valid_p
from gateway.inbox.model import Thread

DAY = 86_400.0
T0 = 1_795_000_000.0
NOW = T0 + 20 * DAY
EXP = Experiment("bvc", goals=("resolved", "order_tracked"), csat="csat", nps="nps",
                 default="bot", agent_cost_per_hour=36)  # fmt: skip
OTHER = Experiment("other")
NODES = ("welcome", "route", "menu", "ask_order", "order_status", "resolved", "csat", "call_center",
         "handoff_request", "odd, name \"quoted\"")  # fmt: skip
GOALS = ("resolved", "order_tracked", "coupon_issued")


def random_turns(rng: random.Random) -> Iterator[TurnRecord]:
    for c in range(150):
        channel = rng.choice(("whatsapp", "messenger", "telegram"))
        conversation = f"{channel}:{c}"
        variants: tuple[tuple[str, str], ...] = ()
        if rng.random() < 0.8:
            variants += (("bvc", rng.choice(("bot", "call_center"))),)
        if rng.random() < 0.3:
            variants += (("other", rng.choice(("x", "y"))),)
        at = T0 + rng.uniform(0, 12) * DAY
        if rng.random() < 0.05:  # an agent action first: a session with no node
            thread = Thread(f"t{c}", conversation, channel, "support", "asked", at,
                            status="resolved", claimed_at=at + 5, resolved_at=at + 65)  # fmt: skip
            yield TurnRecord(conversation, f"a{c}", channel, at, [], shopper_turn=False,
                             variants=variants, thread=thread)  # fmt: skip
        for s in range(rng.randint(1, 3)):
            for k in range(rng.randint(1, 4)):
                events: list[dict[str, Any]] = [
                    {"type": "NodeEntered", "node": rng.choice(NODES)}
                    for _ in range(rng.randint(0, 3))
                ]
                if rng.random() < 0.3:
                    events.append({"type": "GoalReached", "goal": rng.choice(GOALS)})
                if rng.random() < 0.1:
                    events.append({"type": "HandoffRequested", "queue": "support"})
                if rng.random() < 0.1:
                    events.append({"type": "ConversationEnded"})
                if rng.random() < 0.15:
                    kind = rng.choice(("csat", "nps"))
                    score = rng.randint(1, 5) if kind == "csat" else rng.randint(0, 10)
                    events.append({"type": "Rated", "kind": kind, "score": score})
                mode = rng.choice(("bot", "bot", "handoff", "ended"))
                yield TurnRecord(conversation, f"{c}-{s}-{k}", channel, at, events,
                                 fresh=k == 0, mode=mode, variants=variants,
                                 phone_nodes=frozenset({"call_center"}))  # fmt: skip
                at += rng.uniform(10, 4000)
            at += rng.uniform(0.5, 3) * DAY


@pytest.fixture(scope="module")
def analytics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Analytics]:
    recorder = Analytics(str(Path(tmp_path_factory.mktemp("q")) / "a.db"))
    for record in random_turns(random.Random(5)):
        recorder.record(record)
    recorder.flush()
    yield recorder
    recorder.close()


def plain_experiment(db: Any, since: float) -> dict[tuple[str, str], list[Any]]:
    marks = ", ".join("?" for _ in EXP.goals)
    rows = db.execute(
        f"""SELECT v.variant, s.channel, COUNT(*), COUNT(DISTINCT s.conversation),
                SUM(EXISTS (SELECT 1 FROM a_goal g WHERE g.session = s.id
                            AND g.goal IN ({marks}))),
                SUM(s.handoff = 0 AND s.phone = 0 AND (s.ended = 1 OR s.goal = 1)),
                SUM(s.handoff), SUM(s.phone),
                SUM(s.ended = 0 AND s.handoff = 0 AND s.phone = 0 AND s.goal = 0
                    AND s.waiting = 1 AND s.last_at < ?),
                SUM(s.turns), SUM(s.csat IS NOT NULL), SUM(s.csat >= 4),
                SUM(s.nps IS NOT NULL), SUM(s.agent_s)
            FROM a_variant v JOIN a_session s ON s.id = v.session
            WHERE v.experiment = ? AND s.started_at >= ?
            GROUP BY v.variant, s.channel""",
        [*EXP.goals, NOW - EXP.abandon_after_s, EXP.name, since],
    ).fetchall()
    out: dict[tuple[str, str], list[Any]] = {}
    for variant, channel, *numbers in rows:
        out[(variant, channel)] = [n or 0 for n in numbers]
        total = out.setdefault((variant, ALL), [0] * len(numbers))
        out[(variant, ALL)] = [a + (n or 0) for a, n in zip(total, numbers, strict=True)]
    return out


def plain_daily(db: Any, since: float) -> dict[str, dict[int, dict[str, tuple[int, int]]]]:
    marks = ", ".join("?" for _ in EXP.goals)
    out: dict[str, dict[int, dict[str, tuple[int, int]]]] = {}
    for day, variant, n, conv, contained, csat_n, csat_good in db.execute(
        f"""SELECT CAST(s.started_at / 86400 AS INTEGER) AS day, v.variant, COUNT(*),
                SUM(EXISTS (SELECT 1 FROM a_goal g WHERE g.session = s.id
                            AND g.goal IN ({marks}))),
                SUM(s.handoff = 0 AND s.phone = 0 AND (s.ended = 1 OR s.goal = 1)),
                SUM(s.csat IS NOT NULL), SUM(s.csat >= 4)
            FROM a_variant v JOIN a_session s ON s.id = v.session
            WHERE v.experiment = ? AND s.started_at >= ?
            GROUP BY day, v.variant""",
        [*EXP.goals, EXP.name, since],
    ):
        out.setdefault("conversion", {}).setdefault(day, {})[variant] = (conv or 0, n)
        out.setdefault("containment", {}).setdefault(day, {})[variant] = (contained or 0, n)
        out.setdefault("csat", {}).setdefault(day, {})[variant] = (csat_good or 0, csat_n or 0)
    return out


def plain_funnel(db: Any, since: float, experiment: str | None) -> list[tuple[Any, ...]]:
    variant_sql = "COALESCE(v.variant, '-')" if experiment else "'all'"
    join = "LEFT JOIN a_variant v ON v.session = s.id AND v.experiment = ?" if experiment else ""
    args: list[Any] = [experiment] if experiment else []
    starts = dict(
        ((variant, channel), n)
        for variant, channel, n in db.execute(
            f"""SELECT {variant_sql}, s.channel, COUNT(*) FROM a_session s {join}
                WHERE s.started_at >= ? GROUP BY 1, 2""",
            [*args, since],
        )
    )
    dropped = dict(
        ((node, variant, channel), n)
        for node, variant, channel, n in db.execute(
            f"""SELECT s.last_node, {variant_sql}, s.channel, COUNT(*) FROM a_session s {join}
                WHERE s.started_at >= ? AND s.ended = 0 AND s.handoff = 0 AND s.phone = 0
                    AND s.goal = 0 AND s.last_node IS NOT NULL
                GROUP BY 1, 2, 3""",
            [*args, since],
        )
    )
    reached = db.execute(
        f"""SELECT n.node, {variant_sql}, s.channel, COUNT(*)
            FROM a_node n JOIN a_session s ON s.id = n.session {join}
            WHERE s.started_at >= ? GROUP BY 1, 2, 3""",
        [*args, since],
    ).fetchall()
    rank = {node: i for i, node in enumerate(NODES[:4])}
    steps = [
        (node, variant, channel, n, n / starts[(variant, channel)],
         dropped.get((node, variant, channel), 0))
        for node, variant, channel, n in reached
    ]  # fmt: skip
    steps.sort(key=lambda s: (s[1], s[2], rank.get(s[0], len(rank)), -s[3]))
    return steps


def report(db: Any, since: float | None, *experiments: Experiment) -> Report:
    chosen = {e.name: e for e in experiments}
    return build_report(db, chosen, now=NOW, since=since, node_order=NODES[:4])


@pytest.mark.parametrize("since", [None, T0 + 6 * DAY])
def test_experiment_rows_and_daily_looks_equal_the_plain_queries(
    analytics: Analytics, since: float | None
) -> None:
    db = analytics._db
    (exp,) = report(db, since, EXP).experiments
    plain = plain_experiment(db, since or 0.0)
    assert {(r.variant, r.channel) for r in exp.rows} == set(plain)
    for r in exp.rows:
        sessions, shoppers, conv, contained, handoff, phone, abandoned, turns, *rest = plain[
            (r.variant, r.channel)
        ]
        csat_n, csat_good, nps_n, agent_s = rest
        assert (r.conversations, r.shoppers) == (sessions, shoppers)
        assert [r.conversion.successes, r.containment.successes, r.handoff.successes,
                r.phone.successes, r.abandonment.successes] == [conv, contained, handoff,
                                                                phone, abandoned]  # fmt: skip
        assert (r.csat.successes, r.csat.n, r.nps_answers) == (csat_good, csat_n, nps_n)
        assert r.avg_turns == turns / sessions
        assert r.cost_per_conversation == pytest.approx(agent_s / 3600 * 36 / sessions)
    daily = plain_daily(db, since or 0.0)
    assert exp.looks == len({day for per in daily.values() for day in per})
    assert exp.comparisons
    for c in exp.comparisons:
        looks = cumulative_looks(daily[c.metric], c.control, c.variant)
        assert c.p_always_valid == always_valid_p(looks, EXP.min_effect)


@pytest.mark.parametrize("since", [None, T0 + 6 * DAY])
def test_funnel_equals_the_plain_queries(analytics: Analytics, since: float | None) -> None:
    db = analytics._db
    one = report(db, since, EXP).funnel  # per variant of the one experiment
    assert [(s.node, s.variant, s.channel, s.reached, s.share, s.dropped) for s in one] == (
        plain_funnel(db, since or 0.0, "bvc")
    )
    assert any(s.variant == "-" for s in one)  # sessions without a variant are kept apart
    both = report(db, since, EXP, OTHER).funnel  # several experiments: one group per channel
    assert [(s.node, s.variant, s.channel, s.reached, s.share, s.dropped) for s in both] == (
        plain_funnel(db, since or 0.0, None)
    )
