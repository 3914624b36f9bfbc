"""A message whose turn keeps failing is buried, not retried forever; an operator sees it
(`gateway buried`, /metrics, the inbox's admin page) and queues it again once the cause is
fixed, or drops it. On SQLite and on Redis, through the real CLI, HTTP and a headless chromium.

The failure is a stand-in for a bug: a turn worker that raises on one shopper's text.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests
from argon2 import PasswordHasher

from gateway.inbox.model import Agent
from gateway.store.base import Buried, Claim, Committed
from gateway.turns.runtime import Runtime
from gateway.turns.worker import TurnWorker
from tests.contract.conftest import (  # noqa: F401  (redis_url: the session's redis-server)
    redis_database,
    redis_url,
)
from tests.e2e.conftest import Stack, start_stack

DB = 12  # a database of its own on the session's redis-server, emptied before and after
PASSWORD = "correct horse battery"
POISON = "poison \u202eevil"  # the RTL override must not reach a terminal raw


class BuggyWorker(TurnWorker):
    """Raises on the poison text, as a turn with a bug in its path would."""

    def process(self, claim: Claim, now: float) -> tuple[Committed, int]:
        if claim.inbound.text.startswith("poison"):
            raise RuntimeError(f"cannot handle {claim.inbound.message_id}")
        return super().process(claim, now)


@pytest.fixture(params=["sqlite", "redis"])
def stopped(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """The gateway with no workers running (the test drives a buggy one), two tries a turn."""
    with ExitStack() as cleanup:
        url = None
        if request.param == "redis":
            url = cleanup.enter_context(redis_database(request.getfixturevalue("redis_url"), DB))
        stack, stop = start_stack(tmp_path, store_url=url, run=False,
                                  env={"MAX_TURN_ATTEMPTS": "2"})  # fmt: skip
        cleanup.callback(stop)
        yield stack


def bury_one(stack: Stack, shopper: str) -> Buried:
    """The shopper's poison message, through the buggy worker until it is buried."""
    stack.say("telegram", shopper, POISON)
    worker = BuggyWorker(stack.gw, "buggy")
    deadline = time.monotonic() + 15  # the first failure is retried after TURN_RETRY_S[0]
    while time.monotonic() < deadline:
        worker.run_once()
        found = [b for b in stack.gw.store.buried() if b.conversation == f"telegram:{shopper}"]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError("the poison message was never buried")


def gateway_cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"STORE_URL": stack.gw.config.store_url, "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "gateway", "buried", *args], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_a_failing_turn_is_buried_listed_retried_and_answered(stopped: Stack) -> None:
    stack = stopped
    shopper = stack.shopper("telegram")
    buried = bury_one(stack, shopper)
    assert buried.inbound.text == POISON
    assert buried.attempts == 2
    assert buried.error.startswith("turn failed 2 times, last: RuntimeError: cannot handle")
    assert stack.gw.store.queue_depth() == 0
    metrics = requests.get(stack.url + "/metrics", timeout=5).text
    assert "gw_buried_messages 1.0" in metrics
    assert 'gw_buried_total{channel="telegram"} 1.0' in metrics

    listed = gateway_cli(stack)
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.strip().splitlines()
    fields = line.split("\t")
    assert fields[:2] == [buried.id, f"telegram:{shopper}"]
    assert "attempts=2" in fields and "poison \\u202eevil" in fields
    assert "\u202e" not in listed.stdout
    assert "gateway buried --retry ID" in listed.stderr

    # The cause is fixed (workers without the bug run): queued again, the shopper is answered.
    runtime = Runtime(stack.gw, 2).start()
    try:
        retried = gateway_cli(stack, "--retry", buried.id)
        assert retried.returncode == 0 and f"{buried.id}: queued again" in retried.stdout
        sent = stack.wait_sent("telegram", shopper, 2)
        assert sent[0]["text"].startswith("Hi Ann!")
    finally:
        runtime.stop()
    assert gateway_cli(stack).stdout.strip() == "no buried messages"
    again = gateway_cli(stack, "--retry", buried.id)
    assert again.returncode == 1 and f"no buried message {buried.id}" in again.stderr


def test_a_discarded_message_is_never_answered(stopped: Stack) -> None:
    stack = stopped
    shopper = stack.shopper("telegram")
    buried = bury_one(stack, shopper)
    dropped = gateway_cli(stack, "--discard", buried.id)
    assert dropped.returncode == 0 and f"{buried.id}: discarded" in dropped.stdout
    assert stack.gw.store.buried() == [] and stack.gw.store.buried_count() == 0
    worker = TurnWorker(stack.gw, "fixed")
    assert not worker.run_once()
    assert stack.sandbox.sent("telegram", to=shopper) == []


playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


@pytest.mark.browser
@pytest.mark.parametrize("stopped", ["sqlite"], indirect=True)
def test_an_admin_retries_a_buried_message_from_the_inbox(browser, stopped: Stack) -> None:
    stack = stopped
    put_people(stack)
    shopper = stack.shopper("telegram")
    buried = bury_one(stack, shopper)
    runtime = Runtime(stack.gw, 2).start()
    page = browser.new_page()
    try:
        log_in(page, stack, "sue")  # a supervisor sees the list, without the buttons
        page.goto(stack.url + "/inbox/admin")
        section = page.locator("#buried")
        expect(section.locator("h2")).to_have_text("Messages the bot could not process (1)")
        expect(section.locator("button")).to_have_count(0)
        page.context.clear_cookies()

        log_in(page, stack, "ada")
        page.goto(stack.url + "/inbox/admin")
        row = page.locator("#buried tr", has_text=f"telegram:{shopper}")
        expect(row.locator("bdi")).to_have_text(POISON)  # as text, isolated, never markup
        expect(row).to_contain_text(f"{buried.error} ({buried.attempts} tries)")
        row.locator("button", has_text="Retry").click()
        expect(page.locator(".flash")).to_have_text("Queued again: the bot takes it now.")
        expect(page.locator("#buried")).to_have_count(0)
        sent = stack.wait_sent("telegram", shopper, 2)
        assert sent[0]["text"].startswith("Hi Ann!")
        assert stack.gw.store.buried() == []
    finally:
        page.close()
        runtime.stop()


def test_only_an_admin_with_a_csrf_token_discards_and_it_is_logged(
    stopped: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    stack = stopped
    put_people(stack)
    shopper = stack.shopper("telegram")
    buried = bury_one(stack, shopper)
    form = {"conversation": buried.conversation, "id": buried.id}
    url = stack.url + "/inbox/admin/buried/discard"
    nobody = requests.post(url, data=form, timeout=5, allow_redirects=False)
    assert nobody.status_code in (302, 400)
    sue = api_session(stack, "sue")
    token = csrf(sue.get(stack.url + "/inbox/admin", timeout=5).text)
    assert sue.post(url, data={**form, "csrf_token": token}, timeout=5).status_code == 403
    ada = api_session(stack, "ada")
    token = csrf(ada.get(stack.url + "/inbox/admin", timeout=5).text)
    assert ada.post(url, data=form, timeout=5).status_code == 400  # no token
    assert [b.id for b in stack.gw.store.buried()] == [buried.id]
    with caplog.at_level(logging.WARNING, logger="gateway.inbox.web"):
        done = ada.post(url, data={**form, "csrf_token": token}, timeout=5)
    assert done.status_code == 200 and "Discarded." in done.text
    assert stack.gw.store.buried() == []
    assert f"buried_message_discard: {buried.id} in telegram:{shopper} by admin 'ada' in the " \
        "inbox" in caplog.messages
    again = ada.post(url, data={**form, "csrf_token": token}, timeout=5)
    assert "That message is no longer buried" in again.text


def put_people(stack: Stack) -> None:
    assert stack.gw.inbox is not None
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    stack.gw.inbox.put_agent(Agent("ada", "Ada", cheap.hash(PASSWORD), role="admin"))
    stack.gw.inbox.put_agent(Agent("sue", "Sue", cheap.hash(PASSWORD), role="supervisor"))


def api_session(stack: Stack, login: str) -> requests.Session:
    session = requests.Session()
    r = session.post(stack.url + "/inbox/api/login", json={"login": login, "password": PASSWORD},
                     timeout=5)  # fmt: skip
    assert r.status_code == 200, r.text
    return session


def csrf(page: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def log_in(page, stack: Stack, login: str) -> None:
    page.goto(stack.url + "/inbox/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.click("text=Log in")
    page.wait_for_url(f"{stack.url}/inbox/")
