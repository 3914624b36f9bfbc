"""A picture of the conversation tree: Mermaid (for docs and pull requests) and Graphviz DOT.

Pure: a `Flow` in, text out, no I/O. Both formats are drawn from one neutral description
(`_Picture`), so they always show the same boxes and arrows. Everything a marketer wrote is
untrusted here (quotes, `<script>`, emoji, newlines), so every label is escaped for its format,
and node names are replaced by safe identifiers (the real name is shown in the label).
The output is deterministic: the same flow always gives the same text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from flows.model import Flow, Node, Text

Style = Literal["solid", "dashed"]

SAY_CHARS = 44  # excerpt of what a node says or asks
URL_CHARS = 52  # excerpt of a call's URL template
EDGE_CHARS = 32  # excerpt of a button title or switch condition
_SAFE_ID = re.compile(r"^[A-Za-z0-9_]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

# Mermaid shapes (open, close) and Graphviz attributes, per kind of node.
_MERMAID_SHAPES: dict[str, tuple[str, str]] = {
    "say": ("[", "]"),
    "menu": ("(", ")"),
    "ask": ("[/", "/]"),
    "call": ("[[", "]]"),
    "switch": ("{", "}"),
    "split": ("{{", "}}"),
    "handoff": ("[/", "\\]"),
    "end": ("([", "])"),
    "stop": ("([", "])"),
    "missing": ("[", "]"),
    "intent": ("(", ")"),
}
_COLOURS: dict[str, tuple[str, str]] = {  # fill, stroke
    "say": ("#ffffff", "#6b7280"),
    "menu": ("#e0f2fe", "#0369a1"),
    "ask": ("#ede9fe", "#6d28d9"),
    "call": ("#ecfccb", "#4d7c0f"),
    "switch": ("#f1f5f9", "#475569"),
    "split": ("#fef3c7", "#b45309"),
    "handoff": ("#ffe4e6", "#be123c"),
    "end": ("#e5e7eb", "#111827"),
    "stop": ("#fecaca", "#7f1d1d"),
    "missing": ("#fee2e2", "#dc2626"),
    "intent": ("#f5f5f4", "#78716c"),
}
_DOT_SHAPES: dict[str, str] = {
    "say": "box",
    "menu": "box",
    "ask": "parallelogram",
    "call": "component",
    "switch": "diamond",
    "split": "hexagon",
    "handoff": "trapezium",
    "end": "doubleoctagon",
    "stop": "doubleoctagon",
    "missing": "box",
    "intent": "box",
}


@dataclass(frozen=True, slots=True)
class _Box:
    key: str  # the safe identifier used in both formats
    lines: tuple[str, ...]  # plain text; escaped only when written out
    kind: str
    start: bool = False


@dataclass(frozen=True, slots=True)
class _Edge:
    source: str
    target: str
    label: str
    style: Style = "solid"


@dataclass(slots=True)
class _Picture:
    title: str
    boxes: list[_Box] = field(default_factory=list)
    edges: list[_Edge] = field(default_factory=list)
    globals: list[_Box] = field(default_factory=list)  # intents, person button, fallback
    global_edges: list[_Edge] = field(default_factory=list)
    start_edges: list[_Edge] = field(default_factory=list)


# ---- the neutral description ----


def _picture(flow: Flow) -> _Picture:
    keys = _node_keys(list(flow.nodes))
    file = flow.file.replace("\\", "/").rsplit("/", 1)[-1]  # the name only, not the server's path
    pic = _Picture(title=_clean(f"{file} (version {flow.version})"))

    def key_of(node_id: str) -> str:
        if node_id not in keys:  # a hand-built Flow pointing nowhere: show it, in red
            keys[node_id] = f"missing{len(keys)}"
            pic.boxes.append(_Box(keys[node_id], (node_id, "missing node!"), "missing"))
        return keys[node_id]

    settings = flow.settings
    for node_id, node in flow.nodes.items():
        pic.boxes.append(_node_box(keys[node_id], node, node_id == settings.start))
    for node_id, node in flow.nodes.items():
        for target, label in _node_edges(node):
            pic.edges.append(_Edge(keys[node_id], key_of(target), label))

    pic.start_edges.append(_Edge("flow_start", key_of(settings.start), ""))
    if settings.resume_at != settings.start:
        pic.start_edges.append(
            _Edge("flow_resume", key_of(settings.resume_at), "after a reload", "dashed")
        )
    for i, intent in enumerate(flow.intents):
        words = ", ".join(intent.keywords[:4]) + (", …" if len(intent.keywords) > 4 else "")
        intent_lines = [f"intent: {intent.name}"]
        if words:
            intent_lines.append(_short(words, SAY_CHARS))
        if intent.examples:
            intent_lines.append(_short(f"“{intent.examples[0]}”", SAY_CHARS))
        pic.globals.append(_Box(f"intent{i}", tuple(intent_lines), "intent"))
        pic.global_edges.append(_Edge(f"intent{i}", key_of(intent.goto), "", "dashed"))
    if settings.person_button is not None:
        person = settings.person_button
        lines = ("person button", _short(person.title, EDGE_CHARS))
        pic.globals.append(_Box("person_button", lines, "intent"))
        pic.global_edges.append(_Edge("person_button", key_of(person.goto), "", "dashed"))
    if settings.fallback_then is not None:
        lines = ("fallback", f"after {settings.max_misses} misses in a row")
        pic.globals.append(_Box("fallback", lines, "intent"))
        pic.global_edges.append(_Edge("fallback", key_of(settings.fallback_then), "", "dashed"))
    return pic


def _node_keys(node_ids: list[str]) -> dict[str, str]:
    """Node name → identifier safe in both formats, unique, and never a reserved word.

    Plain names become `n_name`; names with other characters get their position as well,
    so two names that clean up the same way stay apart.
    """
    out: dict[str, str] = {}
    for i, node_id in enumerate(node_ids):
        if _SAFE_ID.match(node_id):
            out[node_id] = f"n_{node_id}"
        else:
            out[node_id] = f"x{i}_" + re.sub(r"[^A-Za-z0-9_]", "_", node_id)[:40]
    return out


def _kind(node: Node) -> str:
    if node.split is not None:
        return "split"
    if node.handoff is not None:
        return "handoff"
    if node.end:
        return "stop" if node.end == "stop" else "end"
    if node.call is not None:
        return "call"
    if node.switch:
        return "switch"
    if node.ask is not None:
        return "ask"
    if node.buttons:
        return "menu"
    return "say"


def _node_box(key: str, node: Node, start: bool) -> _Box:
    kind = _kind(node)
    lines = [f"▶ {node.id}" if start else node.id]
    if node.say is not None:
        lines.append(_say(node.say))
    if node.ask is not None:
        ask = node.ask
        lines.append("ask: " + _say(ask.prompt))
        check = "" if ask.validation.kind == "any" else f" ({ask.validation.kind})"
        lines.append(f"saves vars.{ask.variable}{check}")
    if node.assign:
        lines.append(_short("set " + ", ".join(name for name, _ in node.assign), SAY_CHARS))
    if node.call is not None:
        lines.append(_short(f"{node.call.method} {node.call.url.source}", URL_CHARS))
        if node.call.save:
            lines.append(f"saves vars.{node.call.save}")
    if node.split is not None:
        lines.append(f"A/B split: {node.split.experiment}")
    if node.handoff is not None:
        lines.append(f"handoff to queue: {node.handoff.queue}")
        if node.handoff.reason:
            lines.append(_short(node.handoff.reason, SAY_CHARS))
    if node.end:
        lines.append("end (stop: opt-out)" if node.end == "stop" else "end")
    links = [b for b in node.buttons if b.kind != "reply"]
    for button in links:
        icon = "☎ call" if button.kind == "call" else "link"
        lines.append(_short(f"{icon}: {button.title}", EDGE_CHARS))
    if node.call_link is not None:
        lines.append("☎ call link")
    if node.goal:
        lines.append(f"goal: {node.goal}")
    return _Box(key, tuple(_clean(line) for line in lines), kind, start)


def _node_edges(node: Node) -> list[tuple[str, str]]:
    """(target, label) for every way out of a node, in a stable order."""
    out: list[tuple[str, str]] = []
    for button in node.buttons:
        if button.kind == "reply" and button.goto:
            out.append((button.goto, _short(button.title, EDGE_CHARS)))
    if node.ask and node.ask.on_invalid:
        retries = node.ask.retries
        label = f"on_invalid (after {retries} {'retry' if retries == 1 else 'retries'})"
        out.append((node.ask.on_invalid, label))
    if node.call and node.call.on_error:
        out.append((node.call.on_error, "on_error"))
    for case in node.switch:
        label = "else" if case.when is None else "when " + _short(case.source, EDGE_CHARS)
        out.append((case.goto, label))
    if node.split:
        for variant in node.split.variants:
            out.append((variant.goto, f"{_short(variant.name, EDGE_CHARS)} {variant.weight:g}%"))
    if node.handoff and node.handoff.then:
        out.append((node.handoff.then, "then (after the agent)"))
    if node.next:
        out.append((node.next, "next"))
    return out


def _say(text: Text) -> str:
    return _short(text.default.source, SAY_CHARS)


def _clean(text: str) -> str:
    """One line: control characters and runs of whitespace become single spaces."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _short(text: str, limit: int) -> str:
    text = _clean(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# ---- Mermaid ----

# Characters Mermaid could read as syntax or HTML inside a "..." label, written as `#code;`
# entities instead (`#` itself too, or a shopper's "#1;" would turn into an entity).
_MERMAID_SPECIAL = frozenset('"#&<>|`%\\[]{}')


def _mermaid_text(text: str) -> str:
    text = "".join(f"#{ord(ch)};" if ch in _MERMAID_SPECIAL else ch for ch in _clean(text))
    # Mermaid rewrites lines reading like "style ...:#...;" or "classDef ...:#...;" before it
    # parses them, even inside labels: spell those two words' first letter as an entity.
    return text.replace("style", "#115;tyle").replace("classDef", "#99;lassDef")


def _mermaid_label(lines: tuple[str, ...]) -> str:
    return '"' + "<br/>".join(_mermaid_text(line) for line in lines) + '"'


def to_mermaid(flow: Flow) -> str:
    """The flow as a Mermaid `flowchart TD` (GitHub and most wikis draw it inline)."""
    pic = _picture(flow)
    out = ["flowchart TD", f"%% {_mermaid_text(pic.title)}"]
    # Node and edge lines end with ';', Mermaid's optional statement end.
    out.append('flow_start(("start"));')
    if any(e.source == "flow_resume" for e in pic.start_edges):
        out.append('flow_resume(("resume_at"));')
    for box in pic.boxes:
        opening, closing = _MERMAID_SHAPES[box.kind]
        out.append(f"{box.key}{opening}{_mermaid_label(box.lines)}{closing};")
    if pic.globals:
        out.append('subgraph globals ["Anywhere in the chat"]')
        for box in pic.globals:
            opening, closing = _MERMAID_SHAPES[box.kind]
            out.append(f"  {box.key}{opening}{_mermaid_label(box.lines)}{closing};")
        out.append("end")
    for edge in [*pic.start_edges, *pic.edges, *pic.global_edges]:
        arrow = "-.->" if edge.style == "dashed" else "-->"
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        out.append(f"{edge.source} {arrow}{label} {edge.target};")
    # Class names carry a `k_` prefix: `end` is a Mermaid keyword.
    for kind, (fill, stroke) in _COLOURS.items():
        width = "3px" if kind in ("split", "handoff") else "1px"
        out.append(f"classDef k_{kind} fill:{fill},stroke:{stroke},stroke-width:{width},color:#111")
    out.append("classDef k_start stroke:#15803d,stroke-width:4px")
    out.append("classDef k_entry fill:#15803d,stroke:#15803d,color:#fff")
    by_kind: dict[str, list[str]] = {}
    for box in [*pic.boxes, *pic.globals]:
        by_kind.setdefault(box.kind, []).append(box.key)
    for kind, keys in by_kind.items():
        out.append(f"class {','.join(keys)} k_{kind}")
    starts = [box.key for box in pic.boxes if box.start]
    if starts:
        out.append(f"class {','.join(starts)} k_start")
    entries = ["flow_start"] + (["flow_resume"] if len(pic.start_edges) > 1 else [])
    out.append(f"class {','.join(entries)} k_entry")
    return "\n".join(out) + "\n"


# ---- Graphviz DOT ----


def _dot_text(text: str) -> str:
    """Inside a DOT "..." string: backslashes and quotes escaped, `&` kept literal."""
    text = _clean(text).replace("\\", "\\\\").replace('"', '\\"')
    return text.replace("&", "&amp;")


def _dot_label(lines: tuple[str, ...]) -> str:
    return '"' + "\\n".join(_dot_text(line) for line in lines) + '"'


def _dot_box(box: _Box, indent: str = "  ") -> str:
    fill, stroke = _COLOURS[box.kind]
    style = "filled,rounded" if box.kind in ("say", "menu", "intent", "missing") else "filled"
    attrs = [
        f"label={_dot_label(box.lines)}",
        f"shape={_DOT_SHAPES[box.kind]}",
        f'style="{style}"',
        f'fillcolor="{fill}"',
        f'color="{stroke}"',
    ]
    if box.start:  # the start node: a thick green outline
        attrs[-1] = 'color="#15803d"'
        attrs.append("penwidth=3")
    elif box.kind in ("split", "handoff"):
        attrs.append("penwidth=2.5")
    if box.kind == "missing":
        attrs.append('fontcolor="#dc2626"')
    return f'{indent}"{box.key}" [{", ".join(attrs)}];'


def _dot_edge(edge: _Edge) -> str:
    attrs = []
    if edge.label:
        attrs.append(f"label={_dot_label((edge.label,))}")
    if edge.style == "dashed":
        attrs.append("style=dashed")
    suffix = f" [{', '.join(attrs)}]" if attrs else ""
    return f'  "{edge.source}" -> "{edge.target}"{suffix};'


def to_dot(flow: Flow) -> str:
    """The flow as a Graphviz digraph; `gateway/graph_render.py` turns it into SVG."""
    pic = _picture(flow)
    out = [
        "digraph flow {",
        f"  graph [rankdir=TB, labelloc=t, fontname=Helvetica, label={_dot_label((pic.title,))}];",
        '  node [fontname="Helvetica", fontsize=11, margin="0.15,0.06"];',
        '  edge [fontname="Helvetica", fontsize=9, color="#4b5563"];',
        '  "flow_start" [label="start", shape=circle, style=filled, fillcolor="#15803d", '
        'fontcolor="#ffffff", color="#15803d"];',
    ]
    if any(e.source == "flow_resume" for e in pic.start_edges):
        out.append(
            '  "flow_resume" [label="resume_at", shape=circle, style="filled,dashed", '
            'fillcolor="#dcfce7", color="#15803d"];'
        )
    out += [_dot_box(box) for box in pic.boxes]
    if pic.globals:
        out.append("  subgraph cluster_globals {")
        out.append('    label="Anywhere in the chat"; style="dashed,rounded"; color="#78716c";')
        out += [_dot_box(box, "    ") for box in pic.globals]
        out.append("  }")
    out += [_dot_edge(edge) for edge in [*pic.start_edges, *pic.edges, *pic.global_edges]]
    out.append("}")
    return "\n".join(out) + "\n"


__all__ = ["to_dot", "to_mermaid"]
