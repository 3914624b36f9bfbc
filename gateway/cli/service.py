"""`gateway serve | worker | outbox | buried`: running the service and operating it."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING

import click

from gateway.config import VARIABLES, Config

if TYPE_CHECKING:  # the gateway itself is imported lazily: `gateway check` stays fast
    from gateway.context import Gateway

WORKER_NICE = 5  # `serve --worker-processes` where SCHED_BATCH is missing (see _worker_setup)
# "\b" keeps click from rewrapping the list into one paragraph.
ENV_HELP = "\b\n" + "\n".join(f"  {name:<32} {meaning}" for name, meaning in VARIABLES.items())


def _gateway(environ: Mapping[str, str] | None = None) -> Gateway:
    from gateway.assemble import build_gateway
    from gateway.logs import setup_logging

    config = Config.from_env(environ)
    setup_logging(config.log_level)
    if config.log_level != "DEBUG":  # httpx logs every platform request (each reply) at INFO
        logging.getLogger("httpx").setLevel(logging.WARNING)
    return build_gateway(config)


def _on_sighup(gw, children: list[subprocess.Popen] | None = None) -> None:  # noqa: ANN001
    """SIGHUP reloads flows.yaml (validated first; a broken file keeps the last good one), here
    and in the worker processes."""

    def reload(*_: object) -> None:
        gw.flows.reload()
        for child in children or ():
            if child.poll() is None:
                child.send_signal(signal.SIGHUP)

    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, reload)


@click.command(epilog=f"Environment:\n\n{ENV_HELP}", context_settings={"max_content_width": 120})
@click.option("--port", type=int, help="Web port (default PORT or 8080).")
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--web-only", is_flag=True, help="Only the web part; run `gateway worker` processes.")
@click.option("--threads", default=16, show_default=True, help="Web server threads.")
@click.option("--worker-processes", type=click.IntRange(min=0), default=0, show_default=True,
              help="Run the turn workers (WORKERS threads each) in this many `gateway worker` "
                   "child processes, woken at once by the web process, instead of inside it: "
                   "they use the other cores; the webhooks never wait for them.")  # fmt: skip
def serve(port: int | None, host: str, web_only: bool, threads: int, worker_processes: int) -> None:
    """Serve the webhooks (and, unless --web-only, the workers) in one process."""
    from waitress import serve as waitress_serve

    from gateway.turns.runtime import PipeWakeup, Runtime
    from gateway.web.app import create_app

    children: list[subprocess.Popen] = []
    wakeup = None
    if worker_processes and not web_only:  # started first: no thread of ours exists yet
        read_fd, write_fd = os.pipe()
        wakeup = PipeWakeup(write_fd=write_fd)
        children = [_worker_process(read_fd) for _ in range(worker_processes)]
        os.close(read_fd)
    # SIGTERM (docker stop, systemd) stops the workers and closes the store like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        gw = _gateway()
        _on_sighup(gw, children)
        if wakeup is not None:
            gw.turn_ready = wakeup  # wakes the worker processes
        inline = not web_only and not children
        runtime = Runtime(gw, gw.config.workers).start() if inline else None
        listen = port or gw.config.port
        for reason in gw.adapters.disabled.values():
            click.echo(f"note: {reason}", err=True)
        flows, store = gw.flows.flow.version, _kind(gw.config.store_url)
        where = f", {len(children)} worker processes" if children else ""
        click.echo(f"gateway on http://{host}:{listen} (flows {flows}, store {store}{where})",
                   err=True)  # fmt: skip
        try:
            # A body is refused at once when it says it is too big, and a connection that
            # stops sending is closed after REQUEST_TIMEOUT_S, before it reaches the app.
            waitress_serve(create_app(gw), host=host, port=listen, threads=threads,
                           ident="gateway", channel_timeout=gw.config.request_timeout_s,
                           cleanup_interval=gw.config.request_timeout_s,
                           max_request_body_size=gw.config.max_body_bytes,
                           connection_limit=1000)  # fmt: skip
        finally:
            if runtime:
                runtime.stop()
            gw.close()
    finally:
        _stop_children(children)
        if wakeup is not None:
            wakeup.close()


def _worker_process(read_fd: int) -> subprocess.Popen:
    """A `gateway worker` child that reads its wake-ups from `read_fd` and dies with us."""
    from gateway.turns.runtime import WAKEUP_FD_ENV

    env = {**os.environ, WAKEUP_FD_ENV: str(read_fd)}
    return subprocess.Popen([sys.executable, "-m", "gateway", "worker"], env=env,
                            pass_fds=(read_fd,), preexec_fn=_worker_setup)  # fmt: skip


def _worker_setup() -> None:  # pragma: no cover (runs in the child between fork and exec)
    """The turn workers are batch work beside the webhooks: SCHED_BATCH (Linux) keeps their
    wake-ups from preempting a webhook being answered (a platform retries slow ones), yet
    under steady load they get their fair share of the CPU. `nice 5`, which it replaced, let
    the web process and everything else outrank them: interleaved on the bench, SCHED_BATCH
    gave 9% more turns a second (median of 7 rounds) at the same ack p99. Elsewhere, or where
    a sandbox refuses it, nice 5. And, on Linux, SIGTERM when the serving process dies."""
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(WORKER_NICE)
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stop_children(children: list[subprocess.Popen], timeout: float = 15.0) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@click.command()
def worker() -> None:
    """Process queued messages and send replies (scale out next to `serve --web-only`)."""
    from gateway.turns.runtime import Runtime, wakeup_from_env

    gw = _gateway()
    _on_sighup(gw)
    wakeup = wakeup_from_env(os.environ)  # `gateway serve --worker-processes` started us
    if wakeup is not None:
        gw.turn_ready = wakeup
    runtime = Runtime(gw, gw.config.workers, name=f"{os.getpid()}-").start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo(f"worker running ({gw.config.workers} threads)", err=True)
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        runtime.stop()
        gw.close()


@click.command()
@click.option("--failed", is_flag=True, help="List the dead-letter messages.")
@click.option("--retry", "retry_id", metavar="ID", help="Send a dead-letter message again.")
@click.option("--limit", default=100, show_default=True)
def outbox(failed: bool, retry_id: str | None, limit: int) -> None:
    """See and retry messages the platforms refused (the dead-letter list)."""
    import time

    from gateway.store import open_store

    store = open_store(Config.from_env().store_url)
    try:
        if retry_id:
            if not store.retry_dead(retry_id, time.time()):
                click.echo(f"no dead-letter message {retry_id}", err=True)
                sys.exit(1)
            click.echo(f"{retry_id}: queued again")
            return
        items = store.dead_letters(limit)
        if not items:
            click.echo("no failed messages")
            return
        for item in items:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(item.created_at))
            click.echo(
                f"{item.id}\t{item.channel}\t{when}\tattempts={item.attempts}\t{item.last_error}"
            )
        if not failed:
            click.echo("(retry one with: gateway outbox --retry ID)", err=True)
    finally:
        store.close()


def _one_line(text: str, width: int = 60) -> str:
    """Shopper text for a terminal: control and bidi characters shown as escapes (a U+202E
    would reverse the rest of the line), cut to `width`."""
    shown = "".join(
        f"\\u{ord(ch):04x}" if unicodedata.category(ch) in ("Cc", "Cf") else ch for ch in text
    )
    return shown if len(shown) <= width else shown[: width - 1] + "…"


@click.command()
@click.option("--retry", "retry_id", metavar="ID",
              help="Queue a buried message again ('all': every one).")  # fmt: skip
@click.option("--discard", "discard_id", metavar="ID", help="Drop a buried message for good.")
@click.option("--limit", default=100, show_default=True)
def buried(retry_id: str | None, discard_id: str | None, limit: int) -> None:
    """Shopper messages whose turn failed too often (MAX_TURN_ATTEMPTS): see why, then queue
    them again once the cause is fixed, or drop them."""
    import time

    from gateway.store import open_store

    store = open_store(Config.from_env().store_url)
    try:
        if retry_id or discard_id:
            wanted = retry_id or discard_id
            pile = store.buried(limit=1_000_000)
            chosen = pile if wanted == "all" and retry_id else [b for b in pile if b.id == wanted]
            if not chosen:
                click.echo(f"no buried message {wanted}", err=True)
                sys.exit(1)
            for b in chosen:
                if retry_id:
                    done = store.retry_buried(b.conversation, b.id, time.time())
                else:
                    done = store.discard_buried(b.conversation, b.id)
                verb = "queued again" if retry_id else "discarded"
                click.echo(f"{b.id}: {verb}" if done else f"{b.id}: already gone")
            return
        items = store.buried(limit)
        if not items:
            click.echo("no buried messages")
            return
        for b in items:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(b.buried_at))
            click.echo(
                f"{b.id}\t{b.conversation}\t{when}\tattempts={b.attempts}\t"
                f"{_one_line(b.inbound.text)!s}\t{_one_line(b.error, 200)}"
            )
        click.echo("(queue one again with: gateway buried --retry ID, or --retry all)", err=True)
    finally:
        store.close()


def _kind(url: str) -> str:
    return url.split(":", 1)[0]
