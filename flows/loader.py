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
from flows.experiments import read_experiments
from flows.hours_reader import read_hours, read_notices
from flows.i18n.languages import KNOWN, info, is_language_code
from flows.messages import Button
from flows.model import (
    PERSON_PAYLOAD,
    ButtonSpec,
    Experiment,
    Flow,
    Intent,
    Node,
    PersonButton,
    Settings,
)
from flows.node_reader import NodeFacts, Ref, read_node
from flows.normalise import normalise
from flows.templates import Template, TemplateProblem, compile_template
from flows.translations import (
    describe_missing,
    language_keys,
    read_label,
    read_text,
    system_wording,
)
from flows.understanding.understander import IntentExamples, Thresholds, Understander
from flows.yamlsrc import Wild, load_yaml, plain

TOP_KEYS = {
    "version", "shop", "settings", "env", "intents", "nodes", "canned", "hours", "experiments",
    "queues",
}  # fmt: skip
SETTINGS_KEYS = {
    "start", "resume_at", "fallback", "person_button", "disclosure", "fuzzy_threshold",
    "keyword_max_words", "languages", "handoff_notice", "understanding",
}  # fmt: skip
FORMAT_VERSION = 1
MIN_EXAMPLES = 5  # per intent and language, below which `gateway check` warns
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
    facts = NodeFacts(languages=_read_languages(root.get("settings")))
    nodes = _read_nodes(root, facts)
    settings = _read_settings(root.get("settings"), root, facts, nodes)
    intents = _read_intents(root.get("intents"), facts)
    env = _read_env(root.get("env"), environ or {})
    shop = _read_shop(root.get("shop"), facts)
    canned, canned_in = _read_canned(root.get("canned"), facts)
    for missing in facts.missing:
        diags.warning(missing.pos, *describe_missing(missing))
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
        shop=MappingProxyType(shop[facts.source]),
        shop_in=MappingProxyType({k: MappingProxyType(v) for k, v in shop.items()}),
        env=MappingProxyType(env),
        canned=MappingProxyType(canned),
        canned_in=MappingProxyType(canned_in),
        raw=MappingProxyType(raw),
        hours=hours,
        experiments=MappingProxyType(experiments),
        ratings=MappingProxyType(_ratings(experiments.values())),
        understander=build_understander(settings, intents, nodes),
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
        if (
            person is not None
            and node.waits
            and node_id != person.goto
            and all(b.goto != person.goto for b in choices)
        ):
            extra = ButtonSpec(
                person.title, PERSON_PAYLOAD, person.goto, person.title, titles=person.titles
            )
            choices += (extra,)
        shown = tuple(Button(b.title, b.payload) for b in choices)
        shown_in = tuple(
            (lang, tuple(Button(b.title_in(lang), b.payload) for b in choices))
            for lang in settings.languages[1:]
        )
        out[node_id] = replace(node, choices=choices, shown=shown, shown_in=shown_in)
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
    fallback_text = system_wording("fallback", facts.languages)
    max_misses, then = 2, None
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
        disclosure = read_text(disc, facts)
    else:
        w.diags.warning(
            w.pos,
            "no 'disclosure' in settings: shoppers must be told they are talking to a bot",
            "add 'disclosure: \"I'm the shop's virtual assistant (a bot).\"'",
        )
    threshold = w.get("fuzzy_threshold")
    max_words = w.get("keyword_max_words")
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
        languages=facts.languages,
        handoff_notice=read_notices(w.get("handoff_notice"), facts),
        thresholds=_read_thresholds(w.get("understanding")),
    )


def _read_thresholds(w: Wild | None) -> Thresholds:
    """`settings.understanding`: how sure the bot must be to act on an intent (`confidence`),
    and from what score it offers intents as "did you mean" buttons (`suggest`)."""
    default = Thresholds()
    if w is None or not w.expect(dict, what="a mapping with 'confidence' and 'suggest'"):
        return default
    w.only_keys({"confidence", "suggest"}, "'settings.understanding'")
    values = {}
    for key in ("confidence", "suggest"):
        part = w.get(key)
        if part is None:
            continue
        number = part.number()
        if number is None or not 0 <= number <= 1:
            part.diags.error(part.pos, f"'{key}' must be a number from 0 to 1", "e.g. 0.4")
            continue
        values[key] = number
    sure = values.get("confidence", default.sure)
    unsure = min(values.get("suggest", default.unsure), sure)
    return Thresholds(sure=sure, unsure=unsure, margin=default.margin)


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
    title_w = w.get("title")
    label = read_label(title_w, facts) if title_w is not None else None
    goto = _setting_target(w, "goto", facts, required=True)
    if label is not None and title_w is not None:
        facts.titles.append((label.source, title_w.pos))
    closed_title, closed_call = _read_closed_button(w.get("closed"))
    if label is None or not goto:
        return None
    return PersonButton(label.source, goto, closed_title, closed_call, label.translations)


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


def _read_languages(w: Wild | None) -> tuple[str, ...]:
    """`settings.languages`, read before anything else: every text is read against them."""
    if w is None or not isinstance(w.value, dict) or (langs := w.get("languages")) is None:
        return ("en",)
    if not langs.expect(list, what="a list of language codes like [en, pl, zh-Hant]"):
        return ("en",)
    out = []
    for item in langs.elements():
        code = str(item.value)
        if not is_language_code(code):
            fix = "use BCP 47 codes: en, pl, ro, ar, zh-Hans, zh-Hant"
            item.diags.error(item.pos, f"'{code}' is not a language code", fix)
        elif code not in KNOWN:
            item.diags.warning(
                item.pos,
                f"'{code}' has no built-in system sentences or language detection",
                f"shoppers get English system texts; known: {', '.join(KNOWN)}",
            )
            out.append(code)
        else:
            out.append(code)
    return tuple(dict.fromkeys(out)) or ("en",)


def _read_intents(w: Wild | None, facts: NodeFacts) -> list[Intent]:
    if w is None or not w.expect(dict, what="a mapping of intent names"):
        return []
    intents = []
    for name, iw in w.items():
        if not iw.expect(dict, what="a mapping with keywords, examples and goto"):
            continue
        iw.only_keys({"keywords", "examples", "goto", "title"}, f"intent '{name}'")
        goto = _setting_target(iw, "goto", facts, required=True)
        keywords = _phrases(iw.get("keywords"), facts)
        examples = _phrases(iw.get("examples"), facts)
        if not keywords and not examples:
            iw.diags.error(
                iw.pos, f"intent '{name}' has no keywords or examples", "add 'keywords:'"
            )
            continue
        _check_examples(name, iw, examples, facts)
        title = read_label(t, facts) if (t := iw.get("title")) is not None else None
        by_language = tuple(
            (lang, keywords.get(lang, ()), examples.get(lang, ()))
            for lang in dict.fromkeys([*keywords, *examples])
        )
        if goto:
            intents.append(
                Intent(
                    name,
                    _flat(keywords),
                    _flat(examples),
                    goto,
                    iw.pos[0],
                    title=title,
                    by_language=by_language,
                )
            )
    _check_collisions(intents, w)
    return intents


def _check_examples(
    name: str, iw: Wild, examples: Mapping[str, tuple[str, ...]], facts: NodeFacts
) -> None:
    """Too few examples in a language: that language's shoppers are understood worse."""
    if not examples:
        return
    where = iw.get("examples") or iw
    for language in facts.languages:
        have = len(examples.get(language, ()))
        if have < MIN_EXAMPLES:
            iw.diags.warning(
                where.pos,
                f"intent '{name}' has {have} example{'s' * (have != 1)} in '{language}': "
                f"{info(language).english} shoppers' own words may not be understood",
                f"add at least {MIN_EXAMPLES} under 'examples.{language}'",
            )


def _check_collisions(intents: list[Intent], w: Wild) -> None:
    """The same phrase teaching two intents: the classifier cannot tell them apart there."""
    owners: dict[str, list[str]] = {}
    for intent in intents:
        for phrase in (*intent.examples, *intent.keywords):
            owners.setdefault(phrase, [])
            if intent.name not in owners[phrase]:
                owners[phrase].append(intent.name)
    for phrase, names in owners.items():
        if len(names) > 1:
            w.diags.warning(
                w.key_pos(names[1]),
                f"'{phrase}' is an example of both '{names[0]}' and '{names[1]}'",
                "keep it in the intent it means, or make each more specific",
            )


def _flat(phrases: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Every language's phrases, folded for matching."""
    return tuple(dict.fromkeys(normalise(p) for group in phrases.values() for p in group))


def _phrases(w: Wild | None, facts: NodeFacts) -> dict[str, tuple[str, ...]]:
    """Keywords or examples: a list (the source language), or a mapping of language → list,
    as written (a phrase that folds like an earlier one is left out)."""
    if w is None:
        return {}
    value: Any = plain(w.value)
    if isinstance(value, dict):
        for language in value:
            if language not in facts.languages:
                w.diags.warning(
                    w.key_pos(language),
                    f"language '{language}' is not in settings.languages"
                    f" ({', '.join(facts.languages)})",
                    f"add '{language}' to settings.languages, or fix the language code",
                )
        groups = {str(k): v for k, v in value.items() if isinstance(v, list)}
    elif isinstance(value, list):
        groups = {facts.source: value}
    else:
        w.diags.error(w.pos, f"'{w.path}' must be a list", "write one phrase per '- ' line")
        return {}
    out = {}
    for language, items in groups.items():
        kept: dict[str, str] = {}  # folded -> as written: one phrase once, shown as written
        for phrase in items:
            kept.setdefault(normalise(str(phrase)), str(phrase))
        kept.pop("", None)
        if kept:
            out[language] = tuple(kept.values())
    return out


def build_understander(
    settings: Settings, intents: Iterable[Intent], nodes: Mapping[str, Node]
) -> Understander:
    """The classifier trained on the intents' examples, and the order-number patterns of the
    flow's questions (`expect: {regex: ...}`) for entities."""
    patterns = []
    for node in nodes.values():
        ask = node.ask
        if ask is not None and ask.validation.kind == "regex":
            patterns.append((ask.variable, ask.validation.pattern, ask.validation.transform))
    examples = [
        IntentExamples(
            i.name,
            i.keywords,
            i.examples,
            tuple((lang, (*kw, *ex)) for lang, kw, ex in i.by_language),
        )
        for i in intents
    ]
    unique = list({(name, p.pattern): (name, p, t) for name, p, t in patterns}.values())
    return Understander(
        settings.languages, examples, unique, settings.keyword_max_words, settings.thresholds
    )


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


def _read_canned(
    w: Wild | None, facts: NodeFacts
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Agents' ready answers: name → text, or name → language → text."""
    if w is None or not w.expect(dict, what="a mapping of short name → answer text"):
        return {}, {}
    canned, canned_in = {}, {}
    for name, part in w.items():
        label = read_label(part, facts)
        if label is not None:
            canned[name] = label.source
            canned_in[name] = {facts.source: label.source, **dict(label.translations)}
    return canned, canned_in


def _read_shop(w: Wild | None, facts: NodeFacts) -> dict[str, dict[str, Any]]:
    """`shop:` facts for templates, per language: a value given per language is read in the
    shopper's (`shop.call_center_hours` is "Mon–Fri" or "pon.–pt.")."""
    out: dict[str, dict[str, Any]] = {lang: {} for lang in facts.languages}
    if w is None or not w.expect(dict, what="a mapping of facts about the shop"):
        return out
    for name, part in w.items():
        if isinstance(part.value, dict) and language_keys(part):
            label = read_label(part, facts)
            for lang in facts.languages:
                out[lang][name] = label.in_language(lang) if label is not None else ""
        else:
            for lang in facts.languages:
                out[lang][name] = plain(part.value)
    return out


__all__ = ["CheckResult", "FlowError", "check_file", "check_text", "load_flow"]
