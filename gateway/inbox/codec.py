"""Agents and threads as JSON text: one codec, so every backend stores the same shape."""

from __future__ import annotations

import json
from typing import Any

from gateway.inbox.model import Agent, Thread


def agent_to_json(agent: Agent) -> str:
    """`on_duty` is left out: backends keep it apart, so replacing an agent keeps it."""
    data = {f: getattr(agent, f) for f in Agent.__slots__ if f != "on_duty"}
    data["queues"] = list(agent.queues)
    return json.dumps(data, separators=(",", ":"))


def agent_from_json(text: str, on_duty: bool) -> Agent:
    data = json.loads(text)
    data["queues"] = tuple(data.get("queues") or ())
    return Agent(**data, on_duty=on_duty)


def thread_to_json(thread: Thread) -> str:
    data = {f: getattr(thread, f) for f in Thread.__slots__}
    data["variants"] = [list(v) for v in thread.variants]
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


def thread_from_json(text: str) -> Thread:
    data: dict[str, Any] = json.loads(text)
    data["variants"] = tuple((str(a), str(b)) for a, b in data.get("variants") or ())
    return Thread(**data)
