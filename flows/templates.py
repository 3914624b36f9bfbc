"""Texts and expressions marketers write, compiled once in Jinja's immutable sandbox.

The sandbox forbids attribute access to Python internals (`__class__`, `mro`...), mutation, and
has no file, import or environment access: templates see only the context we hand them
(`user`, `vars`, `shop`, `env`: the variables the flows file whitelists, `channel`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
    """One compiled text; plain strings skip Jinja entirely (the common, fast case)."""

    source: str
    render_fn: Callable[[Mapping[str, Any]], str] | None

    def render(self, context: Mapping[str, Any]) -> str:
        if self.render_fn is None:
            return self.source
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
    return Template(source, compiled.render)


def compile_expression(source: str) -> Callable[..., Any]:
    """A safe expression (`vars.order.status == 'shipped'`), never Python's `eval`."""
    try:
        return ENV.compile_expression(source, undefined_to_none=True)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"expression error: {exc.message}", exc.lineno) from exc


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
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
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
