"""Taming untrusted JSON field by field, so a wrong shape names its path (`entry[0].messaging`).

Parsers call these helpers and let `ShapeError` rise to their `parse()`, which turns it into a
`ParseError` value: the exception never leaves the adapter.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from adapters.base import ParseError


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
    """The decoded body; empty, non-UTF-8 or invalid JSON raise ShapeError("body", ...)."""
    if not body.strip():
        raise ShapeError("body", "empty body")
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ShapeError("body", f"not UTF-8 (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise ShapeError("body", f"invalid JSON at line {exc.lineno} column {exc.colno}") from exc


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
