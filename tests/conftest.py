"""Shared fixtures: flows built from inline YAML, inbound messages, the sample flow."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from flows.loader import CheckResult, check_text, load_flow
from flows.messages import Inbound, Shopper
from flows.model import Flow

ROOT = Path(__file__).resolve().parent.parent


def check_yaml(text: str) -> CheckResult:
    return check_text(textwrap.dedent(text), "flows.yaml")


def flow_from(text: str) -> Flow:
    result = check_yaml(text)
    assert result.flow is not None, [d.format() for d in result.errors]
    return result.flow


def msg(text: str = "", payload: str | None = None, *, channel: str = "telegram",
        conversation: str = "c1", name: str | None = "Ann Lee", kind: str | None = None) -> Inbound:  # fmt: skip
    return Inbound(
        channel=channel,
        conversation=conversation,
        message_id=f"m-{text}-{payload}",
        shopper=Shopper(id=conversation, name=name),
        kind=kind or ("button" if payload else "text"),  # type: ignore[arg-type]
        text=text,
        payload=payload,
    )


@pytest.fixture(scope="session")
def sample_flow() -> Flow:
    return load_flow(ROOT / "flows.yaml", {"SHOP_API_URL": "http://shop.test"})
