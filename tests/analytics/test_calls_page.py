"""The inbox's Report page shows the experiment's calls per arm, or that none were imported."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from gateway.analytics.calls import CallRecord
from gateway.context import Gateway
from gateway.inbox.model import Agent
from gateway.inbox.passwords import hash_password
from gateway.web.app import create_app
from tests.analytics.test_calls import BOT_SHOPPER, T0, shopper_turn
from tests.harness import MakeGateway


def admin(gw: Gateway) -> FlaskClient:
    assert gw.inbox is not None
    gw.inbox.put_agent(Agent("ada", "Ada", hash_password("pw-123456789"), role="admin"))
    client = create_app(gw).test_client()
    login = client.post("/inbox/api/login", json={"login": "ada", "password": "pw-123456789"})
    assert login.status_code == 200, login.text
    return client


def test_the_report_page_shows_calls_per_arm(make_gateway: MakeGateway, tmp_path: Path) -> None:
    gw = make_gateway(tmp_path, SECRET_KEY="test-only-" + "k" * 32)
    assert gw.analytics is not None
    client = admin(gw)
    gw.analytics.record(shopper_turn(BOT_SHOPPER, "bot"))
    gw.analytics.flush()
    assert "no calls imported yet" in client.get("/inbox/admin/report").text
    gw.analytics.write_now([
        CallRecord("c1", T0, BOT_SHOPPER, "+49301234567", 90.0, "answered", 0.5),
        CallRecord("c2", T0, "+4930111111", "+49301234567", 0.0, "missed"),
    ])  # fmt: skip
    html = client.get("/inbox/admin/report").text
    assert "<td>bot</td><td>1</td><td>1</td><td>1.5</td>" in html
    assert "Unattributed (callers never seen in this experiment): 1 call, 0 answered" in html
