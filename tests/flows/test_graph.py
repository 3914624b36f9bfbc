"""Pictures of the tree: every node and arrow shows, kinds are marked, hostile text stays inert."""

from __future__ import annotations

import html
import itertools
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from flows.graph import to_dot, to_mermaid
from flows.loader import check_text, load_flow
from flows.model import Flow
from gateway.graph_render import GraphRenderError, GraphvizMissing, dot_to_svg, to_svg

ROOT = Path(__file__).resolve().parents[2]
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz missing: apt-get install graphviz"
)


def inline(text: str) -> Flow:
    result = check_text(textwrap.dedent(text))
    assert result.flow is not None, [d.format() for d in result.errors]
    return result.flow


@pytest.fixture(scope="module")
def sample() -> Flow:
    return load_flow(ROOT / "flows.yaml")


def run_dot(source: str) -> str:
    """The SVG from the real `dot`, which must accept the text without a complaint."""
    done = subprocess.run(
        ["dot", "-Tsvg"], input=source.encode(), capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"syntax error" not in done.stderr, done.stderr.decode()
    return done.stdout.decode("utf-8")


# ---- Mermaid, checked line by line ----

_LABEL = r'"[^"\n]*"'
_ID = r"[A-Za-z][A-Za-z0-9_]*"
_SHAPES = [("[", "]"), ("(", ")"), ("[/", "/]"), ("[/", "\\]"), ("[[", "]]"), ("{", "}"),
           ("{{", "}}"), ("([", "])"), ("((", "))")]  # fmt: skip
_NODE = re.compile(
    rf"^\s*(?P<id>{_ID})(?:"
    + "|".join(re.escape(a) + _LABEL + re.escape(b) for a, b in _SHAPES)
    + r");$"
)
_EDGE = re.compile(
    rf"^\s*(?P<src>{_ID}) (?:-->|-\.->)(?:\|(?P<label>{_LABEL})\|)? (?P<dst>{_ID});$"
)
_OTHER = [
    re.compile(r"^flowchart TD$"),
    re.compile(r"^%% .*$"),
    re.compile(r"^classDef k_[a-z]+ [a-z-]+:[#0-9a-z]+(,[a-z-]+:[#0-9a-z]+)*$"),
    re.compile(rf"^class {_ID}(,{_ID})* k_[a-z]+$"),
    re.compile(rf"^subgraph {_ID} \[{_LABEL}\]$"),
    re.compile(r"^end$"),
]


def mermaid_parts(text: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Every line must be a node, an edge, a class, a subgraph or a comment; returns them."""
    assert text.endswith("\n") and text.startswith("flowchart TD\n")
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str]] = []
    depth = 0
    for line in text.splitlines():
        assert line.count('"') % 2 == 0, line
        outside = re.sub(_LABEL, "", line)
        pairs = {"]": "[", ")": "(", "}": "{"}
        stack: list[str] = []
        for ch in outside.replace("/]", "]").replace("\\]", "]").replace("[/", "["):
            if ch in "[({":
                stack.append(ch)
            elif ch in pairs:
                assert stack and stack.pop() == pairs[ch], line
        assert not stack, line
        if node := _NODE.match(line):
            assert node["id"] not in nodes, f"node defined twice: {line}"
            nodes[node["id"]] = line
        elif edge := _EDGE.match(line):
            edges.append((edge["src"], edge["dst"], edge["label"] or ""))
        else:
            assert any(p.match(line) for p in _OTHER), f"not Mermaid we write: {line!r}"
            depth += line.startswith("subgraph") - (line == "end")
            assert depth in (0, 1), line
        for label in re.findall(_LABEL, line):
            assert not re.search(r"[<>&|`]", label.replace("<br/>", "")), label
            assert not re.search(r"#(?!\d+;)", label), label  # every '#' starts an entity
    assert depth == 0
    for src, dst, _ in edges:
        assert src in nodes and dst in nodes, (src, dst)
    return nodes, edges


def node_line(text: str, node_id: str) -> str:
    """The Mermaid line that defines the box labelled with `node_id`."""
    found = [
        line for line in text.splitlines()
        if re.search(rf'["(\[{{/]"?(▶ )?{re.escape(node_id)}(<br/>|")', line)
    ]  # fmt: skip
    assert len(found) == 1, (node_id, found)
    return found[0]


def mermaid_key(text: str, node_id: str) -> str:
    return re.match(rf"\s*({_ID})", node_line(text, node_id))[1]  # type: ignore[index]


def mermaid_edges(text: str, source: str) -> list[tuple[str, str]]:
    """(target key, decoded label) for the edges out of the box labelled `source`."""
    _, edges = mermaid_parts(text)
    key = mermaid_key(text, source)
    decode = lambda s: re.sub(r"#(\d+);", lambda m: chr(int(m[1])), s.strip('"'))  # noqa: E731
    return [(dst, decode(label)) for src, dst, label in edges if src == key]


# ---- the sample flow ----


def test_mermaid_has_every_node_and_edge_of_the_sample(sample: Flow) -> None:
    text = to_mermaid(sample)
    nodes, edges = mermaid_parts(text)
    keys = {node_id: mermaid_key(text, node_id) for node_id in sample.nodes}
    assert len(set(keys.values())) == len(sample.nodes)
    drawn = {(src, dst) for src, dst, _ in edges}
    for node_id, node in sample.nodes.items():
        for target in node.targets():
            assert (keys[node_id], keys[target]) in drawn, (node_id, target)
    assert sum(len(n.targets()) for n in sample.nodes.values()) == sum(
        1 for src, _, _ in edges if src in keys.values()
    )
    assert len(nodes) >= len(sample.nodes) + len(sample.intents)


def test_mermaid_edge_labels_say_what_leads_there(sample: Flow) -> None:
    text = to_mermaid(sample)
    key = lambda n: mermaid_key(text, n)  # noqa: E731
    assert (key("ask_order"), "Track my order") in mermaid_edges(text, "menu")
    assert (key("returns"), "Returns & refunds") in mermaid_edges(text, "menu")
    assert (key("order_processing"), "else") in mermaid_edges(text, "order_status")
    assert (key("order_delivered"), "when vars.order.status == 'delivered'") in mermaid_edges(
        text, "order_status"
    )
    assert mermaid_edges(text, "route") == [
        (key("menu"), "bot 50%"),
        (key("call_center"), "call_center 50%"),
    ]
    assert (key("order_not_found"), "on_error") in mermaid_edges(text, "lookup_order")
    assert (key("order_status"), "next") in mermaid_edges(text, "lookup_order")
    assert (key("handoff_order"), "on_invalid (after 2 retries)") in mermaid_edges(
        text, "ask_order"
    )
    assert (key("goodbye"), "on_invalid (after 1 retry)") in mermaid_edges(text, "csat")
    assert mermaid_edges(text, "handoff_order") == [
        (key("anything_else"), "then (after the agent)")
    ]


def test_mermaid_marks_the_kinds(sample: Flow) -> None:
    text = to_mermaid(sample)
    classes = {
        m["kind"]: set(m["keys"].split(","))
        for m in re.finditer(r"^class (?P<keys>\S+) k_(?P<kind>\w+)$", text, re.M)
    }
    key = lambda n: mermaid_key(text, n)  # noqa: E731
    assert classes["split"] == {key("route")}
    assert classes["handoff"] == {key(n) for n in ("handoff_request", "handoff_unsure",
                                                  "handoff_order", "product_question",
                                                  "cancel_request")}  # fmt: skip
    assert key("stopped") in classes["stop"] and key("goodbye") in classes["end"]
    assert classes["call"] == {key("lookup_order"), key("coupon")}
    assert classes["start"] == {key("welcome")}
    assert "{{" in node_line(text, "route") and "bot_vs_callcenter" in node_line(text, "route")
    assert "handoff to queue: orders" in node_line(text, "handoff_order")
    assert "\\]" in node_line(text, "handoff_order")
    assert "POST #123;#123; env.SHOP_API_URL #125;#125;/coupons" in node_line(text, "coupon")
    assert "▶ welcome" in node_line(text, "welcome")
    assert re.search(rf"^flow_start --> {key('welcome')};$", text, re.M)


def test_mermaid_draws_the_global_intents_dashed(sample: Flow) -> None:
    text = to_mermaid(sample)
    assert 'subgraph globals ["Anywhere in the chat"]' in text
    dashed = re.findall(rf"^({_ID}) -\.-> ({_ID});$", text, re.M)
    labels = dict(re.findall(rf'^\s*({_ID})\("([^"]*)"\);$', text, re.M))
    by_intent = {labels[src].split("<br/>")[0]: dst for src, dst in dashed if src in labels}
    for intent in sample.intents:
        assert by_intent[f"intent: {intent.name}"] == mermaid_key(text, intent.goto)
    assert by_intent["person button"] == mermaid_key(text, "handoff_request")
    assert by_intent["fallback"] == mermaid_key(text, "handoff_unsure")


def test_excerpts_are_short_and_single_line(sample: Flow) -> None:
    line = node_line(to_mermaid(sample), "returns_how")
    assert "Pack the shoes in their box" in line and "post office" not in line and "…" in line


@needs_dot
def test_dot_of_the_sample_renders(sample: Flow) -> None:
    source = to_dot(sample)
    svg = run_dot(source)
    for node_id in sample.nodes:
        assert f">{node_id}</text>" in svg or f">▶ {node_id}</text>" in svg, node_id
    ids = re.findall(r'^\s+"(\w+)" \[label=', source, re.M)
    keys = {n: f"n_{n}" for n in sample.nodes}
    assert set(keys.values()) <= set(ids)
    edges = set(re.findall(r'^\s+"(\w+)" -> "(\w+)"', source, re.M))
    for node_id, node in sample.nodes.items():
        for target in node.targets():
            assert (keys[node_id], keys[target]) in edges
    assert "shape=hexagon" in next(x for x in source.splitlines() if '"n_route" [' in x)
    assert "shape=trapezium" in next(x for x in source.splitlines() if '"n_handoff_order" [' in x)
    assert "subgraph cluster_globals" in source
    assert '"intent0" -> "n_handoff_request" [style=dashed];' in source
    assert '"n_route" -> "n_menu" [label="bot 50%"];' in source


# ---- hostile text ----

HOSTILE = r"""
version: 1
settings:
  start: "end"
  disclosure: bot
  person_button: {title: "Talk \"now\" <b>", goto: "graph"}
  fallback: {say: hmm, then: "graph"}
intents:
  "evil \"intent\" <script>":
    keywords: ["<script>alert(1)</script>"]
    examples: ["say \"hi\" & <b>bye</b>"]
    goto: "subgraph"
nodes:
  "end":
    say: "<script>x</script>\n\"q\" & #quot; %%|p|\\n {b} [c] 😀"
    buttons:
      - "Go \"there\" <now>": "graph"
      - {title: "A|B & C\\D", goto: "order-status"}
      - {title: Web, url: "https://example.com/?a=1&b=<2>"}
  "graph":
    say: "<img src=x onerror=alert(1)>\nline two"
    handoff: {queue: "q\"1 <x>", reason: "why & \"because\"", then: "subgraph"}
  "subgraph":
    ask: "Type \"yes\" </div>"
    save: answer
    expect: {regex: '["<>]+'}
    on_invalid: "order-status"
    next: "order-status"
  "order-status":
    switch:
      - when: 'vars.answer == "<a & b>"'
        goto: "ünï cødé"
      - else: "o"
  "ünï cødé":
    split:
      experiment: "exp \"1\" <x>"
      variants:
        - {name: "a\"<", weight: 50, goto: "o"}
        - {name: "b&|", weight: 50, goto: "x"}
  "o":
    call: {method: POST, url: "https://api.example/\"x\"?a=<1>&b={{ vars.answer }}", on_error: "x"}
    next: "x"
  "x":
    say: "bye \\"
    end: stop
"""


@pytest.fixture(scope="module")
def hostile() -> Flow:
    return inline(HOSTILE)


def test_hostile_mermaid_stays_structured(hostile: Flow) -> None:
    text = to_mermaid(hostile)
    nodes, edges = mermaid_parts(text)
    assert "<script" not in text and "<img" not in text and "<b>" not in text
    assert len(edges) == sum(len(n.targets()) for n in hostile.nodes.values()) + 4
    keys = {n: mermaid_key(text, n) for n in hostile.nodes}
    assert len(set(keys.values())) == len(keys)
    assert keys["end"] != "end" and keys["graph"] != "graph"  # Mermaid keywords never ids
    assert keys["ünï cødé"].isascii() and keys["order-status"].isascii()
    said = nodes[keys["end"]]
    assert "#60;script#62;x#60;/script#62; #34;q#34; #38; #35;quot; #37;#37;#124;p#124;" in said
    assert "#124;p#124;#92;n #123;b#125;…" in said  # a literal backslash-n, then cut short
    assert "#34;q#34;" in said and "x#60;/script#62; #34;q" in said  # the newline: a space
    assert ("A|B & C\\D") in [label for _, label in mermaid_edges(text, "end")]


@needs_dot
def test_hostile_dot_renders_and_escapes(hostile: Flow) -> None:
    source = to_dot(hostile)
    svg = run_dot(source)
    assert "<script" not in svg and "<img" not in svg
    assert "&lt;script&gt;" in svg
    texts = [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
    for node_id in ("end", "graph", "subgraph", "order-status", "ünï cødé", "o", "x"):
        assert node_id in texts or f"▶ {node_id}" in texts, node_id
    assert '<script>x</script> "q" & #quot; %%|p|\\n {b}…' in texts
    assert "A|B & C\\D" in texts  # a literal backslash, not an escape sequence
    assert "bye \\" in texts
    assert 'label="A|B &amp; C\\\\D"' in source


def test_mermaid_words_it_rewrites_are_spelled_as_entities() -> None:
    """Mermaid rewrites "style...:#...;" lines before parsing, even inside a label."""
    flow = inline("""
        settings: {start: a, disclosure: bot}
        nodes:
          a: {say: "style:#x; classDef:#y;", end: true}
    """)
    line = node_line(to_mermaid(flow), "a")
    assert "#115;tyle:#35;x; #99;lassDef:#35;y;" in line and "style" not in line


def test_ids_unsafe_in_either_format_are_replaced() -> None:
    flow = inline("""
        settings: {start: "a b", disclosure: bot}
        nodes:
          "a b": {say: one, next: "a-b"}
          "a-b": {say: two, next: "a_b"}
          "a_b": {say: three, next: "node"}
          "node": {say: four, next: "subgraph"}
          "subgraph": {say: five, end: true}
    """)
    text = to_mermaid(flow)
    _, edges = mermaid_parts(text)
    keys = [mermaid_key(text, n) for n in flow.nodes]
    assert len(set(keys)) == 5
    assert [(s, d) for s, d, _ in edges if s != "flow_start"] == list(itertools.pairwise(keys))
    source = to_dot(flow)
    assert '"node" [' not in source and '"subgraph" [' not in source
    if shutil.which("dot"):
        run_dot(source)


def test_button_kinds_ask_quick_answers_and_goals() -> None:
    flow = inline("""
        settings: {start: menu, disclosure: bot}
        nodes:
          menu:
            say: Pick one
            goal: menu_seen
            buttons:
              - Size: size
              - {title: Call us, call: "+12025550100"}
              - {title: Our site, url: "https://example.com"}
          size:
            ask: Which size?
            save: size
            expect: {one_of: ["38", "39"]}
            buttons: ["38", "39"]
            next: done
          done: {say: Thanks, end: true}
    """)
    text = to_mermaid(flow)
    menu = node_line(text, "menu")
    assert "link: Our site" in menu and "☎ call: Call us" in menu and "goal: menu_seen" in menu
    assert [label for _, label in mermaid_edges(text, "menu")] == ["Size"]
    assert [label for _, label in mermaid_edges(text, "size")] == ["next"]
    assert "saves vars.size (one_of)" in node_line(text, "size")


def test_output_is_deterministic(sample: Flow) -> None:
    again = load_flow(ROOT / "flows.yaml")
    assert to_mermaid(sample) == to_mermaid(again) == to_mermaid(sample)
    assert to_dot(sample) == to_dot(again) == to_dot(sample)
    text = (ROOT / "flows.yaml").read_text(encoding="utf-8")
    elsewhere = check_text(text, "/somewhere/else/flows.yaml").flow
    assert elsewhere is not None and to_dot(elsewhere) == to_dot(sample)  # no server paths


# ---- the SVG renderer ----


@needs_dot
def test_to_svg_draws_the_sample(sample: Flow) -> None:
    svg = to_svg(sample)
    assert svg.startswith(b"<?xml") and b"</svg>" in svg
    assert b">menu</text>" in svg


def test_to_svg_names_the_fix_when_graphviz_is_missing(sample: Flow, tmp_path: Path) -> None:
    with pytest.raises(GraphvizMissing, match=r"apt-get install graphviz"):
        to_svg(sample, dot_binary=str(tmp_path / "no-such-dot"))


@needs_dot
def test_dot_failure_is_reported() -> None:
    with pytest.raises(GraphRenderError, match=r"Graphviz failed \(exit 1\)"):
        dot_to_svg("digraph {", "dot")


def test_dot_timeout_is_reported(tmp_path: Path) -> None:
    slow = tmp_path / "slow-dot"
    slow.write_text("#!/bin/sh\nexec sleep 5\n")
    slow.chmod(0o755)
    with pytest.raises(GraphRenderError, match=r"longer than 0\.2s"):
        dot_to_svg("digraph {}", str(slow), timeout=0.2)
