"""`gateway chat`: try a flow in the terminal, buttons drawn the way each platform shows them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import click

from flows.engine import resume, step
from flows.messages import Button, Inbound, Reply, Shopper
from flows.model import Flow
from flows.services import Services
from flows.state import ConversationState

HELP = (
    "Type as the shopper. /reset starts over, /resume gives a handed-off chat back to the bot,"
    " /vars shows variables, /quit leaves."
)


def draw_reply(reply: Reply, channel: str) -> str:
    """The reply as the shopper's app would show it: keyboard, quick replies or numbered list."""
    who = "🤖 bot" if reply.author == "bot" else f"👤 {reply.author}"
    lines = [f"{who}> {reply.text}"]
    choices = [b for b in reply.buttons if b.kind == "reply"]
    links = [b for b in reply.buttons if b.kind != "reply"]
    if choices:
        lines += _draw_choices(choices, channel)
    for link in links:
        lines.append(f"   🔗 {link.title}: {link.payload}")
    if reply.call:
        lines.append(f"   📞 Call {reply.call}")
    return "\n".join(lines)


def _draw_choices(buttons: list[Button], channel: str) -> list[str]:
    if channel == "whatsapp":
        return [f"   {i}. {b.title}" for i, b in enumerate(buttons, 1)]
    if channel == "messenger":
        return ["   " + "  ".join(f"( {b.title} )" for b in buttons)]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    return ["   " + " ".join(f"[ {b.title} ]" for b in row) for row in rows]


def run_chat(
    flow: Flow,
    services: Services,
    channel: str,
    name: str,
    read: Callable[[], str] = input,
    write: Callable[[str], None] = click.echo,
    variants: tuple[tuple[str, str], ...] = (),
) -> None:
    """A terminal conversation; `variants` pins A/B variants: (("bot_vs_callcenter", "bot"),)."""
    words = name.split()
    shopper = Shopper(id="terminal", name=name, first_name=words[0] if words else None)
    fresh = ConversationState(variants=variants)
    state = fresh
    count = 0
    write(click.style(f"Chatting with {flow.file} as {name} on {channel}. {HELP}", dim=True))
    while True:
        try:
            text = read()
        except (EOFError, KeyboardInterrupt):
            write("")
            return
        command = text.strip().lower()
        if command in ("/quit", "/exit"):
            return
        if command == "/reset":
            state = fresh
            write(click.style("(conversation reset)", dim=True))
            continue
        if command == "/vars":
            write(click.style(repr(state.vars), dim=True))
            continue
        count += 1
        inbound = Inbound(channel, shopper.id, f"chat-{count}", shopper, text=text)
        if command == "/resume" and state.mode == "handoff":
            result = resume(flow, state, inbound, services)
        else:
            result = step(
                flow,
                state,
                replace(inbound, kind="start") if command == "/start" else inbound,
                services,
            )
        state = result.state
        for reply in result.replies:
            write(draw_reply(reply, channel))
        if state.mode == "handoff":
            write(
                click.style(
                    f"(handed to a person, queue '{state.queue}': the bot stays quiet;"
                    " /resume gives it back)",
                    fg="yellow",
                )
            )
        elif state.mode == "ended":
            write(click.style("(conversation ended; writing again starts a new one)", dim=True))
