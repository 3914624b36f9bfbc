"""The state of one conversation: small, immutable and serialisable.

It is stored per conversation by the thousand, so it holds only what the next step needs:
where the shopper is waiting, the variables, the counters and the sticky experiment variants.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

Mode = Literal["new", "bot", "handoff", "ended"]


@dataclass(frozen=True, slots=True)
class ConversationState:
    node: str | None = None  # the node waiting for the shopper's answer
    mode: Mode = "new"
    vars: dict[str, Any] = field(default_factory=dict)  # treated as immutable: copied on change
    misses: int = 0  # fallbacks in a row
    retries: int = 0  # invalid answers to the current question
    variants: tuple[tuple[str, str], ...] = ()  # (experiment, variant), sticky
    version: str = ""  # the flow version this state was last stepped with
    turns: int = 0
    queue: str | None = None  # handoff queue while a person has the conversation
    resume: str | None = None  # where the bot resumes after the handoff is resolved
    language: str | None = None  # the shopper's language (BCP 47), kept across conversations
    heard: str | None = None  # another language the shopper wrote in lately, not yet switched to
    heard_count: int = 0
    offer: tuple[str, ...] = ()  # payloads of buttons offered outside a node (did you mean...)

    def variant(self, experiment: str) -> str | None:
        for name, variant in self.variants:
            if name == experiment:
                return variant
        return None

    def with_var(self, name: str, value: Any) -> ConversationState:
        return replace(self, vars={**self.vars, name: value})

    def to_json(self) -> str:
        """Compact JSON with defaults left out (most fields are at their default)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            default = f.default_factory() if callable(f.default_factory) else f.default
            if value != default:
                out[f.name] = [list(v) for v in value] if f.name == "variants" else value
        return json.dumps(out, separators=(",", ":"), ensure_ascii=False, default=str)

    @classmethod
    def from_json(cls, text: str | bytes | None) -> ConversationState:
        if not text:
            return cls()
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        if "variants" in data:
            data["variants"] = tuple((str(a), str(b)) for a, b in data["variants"])
        if "offer" in data:
            data["offer"] = tuple(str(p) for p in data["offer"])
        return cls(**data)
