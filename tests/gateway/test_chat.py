"""`gateway chat`: a flow tried in the terminal, buttons drawn as each platform shows them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flows.messages import Button, Reply
from flows.model import Flow
from flows.services import StubServices
from gateway.cli.chat import draw_reply, run_chat
from tests.conftest import ROOT

MENU = Reply(
    "Pick one", buttons=(Button("Track", "t"), Button("Returns", "r"), Button("Person", "p"))
)


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("whatsapp", "🤖 bot> Pick one\n   1. Track\n   2. Returns\n   3. Person"),
        ("messenger", "🤖 bot> Pick one\n   ( Track )  ( Returns )  ( Person )"),
        ("telegram", "🤖 bot> Pick one\n   [ Track ] [ Returns ]\n   [ Person ]"),
    ],
)
def test_buttons_are_drawn_the_platform_way(channel: str, expected: str) -> None:
    assert draw_reply(MENU, channel) == expected


def test_agent_and_call_link_are_visible() -> None:
    shown = draw_reply(Reply("Hello", author="Maya (Acme)", call="+12025550100"), "telegram")
    assert shown == "👤 Maya (Acme)> Hello\n   📞 Call +12025550100"


def test_scripted_chat_walks_the_menu_and_shows_handoff(sample_flow: Flow) -> None:
    typed = iter(["hi", "agent", "still there?", "/resume", "/quit"])
    out: list[str] = []
    run_chat(
        sample_flow,
        StubServices({}),
        "whatsapp",
        "Ann Lee",
        read=lambda: next(typed),
        write=out.append,
        variants=(("bot_vs_callcenter", "bot"),),
    )
    text = "\n".join(out)
    assert "Hi Ann!" in text
    assert "handed to a person, queue 'support'" in text
    assert "Is there anything else I can help you with?" in text  # resumed at the handoff's `then`


def test_chat_command_talks_to_the_demo_shop_over_http() -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "devtools",  # `gateway chat` with the demo shop served alongside (`make chat`)
            "chat",
            "--channel",
            "telegram",
            "--name",
            "Ann",
            "--variant",
            "bot_vs_callcenter=bot",
        ],
        input="hi\n1\nA1234\n/quit\n",
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "is on its way with UPS" in done.stdout
