"""Reads one node of flows.yaml into a `Node`, recording every problem with its position.

Targets (`goto`, `next`, ...) are only collected here; `loader.py` checks them once all nodes
are known, so a typo gets a "did you mean" from the whole file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flows.model import (
    AskSpec,
    ButtonSpec,
    CallSpec,
    Case,
    HandoffSpec,
    Node,
    SplitSpec,
    Validation,
    Value,
    Variant,
)
from flows.normalise import normalise
from flows.templates import TemplateProblem, compile_expression, whole_expression
from flows.translations import LanguageFacts, read_label, read_text
from flows.translations import template_of as _template
from flows.yamlsrc import Pos, Wild, plain

NODE_KEYS = {
    "say",
    "set",
    "goal",
    "call_link",
    "buttons",
    "ask",
    "save",
    "expect",
    "retry",
    "retries",
    "on_invalid",
    "call",
    "switch",
    "split",
    "handoff",
    "end",
    "next",
    "goto",
    "note",
}
CONTROL_KEYS = ("buttons", "ask", "call", "switch", "split", "handoff", "end")
BUTTON_KEYS = {"title", "goto", "payload", "value", "set", "url", "call"}
CALL_KEYS = {"method", "url", "headers", "json", "timeout", "save", "on_error"}
EXPECT_KINDS = {"regex", "number", "email", "phone", "one_of", "any"}
HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
DEFAULT_RETRIES = 2


@dataclass(frozen=True, slots=True)
class Ref:
    """A node name used somewhere, to be checked once every node is read."""

    target: str
    pos: Pos
    where: str


@dataclass(slots=True)
class NodeFacts(LanguageFacts):
    """What a node reads and writes, for the cross-node checks (and, from `LanguageFacts`,
    the flow's languages, its templates and the translations it lacks)."""

    refs: list[Ref] = field(default_factory=list)
    sets: set[str] = field(default_factory=set)
    titles: list[tuple[str, Pos]] = field(default_factory=list)
    node_pos: dict[str, Pos] = field(default_factory=dict)


def read_value(w: Wild, facts: NodeFacts) -> Value | None:
    if isinstance(w.value, str):
        expr = whole_expression(w.value)
        if expr is not None:
            try:
                fn = compile_expression(expr)
            except TemplateProblem as exc:
                w.diags.error(w.pos, f"{exc} in '{w.path}'", "check the expression between {{ }}")
                return None
            facts.templates.append((expr, w.pos, True))
            return Value(expression=fn, source=w.value)
        template = _template(w, facts)
        return Value(template=template, source=w.value) if template else None
    return Value(literal=plain(w.value), source=str(w.value))


def read_assignments(w: Wild, facts: NodeFacts) -> tuple[tuple[str, Value], ...]:
    if not w.expect(dict):
        return ()
    out = []
    for name, part in w.items():
        if not VARIABLE.match(name):
            w.diags.error(
                w.key_pos(name),
                f"'{name}' is not a valid variable name",
                "use letters, digits and _ (for example order_id)",
            )
            continue
        value = read_value(part, facts)
        if value is not None:
            facts.sets.add(name)
            out.append((name, value))
    return tuple(out)


def _target(w: Wild, facts: NodeFacts, where: str) -> str | None:
    name = w.str()
    if name is not None:
        facts.refs.append(Ref(name, w.pos, where))
    return name


def read_node(node_id: str, w: Wild, facts: NodeFacts) -> Node | None:
    if not w.expect(dict, what="a mapping of the node's steps (say, buttons, next...)"):
        return None
    w.only_keys(NODE_KEYS, f"node '{node_id}'")
    controls = [k for k in CONTROL_KEYS if w.get(k) is not None]
    if "ask" in controls and "buttons" in controls:
        controls.remove("buttons")  # an ask may offer quick answers as buttons
    if len(controls) > 1:
        w.diags.error(
            w.key_pos(controls[1]),
            f"node '{node_id}' has both '{controls[0]}' and '{controls[1]}'",
            "split it into two nodes linked with 'next:'",
        )
    if w.get("next") is not None and w.get("goto") is not None:
        w.diags.error(w.key_pos("goto"), f"node '{node_id}' has both 'next' and 'goto'", "keep one")
    for stop in ("end", "handoff"):
        for key in ("next", "goto"):
            if w.get(stop) is not None and w.get(key) is not None:
                w.diags.error(
                    w.key_pos(key),
                    f"'{key}' in '{node_id}' is never followed: the node has '{stop}'",
                    "remove it"
                    + (", or use 'then:' inside the handoff" if stop == "handoff" else ""),
                )
    kw: dict[str, Any] = {}
    if (say := w.get("say")) is not None:
        kw["say"] = read_text(say, facts)
    if (assign := w.get("set")) is not None:
        kw["assign"] = read_assignments(assign, facts)
    if (goal := w.get("goal")) is not None:
        kw["goal"] = goal.str()
    if (link := w.get("call_link")) is not None:
        kw["call_link"] = _template(link, facts)
    for key in ("next", "goto"):
        if (nxt := w.get(key)) is not None:
            kw["next"] = _target(nxt, facts, key)
    asks = w.get("ask") is not None
    if (buttons := w.get("buttons")) is not None:
        kw["buttons"] = read_buttons(buttons, facts, in_ask=asks)
    if asks:
        kw["ask"] = read_ask(node_id, w, facts)
    else:
        for key in ("save", "expect", "retry", "retries", "on_invalid"):
            if w.get(key) is not None:
                w.diags.error(
                    w.key_pos(key), f"'{key}' only works with 'ask'", "add 'ask:' or remove it"
                )
    if (call := w.get("call")) is not None:
        kw["call"] = read_call(call, facts)
    if (switch := w.get("switch")) is not None:
        kw["switch"] = read_switch(switch, facts)
    if (split := w.get("split")) is not None:
        kw["split"] = read_split(split, facts)
    if (handoff := w.get("handoff")) is not None:
        kw["handoff"] = read_handoff(handoff, facts)
    if (end := w.get("end")) is not None:
        kw["end"] = read_end(end)
    return Node(id=node_id, line=w.pos[0], **{k: v for k, v in kw.items() if v is not None})


def read_buttons(w: Wild, facts: NodeFacts, *, in_ask: bool) -> tuple[ButtonSpec, ...]:
    if not w.expect(list, what="a list of buttons ('- Title: target_node')"):
        return ()
    out = []
    first_title = len(facts.titles)
    for item in w.elements():
        button = read_button(item, facts, in_ask=in_ask)
        if button is not None:
            out.append(button)
    seen: set[str] = set()
    for title, pos in facts.titles[first_title:]:
        key = normalise(title)
        if key in seen:
            w.diags.error(
                pos,
                f"two buttons are both called '{title}' (after ignoring case and accents)",
                "give each button its own title",
            )
        seen.add(key)
    payloads = [b.payload for b in out]
    if len(seen) == len(out) and len(set(payloads)) != len(payloads):
        w.diags.error(w.pos, "two buttons share one payload", "give each button its own 'payload'")
    return tuple(out)


def read_button(w: Wild, facts: NodeFacts, *, in_ask: bool) -> ButtonSpec | None:
    if isinstance(w.value, str):  # "- Yes" inside an ask: a quick answer
        label = read_label(w, facts)
        if label is None:
            return None
        title = label.source
        facts.titles.append((title, w.pos))
        if not in_ask:
            w.diags.error(w.pos, f"button '{title}' leads nowhere", f"write '- {title}: node_name'")
        return ButtonSpec(
            title=title, payload=slug(title), goto=None, value=title, titles=label.translations
        )
    if not w.expect(dict, what="a button ('- Title: node' or 'title:' and 'goto:')"):
        return None
    keys = [str(k) for k in w.value]
    if len(keys) == 1 and keys[0] not in BUTTON_KEYS:  # shorthand: "- Track my order: track"
        # items(), not get(title): a key YAML reads as a number (`- 5: node`) is no str key
        title, target_w = next(w.items())
        facts.titles.append((title, w.key_pos(title)))
        goto = _target(target_w, facts, f"button '{title}'")
        label = read_label(Wild(title, w.key_pos(title), w.path, w.diags), facts)
        others = label.translations if label else ()
        return ButtonSpec(title=title, payload=slug(title), goto=goto, value=title, titles=others)
    w.only_keys(BUTTON_KEYS, "a button")
    title_w = w.get("title")
    if title_w is None:
        w.diags.error(w.pos, "a button has no 'title'", "add 'title: ...' (the text on the button)")
        return None
    label = read_label(title_w, facts)
    if label is None:
        return None
    title = label.source
    facts.titles.append((title, title_w.pos))
    payload = w.get("payload")
    goto_w = w.get("goto")
    goto = _target(goto_w, facts, f"button '{title}'") if goto_w is not None else None
    kind: Any = "reply"
    url = None
    if (url_w := w.get("url")) is not None:
        kind, url = "url", _template(url_w, facts)
    elif (call_w := w.get("call")) is not None:
        kind, url = "call", _template(call_w, facts)
    if kind == "reply" and goto is None and not in_ask:
        w.diags.error(w.pos, f"button '{title}' leads nowhere", "add 'goto: node_name'")
    if kind != "reply" and goto_w is not None:
        w.diags.error(
            goto_w.pos,
            f"button '{title}' opens a {'link' if kind == 'url' else 'phone call'},"
            " so its 'goto' is never followed",
            "remove 'goto', or make it a normal button without 'url'/'call'",
        )
    value = plain(w.value["value"]) if "value" in w.value else title
    set_w = w.get("set")
    assign = read_assignments(set_w, facts) if set_w is not None else ()
    return ButtonSpec(
        title=title,
        payload=(payload.str() if payload is not None else None) or slug(title),
        goto=goto,
        value=value,
        assign=assign,
        kind=kind,
        url=url,
        titles=label.translations,
    )


def read_ask(node_id: str, w: Wild, facts: NodeFacts) -> AskSpec | None:
    save = w.get("save")
    if save is None:
        w.diags.error(
            w.key_pos("ask"),
            f"the question in '{node_id}' saves its answer nowhere",
            "add 'save: variable_name'",
        )
        return None
    variable = save.str()
    if variable is None:
        return None
    if not VARIABLE.match(variable):
        w.diags.error(
            save.pos, f"'{variable}' is not a valid variable name", "use letters, digits and _"
        )
        return None
    facts.sets.add(variable)
    ask_w = w.get("ask")
    assert ask_w is not None  # read_node reads an ask only for a node that has 'ask'
    prompt = read_text(ask_w, facts)
    expect_w = w.get("expect")
    validation = read_expect(expect_w) if expect_w is not None else Validation()
    retry_w = w.get("retry")
    retry = read_text(retry_w, facts) if retry_w is not None else None
    retries_w = w.get("retries")
    retries = retries_w.int(low=0, high=10) if retries_w is not None else DEFAULT_RETRIES
    on_invalid_w = w.get("on_invalid")
    on_invalid = _target(on_invalid_w, facts, "on_invalid") if on_invalid_w is not None else None
    if validation is None or prompt is None:
        return None
    return AskSpec(
        variable,
        prompt,
        validation,
        retry,
        DEFAULT_RETRIES if retries is None else retries,
        on_invalid,
    )


def read_expect(w: Wild) -> Validation | None:
    if isinstance(w.value, str):
        kind = w.value.strip()
        if kind in ("email", "phone", "number", "any"):
            return Validation(kind=kind)  # type: ignore[arg-type]
        w.diags.error(
            w.pos,
            f"unknown answer check '{kind}'",
            "use email, phone, number, or a mapping like 'regex: ...'",
        )
        return None
    if not w.expect(dict, what="an answer check (email, phone, number, or 'regex: ...')"):
        return None
    w.only_keys(EXPECT_KINDS | {"case"}, "'expect'")
    kinds = [k for k in EXPECT_KINDS if k in w.value]
    if len(kinds) != 1:
        w.diags.error(
            w.pos,
            "'expect' needs exactly one check",
            "keep one of: " + ", ".join(sorted(EXPECT_KINDS)),
        )
        return None
    kind = kinds[0]
    transform = ""
    if (case := w.get("case")) is not None:
        transform = case.str() or ""
        if transform not in ("upper", "lower"):
            w.diags.error(case.pos, f"unknown case '{transform}'", "use upper or lower")
            transform = ""
    part = w.get(kind)
    assert part is not None
    if kind == "regex":
        source = part.str()
        if source is None:
            return None
        try:
            pattern = re.compile(source)
        except re.error as exc:
            w.diags.error(
                part.pos, f"the regex is broken: {exc}", "test it on regex101.com, Python flavour"
            )
            return None
        return Validation(kind="regex", pattern=pattern, transform=transform)  # type: ignore[arg-type]
    if kind == "number":
        return _read_number_rule(part, transform)
    if kind == "one_of":
        if not part.expect(list, what="a list of the accepted answers"):
            return None
        options = tuple(str(o) for o in plain(part.value))
        return Validation(kind="one_of", options=options, transform=transform)  # type: ignore[arg-type]
    return Validation(kind=kind, transform=transform)  # type: ignore[arg-type]


def _read_number_rule(w: Wild, transform: str) -> Validation | None:
    if w.value is True or w.value is None:
        return Validation(kind="number")
    if not w.expect(dict, what="'true' or a mapping with min, max, integer"):
        return None
    w.only_keys({"min", "max", "integer"}, "'expect.number'")
    min_w, max_w, integer_w = w.get("min"), w.get("max"), w.get("integer")
    low = min_w.number() if min_w is not None else None
    high = max_w.number() if max_w is not None else None
    integer = bool(integer_w.bool()) if integer_w is not None else False
    if low is not None and high is not None and low > high:
        w.diags.error(w.pos, f"min {low:g} is above max {high:g}", "swap them")
    return Validation(kind="number", low=low, high=high, integer=integer, transform=transform)  # type: ignore[arg-type]


def read_call(w: Wild, facts: NodeFacts) -> CallSpec | None:
    if not w.expect(dict, what="a mapping with url, method, save..."):
        return None
    w.only_keys(CALL_KEYS, "'call'")
    url_w = w.get("url")
    if url_w is None:
        w.diags.error(w.pos, "the call has no 'url'", "add 'url: https://...'")
        return None
    url = _template(url_w, facts)
    method = "GET"
    if (method_w := w.get("method")) is not None:
        method = (method_w.str() or "GET").upper()
        if method not in HTTP_METHODS:
            w.diags.error(
                method_w.pos,
                f"unknown HTTP method '{method}'",
                "use " + ", ".join(sorted(HTTP_METHODS)),
            )
    headers = []
    if (headers_w := w.get("headers")) is not None and headers_w.expect(dict):
        for name, hw in headers_w.items():
            template = _template(hw, facts)
            if template:
                headers.append((name, template))
    json_w = w.get("json")
    body = _read_body(json_w, facts) if json_w is not None else None
    timeout = 5.0
    if (timeout_w := w.get("timeout")) is not None:
        number = timeout_w.number()
        timeout = 5.0 if number is None else number
        if not 0.5 <= timeout <= 30:
            w.diags.error(
                timeout_w.pos, f"timeout {timeout:g}s is out of range", "use 0.5 to 30 seconds"
            )
    save = None
    if (save_w := w.get("save")) is not None:
        save = save_w.str()
        if save and not VARIABLE.match(save):
            w.diags.error(
                save_w.pos, f"'{save}' is not a valid variable name", "use letters, digits and _"
            )
            save = None
        if save:
            facts.sets.add(save)
    on_error_w = w.get("on_error")
    on_error = _target(on_error_w, facts, "on_error") if on_error_w is not None else None
    if url is None:
        return None
    return CallSpec(method, url, tuple(headers), body, timeout, save, on_error)


def _read_body(w: Wild, facts: NodeFacts) -> Any:
    if w.is_map:
        return {name: _read_body(part, facts) for name, part in w.items()}
    if w.is_list:
        return [_read_body(part, facts) for part in w.elements()]
    if isinstance(w.value, str):
        return read_value(w, facts)
    return plain(w.value)


def read_switch(w: Wild, facts: NodeFacts) -> tuple[Case, ...]:
    if not w.expect(list, what="a list of '- when: ...' with 'goto:', and a last '- else: node'"):
        return ()
    cases: list[Case] = []
    has_else = False
    for item in w.elements():
        if not item.expect(dict):
            continue
        item.only_keys({"when", "goto", "else"}, "a switch case")
        if has_else:
            item.diags.error(item.pos, "this case comes after '- else:' and is never used",
                             "move '- else: node' to the end of the switch")  # fmt: skip
        if (other := item.get("else")) is not None:
            target = _target(other, facts, "else")
            if target:
                cases.append(Case(goto=target))
            has_else = True
            continue
        when_w, goto_w = item.get("when"), item.get("goto")
        if when_w is None or goto_w is None:
            item.diags.error(
                item.pos,
                "a switch case needs 'when' and 'goto'",
                "write '- when: ...' and 'goto: node'",
            )
            continue
        source = when_w.str()
        target = _target(goto_w, facts, "goto")
        if source is None or target is None:
            continue
        try:
            fn = compile_expression(source)
        except TemplateProblem as exc:
            when_w.diags.error(when_w.pos, f"{exc}", "write a condition like vars.total > 50")
            continue
        facts.templates.append((source, when_w.pos, True))
        cases.append(Case(goto=target, when=fn, source=source))
    if cases and not has_else:
        w.diags.error(
            w.pos,
            "the switch has no '- else: node'",
            "add '- else: node_name' so every shopper goes somewhere",
        )
    return tuple(cases)


def read_split(w: Wild, facts: NodeFacts) -> SplitSpec | None:
    if not w.expect(dict, what="a mapping with 'experiment' and 'variants'"):
        return None
    w.only_keys({"experiment", "variants"}, "'split'")
    exp_w, variants_w = w.get("experiment"), w.get("variants")
    if exp_w is None or variants_w is None:
        w.diags.error(
            w.pos,
            "a split needs 'experiment' and 'variants'",
            "name the experiment and list its variants",
        )
        return None
    experiment = exp_w.str()
    variants: list[Variant] = []
    total = 0.0
    if variants_w.expect(list, what="a list of variants (name, weight, goto)"):
        for item in variants_w.elements():
            if not item.expect(dict):
                continue
            item.only_keys({"name", "weight", "goto"}, "a variant")
            name_w, weight_w, goto_w = item.get("name"), item.get("weight"), item.get("goto")
            if name_w is None or weight_w is None or goto_w is None:
                item.diags.error(
                    item.pos, "a variant needs name, weight and goto", "add the missing ones"
                )
                continue
            name, weight = name_w.str(), weight_w.number()
            target = _target(goto_w, facts, "variant goto")
            if weight is not None and weight <= 0:
                item.diags.error(
                    weight_w.pos,
                    f"variant '{name}' has weight {weight:g}",
                    "use a positive weight, or remove the variant",
                )
                continue
            if name and weight is not None and target:
                variants.append(Variant(name, weight, target))
                total += weight
    if len({v.name for v in variants}) != len(variants):
        w.diags.error(variants_w.pos, "two variants share a name", "give each variant its own name")
    if variants and abs(total - 100) > 1e-9:
        w.diags.error(
            variants_w.pos,
            f"the variant weights add up to {total:g}, not 100",
            "make the weights add up to 100 (they are percentages)",
        )
    if len(variants) < 2 and variants_w.is_list:
        w.diags.error(variants_w.pos, "a split needs at least two variants", "add another variant")
    if not experiment or not variants:
        return None
    return SplitSpec(experiment, tuple(variants))


def read_handoff(w: Wild, facts: NodeFacts) -> HandoffSpec | None:
    if isinstance(w.value, str):
        return HandoffSpec(queue=w.value, reason="", then=None)
    if not w.expect(dict, what="a queue name, or a mapping with queue, reason, then"):
        return None
    w.only_keys({"queue", "reason", "then"}, "'handoff'")
    queue_w, reason_w, then_w = w.get("queue"), w.get("reason"), w.get("then")
    queue = queue_w.str() if queue_w is not None else "support"
    reason = reason_w.str() if reason_w is not None else ""
    then = _target(then_w, facts, "then") if then_w is not None else None
    return HandoffSpec(queue=queue or "support", reason=reason or "", then=then)


def read_end(w: Wild) -> str:
    if w.value is True:
        return "end"
    if w.value == "stop":
        return "stop"
    w.diags.error(w.pos, f"'end' must be true or stop, not {w.value!r}", "write 'end: true'")
    return "end"


def slug(title: str) -> str:
    """A stable button payload from its title: 'Track my order' → 'track-my-order'."""
    return normalise(title).replace(" ", "-")[:48] or "button"
