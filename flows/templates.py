"""Texts and expressions marketers write, compiled once in Jinja's immutable sandbox.

The sandbox forbids attribute access to Python internals (`__class__`, `mro`...), mutation, and
has no file, import or environment access: templates see only the context we hand them
(`user`, `vars`, `shop`, `env`: the variables the flows file whitelists, `channel`).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

ENV = ImmutableSandboxedEnvironment(
    undefined=ChainableUndefined,
    autoescape=False,  # replies are plain text; each adapter escapes for its platform
    keep_trailing_newline=False,
)

_WHOLE_EXPR = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)


class TemplateProblem(ValueError):
    """A template that does not compile; `line` is relative to the template's first line."""

    def __init__(self, message: str, line: int = 1) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True, slots=True)
class Template:
    """One compiled text; plain strings skip Jinja entirely, simple lookups take a fast path."""

    source: str
    render_fn: Callable[[Mapping[str, Any]], str] | None
    fast: Callable[[Mapping[str, Any]], str | None] | None = None

    def render(self, context: Mapping[str, Any]) -> str:
        if self.render_fn is None:
            return self.source
        if self.fast is not None:
            text = self.fast(context)
            if text is not None:
                return text.strip()
        try:
            return self.render_fn(context).strip()
        except (SecurityError, TypeError, ValueError, ArithmeticError, LookupError):
            # A template that fails on this shopper's data must not break the conversation:
            # show the text with the failing parts left out rather than nothing at all.
            return _strip_tags(self.source)


def compile_template(source: str) -> Template:
    if "{{" not in source and "{%" not in source:
        return Template(source, None)
    try:
        compiled = ENV.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"template error: {exc.message}", exc.lineno) from exc
    return Template(source, compiled.render, fast_renderer(source))


def compile_expression(source: str) -> Callable[[Mapping[str, Any]], Any]:
    """A safe expression (`vars.order.status == 'shipped'`), never Python's `eval`.

    The result takes the template context; simple comparisons skip Jinja (same answers).
    """
    try:
        slow = ENV.compile_expression(source, undefined_to_none=True)
        tree = ENV.parse("{{ " + source + " }}")
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"expression error: {exc.message}", exc.lineno) from exc
    body = tree.body[0].nodes if isinstance(tree.body[0], nodes.Output) else []
    fast = _lookup(body[0]) if len(body) == 1 else None

    def evaluate(context: Mapping[str, Any]) -> Any:
        if fast is not None:
            value = fast(context)
            if value is not _DEFER:
                return None if value is _MISSING else value
        return slow(**context)

    return evaluate


def whole_expression(source: str) -> str | None:
    """`"{{ vars.n + 1 }}"` → `"vars.n + 1"`: a value that keeps its type, not text."""
    match = _WHOLE_EXPR.match(source)
    if match and "{{" not in match["expr"] and "}}" not in match["expr"]:
        return match["expr"].strip()
    return None


def variables_read(source: str, *, expression: bool = False) -> set[str]:
    """Names read as `vars.NAME` or `vars['NAME']`, to warn about variables nothing sets."""
    try:
        tree = ENV.parse("{{ " + source + " }}" if expression else source)
    except TemplateSyntaxError:
        return set()
    found: set[str] = set()
    lookups: Iterator[nodes.Getattr | nodes.Getitem] = tree.find_all((nodes.Getattr, nodes.Getitem))
    for node in lookups:
        target = node.node
        if isinstance(target, nodes.Name) and target.name == "vars":
            if isinstance(node, nodes.Getattr):
                found.add(node.attr)
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                found.add(node.arg.value)
    return found


def names_read(source: str) -> set[str]:
    """Top-level names a template reads (`user`, `vars`, `shop`...)."""
    try:
        return set(meta.find_undeclared_variables(ENV.parse(source)))
    except TemplateSyntaxError:
        return set()


def _strip_tags(source: str) -> str:
    return re.sub(r"\{\{.*?\}\}|\{%.*?%\}", "", source).strip()


# ---- the fast path: texts made only of lookups like {{ vars.order.eta }} or {{ a or 'b' }} ----
# It gives exactly Jinja's output for JSON-like data (dicts, strings, numbers) and returns None
# for anything else (objects, dict method names, filters), so Jinja decides those cases.

_MAPPINGS = (dict, MappingProxyType)  # JSON data and the flow's own sections; not ABC checks
_MISSING: Any = object()  # renders as "" like ChainableUndefined
_DEFER: Any = object()  # "ask Jinja": the value is not plain data


def fast_renderer(source: str) -> Callable[[Mapping[str, Any]], str | None] | None:
    try:
        tree = ENV.parse(source)
    except TemplateSyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return None
    parts: list[Any] = []
    for node in tree.body[0].nodes:
        if isinstance(node, nodes.TemplateData):
            parts.append(node.data)
            continue
        getter = _lookup(node)
        if getter is None:
            return None
        parts.append(getter)

    def render(context: Mapping[str, Any]) -> str | None:
        out = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = part(context)
            if value is _DEFER:
                return None
            if value is not _MISSING:
                out.append(str(value))
        return "".join(out)

    return render


def _lookup(node: nodes.Node) -> Callable[[Mapping[str, Any]], Any] | None:
    if isinstance(node, nodes.Name):
        name = node.name
        return lambda ctx: ctx.get(name, _MISSING)
    if isinstance(node, nodes.Const) and isinstance(node.value, (str, int, float)):
        value = node.value
        return lambda ctx: value
    if isinstance(node, nodes.Getattr):
        path = _attr_path(node)
        return None if path is None else partial(_follow, path)
    if isinstance(node, nodes.Or):
        left, right = _lookup(node.left), _lookup(node.right)
        if left is None or right is None:
            return None
        return lambda ctx: _either(left(ctx), right, ctx)
    if isinstance(node, nodes.Compare) and len(node.ops) == 1 and node.ops[0].op in _COMPARE:
        lhs, rhs = _lookup(node.expr), _lookup(node.ops[0].expr)
        if lhs is None or rhs is None:
            return None
        return partial(_compare, lhs, rhs, _COMPARE[node.ops[0].op])
    return None


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt,
    "lteq": operator.le, "gt": operator.gt, "gteq": operator.ge,
}  # fmt: skip
_PLAIN = (str, int, float, type(None))


def _compare(
    left: Callable[[Mapping[str, Any]], Any],
    right: Callable[[Mapping[str, Any]], Any],
    op: Callable[[Any, Any], bool],
    ctx: Mapping[str, Any],
) -> Any:
    a, b = left(ctx), right(ctx)
    a = None if a is _MISSING else a
    b = None if b is _MISSING else b
    if a is _DEFER or b is _DEFER or not isinstance(a, _PLAIN) or not isinstance(b, _PLAIN):
        return _DEFER
    if op in (operator.eq, operator.ne) or (type(a) is type(b) and a is not None):
        return op(a, b)
    return _DEFER  # mixed types: let Jinja decide (it may raise, which the caller treats as false)


def _attr_path(node: nodes.Node) -> tuple[str, ...] | None:
    """`vars.order.eta` → ("vars", "order", "eta"); None for anything but a plain chain."""
    names: list[str] = []
    while isinstance(node, nodes.Getattr):
        if node.attr.startswith("_") or hasattr(dict, node.attr):
            return None  # Jinja would find a dict method here: let it
        names.append(node.attr)
        node = node.node
    if not isinstance(node, nodes.Name):
        return None
    names.append(node.name)
    return tuple(reversed(names))


def _follow(path: tuple[str, ...], ctx: Mapping[str, Any]) -> Any:
    value: Any = ctx
    for name in path:
        if not isinstance(value, _MAPPINGS):
            return _DEFER
        value = value.get(name, _MISSING)
        if value is _MISSING:
            return value
    return value


def _either(value: Any, right: Callable[[Mapping[str, Any]], Any], ctx: Mapping[str, Any]) -> Any:
    if value is _DEFER:
        return value
    if value is _MISSING or not value:
        return right(ctx)
    return value
