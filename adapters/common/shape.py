"""Taming untrusted JSON field by field, so a wrong shape names its path (`entry[0].messaging`).

Parsers call these helpers and let `ShapeError` rise to their `parse()`, which turns it into a
`ParseError` value: the exception never leaves the adapter.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from adapters.base import ParseError
from adapters.common.text import replace_lone_surrogates

# "\ud800"-"\udfff" written as an escape: only then can a decoded string hold a surrogate.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class ShapeError(Exception):
    """A field is missing or has the wrong type; caught at the adapter boundary."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem

    def as_value(self) -> ParseError:
        return ParseError(self.path, self.problem)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "number"
    )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def load_json(body: bytes) -> Any:
    """The decoded body; empty or invalid JSON raise ShapeError("body", ...).

    Invalid Unicode does not fail the message: bytes that are not UTF-8 and lone surrogates
    ("\ud800" escapes without their pair) become U+FFFD, so the shopper's text still reaches
    the bot. The gateway bounds depth and number length before this runs
    (`gateway.web.payload_limits`); the two errors past Python's own limits are still caught here,
    for a caller without the gateway.
    """
    if not body.strip():
        raise ShapeError("body", "empty body")
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except json.JSONDecodeError as exc:
        raise ShapeError("body", f"invalid JSON at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:
        raise ShapeError("body", "JSON nested too deep") from exc
    except ValueError as exc:  # int() past its digit limit
        raise ShapeError("body", "number too long") from exc
    return _replace_surrogates(data) if SURROGATE_ESCAPE.search(body) else data


def _replace_surrogates(root: Any) -> Any:
    """Lone surrogates in every string and key of a decoded body, replaced in place, walked
    without recursion (a valid pair was already joined into one character by the decoder)."""
    if isinstance(root, str):
        return replace_lone_surrogates(root)
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            for i, value in enumerate(node):
                if isinstance(value, str):
                    node[i] = replace_lone_surrogates(value)
                elif isinstance(value, (list, dict)):
                    stack.append(value)
        elif isinstance(node, dict):
            items = list(node.items())
            node.clear()
            for key, value in items:
                if isinstance(value, str):
                    value = replace_lone_surrogates(value)
                elif isinstance(value, (list, dict)):
                    stack.append(value)
                node[replace_lone_surrogates(key)] = value
    return root


def obj(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ShapeError(path, f"expected an object, got {_kind(value)}")
    return value


def arr(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise ShapeError(path, f"expected an array, got {_kind(value)}")
    return value


def get_obj(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    if key not in parent:
        raise ShapeError(_join(path, key), "missing")
    return obj(parent[key], _join(path, key))


def opt_obj(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any] | None:
    value = parent.get(key)
    return None if value is None else obj(value, _join(path, key))


def get_arr(parent: Mapping[str, Any], key: str, path: str) -> list[Any]:
    if key not in parent:
        raise ShapeError(_join(path, key), "missing")
    return arr(parent[key], _join(path, key))


def opt_arr(parent: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = parent.get(key)
    return [] if value is None else arr(value, _join(path, key))


def get_str(parent: Mapping[str, Any], key: str, path: str) -> str:
    value = parent.get(key)
    if not isinstance(value, str):
        raise ShapeError(
            _join(path, key),
            "missing" if value is None else f"expected a string, got {_kind(value)}",
        )
    return value


def opt_str(parent: Mapping[str, Any], key: str, path: str) -> str | None:
    value = parent.get(key)
    if value is not None and not isinstance(value, str):
        raise ShapeError(_join(path, key), f"expected a string, got {_kind(value)}")
    return value


def get_int(parent: Mapping[str, Any], key: str, path: str) -> int:
    value = parent.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ShapeError(
            _join(path, key),
            "missing" if value is None else f"expected an integer, got {_kind(value)}",
        )
    return value


def get_id(parent: Mapping[str, Any], key: str, path: str) -> str:
    """An id the platform may send as a string or a number; always returned as a string."""
    value = parent.get(key)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise ShapeError(
            _join(path, key), "missing" if value is None else f"expected an id, got {_kind(value)}"
        )
    return str(value)


def opt_number(parent: Mapping[str, Any], key: str, path: str) -> float | None:
    value = parent.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ShapeError(_join(path, key), f"expected a number, got {_kind(value)}")
    if not math.isfinite(value):
        raise ShapeError(_join(path, key), "expected a finite number")
    return float(value)
