"""flows.yaml → a validated, immutable `Flow`, or every problem with its fix.

`load_flow` raises `FlowError` when anything is an error; warnings ride along on the result
of `check_flow`, which tools such as `gateway check` print in full.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from flows.checks import check_graph
from flows.diagnostics import Diagnostic, Diagnostics, FlowError, did_you_mean
from flows.experiments import Experiment, read_experiments
from flows.hours_reader import read_hours, read_notices
from flows.messages import Button
from flows.model import PERSON_PAYLOAD, ButtonSpec, Flow, Intent, Node, PersonButton, Settings, Text
from flows.node_reader import NodeFacts, Ref, read_node, read_text
from flows.normalise import normalise
from flows.templates import Template, TemplateProblem, compile_template
from flows.yamlsrc import Wild, load_yaml, plain

TOP_KEYS = {
    "version", "shop", "settings", "env", "intents", "nodes", "canned", "hours", "experiments",
    "queues",
}  # fmt: skip
SETTINGS_KEYS = {
    "start", "resume_at", "fallback", "person_button", "disclosure", "fuzzy_threshold",
    "keyword_max_words", "languages", "handoff_notice",
}  # fmt: skip
DEFAULT_FALLBACK = "Sorry, I didn't get that."
FORMAT_VERSION = 1
_SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|PRIVATE|_KEY$|^KEY$)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class CheckResult:
    flow: Flow | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]


def load_flow(path: str | Path, environ: Mapping[str, str] | None = None) -> Flow:
    """Read and validate a flows file; raises `FlowError` listing every error."""
    result = check_file(path, environ)
    if result.flow is None:
        raise FlowError(result.diagnostics)
    return result.flow


def check_file(path: str | Path, environ: Mapping[str, str] | None = None) -> CheckResult:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        diag = Diagnostic("error", str(path), 1, 1, f"cannot read the file: {exc}", "")
        return CheckResult(None, (diag,))
    return check_text(text, str(path), environ)


def check_text(
    text: str, file: str = "flows.yaml", environ: Mapping[str, str] | None = None
) -> CheckResult:
    """Validate flows YAML given as text; the `Flow` is built only when there is no error."""
    diags = Diagnostics(file)
    root = load_yaml(text, diags)
    if root is None or not root.expect(dict, what="a mapping with 'nodes:' and 'settings:'"):
        return CheckResult(None, tuple(diags.sorted()))
    root.only_keys(TOP_KEYS, "the top level")
    if (version := root.get("version")) is not None and version.value != FORMAT_VERSION:
        diags.error(version.pos, f"unknown format version {version.value!r}", "write 'version: 1'")
    facts = NodeFacts()
    nodes = _read_nodes(root, facts)
    settings = _read_settings(root.get("settings"), root, facts, nodes)
    languages = settings.languages if settings is not None else ("en",)
    intents = _read_intents(root.get("intents"), facts, languages)
    env = _read_env(root.get("env"), environ or {})
    shop = plain(root.get("shop").value) if root.get("shop") is not None else {}  # type: ignore[union-attr]
    canned = _read_canned(root.get("canned"))
    hours = read_hours(root.get("hours"))
    experiments = read_experiments(root.get("experiments"), nodes)
    for ref in facts.refs:
        if ref.target not in nodes:
            diags.error(
                ref.pos,
                f"unknown node '{ref.target}' in {ref.where}",
                did_you_mean(ref.target, nodes, "node") or "add the node under 'nodes:'",
            )
    if settings is not None and not diags.errors:
        check_graph(nodes, settings, intents, facts, diags)
    if diags.errors or settings is None:
        return CheckResult(None, tuple(diags.sorted()))
    nodes = _with_choices(nodes, settings)
    raw = {k: plain(root.value[k]) for k in ("queues",) if k in root.value}
    flow = Flow(
        file=file,
        version=hashlib.sha256(text.encode("utf-8")).hexdigest()[:12],
        settings=settings,
        nodes=MappingProxyType(nodes),
        intents=tuple(intents),
        shop=MappingProxyType(shop if isinstance(shop, dict) else {}),
        env=MappingProxyType(env),
        canned=MappingProxyType(canned),
        raw=MappingProxyType(raw),
        hours=hours,
        experiments=MappingProxyType(experiments),
        ratings=MappingProxyType(_ratings(experiments.values())),
    )
    return CheckResult(flow, tuple(diags.sorted()))


def _ratings(experiments: Iterable[Experiment]) -> dict[str, str]:
    """The variables that hold satisfaction answers, for the engine's `Rated` events."""
    out = {}
    for experiment in experiments:
        out.update({v: k for k, v in (("csat", experiment.csat), ("nps", experiment.nps)) if v})
    return out


def _with_choices(nodes: dict[str, Node], settings: Settings) -> dict[str, Node]:
    """Each waiting node's choices, with the person button added where it is not already."""
    person = settings.person_button
    out = {}
    for node_id, node in nodes.items():
        choices = tuple(b for b in node.buttons if b.kind == "reply")
        wants_person = node.waits and person and node_id != person.goto
        if wants_person and all(b.goto != person.goto for b in choices):  # type: ignore[union-attr]
            extra = ButtonSpec(person.title, PERSON_PAYLOAD, person.goto, person.title)  # type: ignore[union-attr]
            choices += (extra,)
        shown = tuple(Button(b.title, b.payload) for b in choices)
        out[node_id] = replace(node, choices=choices, shown=shown)
    return out


def _read_nodes(root: Wild, facts: NodeFacts) -> dict[str, Node]:
    nodes_w = root.get("nodes")
    if nodes_w is None:
        root.diags.error(
            root.pos, "the file has no 'nodes:' section", "add 'nodes:' with a start node"
        )
        return {}
    if not nodes_w.expect(dict, what="a mapping of node names to nodes"):
        return {}
    nodes: dict[str, Node] = {}
    for node_id, node_w in nodes_w.items():
        facts.node_pos[node_id] = nodes_w.key_pos(node_id)
        node = read_node(node_id, node_w, facts)
        if node is not None:
            nodes[node_id] = node
    return nodes


def _read_settings(
    w: Wild | None, root: Wild, facts: NodeFacts, nodes: dict[str, Node]
) -> Settings | None:
    if w is None:
        root.diags.error(
            root.pos, "the file has no 'settings:' section", "add 'settings:' with 'start:'"
        )
        return None
    if not w.expect(dict):
        return None
    w.only_keys(SETTINGS_KEYS, "'settings'")
    start = _setting_target(w, "start", facts, required=True)
    resume_at = _setting_target(w, "resume_at", facts) or start
    fallback_text, max_misses, then = Text(compile_template(DEFAULT_FALLBACK)), 2, None
    if (fb := w.get("fallback")) is not None and fb.expect(dict):
        fb.only_keys({"say", "max_misses", "then"}, "'settings.fallback'")
        if (say := fb.get("say")) is not None:
            fallback_text = read_text(say, facts) or fallback_text
        if (misses := fb.get("max_misses")) is not None:
            max_misses = misses.int(low=1, high=10) or 2
        then = _setting_target(fb, "then", facts)
    person = _read_person_button(w.get("person_button"), facts)
    disclosure = None
    if (disc := w.get("disclosure")) is not None:
        disclosure = disc.str()
    else:
        w.diags.warning(
            w.pos,
            "no 'disclosure' in settings: shoppers must be told they are talking to a bot",
            "add 'disclosure: \"I'm the shop's virtual assistant (a bot).\"'",
        )
    threshold = w.get("fuzzy_threshold")
    max_words = w.get("keyword_max_words")
    languages = ("en",)
    if (langs := w.get("languages")) is not None and langs.expect(list):
        languages = tuple(str(x) for x in plain(langs.value))
    if start is None:
        return None
    return Settings(
        start=start,
        resume_at=resume_at or start,
        fallback=fallback_text,
        max_misses=max_misses,
        fallback_then=then,
        person_button=person,
        disclosure=disclosure,
        fuzzy_threshold=float(threshold.int(low=50, high=100) or 85) if threshold else 85.0,
        keyword_max_words=(max_words.int(low=1, high=50) or 4) if max_words else 4,
        languages=languages,
        handoff_notice=read_notices(w.get("handoff_notice"), facts),
    )


def _setting_target(w: Wild, key: str, facts: NodeFacts, *, required: bool = False) -> str | None:
    part = w.get(key)
    if part is None:
        if required:
            w.diags.error(w.pos, f"settings has no '{key}'", f"add '{key}: node_name'")
        return None
    name = part.str()
    if name is not None:
        facts.refs.append(Ref(name, part.pos, f"settings.{key}"))
    return name


def _read_person_button(w: Wild | None, facts: NodeFacts) -> PersonButton | None:
    if w is None or w.value is False:
        return None
    if not w.expect(dict, what="a mapping with 'title' and 'goto', or false"):
        return None
    w.only_keys({"title", "goto", "closed"}, "'settings.person_button'")
    title = w.get("title").str() if w.get("title") is not None else None  # type: ignore[union-attr]
    goto = _setting_target(w, "goto", facts, required=True)
    if title:
        facts.titles.append((title, w.get("title").pos))  # type: ignore[union-attr]
    closed_title, closed_call = _read_closed_button(w.get("closed"))
    return PersonButton(title, goto, closed_title, closed_call) if title and goto else None


def _read_closed_button(w: Wild | None) -> tuple[str | None, Template | None]:
    """`person_button.closed`: false (hide it) or `{title, call}` outside business hours."""
    if w is None or w.value is False:
        return None, None
    if not w.expect(dict, what="false, or a mapping with 'title' and 'call'"):
        return None, None
    w.only_keys({"title", "call"}, "'settings.person_button.closed'")
    title_part, call_part = w.get("title"), w.get("call")
    if title_part is None or call_part is None:
        fix = "e.g. {title: Call us, call: '{{ shop.call_center }}'}"
        w.diags.error(w.pos, "'closed' needs 'title' and 'call'", fix)
        return None, None
    title, call = title_part.str(), call_part.str()
    if not title or not call:
        return None, None
    try:
        return title, compile_template(call)
    except TemplateProblem as exc:
        call_part.diags.error(call_part.pos, str(exc), "fix the template")
        return None, None


def _read_intents(w: Wild | None, facts: NodeFacts, languages: tuple[str, ...]) -> list[Intent]:
    if w is None or not w.expect(dict, what="a mapping of intent names"):
        return []
    intents = []
    for name, iw in w.items():
        if not iw.expect(dict, what="a mapping with keywords, examples and goto"):
            continue
        iw.only_keys({"keywords", "examples", "goto"}, f"intent '{name}'")
        goto = _setting_target(iw, "goto", facts, required=True)
        keywords = _phrases(iw.get("keywords"), languages)
        examples = _phrases(iw.get("examples"), languages)
        if not keywords and not examples:
            iw.diags.error(
                iw.pos, f"intent '{name}' has no keywords or examples", "add 'keywords:'"
            )
            continue
        if goto:
            intents.append(Intent(name, keywords, examples, goto, iw.pos[0]))
    return intents


def _phrases(w: Wild | None, languages: tuple[str, ...]) -> tuple[str, ...]:
    """Keywords or examples: a list, or a mapping of language → list; normalised for matching."""
    if w is None:
        return ()
    value: Any = plain(w.value)
    if isinstance(value, dict):
        for language in value:
            if language not in languages:
                w.diags.warning(
                    w.key_pos(language),
                    f"language '{language}' is not in settings.languages ({', '.join(languages)})",
                    f"add '{language}' to settings.languages, or fix the language code",
                )
        items = [p for v in value.values() if isinstance(v, list) for p in v]
    elif isinstance(value, list):
        items = value
    else:
        w.diags.error(w.pos, f"'{w.path}' must be a list", "write one phrase per '- ' line")
        return ()
    return tuple(dict.fromkeys(n for n in (normalise(str(p)) for p in items) if n))


def _read_env(w: Wild | None, environ: Mapping[str, str]) -> dict[str, str]:
    """Only the environment variables the file names are visible to templates, with defaults."""
    if w is None or not w.expect(dict, what="a mapping of VARIABLE: default"):
        return {}
    out = {}
    for name, part in w.items():
        if _SECRET_NAME.search(name):
            w.diags.error(
                w.key_pos(name),
                f"'{name}' looks like a secret; secrets must never be shown to shoppers",
                "remove it from 'env:' (the gateway uses its secrets itself)",
            )
            continue
        default = "" if part.value is None else str(part.value)
        out[name] = environ.get(name, default)
    return out


def _read_canned(w: Wild | None) -> dict[str, str]:
    if w is None or not w.expect(dict, what="a mapping of short name → answer text"):
        return {}
    return {name: part.str() or "" for name, part in w.items()}


__all__ = ["CheckResult", "FlowError", "check_file", "check_text", "load_flow"]
