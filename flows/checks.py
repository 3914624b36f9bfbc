"""Checks across the whole tree: reachability, dead ends, loops that never wait, limits, variables.

These run only once every node reads cleanly, so their messages can assume valid targets.
"""

from __future__ import annotations

from flows.diagnostics import Diagnostics, did_you_mean
from flows.model import Intent, Node, Settings
from flows.node_reader import NodeFacts
from flows.templates import names_read, variables_read

# Quick-reply titles longer than this are cut by the platform.
# https://developers.facebook.com/docs/messenger-platform/send-messages/quick-replies
# https://www.twilio.com/docs/content/twilio-quick-reply
TITLE_LIMITS = {"Messenger": 20, "WhatsApp": 20}
TEMPLATE_NAMES = {
    "user", "vars", "shop", "env", "channel", "input", "hours", "handoff", "language", "loop",
    "range", "dict",
}  # fmt: skip


def check_graph(
    nodes: dict[str, Node],
    settings: Settings,
    intents: list[Intent],
    facts: NodeFacts,
    diags: Diagnostics,
) -> None:
    _check_reachable(nodes, settings, intents, facts, diags)
    _check_dead_ends(nodes, facts, diags)
    _check_loops(nodes, facts, diags)
    _check_titles(facts, diags)
    _check_variables(facts, diags)


def _entry_points(settings: Settings, intents: list[Intent], nodes: dict[str, Node]) -> list[str]:
    roots = [settings.start, settings.resume_at]
    if settings.fallback_then:
        roots.append(settings.fallback_then)
    if settings.person_button:
        roots.append(settings.person_button.goto)
    roots += [i.goto for i in intents]
    return [r for r in roots if r in nodes]


def _check_reachable(
    nodes: dict[str, Node],
    settings: Settings,
    intents: list[Intent],
    facts: NodeFacts,
    diags: Diagnostics,
) -> None:
    seen: set[str] = set()
    todo = _entry_points(settings, intents, nodes)
    while todo:
        name = todo.pop()
        if name in seen or name not in nodes:
            continue
        seen.add(name)
        todo.extend(nodes[name].targets())
    for name in nodes:
        if name not in seen:
            diags.error(
                facts.node_pos[name],
                f"node '{name}' can never be reached",
                "link to it from a button, 'next:' or an intent, or delete it",
            )


def _check_dead_ends(nodes: dict[str, Node], facts: NodeFacts, diags: Diagnostics) -> None:
    for name, node in nodes.items():
        if node.end or node.handoff or node.next or node.switch or node.split:
            continue
        if node.ask is not None:
            if node.buttons and all(b.goto for b in node.buttons):
                continue  # every answer is one of the buttons, and each leads somewhere
            diags.error(
                facts.node_pos[name],
                f"after the answer to '{name}' the conversation has nowhere to go",
                "add 'next: node_name' for the step after the answer",
            )
        elif node.call is not None:
            diags.error(
                facts.node_pos[name],
                f"after the call in '{name}' the conversation has nowhere to go",
                "add 'next: node_name' for when the call succeeds",
            )
        elif node.buttons and not any(b.kind == "reply" for b in node.buttons):
            diags.error(
                facts.node_pos[name],
                f"node '{name}' only has link buttons, so nothing the shopper does leads on",
                "add a normal button (- Title: node) or 'next: node_name'",
            )
        elif not node.buttons:
            diags.error(
                facts.node_pos[name],
                f"node '{name}' is a dead end: the shopper is left with no way forward",
                "add 'next: node_name', buttons, or 'end: true'",
            )


def _auto_edges(node: Node) -> list[str]:
    """Where a node goes without waiting for the shopper."""
    if node.waits or node.handoff or node.end:
        return []
    return node.targets()


def _check_loops(nodes: dict[str, Node], facts: NodeFacts, diags: Diagnostics) -> None:
    """A cycle of nodes none of which waits would spin forever on one message."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    reported: set[frozenset[str]] = set()

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        path.append(name)
        for target in _auto_edges(nodes[name]):
            if target not in nodes:
                continue
            if state.get(target) == 1:
                cycle = path[path.index(target) :]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    shown = " → ".join([*cycle, target])
                    diags.error(
                        facts.node_pos[target],
                        f"the nodes {shown} loop without ever waiting for the shopper",
                        "put buttons or a question in the loop, or leave it with 'end: true'",
                    )
            elif target not in state:
                visit(target, path)
        path.pop()
        state[name] = 2

    for name in nodes:
        if name not in state:
            visit(name, [])


def _check_titles(facts: NodeFacts, diags: Diagnostics) -> None:
    for title, pos in facts.titles:
        over = [p for p, limit in TITLE_LIMITS.items() if len(title) > limit]
        if over:
            limit = min(TITLE_LIMITS[p] for p in over)
            diags.warning(
                pos,
                f"button title '{title}' has {len(title)} characters; "
                f"{' and '.join(over)} cut titles after {limit}",
                f"shorten it to {limit} characters or fewer",
            )


def _check_variables(facts: NodeFacts, diags: Diagnostics) -> None:
    for source, pos, is_expr in facts.templates:
        for name in sorted(variables_read(source, expression=is_expr) - facts.sets):
            diags.warning(
                pos,
                f"'vars.{name}' is used here but nothing sets it",
                did_you_mean(name, facts.sets, "variable")
                or f"set it with 'save: {name}' or 'set:' before this point",
            )
        text = "{{ " + source + " }}" if is_expr else source
        for name in sorted(names_read(text) - TEMPLATE_NAMES):
            diags.warning(
                pos,
                f"'{name}' is not something templates know",
                did_you_mean(name, TEMPLATE_NAMES - {"loop", "range", "dict"}) or "",
            )
