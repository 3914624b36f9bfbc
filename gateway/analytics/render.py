"""The report as text for a terminal, JSON for tools, CSV for a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from gateway.analytics.report import Report
from gateway.analytics.stats import Rate


def _pct(rate: Rate) -> str:
    if rate.value is None:
        return "-"
    assert rate.low is not None and rate.high is not None
    return f"{rate.value:6.1%} [{rate.low:.1%}-{rate.high:.1%}]"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 60:.1f} min" if value >= 60 else f"{value:.0f} s"


def _day(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d") if ts else "the start"


def as_text(report: Report) -> str:
    out = [f"Report from {_day(report.since)} to {_day(report.generated_at)} (UTC)", ""]
    for exp in report.experiments:
        out.append(
            f"Experiment {exp.name} (control: {exp.control}; success: "
            f"{', '.join(exp.goals) or 'any goal'}; {exp.looks} daily looks)"
        )
        out.append(
            f"  {'variant':<12} {'channel':<10} {'shoppers':>8} {'convs':>7}  "
            f"{'conversion':<22} {'containment':<22} {'handoff':<22} {'abandoned':<22} "
            f"{'turns':>5}  {'CSAT 4-5':<22} {'NPS':>5}  {'cost/conv':>9}"
        )
        for r in exp.rows:
            nps = f"{r.nps:5.0f}" if r.nps is not None else "    -"
            cost = (
                f"{r.cost_per_conversation:9.2f}"
                if r.cost_per_conversation is not None
                else ("        -")
            )
            turns = f"{r.avg_turns:5.1f}" if r.avg_turns is not None else "    -"
            out.append(
                f"  {r.variant:<12} {r.channel:<10} {r.shoppers:>8} {r.conversations:>7}  "
                f"{_pct(r.conversion):<22} {_pct(r.containment):<22} {_pct(r.handoff):<22} "
                f"{_pct(r.abandonment):<22} {turns}  {_pct(r.csat):<22} {nps}  {cost}"
            )
        out.append("")
        for c in exp.comparisons:
            if c.difference is None:
                out.append(f"  {c.metric}, {c.variant} vs {c.control}: {c.verdict}")
                continue
            seq = c.always_valid_interval
            seq_text = f"{seq[0] * 100:+.1f} to {seq[1] * 100:+.1f}" if seq else "-"
            one = c.interval
            one_text = f"{one[0] * 100:+.1f} to {one[1] * 100:+.1f}" if one else "-"
            out.append(
                f"  {c.metric}, {c.variant} vs {c.control}: {c.difference * 100:+.1f} points "
                f"(always-valid {seq_text}; one-look {one_text}) -> {c.verdict}"
            )
        out += ["", f"  Method: {exp.method}", ""]
    if report.funnel:
        out.append("Funnel (sessions reaching each node; dropped = left there, unresolved)")
        for s in report.funnel:
            out.append(
                f"  {s.variant:<12} {s.channel:<10} {s.node:<24} {s.reached:>8} "
                f"{s.share:6.1%}  dropped {s.dropped}"
            )
        out.append("")
    if report.fallbacks:
        out.append("Not understood (add these as intent examples)")
        for f in report.fallbacks:
            out.append(f"  {f.count:>6}  {f.node:<20} {f.channel:<10} {f.phrase!r}")
        out.append("")
    if report.channels:
        out.append("Channels")
        for ch in report.channels:
            out.append(
                f"  {ch.channel:<10} conversations {ch.conversations}, handoffs {ch.handoffs}, "
                f"threads resolved {ch.threads_resolved}, first response "
                f"{_seconds(ch.first_response_median_s)} (median), resolution "
                f"{_seconds(ch.resolution_median_s)}, first-contact resolution "
                f"{_pct(ch.first_contact_resolution).strip()}, CSAT {_pct(ch.csat).strip()}"
            )
    return "\n".join(out).rstrip() + "\n"


def as_json(report: Report) -> str:
    data = asdict(report)
    _add_values(data)
    return json.dumps(data, indent=2, ensure_ascii=False)


def _add_values(node: Any) -> None:
    """Each rate gets its `value` beside successes/n/low/high, as the dataclass property."""
    if isinstance(node, dict):
        if {"successes", "n", "low", "high"} <= node.keys():
            node["value"] = node["successes"] / node["n"] if node["n"] else None
        for child in node.values():
            _add_values(child)
    elif isinstance(node, (list, tuple)):
        for child in node:
            _add_values(child)


def as_csv(report: Report) -> str:
    """One table: a `section` column says which part of the report each row belongs to."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "section",
            "experiment",
            "variant",
            "channel",
            "node",
            "metric",
            "value",
            "low",
            "high",
            "count",
            "n",
            "note",
        ]
    )
    for exp in report.experiments:
        for r in exp.rows:
            for metric in ("conversion", "containment", "handoff", "phone", "abandonment", "csat"):
                rate: Rate = getattr(r, metric)
                writer.writerow(
                    [
                        "variant",
                        exp.name,
                        r.variant,
                        r.channel,
                        "",
                        metric,
                        rate.value,
                        rate.low,
                        rate.high,
                        rate.successes,
                        rate.n,
                        "",
                    ]
                )
            writer.writerow(
                [
                    "variant",
                    exp.name,
                    r.variant,
                    r.channel,
                    "",
                    "avg_turns",
                    r.avg_turns,
                    "",
                    "",
                    "",
                    r.conversations,
                    "",
                ]
            )
            writer.writerow(
                [
                    "variant",
                    exp.name,
                    r.variant,
                    r.channel,
                    "",
                    "nps",
                    r.nps,
                    "",
                    "",
                    "",
                    r.nps_answers,
                    "",
                ]
            )
            writer.writerow(
                [
                    "variant",
                    exp.name,
                    r.variant,
                    r.channel,
                    "",
                    "cost_per_conversation",
                    r.cost_per_conversation,
                    "",
                    "",
                    "",
                    r.conversations,
                    "",
                ]
            )
        for c in exp.comparisons:
            low, high = c.always_valid_interval or (None, None)
            writer.writerow(
                [
                    "comparison",
                    exp.name,
                    c.variant,
                    "all",
                    "",
                    c.metric,
                    c.difference,
                    low,
                    high,
                    "",
                    c.needed_per_variant,
                    f"p_always_valid={c.p_always_valid:.4f}; {c.verdict}",
                ]
            )
    for s in report.funnel:
        writer.writerow(
            [
                "funnel",
                "",
                s.variant,
                s.channel,
                s.node,
                "reached",
                s.share,
                "",
                "",
                s.reached,
                "",
                f"dropped={s.dropped}",
            ]
        )
    for f in report.fallbacks:
        writer.writerow(
            ["fallback", "", "", f.channel, f.node, "phrase", f.phrase, "", "", f.count, "", ""]
        )
    for ch in report.channels:
        fcr = ch.first_contact_resolution
        writer.writerow(
            [
                "channel",
                "",
                "",
                ch.channel,
                "",
                "first_contact_resolution",
                fcr.value,
                fcr.low,
                fcr.high,
                fcr.successes,
                fcr.n,
                f"first_response_median_s={ch.first_response_median_s}; "
                f"resolution_median_s={ch.resolution_median_s}",
            ]
        )
    return buffer.getvalue()


FORMATS = {"text": as_text, "json": as_json, "csv": as_csv}
