"""The report as text for a terminal, JSON for tools, CSV for a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from flows.i18n.languages import info
from gateway.analytics.render_calls import call_csv_rows, call_lines
from gateway.analytics.report import FallbackPhrase, Report
from gateway.analytics.stats import Rate

UNKNOWN_LANGUAGE = "unknown language"  # fallbacks recorded before their language was kept


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


def language_name(code: str) -> str:
    """A fallback's language for the marketer: "Polish (pl)", the bare code when it is not a
    known one, "unknown language" when it was not recorded."""
    if not code:
        return UNKNOWN_LANGUAGE
    english = info(code).english
    return f"{english} ({code})" if english != code else code


def by_language(
    fallbacks: Iterable[FallbackPhrase],
) -> list[tuple[str, list[FallbackPhrase]]]:
    """The phrases per language code, each language where its most frequent phrase is (the
    report lists them most frequent first), the phrases in their order within it."""
    groups: dict[str, list[FallbackPhrase]] = {}
    for f in fallbacks:
        groups.setdefault(f.language, []).append(f)
    return list(groups.items())


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
        out += ["", *call_lines(exp.calls), "", f"  Method: {exp.method}", ""]
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
        for language, phrases in by_language(report.fallbacks):
            out.append(f"  {language_name(language)}")
            for f in phrases:
                out.append(f"    {f.count:>6}  {f.node:<20} {f.channel:<10} {f.phrase!r}")
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


CSV_FIELDS = ("section", "experiment", "variant", "channel", "node", "metric", "value", "low",
              "high", "count", "n", "note", "language")  # fmt: skip


def _rate_row(rate: Rate) -> dict[str, Any]:
    return {"value": rate.value, "low": rate.low, "high": rate.high,
            "count": rate.successes, "n": rate.n}  # fmt: skip


def as_csv(report: Report) -> str:
    """One table: a `section` column says which part of the report each row belongs to."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_FIELDS, restval="")
    writer.writeheader()
    for exp in report.experiments:
        for r in exp.rows:
            at = {"section": "variant", "experiment": exp.name, "variant": r.variant,
                  "channel": r.channel}  # fmt: skip
            for metric in ("conversion", "containment", "handoff", "phone", "abandonment", "csat"):
                writer.writerow({**at, "metric": metric, **_rate_row(getattr(r, metric))})
            writer.writerow({**at, "metric": "avg_turns", "value": r.avg_turns,
                             "n": r.conversations})  # fmt: skip
            writer.writerow({**at, "metric": "nps", "value": r.nps, "n": r.nps_answers})
            writer.writerow({**at, "metric": "cost_per_conversation",
                             "value": r.cost_per_conversation, "n": r.conversations})  # fmt: skip
        for c in exp.comparisons:
            low, high = c.always_valid_interval or (None, None)
            note = f"p_always_valid={c.p_always_valid:.4f}; {c.verdict}"
            writer.writerow({"section": "comparison", "experiment": exp.name,
                             "variant": c.variant, "channel": "all", "metric": c.metric,
                             "value": c.difference, "low": low, "high": high,
                             "n": c.needed_per_variant, "note": note})  # fmt: skip
        writer.writerows(call_csv_rows(exp.name, exp.calls))
    for s in report.funnel:
        writer.writerow({"section": "funnel", "variant": s.variant, "channel": s.channel,
                         "node": s.node, "metric": "reached", "value": s.share,
                         "count": s.reached, "note": f"dropped={s.dropped}"})  # fmt: skip
    for f in report.fallbacks:
        writer.writerow({"section": "fallback", "channel": f.channel, "node": f.node,
                         "metric": "phrase", "value": f.phrase, "count": f.count,
                         "language": f.language})  # fmt: skip
    for ch in report.channels:
        writer.writerow({"section": "channel", "channel": ch.channel,
                         "metric": "first_contact_resolution",
                         **_rate_row(ch.first_contact_resolution),
                         "note": f"first_response_median_s={ch.first_response_median_s}; "
                                 f"resolution_median_s={ch.resolution_median_s}"})  # fmt: skip
    return buffer.getvalue()


FORMATS = {"text": as_text, "json": as_json, "csv": as_csv}
