"""What templates see during a step, and rendering of the templated parts of a node.

Only these names exist in a template: `user`, `vars`, `shop`, `env` (the whitelisted
variables), `channel` and `input` (the shopper's last text). Nothing else can be reached.
"""

from __future__ import annotations

from typing import Any

from flows.messages import Button, Inbound
from flows.model import ButtonSpec, Context, Flow, Value


def build_context(flow: Flow, inbound: Inbound, variables: dict[str, Any]) -> dict[str, Any]:
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
        "shop": flow.shop,
        "env": flow.env,
        "channel": inbound.channel,
        "input": inbound.text,
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


def render_buttons(specs: tuple[ButtonSpec, ...], context: Context) -> tuple[Button, ...]:
    out = []
    for spec in specs:
        if spec.kind == "reply":
            out.append(Button(spec.title, spec.payload))
        elif spec.url is not None:
            out.append(Button(spec.title, spec.url.render(context), spec.kind))
    return tuple(out)
