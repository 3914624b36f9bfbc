"""The inbox's defences over real HTTP, on SQLite and on Redis: logins throttled per account and
per address (shared by every gateway process, lifted by an admin), sessions that idle-expire,
absolute-expire and die with a password change, who may read a claimed thread, and the security
headers on every route of the gateway. Time is `gateway.inbox.auth.clock`, moved by the tests."""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from argon2 import PasswordHasher
from click.testing import CliRunner

from gateway.cli.main import main
from gateway.config import Config
from gateway.context import Gateway
from gateway.inbox import auth, passwords
from gateway.inbox.model import Agent, Thread
from gateway.web.app import create_app
from gateway.web.serving import ServerThread
from tests.contract.conftest import redis_url  # noqa: F401  (the session's own redis-server)
from tests.harness import MakeGateway

PASSWORD = "correct horse battery"
FLOW = """\
version: 1
shop:
  name: Test Shop
settings:
  start: hello
nodes:
  hello:
    say: "Hi."
    end: true
"""  # the sample flows.yaml takes a second to load; the inbox needs none of it here
T0 = 1_800_000_000.0
_DB = itertools.count(1)


@dataclass
class Served:
    url: str
    gw: Gateway
    server: ServerThread


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(auth, "clock", c)
    return c


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gw.db'}"
    import redis

    url = request.getfixturevalue("redis_url").rsplit("/", 1)[0] + f"/{next(_DB) % 15 + 1}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@pytest.fixture
def serve(make_gateway: MakeGateway, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """`serve(store_url, **env)`: a gateway app on a free port; several may share one store,
    like gateway processes on several hosts."""
    started: list[Served] = []
    flows = tmp_path / "flows.yaml"
    flows.write_text(FLOW, encoding="utf-8")

    def start(store_url: str | None = None, **env: str) -> Served:
        gw = make_gateway(tmp_path, store=store_url or "sqlite", flows=flows,
                          **{"SECRET_KEY": "test-secret", **env})  # fmt: skip
        server = ServerThread(create_app(gw)).start()
        started.append(Served(server.url, gw, server))
        inbox = gw.inbox
        assert inbox is not None
        if inbox.agent("bea") is None:
            for login, role in (("bea", "agent"), ("cy", "agent"), ("sam", "supervisor"),
                                ("ada", "admin")):  # fmt: skip
                inbox.put_agent(Agent(login, login.title(), HASH, role=role))  # type: ignore[arg-type]
        return started[-1]

    yield start
    for s in started:  # make_gateway closes the gateways after
        stop(s.server)


def stop(server: ServerThread) -> None:
    """`server.stop()` without waiting out serve_forever's half-second poll: a connection
    wakes it."""
    stopper = threading.Thread(target=server.server.shutdown)
    stopper.start()
    while stopper.is_alive():
        with contextlib.suppress(OSError):
            socket.create_connection(server.server.server_address[:2], timeout=0.2).close()
        stopper.join(0.02)
    server.server.server_close()
    server.thread.join(timeout=5)


# argon2 at its real cost takes a third of a second per check; these tests check what happens
# around it, so their agents (and the dummy hash unknown logins are checked against) are cheap.
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
HASH = CHEAP.hash(PASSWORD)


@pytest.fixture(autouse=True)
def cheap_dummy_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_DUMMY", CHEAP.hash("not-a-real-password"))


def api_login(url: str, login: str, password: str = PASSWORD,
              headers: dict[str, str] | None = None) -> tuple[requests.Session, requests.Response]:  # fmt: skip
    s = requests.Session()
    r = s.post(url + "/inbox/api/login", json={"login": login, "password": password},
               headers=headers or {}, timeout=5)  # fmt: skip
    return s, r


def page_login(url: str, login: str, password: str = PASSWORD) -> requests.Response:
    s = requests.Session()
    form = s.get(url + "/inbox/login", timeout=5).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    return s.post(url + "/inbox/login", data={"login": login, "password": password,
                                             "csrf_token": token}, timeout=5)  # fmt: skip


# ---- throttling ----


def test_five_failures_lock_the_account_on_every_process_and_a_success_resets(
    serve, store_url: str, clock: Clock
) -> None:
    one, two = serve(store_url), serve(store_url)  # two gateway processes, one store
    for i in range(4):
        assert api_login((one, two)[i % 2].url, "bea", "wrong password!")[1].status_code == 401
    assert api_login(two.url, "bea")[1].status_code == 200  # the right one, 4 failures: fine
    for i in range(5):  # the success reset the count: five more failures before the lock
        assert api_login((one, two)[i % 2].url, "bea", "wrong password!")[1].status_code == 401
    for served in (one, two):
        _, r = api_login(served.url, "bea")  # even the right password: not checked now
        assert r.status_code == 429 and r.headers["Retry-After"] == "900"
        assert r.json() == {"error": "Too many failed logins for this account. Try again in "
                                     "15 minutes, or ask an admin to unlock it."}  # fmt: skip
    page = page_login(one.url, "bea")
    assert page.status_code == 429 and page.headers["Retry-After"] == "900"
    assert "Too many failed logins for this account. Try again in 15 minutes" in page.text
    assert api_login(one.url, "cy")[1].status_code == 200  # other accounts are not affected
    clock.now += 600
    _, r = api_login(one.url, "bea")
    assert r.status_code == 429 and r.headers["Retry-After"] == "300"
    clock.now += 300  # the oldest failure leaves the window
    assert api_login(two.url, "bea")[1].status_code == 200


def test_unknown_logins_are_throttled_alike_so_nothing_tells_an_account_exists(
    serve, store_url: str, clock: Clock
) -> None:
    one = serve(store_url)
    answers = {}
    for login in ("bea", "nobody"):
        seen = [api_login(one.url, login, "wrong password!")[1] for _ in range(6)]
        answers[login] = [(r.status_code, r.headers.get("Retry-After"), r.json()) for r in seen]
    assert answers["bea"] == answers["nobody"]
    assert [a[0] for a in answers["bea"]] == [401] * 5 + [429]


def test_twenty_failures_from_one_address_throttle_it_whatever_the_accounts(
    serve, store_url: str, clock: Clock
) -> None:
    one = serve(store_url, TRUST_PROXY="1")  # the client address comes from X-Forwarded-For
    attacker, office = {"X-Forwarded-For": "203.0.113.7"}, {"X-Forwarded-For": "198.51.100.2"}
    for i in range(20):  # four failures each on five accounts: none locked, the address is
        r = api_login(one.url, f"user{i % 5}", "wrong password!", attacker)[1]
        assert r.status_code == 401
    _, r = api_login(one.url, "bea", PASSWORD, attacker)
    assert r.status_code == 429 and r.headers["Retry-After"] == "900"
    assert r.json()["error"] == "Too many failed logins from your address. Try again in 15 minutes."
    assert api_login(one.url, "bea", PASSWORD, office)[1].status_code == 200
    clock.now += 900
    assert api_login(one.url, "bea", PASSWORD, attacker)[1].status_code == 200


def test_a_successful_login_is_not_a_failure_of_its_address(serve, clock: Clock) -> None:
    one = serve(INBOX_LOGIN_ADDRESS_FAILURES="3")
    for _ in range(5):  # an office of agents logging in all morning from one address
        assert api_login(one.url, "bea")[1].status_code == 200


def test_an_admin_unlocks_an_account_from_the_agents_page_and_it_is_logged(
    serve, store_url: str, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    one = serve(store_url)
    for _ in range(5):
        api_login(one.url, "bea", "wrong password!")
    assert api_login(one.url, "bea")[1].status_code == 429
    sam, _ = api_login(one.url, "sam")  # a supervisor sees the lock, only an admin lifts it
    page = sam.get(one.url + "/inbox/admin", timeout=5).text
    assert "locked (too many failed logins)" in page and "Unlock" not in page
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    r = sam.post(one.url + "/inbox/admin/agents/bea/unlock", data={"csrf_token": token}, timeout=5)
    assert r.status_code == 403
    ada, _ = api_login(one.url, "ada")
    page = ada.get(one.url + "/inbox/admin", timeout=5).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert ada.post(one.url + "/inbox/admin/agents/bea/unlock", timeout=5).status_code == 400
    with caplog.at_level(logging.WARNING, logger="gateway.inbox.auth"):
        r = ada.post(one.url + "/inbox/admin/agents/bea/unlock", data={"csrf_token": token},
                     timeout=5)  # fmt: skip
    assert r.status_code == 200 and "bea unlocked (5 failed logins forgotten)." in r.text
    assert "locked (too many" not in r.text
    assert [m for m in caplog.messages if m.startswith("inbox_agent_unlocked")] == [
        "inbox_agent_unlocked: 'bea' by admin 'ada' in the inbox, 5 failed logins forgotten"
    ]
    assert api_login(one.url, "bea")[1].status_code == 200


def test_gateway_agent_unlock_lifts_a_lockout(serve, tmp_path: Path, clock: Clock,
                                              caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    db = tmp_path / "gw.db"
    one = serve(f"sqlite:///{db}")
    for _ in range(5):
        api_login(one.url, "bea", "wrong password!")
    assert api_login(one.url, "bea")[1].status_code == 429
    with caplog.at_level(logging.WARNING, logger="gateway.inbox.auth"):
        result = CliRunner().invoke(main, ["agent", "unlock", "bea"],
                                    env={"STORE_URL": f"sqlite:///{db}"})  # fmt: skip
    assert (result.exit_code, result.output) == (
        0,
        "agent bea unlocked (5 failed logins forgotten)\n",
    )
    assert "inbox_agent_unlocked: 'bea' by the command line, 5 failed logins forgotten" in (
        caplog.messages
    )
    assert api_login(one.url, "bea")[1].status_code == 200
    result = CliRunner().invoke(main, ["agent", "unlock", "nobody"],
                                env={"STORE_URL": f"sqlite:///{db}"})  # fmt: skip
    assert result.exit_code == 1 and "there is no agent 'nobody'" in result.output


def test_racing_attempts_never_get_past_the_limit(serve, store_url: str) -> None:
    inbox = serve(store_url).gw.inbox
    assert inbox is not None
    waits: list[float] = []
    start = threading.Barrier(20)

    def attempt(n: int) -> None:
        start.wait()
        waits.append(inbox.login_attempt("account:x", f"a{n}", T0, 900.0, 5))

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits)[:6] == [0.0] * 5 + [900.0]
    assert inbox.login_failures("account:x", T0 + 899, 900.0) == 5
    assert inbox.login_failures("account:x", T0 + 900, 900.0) == 0
    assert inbox.clear_login_failures("account:x", "a-none") == 0
    assert inbox.clear_login_failures("account:x") == 5
    assert inbox.login_failures("account:x", T0, 900.0) == 0


# ---- sessions ----


def test_sessions_idle_expire_and_the_pages_polling_is_not_activity(
    serve, store_url: str, clock: Clock
) -> None:
    one = serve(store_url, INBOX_SESSION_IDLE_S="600")
    s, _ = api_login(one.url, "bea")
    clock.now += 590
    assert s.get(one.url + "/inbox/api/queue", timeout=5).status_code == 200  # activity
    clock.now += 590
    background = {"Sec-Fetch-Dest": "empty"}  # what the page's own fetches send
    assert s.get(one.url + "/inbox/api/updates", timeout=5).status_code == 200
    assert s.get(one.url + "/inbox/api/queue", headers=background, timeout=5).status_code == 200
    clock.now += 20  # 610 s since the last activity, though polled 20 s ago
    r = s.get(one.url + "/inbox/api/updates", timeout=5)
    assert r.status_code == 401
    assert r.json() == {"error": "login required: your session ended after 10 minutes without "
                                 "activity"}  # fmt: skip
    assert s.get(one.url + "/inbox/api/queue", timeout=5).status_code == 401  # and it stays so


def test_sessions_end_at_the_absolute_limit_even_when_active(
    serve, store_url: str, clock: Clock
) -> None:
    one = serve(store_url, INBOX_SESSION_IDLE_S="3600", INBOX_SESSION_MAX_S="7200")
    s, _ = api_login(one.url, "bea")
    for _ in range(3):
        clock.now += 2000
        assert s.get(one.url + "/inbox/api/queue", timeout=5).status_code == 200
    clock.now += 1300  # 7300 s after login
    assert s.get(one.url + "/inbox/api/queue", timeout=5).status_code == 401
    assert api_login(one.url, "bea")[1].status_code == 200


def test_defaults_are_a_working_day_idle_and_a_week_at_most() -> None:
    config = Config.from_env({})
    assert (config.session_idle_s, config.session_max_s) == (12 * 3600, 7 * 86400)
    assert (config.login_failures, config.login_address_failures, config.login_window_s) == (
        5, 20, 900)  # fmt: skip
    assert config.shared_read is False and Config.from_env({"INBOX_SHARED_READ": "1"}).shared_read


def test_a_new_password_ends_every_session_of_the_agent(serve, tmp_path: Path,
                                                       clock: Clock) -> None:  # fmt: skip
    db = tmp_path / "gw.db"
    one, two = serve(f"sqlite:///{db}"), serve(f"sqlite:///{db}")
    bea, _ = api_login(one.url, "bea")
    cy, _ = api_login(two.url, "cy")
    assert page_login(two.url, "bea").status_code == 200
    result = CliRunner().invoke(main, ["agent", "add", "bea", "--name", "Bea", "--password-stdin"],
                                input="a brand new password\n", env={"STORE_URL": f"sqlite:///{db}"})  # fmt: skip
    assert result.exit_code == 0, result.output
    r = bea.get(one.url + "/inbox/api/queue", timeout=5)
    assert r.status_code == 401 and "your password was changed" in r.json()["error"]
    assert cy.get(two.url + "/inbox/api/queue", timeout=5).status_code == 200  # only bea's
    assert api_login(two.url, "bea")[1].status_code == 401  # the old password is gone
    bea, r = api_login(two.url, "bea", "a brand new password")
    assert r.status_code == 200 and bea.get(one.url + "/inbox/api/queue", timeout=5).ok


def test_an_expired_page_session_says_why_on_the_login_page(serve, clock: Clock) -> None:
    one = serve(INBOX_SESSION_IDLE_S="60")
    s = requests.Session()
    form = s.get(one.url + "/inbox/login", timeout=5).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    r = s.post(one.url + "/inbox/login", data={"login": "bea", "password": PASSWORD,
                                              "csrf_token": token}, timeout=5)  # fmt: skip
    assert r.url.endswith("/inbox/")
    clock.now += 61
    r = s.get(one.url + "/inbox/", timeout=5)
    assert r.url.endswith("/inbox/login?next=/inbox/")
    assert "Your session ended after 1 minute without activity: log in again." in r.text


# ---- who reads a thread ----


def claimed_thread(gw: Gateway, login: str = "bea") -> str:
    assert gw.inbox is not None
    thread = gw.inbox.open_thread(Thread("t1", "telegram:555", "telegram", "support",
                                         "asked for a person", T0))  # fmt: skip
    gw.inbox.claim(thread.id, login, T0)
    return thread.id


def test_a_claimed_thread_is_read_by_its_agent_supervisors_and_admins_only(
    serve, store_url: str
) -> None:
    one = serve(store_url)
    inbox = one.gw.inbox
    assert inbox is not None
    inbox.open_thread(Thread("t1", "telegram:555", "telegram", "support", "asked", T0))
    cy, _ = api_login(one.url, "cy")
    for path in ("/inbox/api/threads/t1", "/inbox/api/threads/t1/messages", "/inbox/threads/t1"):
        assert cy.get(one.url + path, timeout=5).status_code == 200  # waiting: anyone may claim
    inbox.claim("t1", "bea", T0)
    refused = ("this thread is claimed by another agent: only they, supervisors and admins can "
               "read it")  # fmt: skip
    for path in ("/inbox/api/threads/t1", "/inbox/api/threads/t1/messages"):
        r = cy.get(one.url + path, timeout=5)
        assert (r.status_code, r.json()) == (403, {"error": refused}), path
    page = cy.get(one.url + "/inbox/threads/t1", timeout=5)
    assert page.status_code == 403 and "This thread is claimed by another agent" in page.text
    assert "telegram:555" not in page.text and "555" not in page.text.split("<main>")[1]
    for login in ("bea", "sam", "ada"):
        s, _ = api_login(one.url, login)
        for path in ("/inbox/api/threads/t1", "/inbox/api/threads/t1/messages",
                     "/inbox/threads/t1"):  # fmt: skip
            assert s.get(one.url + path, timeout=5).status_code == 200, (login, path)
    inbox.resolve("t1", "solved", T0 + 1)
    r = cy.get(one.url + "/inbox/api/threads/t1", timeout=5)
    assert r.status_code == 403 and "handled by another agent" in r.json()["error"]
    bea, _ = api_login(one.url, "bea")
    assert bea.get(one.url + "/inbox/api/threads/t1", timeout=5).status_code == 200


def test_shared_read_lets_every_agent_read_but_still_not_write(serve, store_url: str) -> None:
    one = serve(store_url, INBOX_SHARED_READ="1")
    tid = claimed_thread(one.gw)
    cy, r = api_login(one.url, "cy")
    for path in (f"/inbox/api/threads/{tid}", f"/inbox/api/threads/{tid}/messages",
                 f"/inbox/threads/{tid}"):  # fmt: skip
        assert cy.get(one.url + path, timeout=5).status_code == 200
    r = cy.post(f"{one.url}/inbox/api/threads/{tid}/note", json={"text": "mine now"},
                headers={"X-CSRFToken": r.json()["csrf_token"]}, timeout=5)  # fmt: skip
    assert r.status_code == 409 and "claim this thread first" in r.json()["error"]


# ---- headers on every route ----

ROUTES = [
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/webhooks/telegram"),  # the fast path, without Flask: refused, with headers
    ("POST", "/webhooks/nowhere"),
    ("GET", "/webhooks/messenger?hub.mode=subscribe"),
    ("GET", "/no/such/page"),
    ("GET", "/inbox/login"),
    ("GET", "/inbox/"),
    ("GET", "/inbox/api/queue"),
    ("GET", "/inbox/static/inbox.js"),
]


@pytest.mark.parametrize("trusted", [False, True])
def test_security_headers_on_every_route_and_hsts_only_over_https(serve, trusted: bool) -> None:
    one = serve(TRUST_PROXY="1" if trusted else "0", TELEGRAM_BOT_TOKEN="123:abc",
                TELEGRAM_SECRET_TOKEN="webhook-secret")  # fmt: skip
    for method, path in ROUTES:
        for proto in ("http", "https"):
            r = requests.request(method, one.url + path, data=b"{}", allow_redirects=False,
                                 headers={"X-Forwarded-Proto": proto}, timeout=5)  # fmt: skip
            h = r.headers
            where = (method, path, proto, r.status_code)
            assert h["X-Content-Type-Options"] == "nosniff", where
            assert h["X-Frame-Options"] == "DENY", where
            assert "frame-ancestors 'none'" in h["Content-Security-Policy"], where
            assert h["Referrer-Policy"] in ("no-referrer", "same-origin"), where
            https = trusted and proto == "https"  # X-Forwarded-Proto only behind TRUST_PROXY
            assert h.get("Strict-Transport-Security") == (
                "max-age=31536000; includeSubDomains" if https else None
            ), where
    r = requests.get(one.url + "/healthz", timeout=5)
    assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert r.headers["Referrer-Policy"] == "no-referrer"
    inbox = requests.get(one.url + "/inbox/login", timeout=5).headers
    assert "script-src 'self'" in inbox["Content-Security-Policy"]  # the inbox keeps its own


def test_the_agents_page_shows_a_platform_that_is_down(serve) -> None:
    one = serve()
    ada, _ = api_login(one.url, "ada")
    assert "Platforms down" not in ada.get(one.url + "/inbox/admin", timeout=5).text
    for _ in range(one.gw.circuits.threshold):
        one.gw.circuits.failed("whatsapp", "20500 HTTP 500")
    page = ada.get(one.url + "/inbox/admin", timeout=5).text
    assert "Platforms down" in page and "<strong>whatsapp</strong>" in page and "20500" in page
