"""YAML read with positions: every value knows its file line and column.

`Wild` wraps an untrusted YAML value until each field is tamed (`.str()`, `.int()`, ...), so
every complaint about it can name exactly where it stands in the marketer's file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError

from flows.diagnostics import Diagnostics, did_you_mean

Pos = tuple[int, int]

_TYPE_NAMES = {
    str: "text",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a mapping (key: value lines)",
}


class _Constructor(RoundTripConstructor):
    """ruamel raises a bare ValueError (no line) for a date-like `2026-13-01`; keeping it as
    text lets the reader of that field say where it is and how to write it."""

    def construct_yaml_timestamp(self, node: Any, values: Any = None) -> Any:
        try:
            return super().construct_yaml_timestamp(node, values)
        except ValueError:
            return str(node.value)


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_timestamp)


def load_yaml(text: str, diags: Diagnostics) -> Wild | None:
    """Parse `text`; a syntax error or duplicate key becomes a diagnostic, not an exception."""
    yaml = YAML(typ="rt", pure=True)
    yaml.Constructor = _Constructor
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        fix = "check the indentation and quotes on this line and the one before"
        if "duplicate key" in problem:
            fix = "remove or rename one of the two entries"
        diags.error(pos, f"YAML syntax: {problem}", fix)
        return None
    if data is None:
        diags.error((1, 1), "the file is empty", "start from the sample flows.yaml")
        return None
    return Wild(data, (1, 1), "", diags)


class Wild:
    """An untrusted YAML value with its position and path (`nodes.menu.buttons[2].goto`)."""

    __slots__ = ("diags", "path", "pos", "value")

    def __init__(self, value: Any, pos: Pos, path: str, diags: Diagnostics) -> None:
        self.value = value
        self.pos = pos
        self.path = path
        self.diags = diags

    # ---- structure ----

    @property
    def is_map(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_list(self) -> bool:
        return isinstance(self.value, list)

    def _child_path(self, key: Any) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else str(key)

    def key_pos(self, key: str) -> Pos:
        if isinstance(self.value, CommentedMap) and key in self.value:
            line, col = self.value.lc.key(key)
            return (line + 1, col + 1)
        return self.pos

    def get(self, key: str) -> Wild | None:
        if not isinstance(self.value, dict) or key not in self.value:
            return None
        return Wild(self.value[key], self._value_pos(key), self._child_path(key), self.diags)

    def _value_pos(self, key: Any) -> Pos:
        if isinstance(self.value, CommentedMap):
            line, col = self.value.lc.value(key)
            return (line + 1, col + 1)
        if isinstance(self.value, CommentedSeq):
            line, col = self.value.lc.item(key)
            return (line + 1, col + 1)
        return self.pos

    def items(self) -> Iterator[tuple[str, Wild]]:
        if not isinstance(self.value, dict):
            return
        for key in self.value:
            yield (
                str(key),
                Wild(self.value[key], self._value_pos(key), self._child_path(key), self.diags),
            )

    def elements(self) -> Iterator[Wild]:
        if not isinstance(self.value, list):
            return
        for i, item in enumerate(self.value):
            yield Wild(item, self._value_pos(i), self._child_path(i), self.diags)

    # ---- checks ----

    def expect(self, *types: type, what: str = "") -> bool:
        """True when the value has one of `types`; otherwise records an error naming the path."""
        if isinstance(self.value, bool) and bool not in types:
            ok = False
        else:
            ok = isinstance(self.value, types)
        if not ok:
            wanted = what or " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)
            got = _describe(self.value)
            self.diags.error(
                self.pos, f"'{self.path}' must be {wanted}, not {got}", f"write {wanted} here"
            )
        return ok

    def only_keys(self, allowed: set[str], where: str) -> None:
        """Flag keys this mapping does not know, with the nearest known key as the fix."""
        if not isinstance(self.value, dict):
            return
        for key in self.value:
            if str(key) not in allowed:
                self.diags.error(
                    self.key_pos(str(key)),
                    f"unknown key '{key}' in {where}",
                    did_you_mean(str(key), allowed, "allowed") or f"remove '{key}'",
                )

    def str(self, *, allow_empty: bool = False) -> str | None:
        if isinstance(self.value, (int, float)) and not isinstance(self.value, bool):
            return str(self.value)
        if not self.expect(str):
            return None
        if not allow_empty and not self.value.strip():
            self.diags.error(self.pos, f"'{self.path}' is empty", "write some text here")
            return None
        return str(self.value)

    def int(self, *, low: int | None = None, high: int | None = None) -> int | None:
        if not self.expect(int):
            return None
        value = int(self.value)
        if (low is not None and value < low) or (high is not None and value > high):
            span = f"between {low} and {high}" if high is not None else f"at least {low}"
            self.diags.error(self.pos, f"'{self.path}' is {value}", f"use a number {span}")
            return None
        return value

    def number(self) -> float | None:
        if not self.expect(int, float):
            return None
        return float(self.value)

    def bool(self) -> bool | None:
        if not self.expect(bool):
            return None
        return bool(self.value)


def plain(value: Any) -> Any:
    """The YAML value as plain dicts, lists and scalars (ruamel's types stripped)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def _describe(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"'{str(value).lower()}'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return f"the text '{value}'"
