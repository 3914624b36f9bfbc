"""Geometry for the dashboard's server-side SVG charts: numbers in, rectangles and labels out.

The template draws these as SVG attributes (no inline styles, no script), so the page works
under the inbox's strict Content-Security-Policy and every label is escaped by Jinja.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.analytics.report import FunnelStep
from gateway.analytics.stats import Rate

LABEL_W = 210  # room for the labels left of the bars
LABEL_MAX = 32  # characters; longer labels are cut with an ellipsis
PLOT_W = 440
ROW_H = 30
COLUMN_H = 120


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    text: str  # the value as written beside the bar
    y: float
    width: float  # of the bar, from x = LABEL_W
    low: float | None = None  # interval whisker ends (x), when there is an interval
    high: float | None = None
    tone: int = 0  # which of a few colours


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    text: str
    x: float
    height: float  # up from the axis, at most COLUMN_H


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    width: int
    height: int
    bars: tuple[Bar, ...]
    ticks: tuple[tuple[float, str], ...]  # (x, label) along the axis
    empty: str = ""  # shown instead of bars when there is nothing to draw
    columns: tuple[Column, ...] = ()
    left: int = LABEL_W  # where bars and columns start (labels end 6 px before)
    plot_w: int = PLOT_W


def _short(label: str) -> str:
    return label if len(label) <= LABEL_MAX else label[: LABEL_MAX - 1] + "…"


def _x(value: float, top: float) -> float:
    return LABEL_W + PLOT_W * (value / top if top else 0.0)


def rate_chart(title: str, rows: Sequence[tuple[str, Rate]]) -> Chart:
    """One bar per variant with its interval, on a 0-100% axis."""
    bars = []
    for i, (label, rate) in enumerate(rows):
        if rate.value is None:
            continue
        bars.append(
            Bar(
                label=_short(label),
                text=f"{rate.value:.1%} (n={rate.n})",
                y=10 + i * ROW_H,
                width=_x(rate.value, 1.0) - LABEL_W,
                low=_x(rate.low or 0.0, 1.0),
                high=_x(rate.high or 0.0, 1.0),
                tone=i % 4,
            )
        )
    ticks = tuple((_x(t / 4, 1.0), f"{t * 25}%") for t in range(5))
    return Chart(title, LABEL_W + PLOT_W + 150, 30 + ROW_H * max(len(rows), 1), tuple(bars),
                 ticks, "" if bars else "No data yet.")  # fmt: skip


def funnel_chart(steps: Iterable[FunnelStep], order: Sequence[str], limit: int = 12) -> Chart:
    """Sessions reaching each node, every channel added up, one colour per variant."""
    reached: dict[tuple[str, str], int] = defaultdict(int)
    for step in steps:
        reached[(step.node, step.variant)] += step.reached
    variants = sorted({v for _, v in reached})
    rank = {node: i for i, node in enumerate(order)}
    nodes = sorted({n for n, _ in reached}, key=lambda n: (rank.get(n, len(rank)), n))[:limit]
    top = max(reached.values(), default=0)
    bars: list[Bar] = []
    for node, variant in ((n, v) for n in nodes for v in variants):
        count = reached.get((node, variant), 0)
        if not count:
            continue  # a node this variant never leads to
        i = len(bars)
        bars.append(
            Bar(
                label=_short(f"{node} · {variant}" if len(variants) > 1 else node),
                text=f"{count:,}",
                y=10 + i * (ROW_H - 6),
                width=_x(count, top) - LABEL_W,
                tone=variants.index(variant) % 4,
            )
        )
    ticks = tuple((_x(top * t / 4, top), f"{round(top * t / 4):,}") for t in range(5))
    height = 30 + (ROW_H - 6) * max(len(bars), 1)
    return Chart("Funnel: sessions reaching each node", LABEL_W + PLOT_W + 150, height,
                 tuple(bars), ticks if top else (), "" if bars else "No data yet.")  # fmt: skip


def columns_chart(title: str, days: Sequence[tuple[str, int]], limit: int = 60) -> Chart:
    """A column per day (the latest `limit` days), up from the axis."""
    days = list(days)[-limit:]
    top = max((n for _, n in days), default=0)
    step = PLOT_W / max(len(days), 1)
    columns = tuple(
        Column(day, str(n), LABEL_W + i * step, COLUMN_H * (n / top if top else 0))
        for i, (day, n) in enumerate(days)
    )
    return Chart(title, LABEL_W + PLOT_W + 20, COLUMN_H + 50, (), (),
                 "" if columns else "No data yet.", columns)  # fmt: skip
