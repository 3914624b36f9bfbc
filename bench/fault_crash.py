"""SIGKILL of `gateway serve` under load: shopper replies lost and doubled per kill, SQLite and Redis.

300 conversations (BENCH_CRASH_CHATS), split evenly over Telegram, WhatsApp and Messenger
(BENCH_CRASH_CHANNELS), of three turns ("hi", "trak my ordr", "A1234")
run at once against a real `python -m gateway serve` child process, which is SIGKILLed
BENCH_CRASH_KILLS times (5) at random moments of the load and restarted at once on the same
port and store, as a supervisor would. Each shopper reads the replies to a turn before writing
the next. A webhook that got no 200 (gateway dead, connection reset mid-request) is posted
again with the same id (update_id, MessageSid, mid), as a platform redelivers; one that got its
200 never is. A reply sent but not recorded before a kill is looked up on the platform before
it goes again where the platform can say (Twilio's message list, Graph's Conversations API):
the doubles are counted per channel, and Telegram's are the ones no lookup can prevent.

The replies a conversation should get are those of one conversation run before any kill (the
flow may say the same text twice, so they are compared as counts of each text, not as a set).
Counted at the fake platform after the last kill's leases have run out (a reply sent but not
recorded before the kill goes again only then): lost = expected copies that never came,
doubled = copies beyond the expected ones. The issue's target: no reply lost, at most one
doubled per SIGKILL (`crash_doubled_replies`, the worse store); the run exits 1 otherwise.

Prints `name: value unit` lines. Run: `make faults` or `.venv/bin/python bench/fault_crash.py`
(two to three minutes: each kill strands what the process held until its 30 s lease ends).
BENCH_CRASH_SEED replays the kill moments; BENCH_CRASH_STORES=sqlite (or redis) runs one store.
"""

from __future__ import annotations

import inspect
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The stack the e2e tests use, except that the gateway is a real process here (it must die).
from devtools.demo import demo_environment  # noqa: E402
from devtools.shop_stub import create_shop_app  # noqa: E402
from flows.loader import load_flow  # noqa: E402
from flows.split import choose_variant  # noqa: E402
from gateway.config import Config  # noqa: E402
from gateway.turns.sender import OutboxSender  # noqa: E402
from gateway.web.serving import ServerThread  # noqa: E402
from sandbox.recording import MAX_ENTRIES  # noqa: E402
from sandbox.server import Sandbox  # noqa: E402
from sandbox.shoppers import SimShopper  # noqa: E402
from sandbox.webhooks import (  # noqa: E402
    Webhook,
    messenger_event,
    telegram_message,
    whatsapp_message,
)
from tests.conftest import always_open_flows, free_port  # noqa: E402

CHATS = int(os.environ.get("BENCH_CRASH_CHATS", "300"))
KILLS = int(os.environ.get("BENCH_CRASH_KILLS", "5"))
SEED = int(os.environ.get("BENCH_CRASH_SEED", str(random.randrange(1_000_000))))
TIMEOUT_S = float(os.environ.get("BENCH_CRASH_TIMEOUT_S", "300"))  # the load's cap per store
STORES = [s for s in os.environ.get("BENCH_CRASH_STORES", "sqlite,redis").split(",") if s]
TURNS = ("hi", "trak my ordr", "A1234")  # 2, 1 and 2 replies with the sample flow
CHANNELS = [c for c in os.environ.get("BENCH_CRASH_CHANNELS", "telegram,whatsapp,messenger")
            .split(",") if c]  # fmt: skip
POLL_S = 0.1  # how often the platform's log is re-read (each read copies it whole)
MIN_UP_S = 1.0  # a restarted gateway works this long before the next kill: it has load in hand
KILL_JITTER_S = 0.5  # the kill comes up to this long after its progress mark: any moment
SETTLE_S = 5.0  # after the leases of the last kill end, for a resent reply to arrive
GRACE_S = 90.0  # beyond that, for replies still missing; then they count as lost
READY_TIMEOUT_S = 30.0
# Ends of the share of replies delivered at which the kills fall: during the load, never
# at its very start (nothing in hand) or its tail (only the stragglers of earlier kills).
KILL_SPAN = (0.05, 0.9)
# A reply the worker sent but had not recorded yet goes again when this lease runs out.
OUTBOX_LEASE_S = float(inspect.signature(OutboxSender).parameters["lease_s"].default)


@dataclass
class Result:
    store: str
    kills: int = 0
    expected: int = 0
    lost: int = 0
    doubled: int = 0
    doubled_by_channel: Counter[str] = field(default_factory=Counter)
    unexpected: int = 0
    reposted: int = 0  # webhooks posted again because the first post got no 200
    done_s: float = 0.0  # from the first message until every expected reply had arrived
    restart_s: list[float] = field(default_factory=list)  # SIGKILL until /readyz answers
    examples: list[str] = field(default_factory=list)  # conversations that went wrong


class Replies:
    """What the fake platforms accepted, by chat ("channel:address"), re-read every POLL_S by
    one thread: a copy of the whole log per conversation thread would hold the sandbox's lock
    against the gateway."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.cond = threading.Condition()
        self.by_chat: dict[str, Counter[str]] = {}
        self.total = 0

    def refresh(self) -> None:
        by_chat: dict[str, Counter[str]] = defaultdict(Counter)
        entries = [e for channel in CHANNELS for e in self.sandbox.sent(channel)]
        for entry in entries:
            by_chat[f"{entry['channel']}:{entry['conversation']}"][reply_key(entry)] += 1
        with self.cond:
            self.by_chat, self.total = dict(by_chat), len(entries)
            self.cond.notify_all()

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(POLL_S):
            self.refresh()

    def of(self, chat: str) -> Counter[str]:
        with self.cond:
            return Counter(self.by_chat.get(chat, Counter()))

    def wait_for(self, chat: str, wanted: Counter[str], stop: threading.Event) -> bool:
        """Until `chat` got at least `wanted`; False if `stop` came first."""
        with self.cond:
            while not stop.is_set():
                if not wanted - self.by_chat.get(chat, Counter()):
                    return True
                self.cond.wait(POLL_S * 2)
        return False


def reply_key(entry: dict) -> str:
    """A reply as the shopper sees it: the API method (a photo is not a text) and its text."""
    return f"{entry.get('method', '')}: {entry.get('text', '')}"


class GatewayProcess:
    """`python -m gateway serve` on a fixed port and store, killed and started again."""

    def __init__(self, env: dict[str, str], port: int, cwd: Path, log: Path) -> None:
        self.env, self.port, self.cwd, self.log = env, port, cwd, log
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_at = 0.0

    def start(self) -> None:
        with self.log.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1",
                 "--port", str(self.port)],
                cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway serve exited with {self.proc.returncode}:\n"
                                   + self.tail())  # fmt: skip
            try:
                if requests.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    self.ready_at = time.monotonic()
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"gateway serve not ready in {READY_TIMEOUT_S:.0f} s:\n{self.tail()}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)  # no shutdown code runs: a crash, an OOM kill
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def up_for(self) -> float:
        return time.monotonic() - self.ready_at

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def post_until_accepted(url: str, hook: Webhook, stop: threading.Event) -> int:
    """Post `hook` until the gateway answers 200, as Telegram redelivers an update that got no
    2xx (the same bytes, so the same update_id: the gateway's dedupe sees a redelivery).
    Returns how many times it was posted again."""
    again, delay = 0, 0.1
    while not stop.is_set():
        try:
            status = requests.post(url, data=hook.body, headers=hook.headers,
                                   timeout=(3.05, 10.0), allow_redirects=False).status_code  # fmt: skip
        except requests.RequestException:  # refused (dead), reset mid-request, timed out
            status = None
        if status == 200:
            return again
        again += 1
        stop.wait(delay * random.uniform(0.5, 1.5))  # jittered: 300 chats must not stampede
        delay = min(delay * 2, 2.0)
    return again


class Shoppers:
    """Shoppers writing through the fake platforms, each turn's webhook built once."""

    def __init__(self, sandbox: Sandbox, gateway_url: str) -> None:
        self.sandbox = sandbox
        self.gateway_url = gateway_url
        self.reposted = 0
        self._lock = threading.Lock()

    def say(self, shopper: SimShopper, text: str, stop: threading.Event) -> None:
        state = self.sandbox.state
        hook: Webhook
        if shopper.channel == "telegram":  # the ids the simulator would give
            hook = telegram_message(state.config, shopper, text, state.next_update_id(),
                                    state.next_message_id(shopper.address))  # fmt: skip
        elif shopper.channel == "whatsapp":
            hook = whatsapp_message(state.config, shopper, text)
        else:
            hook = messenger_event(state.config, shopper, text)
        url = f"{self.gateway_url}/webhooks/{shopper.channel}"
        again = post_until_accepted(url, hook, stop)
        with self._lock:
            self.reposted += again


def new_shoppers(sandbox: Sandbox, flows_path: Path, env: dict[str, str], channel: str,
                 count: int, prefix: str) -> list[SimShopper]:  # fmt: skip
    """`count` shoppers all called Ann (the greeting says the first name: every conversation
    gets the same texts) whom the A/B split sends to the bot, as Stack.shopper picks them."""
    split = load_flow(flows_path, env).nodes["route"].split
    found: list[SimShopper] = []
    i = 0
    while len(found) < count:
        shopper = sandbox.state.shoppers.add(channel, f"Ann {prefix}{i}")
        i += 1
        if split is None or choose_variant(split, f"{channel}:{shopper.address}").name == "bot":
            found.append(shopper)
    return found


def chat_of(shopper: SimShopper) -> str:
    return f"{shopper.channel}:{shopper.address}"


def baseline(shoppers: Shoppers, replies: Replies, shopper: SimShopper) -> list[Counter[str]]:
    """The replies to each turn of one conversation with nothing killed: what every
    conversation must get. A turn's replies are complete once none came for a while."""
    stop = threading.Event()
    turns: list[Counter[str]] = []
    seen: Counter[str] = Counter()
    for text in TURNS:
        shoppers.say(shopper, text, stop)
        deadline, last_change, now_seen = time.monotonic() + 30, time.monotonic(), seen
        while time.monotonic() < deadline:
            replies.refresh()
            current = replies.of(chat_of(shopper))
            if current != now_seen:
                now_seen, last_change = current, time.monotonic()
            # Telegram's per-chat pacing spaces replies about a second apart beyond a burst.
            if now_seen != seen and time.monotonic() - last_change > 2.0:
                break
            time.sleep(POLL_S)
        turns.append(now_seen - seen)
        seen = now_seen
        if not turns[-1]:
            raise RuntimeError(f"no reply to {text!r} without any kill: the stack is broken")
    return turns


def run_store(store: str, store_url: str, tmp: Path, rng: random.Random) -> Result:
    """The whole fault run on one store: baseline, load with kills, then the count."""
    result = Result(store)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    shop = ServerThread(create_shop_app()).start()
    sandbox = Sandbox(gateway_url=url, env={"PUBLIC_BASE_URL": url}).start()
    flows_path = always_open_flows(tmp)  # business hours must never change the replies
    env = {**os.environ, **demo_environment({}, url, sandbox.base_url, shop.url)}
    env.update({"STORE_URL": store_url, "FLOWS_PATH": str(flows_path), "LOG_LEVEL": "WARNING",
                "ANALYTICS_URL": f"sqlite:///{tmp / 'analytics.db'}"})  # fmt: skip
    lease_s = Config.from_env(env).lease_s
    gateway = GatewayProcess(env, port, tmp, tmp / "gateway.log")
    stop, watching = threading.Event(), threading.Event()
    replies, shoppers = Replies(sandbox), Shoppers(sandbox, url)
    threads: list[threading.Thread] = []
    try:
        gateway.start()
        chats: list[SimShopper] = []
        turns_of: dict[str, list[Counter[str]]] = {}
        for n, channel in enumerate(CHANNELS):
            count = CHATS // len(CHANNELS) + (n < CHATS % len(CHANNELS))
            first, *more = new_shoppers(sandbox, flows_path, env, channel, count + 1, "Crash")
            turns_of[channel] = baseline(shoppers, replies, first)
            chats += more
        rng.shuffle(chats)  # the channels' conversations interleaved
        result.expected = sum(sum(sum(t.values()) for t in turns_of[s.channel]) for s in chats)
        if result.expected * 2 > MAX_ENTRIES:  # doubles and typing actions need room too
            raise RuntimeError(f"the sandbox keeps {MAX_ENTRIES} calls: fewer chats, please")
        already = replies.total
        watcher = threading.Thread(target=replies.run, args=(watching,), daemon=True)
        watcher.start()

        def converse(shopper: SimShopper) -> None:
            wanted: Counter[str] = Counter()
            for text, expect in zip(TURNS, turns_of[shopper.channel], strict=True):
                shoppers.say(shopper, text, stop)
                wanted += expect
                if not replies.wait_for(chat_of(shopper), wanted, stop):
                    return

        started = time.monotonic()
        threads = [threading.Thread(target=converse, args=(s,), daemon=True) for s in chats]
        for thread in threads:
            thread.start()
        marks = sorted(rng.uniform(*KILL_SPAN) for _ in range(KILLS))
        last_kill = 0.0
        cap = started + TIMEOUT_S  # a reply lost for good would keep its shopper waiting
        while marks and any(t.is_alive() for t in threads) and time.monotonic() < cap:
            progress = (replies.total - already) / result.expected
            if progress >= marks[0] and gateway.up_for() >= MIN_UP_S:
                time.sleep(rng.uniform(0, KILL_JITTER_S))
                gateway.kill()
                last_kill = time.monotonic()
                result.kills += 1
                marks.pop(0)
                gateway.start()  # restarted at once, as systemd or docker would
                result.restart_s.append(gateway.ready_at - last_kill)
            time.sleep(POLL_S / 2)
        # What the dead process held (messages, replies sent but not recorded) goes again only
        # when its lease ends: the doubles arrive then, so the count waits for them.
        held = max(lease_s, OUTBOX_LEASE_S) + 1.0  # (and a second for the clock)
        settled = last_kill + held + SETTLE_S if result.kills else started
        give_up = min(settled + GRACE_S, max(cap, settled))
        while time.monotonic() < give_up and any(t.is_alive() for t in threads):
            time.sleep(POLL_S)
        result.done_s = time.monotonic() - started
        settled = max(settled, time.monotonic() + 2.0)  # a late copy of the last replies
        while time.monotonic() < settled:
            time.sleep(POLL_S)
    finally:
        stop.set()
        watching.set()
        for thread in threads:
            thread.join(15)
        gateway.stop()
        replies.refresh()
        sandbox.stop()
        shop.stop()
    result.reposted = shoppers.reposted
    for shopper in chats:
        expected = sum(turns_of[shopper.channel], Counter())
        got = replies.of(chat_of(shopper))
        lost = sum((expected - got).values())
        doubled = sum(max(0, got[k] - n) for k, n in expected.items())
        unexpected = sum(n for k, n in got.items() if k not in expected)
        result.lost, result.doubled = result.lost + lost, result.doubled + doubled
        result.doubled_by_channel[shopper.channel] += doubled
        result.unexpected += unexpected
        if (lost or unexpected or doubled > 1) and len(result.examples) < 5:
            missing = dict(expected - got)
            extra = dict(got - expected)
            result.examples.append(f"chat {chat_of(shopper)}: missing {missing}, extra {extra}")
    if result.lost or result.unexpected:
        result.examples.append("gateway log tail:\n" + gateway.tail())
    return result


def redis_server() -> tuple[subprocess.Popen[bytes], str]:
    """Our own throwaway redis-server, as tests/contract/conftest.py starts one."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is missing: apt-get install redis-server (make debian)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--daemonize", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"redis-server on port {port} did not answer PING within 10 s")


def report(result: Result) -> float:
    """Prints the store's figures; returns its doubles per kill."""
    per_kill = result.doubled / result.kills if result.kills else 0.0
    s = result.store
    restart = max(result.restart_s, default=0.0)
    print(f"crash_kills_{s}: {result.kills} kills")
    print(f"crash_replies_expected_{s}: {result.expected} replies")
    print(f"crash_replies_lost_{s}: {result.lost} replies")
    print(f"crash_replies_doubled_{s}: {result.doubled} replies")
    print(f"crash_doubled_replies_{s}: {per_kill:.1f} per kill")
    for channel in CHANNELS:
        doubled = result.doubled_by_channel[channel]
        print(f"crash_doubled_replies_{s}_{channel}: "
              f"{doubled / result.kills if result.kills else 0.0:.1f} per kill")  # fmt: skip
    print(f"crash_replies_unexpected_{s}: {result.unexpected} replies")
    print(f"crash_webhooks_reposted_{s}: {result.reposted} posts")
    print(f"crash_restart_max_{s}: {restart:.1f} s")
    print(f"crash_all_replies_after_{s}: {result.done_s:.1f} s")
    sys.stdout.flush()
    return per_kill


def main() -> int:
    rng = random.Random(SEED)
    print(f"crash_setup: {CHATS} chats ({', '.join(CHANNELS)}) x {len(TURNS)} turns, "
          f"{KILLS} SIGKILLs per store, seed {SEED}")  # fmt: skip
    failures: list[str] = []
    worst = 0.0
    for store in STORES:
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            redis: subprocess.Popen[bytes] | None = None
            try:
                if store == "sqlite":
                    url = f"sqlite:///{tmp / 'gw.db'}"
                elif store == "redis":
                    redis, url = redis_server()
                else:
                    raise ValueError(f"BENCH_CRASH_STORES: unknown store {store!r}")
                result = run_store(store, url, tmp, rng)
            finally:
                if redis is not None:
                    redis.kill()
                    redis.wait()
        per_kill = report(result)
        worst = max(worst, per_kill)
        if result.kills < KILLS:
            failures.append(f"{store}: only {result.kills} of {KILLS} kills fell during the load")
        if result.lost:
            failures.append(f"{store}: {result.lost} replies lost")
        if result.unexpected:
            failures.append(f"{store}: {result.unexpected} replies the conversation should not get")
        if per_kill > 1:
            failures.append(f"{store}: {per_kill:.1f} doubled replies per kill (at most 1)")
        for example in result.examples:
            print(f"  {store} {example}", file=sys.stderr)
    print(f"crash_doubled_replies: {worst:.1f} per kill")
    for failure in failures:
        print(f"FAIL {failure} (seed {SEED})", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
