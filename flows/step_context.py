"""What templates see during a step, and rendering of the templated parts of a node.

Only these names exist in a template: `user`, `vars`, `shop`, `env` (the whitelisted
variables), `channel`, `input` (the shopper's last text), `language` (the shopper's, BCP 47),
`hours` (`open`, `next_open`) and, in handoff notices, `handoff` (`wait`, `waiting`, `agents`).
Nothing else can be reached.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flows.hours import BusinessHours
from flows.i18n.system_texts import system_text
from flows.messages import Button, Inbound
from flows.model import ButtonSpec, Context, Flow, Value

HOURS_KEYS = ("open", "next_open")


class HoursView(Mapping[str, Any]):
    """`hours.open` and `hours.next_open` for templates, computed only when a step asks
    (most steps never do, and the time-zone arithmetic is the costliest part of a context)."""

    __slots__ = ("_hours", "_language", "_ts", "_values")

    def __init__(self, hours: BusinessHours | None, ts: float, language: str = "en") -> None:
        self._hours, self._ts, self._language = hours, ts, language
        self._values: dict[str, Any] | None = None

    def _compute(self) -> dict[str, Any]:
        if self._values is None:
            hours, ts = self._hours, self._ts
            if hours is None or ts <= 0:  # no hours, or no time to judge by: people are on duty
                unknown = system_text("open_unknown", self._language)
                self._values = {"open": True, "next_open": unknown}
            else:
                self._values = {
                    "open": hours.is_open(ts),
                    "next_open": hours.describe_next(ts, self._language),
                }
        return self._values

    def __getitem__(self, key: str) -> Any:
        return self._compute()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(HOURS_KEYS)

    def __len__(self) -> int:
        return len(HOURS_KEYS)


def build_context(
    flow: Flow, inbound: Inbound, variables: dict[str, Any], language: str | None = None
) -> dict[str, Any]:
    """What templates see; `language` is the shopper's, in which every `Text` renders."""
    language = language or flow.source_language
    shopper = inbound.shopper
    words = (shopper.name or "").split()  # a display name may be blank or only spaces
    first = (shopper.first_name or "").strip() or (words[0] if words else None)
    user = {
        "first_name": first or "",
        "name": shopper.name or first or "",
        "locale": shopper.locale or "",
        "channel": inbound.channel,
    }
    return {
        "user": user,
        "vars": variables,  # the step's working dict: later `set`s are visible at once
        "shop": flow.shop_in.get(language, flow.shop),
        "env": flow.env,
        "channel": inbound.channel,
        "input": inbound.text,
        "hours": HoursView(flow.hours, inbound.timestamp, language),
        "handoff": {},
        "language": language,
    }


def render_body(body: Any, context: Context) -> Any:
    """A `call`'s JSON body with every templated value filled in, types kept."""
    if isinstance(body, Value):
        return body.evaluate(context)
    if isinstance(body, dict):
        return {k: render_body(v, context) for k, v in body.items()}
    if isinstance(body, list):
        return [render_body(v, context) for v in body]
    return body


def render_buttons(
    specs: tuple[ButtonSpec, ...], context: Context, language: str | None = None
) -> tuple[Button, ...]:
    out = []
    for spec in specs:
        title = spec.title_in(language)
        if spec.kind == "reply":
            out.append(Button(title, spec.payload))
        elif spec.url is not None:
            out.append(Button(title, spec.url.render(context), spec.kind))
    return tuple(out)
