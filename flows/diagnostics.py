"""Problems found in a flows file, each with where it stands and how to fix it.

Marketers read these before anything goes live, so every one names file, line and column, says
what is wrong in plain words, and proposes the fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    file: str
    line: int  # 1-based
    column: int  # 1-based
    message: str
    fix: str = ""

    def format(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.message}"
        return f"{text}; {self.fix}" if self.fix else text


@dataclass(slots=True)
class Diagnostics:
    """Collects problems while a file is read, so one run reports all of them, not the first."""

    file: str
    items: list[Diagnostic] = field(default_factory=list)

    def error(self, pos: tuple[int, int], message: str, fix: str = "") -> None:
        self.items.append(Diagnostic("error", self.file, pos[0], pos[1], message, fix))

    def warning(self, pos: tuple[int, int], message: str, fix: str = "") -> None:
        self.items.append(Diagnostic("warning", self.file, pos[0], pos[1], message, fix))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "warning"]

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=lambda d: (d.line, d.column, d.severity))


class FlowError(Exception):
    """A flows file that cannot go live; `diagnostics` holds every problem found."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"]
        super().__init__("\n".join(d.format() for d in errors) or "invalid flows file")


def did_you_mean(name: str, candidates: Iterable[str], what: str = "") -> str:
    """'did you mean 'track_order'?' when a close candidate exists, else the list to pick from."""
    options = sorted(set(candidates))
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if not options:
        return ""
    shown = ", ".join(options[:12]) + (", ..." if len(options) > 12 else "")
    return f"use one of the {what + ' ' if what else ''}names: {shown}"
