"""End to end: `gateway serve` against the python-telegram-bot peer, interleaved in one run.

Uses ../shared/bench (beside the repository): `tgload.py` is a fake Telegram Bot API and many
shoppers; `ptb_bot.py` is the anchor peer (ConversationHandler, state in memory). Both bots
walk the same three turns (/start -> greeting and menu, "Track my order" -> "What's your order
number?", "A1234" -> a status), the gateway with `bench/flows_bench.yaml` and its whole turn
(durable queue, dedupe, state, history, outbox, then the send). Rounds interleave the peers
(ptb, gateway on SQLite, gateway on Redis, ...) as `run_peers.sh` does, on free loopback ports;
figures are medians over the rounds, ratios the median of per-round ratios. Then ack mode:
300 updates/s, open loop, webhook acknowledgement latency.

Prints `name: value unit` lines. Environment: BENCH_QUICK=1 (a quick check: fewer chats, one
round), BENCH_CHATS (default 3000), BENCH_ROUNDS (3, so that a ratio is the middle round's,
not the mean of two), BENCH_ACK_S (seconds of ack mode, 20)
and BENCH_ACK_ROUNDS (3), as in the peers' own ack table (../shared/bench/RESULTS.md: the
p99 of one 15-second run moves by a third from run to run), BENCH_WORKERS (WORKERS, turn
worker threads per process), BENCH_SERVE_ARGS (`gateway serve` options), BENCH_OUT (a file to
append the raw tgload JSON lines to), BENCH_MODES (`turns`, `ack` or both, the default; one
mode alone leaves the other's figures n/a).
Run: `make bench` or `.venv/bin/python bench/bench_e2e.py`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "bench"
FLOWS = ROOT / "bench" / "flows_bench.yaml"
QUICK = os.environ.get("BENCH_QUICK") == "1"
CHATS = int(os.environ.get("BENCH_CHATS") or (300 if QUICK else 3000))
ROUNDS = int(os.environ.get("BENCH_ROUNDS") or (1 if QUICK else 3))
ACK_S = float(os.environ.get("BENCH_ACK_S") or (5 if QUICK else 20))
ACK_ROUNDS = int(os.environ.get("BENCH_ACK_ROUNDS") or (1 if QUICK else 3))
ACK_RATE = 300
MODES = set((os.environ.get("BENCH_MODES") or "turns ack").replace(",", " ").split())
# Tuned on the 2-vCPU bench machine: the web process with 4 threads and one worker process of
# one turn worker. More threads per process cost more CPU per turn in GIL hand-offs; a second
# worker process (the best setting while a turn cost 5 ms) now costs more than it brings:
# interleaved with PTB, 1 process 1.41-1.62x at 1.5-1.7 ms of CPU a turn, 2 processes 1.21x
# at 2.2 ms (SQLite's page caches are dropped at every other process's commit, the web
# process gets less of the CPU, and more wake-ups).
WORKERS = os.environ.get("BENCH_WORKERS", "1")
SERVE_ARGS = os.environ.get("BENCH_SERVE_ARGS", "--threads 4 --worker-processes 1")
TOKEN = "123456789:AAbench-bench-bench-bench-bench-bench"
SECRET = "bench-secret"
# What each gateway turn must answer (the text and its buttons, as tgload sees them).
GW_TURNS = ["/start", "Track my order", "A1234"]
GW_EXPECT = [
    r"(?s)^Hi Ann!.*Track my order",
    r"^What's your order number\?",
    r"^Order A1234 is on its way",
]
RUN_TIMEOUT_S = 240  # one tgload run; it is killed (with its bot) past this


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing_prerequisites() -> str | None:
    if not (SHARED / "tgload.py").exists():
        return f"{SHARED} not found (the peers and tgload.py live in shared/bench beside the repo)"
    for module in ("telegram", "tornado", "sniffio"):
        probe = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True)
        if probe.returncode:
            return f"python module {module!r} is missing (the PTB peer needs python-telegram-bot[webhooks])"
    return None


class Redis:
    """A throwaway redis-server on a free port, nothing on disk."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not self.ping():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self, *words: str) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall((" ".join(words) + "\r\n").encode())
            return s.recv(64)

    def ping(self) -> bool:
        try:
            return self.command("PING").startswith(b"+PONG")
        except OSError:
            return False

    def flush(self) -> None:
        self.command("FLUSHALL")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class WalWatch:
    """The largest size the SQLite WAL files reach together while the block runs (sampled twice
    a second): under steady load it must stay bounded (gateway/store/sqlite/file.py
    `checkpoint`). The store has two: the main file's and the ingress file's."""

    def __init__(self, *paths: Path) -> None:
        self.paths, self.peak = paths, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, sum(_size(path) for path in self.paths))

    def __enter__(self) -> WalWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # not there (yet)
        return 0


def tgload(label: str, webhook: str, bot_cmd: list[str], api_port: int, env: dict[str, str],
           log: Path, extra: list[str]) -> dict:  # fmt: skip
    """One tgload.py run (it starts the bot and SIGTERMs it); returns its JSON line."""
    cmd = [sys.executable, str(SHARED / "tgload.py"), "--webhook", webhook, "--label", label,
           "--api-port", str(api_port), "--bot-cmd", subprocess.list2cmdline(bot_cmd),
           "--bot-log", str(log), "--chats", str(CHATS), "--concurrency", "30", *extra]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=ROOT, start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        out, err = b"", b"timed out"
    finally:
        # tgload, the bot and anything the bot started share this process group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for line in out.decode().splitlines():
        if line.startswith("{"):
            return json.loads(line)
    tail = err.decode(errors="replace").strip().splitlines()[-3:]
    return {"label": label, "failed": " / ".join(tail) or f"exit {proc.returncode}"}


def main() -> None:
    why = missing_prerequisites()
    if why:
        print(f"e2e: skipped: {why}")
        return
    work = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    redis: Redis | None = None
    has_redis_store = (ROOT / "gateway" / "store" / "redis" / "store.py").exists()
    redis_note = None
    if not has_redis_store:
        redis_note = "gateway/store/redis/store.py does not exist yet"
    elif shutil.which("redis-server") is None:
        redis_note = "redis-server is not installed (make debian)"
    else:
        try:
            redis = Redis(work)
        except (OSError, RuntimeError) as exc:
            redis_note = f"redis-server: {exc}"
    api_port, ptb_port, gw_port = free_port(), free_port(), free_port()
    env = dict(os.environ)
    env.update({
        "FLOWS_PATH": str(FLOWS), "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{api_port}/bot",
        "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_SECRET_TOKEN": SECRET, "PORT": str(gw_port),
        "WORKERS": WORKERS, "PYTHONDONTWRITEBYTECODE": "1",
    })  # fmt: skip
    for name in ("TWILIO_ACCOUNT_SID", "MESSENGER_APP_SECRET", "PUBLIC_BASE_URL"):
        env.pop(name, None)  # only Telegram
    ptb = [sys.executable, str(SHARED / "ptb_bot.py"), "--port", str(ptb_port),
           "--api", f"http://127.0.0.1:{api_port}"]  # fmt: skip
    ptb_hook = f"http://127.0.0.1:{ptb_port}/telegram"
    gw = [sys.executable, "-m", "gateway", "serve", *SERVE_ARGS.split()]
    gw_hook = f"http://127.0.0.1:{gw_port}/webhooks/telegram"
    gw_args = ["--turns", *GW_TURNS, "--expect", *GW_EXPECT, "--replies-per-turn", "1"]
    runs: dict[str, list[dict]] = {}
    keep = os.environ.get("BENCH_OUT")
    seq = iter(range(1000))

    def run(label: str, store: str | None, extra: list[str]) -> None:
        i = next(seq)
        run_env = dict(env)
        if store == "sqlite":
            run_env["STORE_URL"] = f"sqlite:///{work / f'bench-{i}.db'}"
        elif store == "redis":
            assert redis is not None
            redis.flush()
            run_env["STORE_URL"] = redis.url
            extra = [*extra, "--watch-pid", str(redis.proc.pid)]
        cmd, hook = (ptb, ptb_hook) if store is None else (gw, gw_hook)
        if store is not None:
            extra = [*gw_args, *extra]
        with WalWatch(work / f"bench-{i}.db-wal", work / f"bench-{i}.db-ingress-wal") as wal:
            result = tgload(label, hook, cmd, api_port, run_env, work / f"{label}-{i}.log", extra)
        if store == "sqlite":
            result["wal_peak_mb"] = round(wal.peak / 2**20, 1)
        runs.setdefault(label, []).append(result)
        if keep:
            with open(keep, "a") as f:
                f.write(json.dumps(result) + "\n")
        for db in work.glob(f"bench-{i}.db*"):
            db.unlink()

    try:
        for _ in range(ROUNDS if "turns" in MODES else 0):
            run("ptb", None, [])
            run("gw", "sqlite", [])
            if redis is not None:
                run("gw_redis", "redis", [])
        ack = ["--ack-rate", str(ACK_RATE), "--duration", str(ACK_S)]
        for _ in range(ACK_ROUNDS if "ack" in MODES else 0):
            run("ptb_ack", None, ack)
            run("gw_ack", "sqlite", ack)
    finally:
        if redis is not None:
            redis.stop()
        shutil.rmtree(work, ignore_errors=True)
    report(runs, redis_note)


def ok(runs: list[dict]) -> list[dict]:
    return [r for r in runs if "failed" not in r]


def med(runs: list[dict], key: str) -> float | None:
    xs = [r[key] for r in ok(runs) if isinstance(r.get(key), (int, float))]
    return statistics.median(xs) if xs else None


def ratio(runs: list[dict], base: list[dict], key: str) -> float | None:
    """Median of per-round ratios (the k-th run of one peer against the k-th of the other)."""
    xs = [
        r[key] / b[key]
        for r, b in zip(runs, base, strict=False)
        if "failed" not in r and "failed" not in b and r.get(key) and b.get(key)
    ]
    return statistics.median(xs) if xs else None


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def report(runs: dict[str, list[dict]], redis_note: str | None) -> None:
    ptb, gw, gwr = runs.get("ptb", []), runs.get("gw", []), runs.get("gw_redis", [])
    ptb_ack, gw_ack = runs.get("ptb_ack", []), runs.get("gw_ack", [])
    for label, rs in runs.items():
        for r in rs:
            if "failed" in r:
                print(f"e2e: run {label} failed: {r['failed']}", file=sys.stderr)
            elif r.get("errors"):
                print(f"e2e: run {label} errors: {r['errors']} {r.get('bad_reply_samples', '')}",
                      file=sys.stderr)  # fmt: skip
    lines = [
        ("e2e_turns_per_s", fmt(med(gw, "turns_per_s")), "turns/s"),
        ("ptb_turns_per_s", fmt(med(ptb, "turns_per_s")), "turns/s"),
        ("e2e_vs_ptb_ratio", fmt(ratio(gw, ptb, "turns_per_s"), 2), "x"),
        ("e2e_p99_ms", fmt(med(gw, "p99_ms")), "ms"),
        ("ptb_p99_ms", fmt(med(ptb, "p99_ms")), "ms"),
        ("e2e_p99_vs_ptb_ratio", fmt(ratio(gw, ptb, "p99_ms"), 2), "x"),
    ]
    if redis_note is None:
        lines += [
            ("e2e_redis_turns_per_s", fmt(med(gwr, "turns_per_s")), "turns/s"),
            ("e2e_redis_vs_ptb_ratio", fmt(ratio(gwr, ptb, "turns_per_s"), 2), "x"),
            ("e2e_redis_p99_ms", fmt(med(gwr, "p99_ms")), "ms"),
        ]
    else:
        print(f"e2e: no Redis figures: {redis_note}", file=sys.stderr)
        lines += [("e2e_redis_turns_per_s", "n/a", "turns/s"),
                  ("e2e_redis_vs_ptb_ratio", "n/a", "x")]  # fmt: skip
    lines += [
        ("ack_p99_ms", fmt(med(gw_ack, "ack_p99_ms"), 2), "ms"),
        ("ptb_ack_p99_ms", fmt(med(ptb_ack, "ack_p99_ms"), 2), "ms"),
        ("ack_p99_vs_ptb_ratio", fmt(ratio(gw_ack, ptb_ack, "ack_p99_ms"), 2), "x"),
        ("e2e_cpu_ms_per_turn", fmt(med(gw, "bot_cpu_ms_per_op"), 2), "ms"),
        ("ptb_cpu_ms_per_turn", fmt(med(ptb, "bot_cpu_ms_per_op"), 2), "ms"),
        ("e2e_sqlite_wal_peak_mb", fmt(med(gw, "wal_peak_mb")), "MB"),
        ("e2e_turn_errors", str(sum(sum(r.get("errors", {}).values()) for r in gw + gwr)), "turns"),
        ("e2e_chats", str(CHATS), f"chats x 3 turns, {ROUNDS} interleaved rounds"),
        ("ack_runs", str(ACK_ROUNDS), f"interleaved rounds of {ACK_S:g} s at {ACK_RATE} updates/s"),
        ("e2e_gateway_cmd", f"WORKERS={WORKERS} gateway serve {SERVE_ARGS}".strip(), ""),
    ]
    for name, value, unit in lines:
        print(f"{name}: {value} {unit}")


if __name__ == "__main__":
    main()
