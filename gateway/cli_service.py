"""`gateway serve | worker | outbox | sandbox | demo`: running the service and operating it."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping

import click

from gateway.config import VARIABLES, Config

ENV_HELP = "\n".join(f"  {name:<32} {meaning}" for name, meaning in VARIABLES.items())


def _gateway(environ: Mapping[str, str] | None = None):  # noqa: ANN202 (lazy import keeps `gateway check` fast)
    from gateway.context import build_gateway
    from gateway.logs import setup_logging

    config = Config.from_env(environ)
    setup_logging(config.log_level)
    if config.log_level != "DEBUG":  # httpx logs every platform request (each reply) at INFO
        logging.getLogger("httpx").setLevel(logging.WARNING)
    return build_gateway(config)


def _on_sighup(gw) -> None:  # noqa: ANN001
    """SIGHUP reloads flows.yaml (validated first; a broken file keeps the last good one)."""
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: gw.flows.reload())


@click.command(epilog=f"Environment:\n\n{ENV_HELP}", context_settings={"max_content_width": 120})
@click.option("--port", type=int, help="Web port (default PORT or 8080).")
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--web-only", is_flag=True, help="Only the web part; run `gateway worker` processes.")
@click.option("--threads", default=16, show_default=True, help="Web server threads.")
def serve(port: int | None, host: str, web_only: bool, threads: int) -> None:
    """Serve the webhooks (and, unless --web-only, the workers) in one process."""
    from waitress import serve as waitress_serve

    from gateway.app import create_app
    from gateway.runtime import Runtime

    gw = _gateway()
    _on_sighup(gw)
    runtime = None if web_only else Runtime(gw, gw.config.workers).start()
    listen = port or gw.config.port
    for reason in gw.adapters.disabled.values():
        click.echo(f"note: {reason}", err=True)
    flows, store = gw.flows.flow.version, _kind(gw.config.store_url)
    click.echo(f"gateway on http://{host}:{listen} (flows {flows}, store {store})", err=True)
    try:
        waitress_serve(create_app(gw), host=host, port=listen, threads=threads, ident="gateway",
                       channel_timeout=30, connection_limit=1000)  # fmt: skip
    finally:
        if runtime:
            runtime.stop()
        gw.close()


@click.command()
def worker() -> None:
    """Process queued messages and send replies (scale out next to `serve --web-only`)."""
    from gateway.runtime import Runtime

    gw = _gateway()
    _on_sighup(gw)
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


@click.command()
@click.option("--port", default=8091, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--gateway-url", default="http://127.0.0.1:8080", show_default=True)
def sandbox(port: int, host: str, gateway_url: str) -> None:
    """The local platform sandbox: fake Twilio/Graph/Telegram APIs and the shopper simulator."""
    from adapters.sandbox.server import serve as serve_sandbox

    serve_sandbox(host, port, gateway_url, os.environ)


def _kind(url: str) -> str:
    return url.split(":", 1)[0]
