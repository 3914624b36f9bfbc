"""Approved templates for when a platform's window is closed (WhatsApp: 24 hours after the
shopper's last message): the agent's invitation to re-open the conversation, and the
satisfaction question after a late resolution.

Which templates a channel has is its adapter's business (its settings name them by purpose);
which node asks the satisfaction question is the flow's. This module joins the two, so the
inbox and the worker ask the same questions the same way.
"""

from __future__ import annotations

from adapters.registry import TEMPLATE_SETTINGS
from flows.messages import Reply, Shopper, Template
from flows.model import Flow
from gateway.context import Gateway

REOPEN = "reopen"
CSAT = "csat"


def has_template(gw: Gateway, channel: str, name: str) -> bool:
    """Whether `channel`'s adapter has an approved template for `name` configured."""
    platform = gw.adapters.templates.get(channel)
    return platform is not None and platform.has_template(name)


def setting(channel: str, name: str) -> str | None:
    """The variable that configures the template, where the channel has such templates."""
    return TEMPLATE_SETTINGS.get(channel, {}).get(name)


def first_name(shopper: Shopper) -> str:
    """{{1}} of both templates: the shopper's first name, or "there" ("Hi there")."""
    words = (shopper.name or "").split()
    return (shopper.first_name or "").strip() or (words[0] if words else "") or "there"


def satisfaction_node(flow: Flow) -> str | None:
    """The node asking the 1-5 question: the one whose `ask` saves an experiment's `csat:`
    variable, else one saving a variable named `csat`; None if the flow asks none."""
    wanted = [v for v, kind in flow.ratings.items() if kind == "csat"] + [CSAT]
    for variable in wanted:
        for node in flow.nodes.values():
            if node.ask is not None and node.ask.variable == variable:
                return node.id
    return None


def reopen_reply(shopper: Shopper, agent: str) -> Reply:
    """The agent's invitation; the text is the history's line, the template is what goes."""
    first = first_name(shopper)
    text = (f"📨 Re-open template sent (Hi {first}, from {agent}). When the shopper answers, "
            "free-form replies are possible again for 24 hours.")  # fmt: skip
    return Reply(text, author=agent, template=Template(REOPEN, (first, agent)))


def csat_reply(shopper: Shopper, agent: str, node: str) -> Reply:
    """The satisfaction question as a template; the shopper's answer goes to `node`."""
    first = first_name(shopper)
    text = (f"📨 Satisfaction question sent as a template (more than 24 h since the shopper's "
            f"last message); their answer goes to '{node}'.")  # fmt: skip
    return Reply(text, template=Template(CSAT, (first, agent)))


def reopen_hint(gw: Gateway, channel: str) -> str:
    """What the agent can do about a closed window, for the composer and refusals."""
    variable = setting(channel, REOPEN)
    if has_template(gw, channel, REOPEN):
        return ("send the re-open template to invite the shopper back; their answer opens a "
                "new 24-hour window")  # fmt: skip
    if variable is not None:
        return (f"set {variable} to an approved template's Content SID (HX…) and restart the "
                "gateway to invite the shopper back from here")  # fmt: skip
    return "send an approved template to invite the shopper back"


def csat_hint(gw: Gateway, channel: str) -> str | None:
    """Why the bot's messages after a late resolution were not replaced by the template."""
    variable = setting(channel, CSAT)
    if variable is None:
        return None
    if not has_template(gw, channel, CSAT):
        return f"set {variable} to ask the satisfaction question as a template after 24 h"
    if satisfaction_node(gw.flows.flow) is None:
        return (f"{variable} is set, but the flow has no satisfaction question (an ask that "
                "saves the experiment's csat: variable) to send it for")  # fmt: skip
    return None
