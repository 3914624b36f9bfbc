"""Experiments declared in flows.yaml: when they run, on what share of shoppers, what counts.

The split node says *where* shoppers are divided and into which variants; the `experiments:`
entry of the same name says *when* and *for whom*: start and stop dates, the share of shoppers
that enter it at all (`rollout`), where everyone goes once it stops (`winner`), and what the
report counts as success and satisfaction. A split without an entry runs always, for everyone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

from flows.diagnostics import did_you_mean
from flows.model import Experiment, Node
from flows.yamlsrc import Wild

KEYS = {
    "goals", "csat", "nps", "start", "stop", "rollout", "default", "winner", "abandon_after",
    "agent_cost_per_hour", "min_effect", "alpha",
}  # fmt: skip
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)\s*$")
_UNIT_S = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def split_variants(nodes: Mapping[str, Node]) -> dict[str, tuple[str, ...]]:
    """Each experiment's variant names, from the split nodes that divide shoppers for it."""
    out: dict[str, tuple[str, ...]] = {}
    for node in nodes.values():
        if node.split is not None:
            names = tuple(v.name for v in node.split.variants)
            out[node.split.experiment] = out.get(node.split.experiment, ()) + tuple(
                n for n in names if n not in out.get(node.split.experiment, ())
            )
    return out


def read_experiments(w: Wild | None, nodes: Mapping[str, Node]) -> dict[str, Experiment]:
    """`experiments:`, each name matched to its split nodes, with precise errors and fixes."""
    if w is None or not w.expect(dict, what="a mapping of experiment names to settings"):
        return {}
    splits = split_variants(nodes)
    out = {}
    for name, part in w.items():
        if name not in splits:
            w.diags.error(
                w.key_pos(name),
                f"experiment '{name}' has no split node",
                did_you_mean(name, splits, "experiment")
                if splits
                else f"add a node with 'split: {{experiment: {name}, variants: [...]}}'",
            )
            continue
        if part.value is None:
            out[name] = Experiment(name)
            continue
        if not part.expect(dict, what="a mapping of experiment settings"):
            continue
        part.only_keys(KEYS, f"experiment '{name}'")
        out[name] = _read_one(name, part, splits[name], nodes)
    return out


def _read_one(
    name: str, w: Wild, variants: tuple[str, ...], nodes: Mapping[str, Node]
) -> Experiment:
    fields: dict[str, object] = {}
    if (goals := w.get("goals")) is not None:
        known_goals = {n.goal for n in nodes.values() if n.goal}
        items = [goals] if isinstance(goals.value, str) else list(goals.elements())
        if isinstance(goals.value, str) or goals.expect(list, what="a list of goal names"):
            fields["goals"] = tuple(g for item in items if (g := _known(item, known_goals, "goal")))
    asked = {n.ask.variable for n in nodes.values() if n.ask is not None}
    for key in ("csat", "nps"):
        if (part := w.get(key)) is not None:
            fields[key] = _known(part, asked, "variable saved by a question")
    for key in ("start", "stop"):
        if (part := w.get(key)) is not None:
            fields[key] = _date(part)
    if (part := w.get("rollout")) is not None:
        fields["rollout"] = _share(part)
    for key in ("default", "winner"):
        if (part := w.get(key)) is not None and (text := part.str()) is not None:
            if text not in variants:
                part.diags.error(
                    part.pos,
                    f"'{text}' is not a variant of experiment '{name}'",
                    did_you_mean(text, variants, "variant"),
                )
            else:
                fields[key] = text
    if (part := w.get("abandon_after")) is not None:
        fields["abandon_after_s"] = _duration(part)
    if (part := w.get("agent_cost_per_hour")) is not None:
        fields["agent_cost_per_hour"] = part.number()
    for key, low, high in (("min_effect", 0.001, 0.5), ("alpha", 0.001, 0.2)):
        if (part := w.get(key)) is not None and (value := part.number()) is not None:
            if low <= value <= high:
                fields[key] = value
            else:
                part.diags.error(part.pos, f"'{part.path}' is {value:g}", f"use {low}-{high}")
    start, stop = fields.get("start"), fields.get("stop")
    if isinstance(start, date) and isinstance(stop, date) and stop <= start:
        w.diags.error(w.pos, f"experiment '{name}' stops before it starts", "swap the dates")
    return Experiment(name, **{k: v for k, v in fields.items() if v is not None})  # type: ignore[arg-type]


def _known(w: Wild, known: set[str], what: str) -> str | None:
    """A name the flow defines (a node's goal, a question's variable), or an error and None."""
    text = w.str()
    if text is not None and text not in known:
        fix = did_you_mean(text, known, what) if known else f"no node defines a {what} yet"
        w.diags.error(w.pos, f"'{text}' is not a {what} in this flow", fix)
        return None
    return text


def _date(w: Wild) -> date | None:
    if isinstance(w.value, date):
        return w.value
    try:
        return date.fromisoformat(str(w.value))
    except ValueError:
        w.diags.error(w.pos, f"'{w.value}' is not a date", "write dates as 2026-12-01")
        return None


def _share(w: Wild) -> float | None:
    """`rollout: 10%` or `rollout: 0.1`."""
    text = str(w.value).strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0 or isinstance(w.value, bool):
        w.diags.error(w.pos, f"rollout '{w.value}' is not a share", "write 10% or 0.1 (0-100%)")
        return None
    return value


def _duration(w: Wild) -> float | None:
    """`30m`, `2h`, `1d`, `90s` or a number of seconds."""
    if isinstance(w.value, (int, float)) and not isinstance(w.value, bool) and w.value > 0:
        return float(w.value)
    match = _DURATION.match(str(w.value))
    if not match or float(match[1]) <= 0:
        w.diags.error(w.pos, f"'{w.value}' is not a duration", "write 30m, 2h, 1d or 90s")
        return None
    return float(match[1]) * _UNIT_S[match[2]]
