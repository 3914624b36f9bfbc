"""The inbox's defences in a real headless chromium: the lockout page and an admin's Unlock
button, a session that ends while the page polls (its polling is no activity), the refusal page
for a thread another agent holds, and the pages working under their Content-Security-Policy
with no violation, never inside another site's frame.

Time is `gateway.inbox.auth.clock`, moved by the tests; screenshots go to test-artifacts/.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from flask import Flask

from gateway.inbox import auth
from gateway.inbox.model import Agent, Thread
from gateway.web.serving import ServerThread
from tests.conftest import ROOT
from tests.e2e.conftest import Stack

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.browser

WAIT = 15_000
PASSWORD = "correct horse battery"
# Cheap argon2 parameters: these tests check what happens around the password check.
HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
CSP_WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(auth, "clock", c)
    return c


@pytest.fixture
def agents(stack: Stack) -> Iterator[None]:
    inbox = stack.gw.inbox
    assert inbox is not None
    for login, role in (("bea", "agent"), ("cy", "agent"), ("ada", "admin")):
        inbox.put_agent(Agent(login, login.title(), HASH, role=role))  # type: ignore[arg-type]
    yield


def shot(page, name: str) -> None:
    folder = ROOT / "test-artifacts"
    folder.mkdir(exist_ok=True)
    page.screenshot(path=str(folder / f"inbox-{name}.png"), full_page=True)


def log_in(page, stack: Stack, login: str, password: str = PASSWORD) -> None:
    page.goto(stack.url + "/inbox/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.click("text=Log in")


def test_a_locked_account_is_told_so_and_an_admin_unlocks_it(
    browser, stack: Stack, agents, clock: Clock
) -> None:
    page = browser.new_page()
    admin = browser.new_page()  # a context of its own: its own cookies
    try:
        for _ in range(5):
            log_in(page, stack, "bea", "not the password")
            expect(page.locator(".flash.error")).to_have_text("Wrong login or password.")
        page.goto(stack.url + "/inbox/login")
        page.fill("input[name=login]", "bea")
        page.fill("input[name=password]", PASSWORD)  # the right one: not even checked now
        with page.expect_response(lambda r: r.request.method == "POST") as info:
            page.click("text=Log in")
        response = info.value
        assert response.status == 429 and response.headers["retry-after"] == "900"
        expect(page.locator(".flash.error")).to_have_text(
            "Too many failed logins for this account. Try again in 15 minutes, or ask an admin "
            "to unlock it."
        )
        shot(page, "locked")

        log_in(admin, stack, "ada")
        admin.click("text=Agents")
        row = admin.locator("tr", has_text="Bea")
        expect(row.locator(".login-state")).to_contain_text("locked (too many failed logins)")
        row.locator("text=Unlock").click()
        expect(admin.locator(".flash")).to_have_text("bea unlocked (5 failed logins forgotten).")
        expect(admin.locator("tr", has_text="Bea").locator(".login-state")).to_have_text("ok")

        log_in(page, stack, "bea")
        expect(page.locator("h2", has_text="Waiting")).to_be_visible(timeout=WAIT)
    finally:
        page.close()
        admin.close()


def test_an_idle_session_ends_though_the_open_page_keeps_polling(
    browser, stack: Stack, agents, clock: Clock
) -> None:
    page = browser.new_page()
    try:
        log_in(page, stack, "bea")
        expect(page.locator("h2", has_text="Waiting")).to_be_visible(timeout=WAIT)
        clock.now += 11 * 3600  # the page polls on; those requests are not the agent's doing
        with page.expect_response(lambda r: "/inbox/api/updates" in r.url and r.ok):
            pass  # polled after 11 hours: still fine, and no activity
        clock.now += 3600 + 1  # 12 hours and a second since the login, the last activity
        expect(page).to_have_url(f"{stack.url}/inbox/login?next=%2Finbox%2F", timeout=WAIT)
        expect(page.locator(".flash.error")).to_have_text(
            "Your session ended after 12 hours without activity: log in again."
        )
        shot(page, "session-ended")
    finally:
        page.close()


def test_a_thread_another_agent_holds_is_refused_with_a_clear_page(
    browser, stack: Stack, agents
) -> None:
    inbox = stack.gw.inbox
    assert inbox is not None
    inbox.open_thread(Thread("held1", "telegram:4242", "telegram", "support",
                             "shopper asked for a person", time.time(), "Ann Private"))  # fmt: skip
    page = browser.new_page()
    try:
        log_in(page, stack, "bea")
        page.locator("#waiting tr", has_text="Ann Private").locator("a").click()
        expect(page.locator("text=Claim this thread")).to_be_visible(timeout=WAIT)  # waiting
        inbox.claim("held1", "cy", time.time())
        response = page.reload()
        assert response is not None and response.status == 403
        expect(page.locator("#forbidden .flash.error")).to_have_text(
            "This thread is claimed by another agent: only they, supervisors and admins can "
            "read it."
        )
        expect(page.locator("main")).not_to_contain_text("4242")
        shot(page, "not-yours")
    finally:
        page.close()


def test_the_pages_work_under_their_csp_and_never_in_a_frame(browser, stack: Stack, agents) -> None:
    # Another site framing the inbox gets nothing. It is served from loopback too: chromium
    # would refuse a public page's frame of a loopback address whatever the inbox said.
    elsewhere = Flask("elsewhere")
    elsewhere.add_url_rule("/", "frame", lambda: f'<iframe src="{stack.url}/inbox/login"></iframe>')
    framed = browser.new_page()
    try:
        with ServerThread(elsewhere) as site:
            framed.goto(site.url + "/")  # waits for the frame's load (or refusal)
            (inner,) = [f for f in framed.frames if f != framed.main_frame]
            assert inner.query_selector("input[name=password]") is None, inner.url
    finally:
        framed.close()

    shopper = stack.shopper("telegram", "Ann Csp")
    stack.say("telegram", shopper, "Talk to a person")
    stack.wait_sent("telegram", shopper, 2)
    page = browser.new_page()
    page.add_init_script(CSP_WATCH)
    try:
        log_in(page, stack, "ada")
        expect(page.locator("h2", has_text="Waiting")).to_be_visible(timeout=WAIT)
        page.locator("#waiting tr", has_text="Ann Csp").locator("a").click()
        page.click("text=Claim this thread")
        expect(page.locator("#window")).to_contain_text("You can reply now", timeout=WAIT)
        page.fill("#composer", "/hello ")  # the page script runs: canned answers expand
        expect(page.locator("#composer")).not_to_have_value("/hello ")
        stack.say("telegram", shopper, "still there?")  # live updates: fetched by the script
        expect(page.locator("#messages .msg.in").last).to_contain_text("still there?",
                                                                        timeout=WAIT)  # fmt: skip
        page.click("text=Agents")
        expect(page.locator("h2", has_text="Agents")).to_be_visible()
        assert page.evaluate("window.__csp") == []
        response = page.goto(stack.url + "/inbox/")
        assert response is not None
        headers = response.headers
        assert (
            headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
        )
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "strict-transport-security" not in headers  # plain http here
    finally:
        page.close()
