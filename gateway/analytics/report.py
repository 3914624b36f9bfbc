"""The report: experiments per variant and channel, the funnel, what the bot did not understand,
and how agents do per channel; computed from the analytics tables with grouped, indexed
queries, never by reading events one by one."""

from __future__ import annotations

import json
import sqlite3
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flows.model import Experiment
from gateway.analytics.call_report import CallSummary, call_summary
from gateway.analytics.stats import (
    Look,
    Rate,
    always_valid_p,
    confidence_sequence,
    difference_interval,
    needed_per_variant,
    wilson,
)

ALL = "all"  # the channel of the rows that add every channel up
FCR_DAYS = 7.0  # a thread is a first-contact resolution if no new one follows within this
METRICS = ("conversion", "containment", "csat")  # compared between variants, first is primary


@dataclass(frozen=True, slots=True)
class VariantStats:
    variant: str
    channel: str
    shoppers: int
    conversations: int
    conversion: Rate
    containment: Rate
    handoff: Rate
    phone: Rate
    abandonment: Rate
    avg_turns: float | None
    csat: Rate  # share of 4-5 answers among those who answered
    nps: float | None
    nps_answers: int
    cost_per_conversation: float | None


@dataclass(frozen=True, slots=True)
class Comparison:
    metric: str
    variant: str
    control: str
    difference: float | None  # rate(variant) - rate(control)
    interval: tuple[float, float] | None  # Newcombe, valid for one look
    always_valid_interval: tuple[float, float] | None  # valid however often one looks
    p_always_valid: float
    verdict: str
    needed_per_variant: int | None


@dataclass(frozen=True, slots=True)
class ExperimentReport:
    name: str
    control: str
    goals: tuple[str, ...]
    rows: tuple[VariantStats, ...]
    comparisons: tuple[Comparison, ...]
    looks: int  # days of data the sequential test looked at
    method: str
    calls: CallSummary | None = None  # phone calls per arm (gateway/analytics/call_report.py)


@dataclass(frozen=True, slots=True)
class FunnelStep:
    node: str
    variant: str
    channel: str
    reached: int
    share: float  # of the sessions that started in this group
    dropped: int  # sessions whose shopper left here (last seen here, nothing resolved)


@dataclass(frozen=True, slots=True)
class FallbackPhrase:
    node: str
    channel: str
    phrase: str
    count: int
    language: str = ""  # BCP 47 code of the shopper's language; '' when not known (older rows)


@dataclass(frozen=True, slots=True)
class ChannelStats:
    channel: str
    conversations: int
    handoffs: int
    threads_resolved: int
    first_response_median_s: float | None
    resolution_median_s: float | None
    first_contact_resolution: Rate
    csat: Rate


@dataclass(frozen=True, slots=True)
class Report:
    generated_at: float
    since: float | None
    experiments: tuple[ExperimentReport, ...] = ()
    funnel: tuple[FunnelStep, ...] = ()
    fallbacks: tuple[FallbackPhrase, ...] = ()
    fallbacks_by_day: tuple[tuple[str, int], ...] = ()
    channels: tuple[ChannelStats, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


METHOD = (
    "Rates with 95% Wilson intervals. Differences against the control with Newcombe's interval "
    "(valid for one look) and an always-valid interval and p-value from a mixture sequential "
    "probability ratio test (mSPRT, normal mixture with scale = the smallest effect worth "
    "detecting) evaluated at the end of every day of data, so looking every day does not "
    "inflate false winners. A winner is named only when the always-valid p-value is below "
    "alpha; until then the report gives the sample size still needed (fixed-horizon power "
    "0.8, a lower bound for the sequential test)."
)


def build_report(
    db: sqlite3.Connection,
    experiments: Mapping[str, Experiment],
    now: float,
    since: float | None = None,
    only: str | None = None,
    node_order: Sequence[str] = (),
    top_fallbacks: int = 20,
) -> Report:
    chosen = [e for name, e in experiments.items() if only is None or name == only]
    if only is not None and not chosen:
        raise KeyError(f"no experiment '{only}' in flows.yaml; known: {', '.join(experiments)}")
    reports = tuple(_experiment(db, e, now, since) for e in chosen)
    funnel_experiment = chosen[0].name if len(chosen) == 1 else None
    return Report(
        generated_at=now,
        since=since,
        experiments=reports,
        funnel=tuple(_funnel(db, since, funnel_experiment, node_order)),
        fallbacks=tuple(_fallbacks(db, since, top_fallbacks)),
        fallbacks_by_day=tuple(_fallbacks_by_day(db, since)),
        channels=tuple(_channels(db, since)),
    )


# ---- experiments ----


def _success_sql(experiment: Experiment) -> tuple[str, list[Any]]:
    if not experiment.goals:
        return "s.goal", []
    marks = ", ".join("?" for _ in experiment.goals)
    # a_goal rows are written with goal = 1 in the same transaction, so only sessions with a
    # goal need the lookup (CASE skips it for the others; AND would not).
    return (
        f"""CASE WHEN s.goal = 1 THEN EXISTS (SELECT 1 FROM a_goal g
                WHERE g.session = s.id AND g.goal IN ({marks})) ELSE 0 END""",
        list(experiment.goals),
    )


def _experiment(
    db: sqlite3.Connection, experiment: Experiment, now: float, since: float | None
) -> ExperimentReport:
    success, args = _success_sql(experiment)
    # The experiment's sessions through its variant index, or, with --since, through the
    # started_at index, so the cost follows the window rather than the whole history.
    if since is None:
        source = "a_variant v JOIN a_session s ON s.id = v.session WHERE v.experiment = ?"
        window: list[Any] = [experiment.name]
    else:
        source = """a_session s CROSS JOIN a_variant v ON v.session = s.id
            WHERE v.experiment = ? AND s.started_at >= ?"""
        window = [experiment.name, since]
    # One pass counts per variant, channel and day: the table adds the days up, the daily
    # looks add the channels up. Shoppers (distinct conversations do not add up over days) and
    # agent time come from a second, narrow pass.
    per_day = db.execute(
        f"""SELECT v.variant, s.channel, CAST(s.started_at / 86400 AS INTEGER), COUNT(*),
                SUM({success}),
                SUM(s.handoff = 0 AND s.phone = 0 AND (s.ended = 1 OR s.goal = 1)),
                SUM(s.handoff), SUM(s.phone),
                SUM(s.ended = 0 AND s.handoff = 0 AND s.phone = 0 AND s.goal = 0
                    AND s.waiting = 1 AND s.last_at < ?),
                SUM(s.turns), SUM(s.csat IS NOT NULL), SUM(s.csat >= 4),
                SUM(s.nps IS NOT NULL), SUM(s.nps >= 9), SUM(s.nps <= 6)
            FROM {source}
            GROUP BY 1, 2, 3""",
        [*args, now - experiment.abandon_after_s, *window],
    ).fetchall()
    shoppers = db.execute(
        f"""SELECT v.variant, s.channel, COUNT(DISTINCT s.conversation), SUM(s.agent_s)
            FROM {source}
            GROUP BY 1, 2""",
        window,
    ).fetchall()
    summed: dict[tuple[str, str], list[int]] = {}
    for variant, channel, _day, *numbers in per_day:
        total = summed.setdefault((variant, channel), [0] * len(numbers))
        summed[(variant, channel)] = [a + (b or 0) for a, b in zip(total, numbers, strict=True)]
    groups: dict[tuple[str, str], list[float]] = {}
    for variant, channel, distinct, agent_s in shoppers:  # sorted by variant, channel
        sessions, *counts = summed[(variant, channel)]
        numbers = [sessions, distinct, *counts, agent_s]
        groups[(variant, channel)] = [n or 0 for n in numbers]
        overall = groups.setdefault((variant, ALL), [0] * len(numbers))
        groups[(variant, ALL)] = [a + (b or 0) for a, b in zip(overall, numbers, strict=True)]
    stats = tuple(
        _variant_stats(variant, channel, counts, experiment)
        for (variant, channel), counts in sorted(groups.items(), key=_row_order)
    )
    variants = sorted({v for v, _ in groups})
    control = experiment.default or (variants[0] if variants else "")
    daily = _daily(per_day)
    comparisons = tuple(
        _compare(metric, variant, control, stats, daily.get(metric, {}), experiment)
        for metric in METRICS
        for variant in variants
        if variant != control
    )
    looks = len({day for per_metric in daily.values() for day in per_metric})
    return ExperimentReport(
        experiment.name, control, experiment.goals, stats, comparisons, looks, METHOD,
        call_summary(db, experiment.name, variants, since),
    )  # fmt: skip


def _row_order(item: tuple[tuple[str, str], Any]) -> tuple[str, int, str]:
    (variant, channel), _ = item
    return variant, channel != ALL, channel


def _variant_stats(
    variant: str, channel: str, n: list[float], experiment: Experiment
) -> VariantStats:
    sessions, shoppers, success, contained, handoff, phone, abandoned = (int(x) for x in n[:7])
    turns, csat_n, csat_good, nps_n, promoters, detractors, agent_s = n[7:]
    rate_per_hour = experiment.agent_cost_per_hour
    return VariantStats(
        variant=variant,
        channel=channel,
        shoppers=shoppers,
        conversations=sessions,
        conversion=wilson(success, sessions),
        containment=wilson(contained, sessions),
        handoff=wilson(handoff, sessions),
        phone=wilson(phone, sessions),
        abandonment=wilson(abandoned, sessions),
        avg_turns=turns / sessions if sessions else None,
        csat=wilson(int(csat_good), int(csat_n)),
        nps=100.0 * (promoters - detractors) / nps_n if nps_n else None,
        nps_answers=int(nps_n),
        cost_per_conversation=(
            agent_s / 3600 * rate_per_hour / sessions if rate_per_hour and sessions else None
        ),
    )


def _daily(
    per_day: Iterable[Sequence[Any]],
) -> dict[str, dict[int, dict[str, tuple[int, int]]]]:
    """metric -> day -> variant -> (successes, n) of the sessions that started that day."""
    sums: dict[tuple[int, str], list[int]] = {}
    for variant, _channel, day, n, conv, contained, *_, csat_n, csat_good, _n, _p, _d in per_day:
        total = sums.setdefault((day, variant), [0, 0, 0, 0, 0])
        for i, value in enumerate((n, conv, contained, csat_n, csat_good)):
            total[i] += value or 0
    out: dict[str, dict[int, dict[str, tuple[int, int]]]] = defaultdict(dict)
    for (day, variant), (n, conv, contained, csat_n, csat_good) in sorted(sums.items()):
        out["conversion"].setdefault(day, {})[variant] = (conv, n)
        out["containment"].setdefault(day, {})[variant] = (contained, n)
        out["csat"].setdefault(day, {})[variant] = (csat_good, csat_n)
    return out


def cumulative_looks(
    per_day: Mapping[int, Mapping[str, tuple[int, int]]], control: str, variant: str
) -> list[Look]:
    """One look at the end of each day of data, with everything up to that day."""
    a_s = a_n = b_s = b_n = 0
    looks = []
    for day in sorted(per_day):
        s, n = per_day[day].get(control, (0, 0))
        a_s, a_n = a_s + s, a_n + n
        s, n = per_day[day].get(variant, (0, 0))
        b_s, b_n = b_s + s, b_n + n
        looks.append(Look(a_s, a_n, b_s, b_n))
    return looks


def _compare(
    metric: str,
    variant: str,
    control: str,
    stats: Iterable[VariantStats],
    per_day: Mapping[int, Mapping[str, tuple[int, int]]],
    experiment: Experiment,
) -> Comparison:
    overall = {s.variant: s for s in stats if s.channel == ALL}
    a, b = getattr(overall.get(control), metric, None), getattr(overall.get(variant), metric, None)
    looks = cumulative_looks(per_day, control, variant)
    tau, alpha = experiment.min_effect, experiment.alpha
    p = always_valid_p(looks, tau)
    if a is None or b is None or a.value is None or b.value is None:
        return Comparison(
            metric,
            variant,
            control,
            None,
            None,
            None,
            p,
            f"not enough data yet: no {metric} data for both variants",
            None,
        )
    diff = b.value - a.value
    needed = needed_per_variant(a.value, experiment.min_effect, alpha)
    sequence = confidence_sequence(looks[-1], tau, alpha) if looks else None
    points = f"{abs(diff) * 100:.1f} points"
    if p <= alpha:
        better = "higher" if diff > 0 else "lower"
        p_text = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
        verdict = f"{variant} is {better} than {control} by {points} (always-valid {p_text})"
    else:
        more = max(needed - min(a.n, b.n), 0)
        if more:
            verdict = (
                f"not enough data yet: about {more} more per variant to detect "
                f"{experiment.min_effect * 100:g} points"
            )
        else:
            verdict = f"no difference of {experiment.min_effect * 100:g} points or more shown yet"
    return Comparison(
        metric,
        variant,
        control,
        diff,
        difference_interval(b, a, alpha),
        sequence,
        p,
        verdict,
        needed,
    )


# ---- funnel, fallbacks, channels ----


def _funnel(
    db: sqlite3.Connection, since: float | None, experiment: str | None, order: Sequence[str]
) -> list[FunnelStep]:
    """One pass over the sessions: each session's group, where it was dropped and the set of
    nodes it reached (its a_node rows, read in key order next to it), then counted per
    distinct (group, dropped at, set of nodes). A million sessions walk a few hundred
    distinct sets through a tree, so the grouping sorts a row per session, not per node."""
    variant_sql = "COALESCE(v.variant, '-')" if experiment else "'all'"
    join = "LEFT JOIN a_variant v ON v.session = s.id AND v.experiment = ?" if experiment else ""
    args: list[Any] = [experiment] if experiment else []
    # Sessions in id order (a plain scan) or, from a day on, in started_at order (its index):
    # either way each session's a_node rows are read next to it, with no sort.
    if since is None:
        window, per_session = "", "s.id"
    else:
        window, per_session = "WHERE s.started_at >= ?", "s.started_at, s.id"
        args.append(since)
    rows = db.execute(
        f"""SELECT variant, channel, dropped_at, nodes, COUNT(*) FROM (
                SELECT {variant_sql} AS variant, s.channel AS channel,
                    CASE WHEN s.ended = 0 AND s.handoff = 0 AND s.phone = 0 AND s.goal = 0
                        THEN s.last_node END AS dropped_at,
                    json_group_array(n.node) AS nodes
                FROM a_session s {join} LEFT JOIN a_node n ON n.session = s.id
                {window}
                GROUP BY {per_session})
            GROUP BY 1, 2, 3, 4""",
        args,
    )
    starts: dict[tuple[str, str], int] = defaultdict(int)
    dropped: dict[tuple[str, str, str], int] = defaultdict(int)
    reached: dict[tuple[str, str, str], int] = defaultdict(int)
    for variant, channel, dropped_at, nodes, n in rows:
        starts[(variant, channel)] += n
        if dropped_at is not None:
            dropped[(dropped_at, variant, channel)] += n
        for node in json.loads(nodes):
            if node is not None:  # a session without nodes (LEFT JOIN)
                reached[(node, variant, channel)] += n
    rank = {node: i for i, node in enumerate(order)}
    steps = [
        FunnelStep(
            node,
            variant,
            channel,
            n,
            n / starts[(variant, channel)] if starts.get((variant, channel)) else 0.0,
            dropped.get((node, variant, channel), 0),
        )
        for (node, variant, channel), n in sorted(reached.items())
    ]
    steps.sort(key=lambda s: (s.variant, s.channel, rank.get(s.node, len(rank)), -s.reached))
    return steps


def _fallbacks(db: sqlite3.Connection, since: float | None, top: int) -> list[FallbackPhrase]:
    """The `top` most frequent phrases, counted apart per language (the same words from a
    Polish and an English shopper are two lines: each is taught to its language's intents)."""
    rows = db.execute(
        """SELECT node, channel, phrase, COUNT(*) AS c, language FROM a_fallback WHERE at >= ?
           GROUP BY node, channel, phrase, language ORDER BY c DESC, phrase, language LIMIT ?""",
        (since or 0.0, top),
    )
    return [FallbackPhrase(*row) for row in rows]


def _fallbacks_by_day(db: sqlite3.Connection, since: float | None) -> list[tuple[str, int]]:
    rows = db.execute(
        """SELECT date(CAST(at / 86400 AS INTEGER) * 86400, 'unixepoch') AS day, COUNT(*)
           FROM a_fallback WHERE at >= ? GROUP BY day ORDER BY day""",
        (since or 0.0,),
    )
    return [(str(day), int(n)) for day, n in rows]


def _channels(db: sqlite3.Connection, since: float | None) -> list[ChannelStats]:
    sessions = {
        channel: (n, handoffs, csat_n or 0, csat_good or 0)
        for channel, n, handoffs, csat_n, csat_good in db.execute(
            """SELECT channel, COUNT(*), SUM(handoff), SUM(csat IS NOT NULL), SUM(csat >= 4)
               FROM a_session WHERE started_at >= ? GROUP BY channel""",
            (since or 0.0,),
        )
    }
    threads: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in db.execute(
        """SELECT t.channel, t.created_at, t.first_response_at, t.resolved_at, t.outcome,
                  (SELECT MIN(l.created_at) FROM a_thread l
                   WHERE l.conversation = t.conversation AND l.created_at > t.created_at)
           FROM a_thread t WHERE t.created_at >= ? AND t.resolved_at IS NOT NULL""",
        (since or 0.0,),
    ):
        threads[row[0]].append(row[1:])
    out = []
    for channel in sorted(set(sessions) | set(threads)):
        n, handoffs, csat_n, csat_good = sessions.get(channel, (0, 0, 0, 0))
        rows = threads.get(channel, [])
        first = [r[1] - r[0] for r in rows if r[1] is not None]
        resolution = [r[2] - r[0] for r in rows]
        solved = [r for r in rows if r[3] == "solved"]
        first_contact = sum(1 for r in solved if r[4] is None or r[4] - r[2] > FCR_DAYS * 86400)
        out.append(
            ChannelStats(
                channel=channel,
                conversations=n,
                handoffs=int(handoffs or 0),
                threads_resolved=len(rows),
                first_response_median_s=statistics.median(first) if first else None,
                resolution_median_s=statistics.median(resolution) if resolution else None,
                first_contact_resolution=wilson(first_contact, len(rows)),
                csat=wilson(int(csat_good), int(csat_n)),
            )
        )
    return out
