"""Scripted conversations in YAML ("shopper: Track my order" → "bot: What's your order number?").

Marketers write them beside their flows; `gateway test` and the test suite run them through
the real engine with canned answers for `call` nodes, so no network and no platform is needed.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flows.diagnostics import Diagnostics, FlowError
from flows.engine import step
from flows.loader import load_flow
from flows.messages import (
    Event,
    GoalReached,
    HandoffRequested,
    Inbound,
    InboundKind,
    Reply,
    Shopper,
)
from flows.model import Flow
from flows.services import CallResponse, InboxStatus, StubServices
from flows.state import ConversationState
from flows.yamlsrc import Wild, load_yaml, plain

TEST_KEYS = {
    "name", "channel", "shopper", "variants", "vars", "stubs", "script", "at", "agents_on_duty",
}  # fmt: skip
LINE_KEYS = {"shopper", "bot", "buttons", "goal", "handoff", "vars", "node", "no_reply", "ended"}


@dataclass(frozen=True, slots=True)
class Failure:
    line: int
    message: str
    expected: str = ""
    actual: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    name: str
    file: str
    line: int
    failures: tuple[Failure, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(slots=True)
class _Conversation:
    flow: Flow
    services: StubServices
    channel: str
    shopper: Shopper
    state: ConversationState
    replies: list[Reply] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    count: int = 0
    at: float = 0.0  # the messages' timestamp (`at:`), for business hours; 0: always open

    def say(self, text: str, payload: str | None) -> None:
        self.count += 1
        kind: InboundKind = (
            "button" if payload else ("start" if text.startswith("/start") else "text")
        )
        inbound = Inbound(
            channel=self.channel,
            conversation=self.shopper.id,
            message_id=f"test-{self.count}",
            shopper=self.shopper,
            kind=kind,
            text=text,
            payload=payload,
            timestamp=self.at,
        )
        result = step(self.flow, self.state, inbound, self.services)
        self.state = result.state
        self.replies = list(result.replies)
        self.events = list(result.events)


def run_file(path: str | Path, environ: Mapping[str, str] | None = None) -> list[Outcome]:
    """Run every test in one flow-test file; a broken file is reported as one failed outcome."""
    path = Path(path)
    diags = Diagnostics(str(path))
    root = load_yaml(path.read_text(encoding="utf-8"), diags)
    if root is None or not root.expect(dict, what="a mapping with 'flow:' and 'tests:'"):
        return [_broken(path, diags)]
    root.only_keys({"flow", "env", "stubs", "tests"}, "a flow-test file")
    flow_w = root.get("flow")
    flow_path = (path.parent / (flow_w.str() or "")) if flow_w else _default_flow(path)
    env = {**(environ or {}), **_strings(root.get("env"))}
    try:
        flow = load_flow(flow_path, env)
    except FlowError as exc:
        return [Outcome(f"load {flow_path}", str(path), 1, (Failure(1, str(exc)),))]
    stubs = _stubs(root.get("stubs"))
    tests_w = root.get("tests")
    if tests_w is None or not tests_w.expect(list, what="a list of tests"):
        return [_broken(path, diags)]
    outcomes = [_run_test(t, flow, stubs, str(path)) for t in tests_w.elements()]
    if diags.errors:
        outcomes.append(_broken(path, diags))
    return outcomes


def flow_of(path: str | Path) -> Path:
    """The flows file a test file is about (`flow:` relative to it, else flows.yaml beside it)."""
    path = Path(path)
    diags = Diagnostics(str(path))
    root = load_yaml(path.read_text(encoding="utf-8"), diags)
    flow_w = root.get("flow") if root is not None and root.is_map else None
    return (path.parent / str(flow_w.value)) if flow_w else _default_flow(path)


def _default_flow(path: Path) -> Path:
    stem = path.name.removesuffix(".tests.yaml")
    return path.parent / f"{stem}.yaml"


def _broken(path: Path, diags: Diagnostics) -> Outcome:
    failures = tuple(Failure(d.line, d.format()) for d in diags.errors) or (
        Failure(1, "the test file is empty or not a mapping"),
    )
    return Outcome(f"read {path.name}", str(path), 1, failures)


def _strings(w: Wild | None) -> dict[str, str]:
    if w is None or not w.expect(dict):
        return {}
    return {k: str(v.value) for k, v in w.items()}


def _stubs(w: Wild | None) -> dict[str, CallResponse]:
    """`"GET http://shop.test/orders/A1234": {status: 200, json: {...}}` → canned responses."""
    if w is None or not w.expect(dict, what="a mapping of 'METHOD URL' to a response"):
        return {}
    out = {}
    for route, rw in w.items():
        if not rw.expect(dict, what="a response with 'status' and optional 'json'"):
            continue
        rw.only_keys({"status", "json", "error"}, "a stub response")
        status_w, error_w = rw.get("status"), rw.get("error")
        status = status_w.int(low=100, high=599) if status_w is not None else None
        error = error_w.str() if error_w is not None else None
        if error:  # e.g. "timeout": no HTTP answer at all
            out[route] = CallResponse(status=None, error=error)
            continue
        body = plain(rw.value.get("json"))
        ok = status is not None and 200 <= status < 300
        out[route] = CallResponse(status=status, json=body, error=None if ok else f"HTTP {status}")
    return out


def _run_test(w: Wild, flow: Flow, stubs: dict[str, CallResponse], file: str) -> Outcome:
    if not w.expect(dict, what="a test with 'name' and 'script'"):
        return Outcome("?", file, w.pos[0], (Failure(w.pos[0], "a test must be a mapping"),))
    w.only_keys(TEST_KEYS, "a test")
    name_w = w.get("name")
    name = name_w.str() if name_w is not None else f"test at line {w.pos[0]}"
    shopper_w = w.get("shopper")
    who = plain(shopper_w.value) if shopper_w else {}
    if isinstance(who, str):
        who = {"name": who}
    shopper = Shopper(
        id=str(who.get("id", "test-shopper")),
        name=who.get("name"),
        first_name=who.get("first_name"),
        locale=who.get("locale"),
    )
    variants_w = w.get("variants")
    chosen = plain(variants_w.value) if variants_w is not None else {}
    variants = tuple((str(k), str(v)) for k, v in (chosen or {}).items())
    vars_w = w.get("vars")
    initial_vars = plain(vars_w.value) if vars_w is not None else {}
    routes = {**stubs, **_stubs(w.get("stubs"))}
    on_duty = w.get("agents_on_duty")
    channel_w = w.get("channel")
    status = InboxStatus(on_duty.int(low=0) or 0, 0) if on_duty is not None else None
    convo = _Conversation(
        flow=flow,
        services=StubServices(routes, status),
        at=_timestamp(w.get("at"), flow),
        channel=str(plain(channel_w.value)) if channel_w is not None else "telegram",
        shopper=shopper,
        state=ConversationState(variants=variants, vars=dict(initial_vars or {})),
    )
    failures: list[Failure] = []
    script = w.get("script")
    if script is None or not script.expect(list, what="a list of shopper: / bot: lines"):
        failures.append(Failure(w.pos[0], "the test has no 'script'"))
    else:
        for line in script.elements():
            failure = _run_line(line, convo)
            if failure is not None:
                failures.append(failure)
                break  # later lines would only repeat the same confusion
    failures += [Failure(d.line, d.format()) for d in w.diags.errors if d.line >= w.pos[0]]
    return Outcome(name or "?", file, w.pos[0], tuple(failures))


def _timestamp(w: Wild | None, flow: Flow) -> float:
    """`at: 2026-11-28 20:00`, read in the flow's business-hours time zone (else UTC)."""
    if w is None:
        return 0.0
    value = plain(w.value)
    try:
        when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        w.diags.error(w.pos, f"'{value}' is not a date and time", "write e.g. 2026-11-28 20:00")
        return 0.0
    if when.tzinfo is None:
        zone = ZoneInfo(flow.hours.timezone) if flow.hours is not None else UTC
        when = when.replace(tzinfo=zone)
    return when.timestamp()


def _run_line(w: Wild, convo: _Conversation) -> Failure | None:
    line = w.pos[0]
    if not w.expect(dict, what="'shopper: ...' or 'bot: ...'"):
        return Failure(line, "each script line must be 'shopper: ...' or 'bot: ...'")
    w.only_keys(LINE_KEYS | {"payload"}, "a script line")
    data: dict[str, Any] = plain(w.value)
    if "shopper" in data:
        said = data["shopper"]
        if isinstance(said, dict):
            convo.say(str(said.get("text", "")), said.get("payload"))
        else:
            convo.say("" if said is None else str(said), data.get("payload"))
        return None
    if "bot" in data:
        return _expect_reply(data, convo, line)
    if "no_reply" in data:
        if convo.replies:
            return Failure(line, "expected no reply", "(nothing)", _show(convo.replies[0]))
        return None
    return _expect_state(data, convo, line)


def _expect_reply(data: dict[str, Any], convo: _Conversation, line: int) -> Failure | None:
    expected = str(data["bot"])
    if not convo.replies:
        return Failure(line, "the bot said nothing more", expected, "(nothing)")
    reply = convo.replies.pop(0)
    if not text_matches(expected, reply.text):
        return Failure(line, "the bot said something else", expected, reply.text)
    if "buttons" in data:
        wanted = [str(b) for b in data["buttons"] or []]
        actual = [b.title for b in reply.buttons]
        if wanted != actual:
            return Failure(line, "the buttons differ", " | ".join(wanted), " | ".join(actual))
    return None


def _expect_state(data: dict[str, Any], convo: _Conversation, line: int) -> Failure | None:
    events = convo.events
    if "goal" in data:
        goals = [e.goal for e in events if isinstance(e, GoalReached)]
        if data["goal"] not in goals:
            return Failure(
                line, "goal not reached", str(data["goal"]), ", ".join(goals) or "(none)"
            )
    if "handoff" in data:
        queues = [e.queue for e in events if isinstance(e, HandoffRequested)]
        if data["handoff"] not in queues:
            return Failure(line, "no handoff", str(data["handoff"]), ", ".join(queues) or "(none)")
    if "vars" in data:
        for name, value in (data["vars"] or {}).items():
            if convo.state.vars.get(name) != value:
                actual = repr(convo.state.vars.get(name))
                return Failure(line, f"variable '{name}' differs", repr(value), actual)
    if "node" in data and convo.state.node != data["node"]:
        return Failure(line, "waiting at another node", str(data["node"]), str(convo.state.node))
    if data.get("ended") and convo.state.mode != "ended":
        return Failure(line, "the conversation has not ended", "ended", convo.state.mode)
    return None


def text_matches(expected: str, actual: str) -> bool:
    """Exact after folding whitespace; `...` in the expectation stands for any text."""
    want = " ".join(expected.split())
    got = " ".join(actual.split())
    if "..." not in want:
        return want == got
    pattern = ".*?".join(re.escape(part) for part in want.split("..."))
    return re.fullmatch(pattern, got, re.DOTALL) is not None


def _show(reply: Reply) -> str:
    buttons = " ".join(f"[{b.title}]" for b in reply.buttons)
    return f"{reply.text} {buttons}".strip()


def format_failure(outcome: Outcome, width: int = 100) -> str:
    """The expected and the actual bot text side by side, for a marketer to compare."""
    lines = [f"FAIL {outcome.name} ({outcome.file}:{outcome.line})"]
    col = max(20, (width - 7) // 2)
    for failure in outcome.failures:
        lines.append(f"  line {failure.line}: {failure.message}")
        if failure.expected or failure.actual:
            left = _wrap(failure.expected, col)
            right = _wrap(failure.actual, col)
            lines.append(f"    {'expected':<{col}} | actual")
            lines.append(f"    {'-' * col}-+-{'-' * col}")
            for i in range(max(len(left), len(right))):
                a = left[i] if i < len(left) else ""
                b = right[i] if i < len(right) else ""
                lines.append(f"    {a:<{col}} | {b}")
    return "\n".join(lines)


def _wrap(text: str, width: int) -> list[str]:
    out: list[str] = []
    for paragraph in text.splitlines() or [""]:
        out += textwrap.wrap(paragraph, width) or [""]
    return out
