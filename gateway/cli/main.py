"""The `gateway` command: check, test, chat with and draw flows (serving comes in gateway.serve)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import click

from flows.diagnostics import Diagnostic
from flows.flowtest import flow_of, format_failure, run_file
from flows.loader import check_file
from flows.model import Flow
from gateway.cli.understand import load_flow_or_exit, print_intent_report

DEFAULT_FLOWS = "flows.yaml"


def flows_path(path: str | None) -> Path:
    """The flows file a command's PATH argument names (default FLOWS_PATH, flows.yaml)."""
    return Path(path or os.environ.get("FLOWS_PATH") or DEFAULT_FLOWS)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """One gateway for WhatsApp, Messenger and Telegram shop bots, driven by flows.yaml."""


@main.command()
@click.argument("path", required=False)
@click.option("--strict", is_flag=True, help="Warnings (a missing translation...) are errors.")
def check(path: str | None, strict: bool) -> None:
    """Validate a flows file: every error with file:line:column and its fix (exit 1 on errors)."""
    target = flows_path(path)
    result = check_file(target, os.environ)
    for diag in result.diagnostics:
        if strict:
            diag = replace(diag, severity="error")
        click.echo(_styled(diag), err=diag.severity == "error")
    if result.flow is None or (strict and result.warnings):
        n = len(result.errors) + (len(result.warnings) if strict else 0)
        click.echo(f"{target}: {n} error{'s' * (n != 1)}; nothing changed", err=True)
        sys.exit(1)
    click.echo(_summary(result.flow, len(result.warnings)))


def _styled(diag: Diagnostic) -> str:
    color = "red" if diag.severity == "error" else "yellow"
    return click.style(diag.format(), fg=color)


def _summary(flow: Flow, warnings: int) -> str:
    experiments = {n.split.experiment for n in flow.nodes.values() if n.split}
    handoffs = sum(1 for n in flow.nodes.values() if n.handoff)
    return (
        f"{flow.file}: OK, {len(flow.nodes)} nodes, {len(flow.intents)} intents, "
        f"{len(experiments)} experiment{'s' * (len(experiments) != 1)}, {handoffs} handoffs, "
        f"{warnings} warning{'s' * (warnings != 1)} (version {flow.version})"
    )


@main.command("test")
@click.argument("files", nargs=-1)
@click.option("--flows", "flows_file", help="Flows file whose tests to run (default FLOWS_PATH).")
@click.option(
    "--intents", is_flag=True, help="Cross-validated accuracy per intent and language instead."
)
def test_command(files: tuple[str, ...], flows_file: str | None, intents: bool) -> None:
    """Run scripted flow conversations; with no FILES, the tests of flows.yaml."""
    if intents:
        flow = load_flow_or_exit(flows_path(flows_file))
        sys.exit(0 if print_intent_report(flow) else 1)
    paths = [Path(f) for f in files] or discover_tests(flows_path(flows_file))
    if not paths:
        click.echo("no flow tests found: write tests/flows/*.yaml (see docs/flows.md)", err=True)
        sys.exit(1)
    passed = failed = 0
    for path in paths:
        for outcome in run_file(path, os.environ):
            if outcome.passed:
                passed += 1
                click.echo(click.style("PASS ", fg="green") + outcome.name)
            else:
                failed += 1
                click.echo(click.style(format_failure(outcome), fg="red"))
    click.echo(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def discover_tests(flows_path: Path) -> list[Path]:
    """`<name>.tests.yaml` beside the flows file, and tests/flows/*.yaml that name it."""
    found = []
    beside = flows_path.with_name(flows_path.stem + ".tests.yaml")
    if beside.exists():
        found.append(beside)
    target = flows_path.resolve()
    for candidate in sorted((flows_path.parent / "tests" / "flows").glob("*.yaml")):
        if flow_of(candidate).resolve() == target:
            found.append(candidate)
    return found


@main.command()
@click.argument("path", required=False)
@click.option(
    "--channel",
    type=click.Choice(["whatsapp", "messenger", "telegram"]),
    default="telegram",
    show_default=True,
)
@click.option("--name", default="Ann", show_default=True, help="The shopper's display name.")
@click.option(
    "--variant",
    "variants",
    multiple=True,
    metavar="EXPERIMENT=VARIANT",
    help="Pin an A/B variant, e.g. --variant bot_vs_callcenter=bot (default: the stable hash).",
)
def chat(path: str | None, channel: str, name: str, variants: tuple[str, ...]) -> None:
    """Chat with a flow in the terminal, no platform account needed (its `call` nodes reach
    SHOP_API_URL; `make chat` serves the demo shop for the sample flow)."""
    chat_in_terminal(flows_path(path), os.environ, channel, name, pinned_variants(variants))


def pinned_variants(variants: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """`--variant EXPERIMENT=VARIANT` options as pairs."""
    pinned = []
    for item in variants:
        experiment, sep, variant = item.partition("=")
        if not sep or not experiment or not variant:
            raise click.BadParameter(f"'{item}' is not EXPERIMENT=VARIANT", param_hint="--variant")
        pinned.append((experiment, variant))
    return tuple(pinned)


def chat_in_terminal(path: Path, environ: Mapping[str, str], channel: str, name: str,
                     variants: tuple[tuple[str, str], ...]) -> None:  # fmt: skip
    """The chat loop on the flows file at `path`, its templates reading `environ`."""
    from gateway.cli.chat import run_chat
    from gateway.http_services import HttpServices

    flow = _load_or_exit(path, environ)
    services = HttpServices()
    try:
        run_chat(flow, services, channel, name, variants=variants)
    finally:
        services.close()


@main.command()
@click.argument("path", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot", "svg"]),
    default="mermaid",
    show_default=True,
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file.")
def graph(path: str | None, fmt: str, output: str | None) -> None:
    """Draw the conversation tree (splits and handoffs marked)."""
    from flows.graph import to_dot, to_mermaid

    flow = _load_or_exit(flows_path(path), os.environ)
    if fmt == "svg":
        from gateway.graph_render import GraphRenderError, to_svg

        try:
            data = to_svg(flow)
        except GraphRenderError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
    else:
        data = (to_mermaid(flow) if fmt == "mermaid" else to_dot(flow)).encode("utf-8")
    if output:
        Path(output).write_bytes(data)
        click.echo(f"wrote {output}", err=True)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def _load_or_exit(path: Path, environ: Mapping[str, str]) -> Flow:
    result = check_file(path, environ)
    if result.flow is None:
        for diag in result.errors:
            click.echo(_styled(diag), err=True)
        sys.exit(1)
    return result.flow


def _register_service_commands() -> None:
    from gateway.analytics.cli_report import report
    from gateway.cli.importing import import_group
    from gateway.cli.service import buried, outbox, serve, worker
    from gateway.cli.understand import understand
    from gateway.inbox.cli_agents import agent

    for command in (serve, worker, outbox, buried, agent, report, understand, import_group):
        main.add_command(command)


_register_service_commands()
