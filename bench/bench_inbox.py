"""Inbox figures: the agent's pages with a big waiting list and a long conversation, and twenty
agents claiming at once, on SQLite (and on Redis when redis-server is installed).

- `inbox_queue_ms`: the waiting-list page `/inbox/` (HTML, a logged-in agent) with 10,000
  waiting threads in the inbox. `inbox_thread_ms`: the thread page `/inbox/threads/<id>` of a
  conversation with 10,000 history messages (it shows the latest 50; its shopper profile asks
  the demo shop API, a stub on loopback, for recent orders, as the page does in production).
  Both are the whole Flask request (session lookup, view, template) through `app.test_client()`
  in this process: server time with no HTTP or client in it. Median and p95 of 50 requests
  after 5 warm-ups, interleaved with `/healthz` through the same path (the baseline), so the
  `_vs_healthz` ratios hold on a noisy machine.
- `inbox_claim_*`: real HTTP to `gateway serve --web-only` (waitress, 16 threads, its own
  process, the same store). 20 agents (capacity 3) log in through `/inbox/api/login`, then all
  walk the same 200 waiting threads oldest first, each claiming until it is full: the worst
  case, everyone clicking the top row. Then each agent replies twice to each thread it holds,
  all at once. Three rounds (the threads are resolved through the store in between). Claims
  and requests per second, p95 latency as the clients see it; `inbox_double_claims` and
  `inbox_capacity_exceeded` are counted from the store after each round. The baseline is
  `/healthz` from the same 20 clients. No turn worker runs: the agents' actions are queued
  (as in production), not sent.

The stored threads are opened through the InboxStore API and the history is appended through
the message store's `append_history` (1,000 lines a call); only the requests are timed.
Prints `name: value unit` lines (Redis figures prefixed `redis_`). Environment: BENCH_QUICK=1
(2,000 threads and messages, one race round). Run: `make bench` or
`.venv/bin/python bench/bench_inbox.py`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_e2e import Redis, free_port  # noqa: E402

from gateway.context import Gateway  # noqa: E402
from gateway.inbox.model import Agent, InboxError, Thread  # noqa: E402
from gateway.store.base import HistoryEntry  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK") == "1"
WAITING = 2_000 if QUICK else 10_000  # waiting threads behind the queue page
HISTORY = 2_000 if QUICK else 10_000  # messages in the thread page's conversation
SAMPLES, WARMUP = 50, 5
AGENTS, CAPACITY, RACE_THREADS = 20, 3, 200
ROUNDS = 1 if QUICK else 3
REPLIES = 2  # per held thread and round
HEALTHZ_PER_AGENT = 30  # the HTTP baseline's requests per client
PASSWORD = "bench-agent-password"
NOW = time.time()
HISTORY_THREAD = "bench:history"
HISTORY_CONVERSATION = "telegram:7999999999"
SERVER_THREADS = 16  # `gateway serve`'s default


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def environment(store_url: str, port: int, shop_url: str) -> dict[str, str]:
    from devtools.demo import demo_environment

    # Nothing is sent (no turn worker runs), so the platforms' base URLs point nowhere.
    env = demo_environment({}, f"http://127.0.0.1:{port}", "http://127.0.0.1:9", shop_url)
    env.update({"STORE_URL": store_url, "FLOWS_PATH": str(ROOT / "flows.yaml"),
                "LOG_LEVEL": "WARNING"})  # fmt: skip
    return env


def waiting_thread(n: int, prefix: str, created_at: float) -> Thread:
    return Thread(
        id=f"{prefix}{n}", conversation=f"telegram:{7_000_000_000 + n}" if prefix == "w" else
        f"telegram:{prefix}{n}", channel="telegram", queue="support",
        reason="shopper asked for a person", created_at=created_at, shopper_name=f"Ann Lee {n}",
        resume_at="menu", variants=(("bot_vs_callcenter", "bot"),),
        vars={"order_id": f"A{1000 + n % 9000}", "topic": "returns"},
        last_message_at=created_at, updated_at=created_at,
    )  # fmt: skip


def seed(gw: Gateway, password_hash: str) -> None:
    """The agents, 10,000 waiting threads, and one claimed thread with 10,000 messages."""
    inbox = gw.inbox
    assert inbox is not None
    inbox.put_agent(Agent("bench", "Bea Bench", password_hash, capacity=CAPACITY))
    for i in range(AGENTS):
        inbox.put_agent(Agent(f"a{i:02d}", f"Agent {i:02d}", password_hash, capacity=CAPACITY))
    for n in range(WAITING):
        inbox.open_thread(waiting_thread(n, "w", NOW - 86_400 + n))
    mine = Thread(HISTORY_THREAD, HISTORY_CONVERSATION, "telegram", "support",
                  "shopper asked for a person", NOW - 3600, shopper_name="Hal Story",
                  resume_at="menu", variants=(("bot_vs_callcenter", "bot"),))  # fmt: skip
    inbox.open_thread(mine)
    inbox.claim(HISTORY_THREAD, "bench", NOW - 3500)
    lines = [("in", "shopper", "Where is my order A1234? It should have arrived on Tuesday."),
             ("out", "bot", "Order A1234 is on its way: UPS, arriving Friday.")]  # fmt: skip
    for start in range(0, HISTORY, 1_000):
        gw.store.append_history([
            HistoryEntry(HISTORY_CONVERSATION, NOW - HISTORY + i, *lines[i % 2],
                         {"kind": "text", "message_id": str(i)})
            for i in range(start, min(HISTORY, start + 1_000))
        ])  # fmt: skip


def page_figures(gw: Gateway) -> dict[str, list[float]]:
    """Seconds per request of each page through the Flask test client, interleaved."""
    from gateway.web.app import create_app

    client = create_app(gw).test_client()
    r = client.post("/inbox/api/login", json={"login": "bench", "password": PASSWORD})
    assert r.status_code == 200, r.text
    paths = {"healthz": "/healthz", "queue": "/inbox/", "thread": f"/inbox/threads/{HISTORY_THREAD}"}
    times: dict[str, list[float]] = {name: [] for name in paths}
    for i in range(WARMUP + SAMPLES):
        for name, path in paths.items():
            start = time.perf_counter()
            r = client.get(path)
            took = time.perf_counter() - start
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
            if i >= WARMUP:
                times[name].append(took)
    body = client.get("/inbox/").text
    assert f"{WAITING}" in body and "Ann Lee 0<" in body, "the queue page lacks the oldest thread"
    body = client.get(f"/inbox/threads/{HISTORY_THREAD}").text
    assert body.count("Where is my order A1234?") == 25, "the thread page is not the latest 50"
    return times


class Server:
    """`gateway serve --web-only` in its own process, on the bench's store."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        args = [sys.executable, "-m", "gateway", "serve", "--web-only", "--host", "127.0.0.1",
                "--port", str(port), "--threads", str(SERVER_THREADS)]  # fmt: skip
        with log.open("wb") as out:
            self.proc = subprocess.Popen(args, env={**os.environ, **env}, cwd=ROOT, stdout=out,
                                         stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gateway serve did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def together(work: Callable[[int], None]) -> float:
    """Runs work(0..AGENTS-1) in AGENTS threads released at once; the wall seconds."""
    gate = threading.Barrier(AGENTS + 1)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        gate.wait()
        try:
            work(i)
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(AGENTS)]
    for t in threads:
        t.start()
    gate.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    took = time.perf_counter() - start
    if errors:
        raise errors[0]
    return took


def race(gw: Gateway, server: Server) -> dict[str, float]:
    """Twenty agents claiming from the same 200 threads, then replying; over real HTTP."""
    inbox = gw.inbox
    assert inbox is not None
    logins = [f"a{i:02d}" for i in range(AGENTS)]
    sessions, headers = [], []
    for login in logins:
        s = requests.Session()
        r = s.post(server.url + "/inbox/api/login", json={"login": login, "password": PASSWORD},
                   timeout=10)  # fmt: skip
        assert r.status_code == 200, r.text
        sessions.append(s)
        headers.append({"X-CSRFToken": r.json()["csrf_token"]})

    health: list[float] = []

    def healthz(i: int) -> None:
        for _ in range(HEALTHZ_PER_AGENT):
            start = time.perf_counter()
            r = sessions[i].get(server.url + "/healthz", timeout=10)
            health.append(time.perf_counter() - start)
            assert r.status_code == 200

    for s in sessions:  # a warm connection each
        s.get(server.url + "/healthz", timeout=10)
    health_s = together(healthz)

    claim_times: list[float] = []
    reply_times: list[float] = []
    claim_s = reply_s = 0.0
    won = requests_total = double = exceeded = 0
    for rnd in range(ROUNDS):
        ids = [f"r{rnd}-{n}" for n in range(RACE_THREADS)]
        for n in range(len(ids)):  # the oldest waiting threads, above the 10,000
            inbox.open_thread(waiting_thread(n, f"r{rnd}-", NOW - 200_000 + n))
        held: list[list[str]] = [[] for _ in logins]

        def claim(i: int, ids: list[str] = ids, held: list[list[str]] = held) -> None:
            for tid in ids:
                start = time.perf_counter()
                r = sessions[i].post(f"{server.url}/inbox/api/threads/{tid}/claim",
                                     headers=headers[i], timeout=10)  # fmt: skip
                claim_times.append(time.perf_counter() - start)
                if r.status_code == 200:
                    assert r.json()["agent"] == logins[i], r.text
                    held[i].append(tid)
                    if len(held[i]) == CAPACITY:
                        return
                elif r.status_code != 409:
                    raise AssertionError(f"claim answered {r.status_code}: {r.text}")
                elif "already has" in r.json()["error"]:
                    return  # full: the store refused one more

        before = len(claim_times)
        claim_s += together(claim)
        requests_total += len(claim_times) - before
        winners = Counter(tid for tids in held for tid in tids)
        won += sum(winners.values())
        # From the store: a thread two agents were told they won, or that is not with its
        # winner; an agent holding more than its capacity.
        double += sum(1 for c in winners.values() if c > 1)
        for i, login in enumerate(logins):
            mine = {t.id for t in inbox.assigned_to(login)}
            double += len(set(held[i]) - mine)
            exceeded += len(mine) > CAPACITY

        def reply(i: int, held: list[list[str]] = held) -> None:
            for k in range(REPLIES):
                for tid in held[i]:
                    start = time.perf_counter()
                    r = sessions[i].post(f"{server.url}/inbox/api/threads/{tid}/reply",
                                         headers=headers[i], timeout=10,
                                         json={"text": f"Reply {k} from {logins[i]}: on it."})  # fmt: skip
                    reply_times.append(time.perf_counter() - start)
                    assert r.status_code == 200, r.text

        reply_s += together(reply)
        for tids in held:  # room for the next round
            for tid in tids:
                inbox.resolve(tid, "solved", time.time())
        for tid in ids:  # the ones nobody could take, out of the next round's way
            with contextlib.suppress(InboxError):
                inbox.resolve(tid, "spam", time.time())
    return {
        "healthz_per_s": len(health) / health_s,
        "healthz_p95_ms": pct(health, 0.95) * 1e3,
        "claims_per_s": won / claim_s,
        "claim_requests_per_s": requests_total / claim_s,
        "claim_p50_ms": statistics.median(claim_times) * 1e3,
        "claim_p95_ms": pct(claim_times, 0.95) * 1e3,
        "claims_won": won,
        "claim_requests": requests_total,
        "replies_per_s": len(reply_times) / reply_s,
        "reply_p95_ms": pct(reply_times, 0.95) * 1e3,
        "double": double,
        "exceeded": exceeded,
    }


def backend(name: str, store_url: str, work: Path, password_hash: str) -> list[tuple[str, str, str]]:
    from devtools.shop_stub import create_shop_app
    from gateway.assemble import build_gateway
    from gateway.config import Config
    from gateway.web.serving import ServerThread

    shop = ServerThread(create_shop_app()).start()
    port = free_port()
    env = environment(store_url, port, shop.url)
    logging.disable(logging.WARNING)  # the disabled channels' notes
    gw = build_gateway(Config.from_env(env))
    logging.disable(logging.NOTSET)
    server = None
    p = "" if name == "sqlite" else f"{name}_"
    try:
        start = time.perf_counter()
        seed(gw, password_hash)
        print(f"{name}: seeded in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        times = page_figures(gw)
        lines = []
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        for k in ("queue", "thread", "healthz"):
            lines.append((f"{p}inbox_{k}_ms", f"{med[k]:.2f}", "ms"))
            lines.append((f"{p}inbox_{k}_p95_ms", f"{pct(times[k], 0.95) * 1e3:.2f}", "ms"))
        for k in ("queue", "thread"):
            lines.append((f"{p}inbox_{k}_vs_healthz", f"{med[k] / med['healthz']:.1f}", "x"))
        server = Server(env, port, work / f"serve-{name}.log")
        r = race(gw, server)
        lines += [
            (f"{p}inbox_claims_per_s", f"{r['claims_per_s']:.0f}", "claims/s"),
            (f"{p}inbox_claim_requests_per_s", f"{r['claim_requests_per_s']:.0f}", "requests/s"),
            (f"{p}inbox_claim_p50_ms", f"{r['claim_p50_ms']:.1f}", "ms"),
            (f"{p}inbox_claim_p95_ms", f"{r['claim_p95_ms']:.1f}", "ms"),
            (f"{p}inbox_claims_won", f"{r['claims_won']:.0f}", "count"),
            (f"{p}inbox_claim_requests", f"{r['claim_requests']:.0f}", "count"),
            (f"{p}inbox_double_claims", f"{r['double']:.0f}", "count"),
            (f"{p}inbox_capacity_exceeded", f"{r['exceeded']:.0f}", "count"),
            (f"{p}inbox_replies_per_s", f"{r['replies_per_s']:.0f}", "replies/s"),
            (f"{p}inbox_reply_p95_ms", f"{r['reply_p95_ms']:.1f}", "ms"),
            (f"{p}inbox_http_healthz_per_s", f"{r['healthz_per_s']:.0f}", "requests/s"),
            (f"{p}inbox_http_healthz_p95_ms", f"{r['healthz_p95_ms']:.1f}", "ms"),
        ]
        ratio = r["healthz_per_s"] / r["claim_requests_per_s"]
        lines.append((f"{p}inbox_claim_requests_vs_healthz", f"{ratio:.1f}", "x"))
        return lines
    finally:
        if server is not None:
            server.stop()
        gw.close()
        shop.stop()


def main() -> None:
    from gateway.inbox.passwords import hash_password

    work = Path(tempfile.mkdtemp(prefix="bench-inbox-"))
    redis: Redis | None = None
    password_hash = hash_password(PASSWORD)  # one hash for every agent: argon2 is slow on purpose
    try:
        lines = backend("sqlite", f"sqlite:///{work / 'inbox.db'}", work, password_hash)
        if shutil.which("redis-server") is None:
            print("inbox: no Redis figures: redis-server is not installed", file=sys.stderr)
        else:
            redis = Redis(work)
            lines += backend("redis", redis.url, work, password_hash)
        for name, value, unit in lines:
            print(f"{name}: {value} {unit}")
    finally:
        if redis is not None:
            redis.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
