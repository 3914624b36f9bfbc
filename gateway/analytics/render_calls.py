"""The calls part of the report, as text (within 100 columns) and CSV rows."""

from __future__ import annotations

from typing import Any

from gateway.analytics.call_report import ArmCalls, CallSummary

NONE_YET = "no calls imported yet"
WHERE_FROM = "gateway import calls FILE.csv, or Twilio Voice status callbacks to /webhooks/voice"


def _calls(n: int) -> str:
    return f"{n} call{'s' * (n != 1)}"


def _cost(arm: ArmCalls) -> str:
    if arm.cost is None:
        return "-"
    partial = f" ({arm.costed} of {_calls(arm.calls)})" if arm.costed < arm.calls else ""
    return f"{arm.cost:.2f}{partial}"


def call_lines(summary: CallSummary | None) -> list[str]:
    """The experiment's calls per arm, joined by the caller's WhatsApp number."""
    if summary is None or summary.calls_ever == 0:
        return [f"  Calls: {NONE_YET}", f"    ({WHERE_FROM})"]
    out = [
        "  Calls (joined to the arm of the shopper whose WhatsApp number called)",
        f"    {'arm':<16} {'calls':>7} {'answered':>9} {'minutes':>9}  cost",
    ]
    for arm in summary.arms:
        out.append(
            f"    {arm.arm[:16]:<16} {arm.calls:>7} {arm.answered:>9} {arm.minutes:>9.1f}  "
            f"{_cost(arm)}"
        )
    u = summary.unattributed
    out.append(
        f"    Unattributed (callers never seen in this experiment): {_calls(u.calls)}, "
        f"{u.answered} answered, {u.minutes:.1f} min, cost {_cost(u)}"
        if u.calls
        else "    Unattributed: none (every caller's number was seen in this experiment)"
    )
    return out


def call_csv_rows(experiment: str, summary: CallSummary | None) -> list[dict[str, Any]]:
    """Rows of section "calls", one per arm and metric, the unattributed under variant '';
    none before any call was imported (the text says so; a spreadsheet needs no empty rows)."""
    if summary is None or summary.calls_ever == 0:
        return []
    rows: list[dict[str, Any]] = []
    for arm in (*summary.arms, summary.unattributed):
        at = {"section": "calls", "experiment": experiment, "variant": arm.arm, "channel": "phone"}
        rows += [
            {**at, "metric": "calls", "count": arm.calls},
            {**at, "metric": "answered", "count": arm.answered, "n": arm.calls},
            {**at, "metric": "minutes", "value": round(arm.minutes, 2), "n": arm.calls},
            {**at, "metric": "cost", "value": arm.cost, "count": arm.costed, "n": arm.calls},
        ]
    return rows
