"""`python -m devtools demo | sandbox | shop-api | chat`: the local stand-ins for the platforms
and the shop, for trying the gateway on one machine (`make run`, `make chat`), which the
product's own `gateway` command never imports; `python -m devtools architecture`: the shape of
the code."""

from __future__ import annotations

import os

import click

from devtools.demo import demo


@click.group()
def main() -> None:
    """The gateway's local stand-ins: fake platforms, a shopper simulator and a demo shop."""


@main.command()
@click.option("--port", default=8091, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--gateway-url", default="http://127.0.0.1:8080", show_default=True)
def sandbox(port: int, host: str, gateway_url: str) -> None:
    """The local platform sandbox: fake Twilio/Graph/Telegram APIs and the shopper simulator."""
    from sandbox.server import serve as serve_sandbox

    serve_sandbox(host, port, gateway_url, os.environ)


@main.command("shop-api")
@click.option("--port", default=8092, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def shop_api(port: int, host: str) -> None:
    """Serve the demo shop API (orders, coupons) the sample flow calls."""
    from waitress import serve

    from devtools.shop_stub import create_shop_app

    click.echo(f"demo shop API on http://{host}:{port}/shop-api")
    serve(create_shop_app(), host=host, port=port, threads=4)


@main.command()
@click.argument("path", required=False)
@click.option("--channel", type=click.Choice(["whatsapp", "messenger", "telegram"]),
              default="telegram", show_default=True)  # fmt: skip
@click.option("--name", default="Ann", show_default=True, help="The shopper's display name.")
@click.option("--variant", "variants", multiple=True, metavar="EXPERIMENT=VARIANT",
              help="Pin an A/B variant, e.g. --variant bot_vs_callcenter=bot.")  # fmt: skip
def chat(path: str | None, channel: str, name: str, variants: tuple[str, ...]) -> None:
    """`gateway chat` with the demo shop API served alongside (unless SHOP_API_URL is set)."""
    from devtools.shop_stub import create_shop_app
    from gateway.cli.main import chat_in_terminal, flows_path, pinned_variants
    from gateway.web.serving import ServerThread

    environ = dict(os.environ)
    server = None
    if "SHOP_API_URL" not in environ:
        server = ServerThread(create_shop_app()).start()
        environ["SHOP_API_URL"] = f"{server.url}/shop-api"
    try:
        chat_in_terminal(flows_path(path), environ, channel, name, pinned_variants(variants))
    finally:
        if server is not None:
            server.stop()


@main.command()
def architecture() -> None:
    """Module sizes by room, which room imports which, and any import cycle."""
    from devtools.architecture import report

    for line in report():
        click.echo(line)


main.add_command(demo)
