"""`python -m devtools demo` (what `make run` starts): the gateway, the platform sandbox with
its shopper simulator, and the demo shop API, wired together on this machine with fake
credentials.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import click

from sandbox.config import (
    TEST_META_APP_SECRET,
    TEST_TELEGRAM_SECRET_TOKEN,
    TEST_TWILIO_ACCOUNT_SID,
    TEST_TWILIO_AUTH_TOKEN,
    TEST_WHATSAPP_FROM,
)

if TYPE_CHECKING:
    from gateway.context import Gateway


def demo_environment(base: Mapping[str, str], gateway_url: str, sandbox_url: str,
                     shop_url: str) -> dict[str, str]:  # fmt: skip
    """The gateway's settings for the demo: sandbox endpoints, fake secrets, local SQLite.

    Values already set in the environment win, so an operator can point a piece elsewhere.
    """
    demo = {
        "STORE_URL": "sqlite:///var/demo.db",
        "PUBLIC_BASE_URL": gateway_url,
        "TWILIO_ACCOUNT_SID": TEST_TWILIO_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": TEST_TWILIO_AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": TEST_WHATSAPP_FROM,
        "MESSENGER_APP_SECRET": TEST_META_APP_SECRET,
        "MESSENGER_PAGE_TOKEN": "demo-page-token",
        "MESSENGER_VERIFY_TOKEN": "fake-verify-token",
        "TELEGRAM_BOT_TOKEN": "123456789:demo-telegram-token",
        "TELEGRAM_SECRET_TOKEN": TEST_TELEGRAM_SECRET_TOKEN,
        "TWILIO_API_BASE_URL": f"{sandbox_url}/twilio",
        "GRAPH_API_BASE_URL": f"{sandbox_url}/graph",
        "TELEGRAM_API_BASE_URL": f"{sandbox_url}/telegram/bot",
        "SHOP_API_URL": f"{shop_url}/shop-api",
        "SECRET_KEY": "demo-only-secret-key-change-me",
    }
    return {**demo, **{k: v for k, v in base.items() if v}}


DEMO_AGENT = "demo"
DEMO_PASSWORD = "demo-agent-password"  # the demo's own fake account, like its fake secrets


def ensure_demo_agent(gw: Gateway) -> None:
    """An agent to log in with, so the demo shows the inbox without any set-up."""
    from gateway.inbox.model import Agent
    from gateway.inbox.passwords import hash_password

    if gw.inbox is not None and gw.inbox.agent(DEMO_AGENT) is None:
        gw.inbox.put_agent(Agent(DEMO_AGENT, "Dana (demo)", hash_password(DEMO_PASSWORD)))


@click.command()
@click.option("--port", default=8080, show_default=True, help="Gateway port.")
@click.option("--sandbox-port", default=8091, show_default=True)
@click.option("--shop-port", default=8092, show_default=True)
def demo(port: int, sandbox_port: int, shop_port: int) -> None:
    """Run the whole product locally: gateway + platform sandbox + demo shop API."""
    from waitress import serve as waitress_serve

    from devtools.shop_stub import create_shop_app
    from gateway.assemble import build_gateway
    from gateway.config import Config
    from gateway.logs import setup_logging
    from gateway.turns.runtime import Runtime
    from gateway.web.app import create_app
    from gateway.web.serving import ServerThread
    from sandbox.server import Sandbox

    gateway_url = f"http://127.0.0.1:{port}"
    shop = ServerThread(create_shop_app(), port=shop_port).start()
    env = demo_environment(os.environ, gateway_url, f"http://127.0.0.1:{sandbox_port}", shop.url)
    sandbox = Sandbox(gateway_url=gateway_url, env=env, port=sandbox_port).start()
    os.makedirs("var", exist_ok=True)
    config = Config.from_env(env)
    setup_logging(config.log_level)
    gw = build_gateway(config)
    ensure_demo_agent(gw)
    runtime = Runtime(gw, config.workers).start()
    click.echo(
        f"\n  Shopper simulator:  {sandbox.simulator_url}\n"
        f"  Agent inbox:        {gateway_url}/inbox/"
        f"  (login {DEMO_AGENT}, password {DEMO_PASSWORD})\n"
        f"  Gateway:            {gateway_url}  (/healthz, /readyz, /metrics)\n"
        f"  Demo shop API:      {shop.url}/shop-api/orders/A1234\n"
        f"  Store:              {config.store_url}\n"
        "  Try: open the simulator, pick a channel, say hi, track order A1234 or B2345,\n"
        "  or tap 'Talk to a person' and answer from the inbox.\n"
        "  Ctrl-C stops everything.\n",
        err=True,
    )
    try:
        waitress_serve(create_app(gw), host="127.0.0.1", port=port, threads=8, ident="gateway")
    finally:
        runtime.stop()
        gw.close()
        sandbox.stop()
        shop.stop()
