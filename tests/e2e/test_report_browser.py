"""The report dashboard in a real headless chromium: an admin sees the experiment with its
intervals and verdicts, the funnel and the fallbacks drawn as SVG; a shopper's hostile phrase
stays text; agents who are not admins are refused, and the JSON twin needs a login.

Screenshot: test-artifacts/inbox-report.png (and docs/ with UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest
import requests

from gateway.analytics.recorder import TurnRecord
from gateway.inbox.model import Agent, Thread
from gateway.inbox.passwords import hash_password
from tests.e2e.conftest import Stack
from tests.e2e.test_inbox_browser import HOSTILE, PASSWORD, WAIT, shot

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.browser
EXPERIMENT = "bot_vs_callcenter"
PHRASES = ["where is my parcel", "do you have size 46", "cancel my order", HOSTILE]


def record_history(stack: Stack, sessions: int = 900, days: int = 14) -> None:
    """Two weeks of plausible traffic, written through the gateway's own recorder."""
    analytics = stack.gw.analytics
    assert analytics is not None
    rng = random.Random(5)
    now = time.time()
    for i in range(sessions):
        channel = ("whatsapp", "messenger", "telegram")[i % 3]
        variant = "bot" if i % 2 else "call_center"
        at = now - rng.uniform(0.1, days) * 86_400
        conv, nodes = f"s{i}", ["welcome", "route"]
        events: list[dict] = []
        mode, thread = "ended", None
        if variant == "call_center":
            nodes.append("call_center")
            events.append({"type": "ConversationEnded", "node": "call_center"})
        else:
            nodes.append("menu")
            roll = rng.random()
            if roll < 0.55:
                nodes += ["ask_order", "lookup_order", "order_status", "resolved", "csat"]
                events += [{"type": "GoalReached", "goal": "resolved"},
                           {"type": "Rated", "kind": "csat", "score": rng.choice([3, 4, 5, 5])},
                           {"type": "ConversationEnded", "node": "thanks_happy"}]  # fmt: skip
            elif roll < 0.75:
                nodes.append("handoff_request")
                events.append({"type": "HandoffRequested", "queue": "support"})
                mode = "handoff"
                thread = Thread(f"t{i}", f"{channel}:{conv}", channel, "support", "asked", at,
                                status="resolved", agent="ada", claimed_at=at + 90,
                                first_response_at=at + 150, resolved_at=at + 700,
                                outcome=rng.choice(["solved", "solved", "not_solved"]))  # fmt: skip
            else:
                mode = "bot"
                events.append({"type": "Fallback", "node": "menu", "text": rng.choice(PHRASES)})
        events = [{"type": "NodeEntered", "node": n} for n in nodes] + events
        analytics.record(TurnRecord(f"{channel}:{conv}", f"m{i}", channel, at, events,
                                    fresh=True, mode=mode, variants=((EXPERIMENT, variant),),
                                    phone_nodes=frozenset({"call_center"})))  # fmt: skip
        if thread is not None:
            analytics.record(TurnRecord(f"{channel}:{conv}", f"r{i}", channel, at + 700, [],
                                        shopper_turn=False, mode="bot", thread=thread))  # fmt: skip
    analytics.flush()


@pytest.fixture
def people(stack: Stack) -> Iterator[None]:
    assert stack.gw.inbox is not None
    stack.gw.inbox.put_agent(Agent("ada", "Ada", hash_password(PASSWORD), role="admin"))
    stack.gw.inbox.put_agent(Agent("bea", "Bea", hash_password(PASSWORD)))
    yield


def log_in(page, stack: Stack, login: str) -> None:
    page.goto(stack.url + "/inbox/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.click("text=Log in")
    expect(page.locator("h2", has_text="Waiting")).to_be_visible(timeout=WAIT)


def test_admin_sees_the_experiment_funnel_and_fallbacks(browser, stack: Stack, people) -> None:
    record_history(stack)
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    try:
        log_in(page, stack, "ada")
        page.click("header >> text=Report")
        expect(page.locator("h2", has_text=f"Experiment {EXPERIMENT}")).to_be_visible(timeout=WAIT)
        verdicts = page.locator(".verdicts li")
        expect(verdicts.first).to_contain_text("conversion, call_center vs bot")
        # Three rate charts with interval whiskers, the funnel and the daily fallbacks.
        assert page.locator("figure.chart svg").count() == 5
        # 3 lines per interval: conversion and containment for both variants, CSAT for the bot
        # only (nobody is asked on the phone).
        assert page.locator("svg line.whisker").count() == 3 * 5
        funnel = page.locator("figure.chart", has_text="Funnel")
        expect(funnel.locator("text.label", has_text="menu · bot")).to_be_visible()
        phrase = page.locator("td.phrase", has_text="onerror").first  # one row per channel
        expect(phrase).to_have_text(HOSTILE)  # shown as text, never as markup
        assert page.locator("main img").count() == 0 and not alerts
        row = page.locator("tr.total", has_text="call_center")
        expect(row).to_contain_text("100.0%")  # every call-center shopper sent to the phone
        shot(page, "report")
        page.select_option("select[name=experiment]", EXPERIMENT)
        page.fill("input[name=since]", time.strftime("%Y-%m-%d", time.gmtime()))
        page.click("text=Show")
        expect(page).to_have_url(f"{stack.url}/inbox/admin/report?experiment={EXPERIMENT}"
                                 f"&since={time.strftime('%Y-%m-%d', time.gmtime())}")  # fmt: skip
        expect(page.locator("h2", has_text="Report")).to_contain_text("to")
    finally:
        page.close()


def test_agents_who_are_not_admins_are_refused_and_the_api_needs_a_login(
    browser, stack: Stack, people
) -> None:
    page = browser.new_page()
    try:
        log_in(page, stack, "bea")
        assert page.locator("header >> text=Report").count() == 0
        response = page.goto(stack.url + "/inbox/admin/report")
        assert response is not None and response.status == 403
    finally:
        page.close()
    anonymous = requests.get(stack.url + "/inbox/api/report", timeout=10)
    assert anonymous.status_code == 401
    session = requests.Session()
    login = session.post(stack.url + "/inbox/api/login", timeout=10,
                         json={"login": "ada", "password": PASSWORD})  # fmt: skip
    assert login.status_code == 200, login.text
    data = session.get(stack.url + "/inbox/api/report?experiment=" + EXPERIMENT, timeout=10)
    assert data.status_code == 200 and data.json()["experiments"][0]["name"] == EXPERIMENT
    bad = session.get(stack.url + "/inbox/api/report?since=tomorrow", timeout=10)
    assert bad.status_code == 400 and "since" in bad.json()["error"]
