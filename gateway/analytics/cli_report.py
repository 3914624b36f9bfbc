"""`gateway report`: experiments, funnel, fallbacks and channels from the analytics tables."""

from __future__ import annotations

import os
import sys
import time

import click

from flows.loader import check_file
from gateway.analytics.days import day_start
from gateway.analytics.turn_log import open_report_db
from gateway.config import Config


def _since(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return day_start(text)
    except ValueError:
        raise click.BadParameter(f"'{text}' is not a date; write it like 2026-11-01") from None


@click.command("report")
@click.option("--experiment", help="Only this experiment (default: every one in flows.yaml).")
@click.option("--since", help="Only conversations started on or after this day (UTC), 2026-11-01.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "text"]), default="text",
              show_default=True)  # fmt: skip
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file.")
def report(experiment: str | None, since: str | None, fmt: str, output: str | None) -> None:
    """Experiment results with confidence intervals, the funnel, what the bot did not
    understand (per language), and agents per channel. STORE_URL / ANALYTICS_URL and
    FLOWS_PATH say where."""
    from gateway.analytics.render import FORMATS  # the statistics stack: only when reporting
    from gateway.analytics.report import build_report

    config = Config.from_env(os.environ)
    result = check_file(config.flows_path, os.environ)
    if result.flow is None:
        for diag in result.errors:
            click.echo(diag.format(), err=True)
        sys.exit(1)
    flow = result.flow
    db = open_report_db(config.store_url, config.analytics_url)
    try:
        built = build_report(
            db, flow.experiments, time.time(), _since(since), experiment, tuple(flow.nodes)
        )
    except KeyError as exc:
        raise click.UsageError(str(exc.args[0])) from None
    finally:
        db.close()
    text = FORMATS[fmt](built)
    if output:
        with open(output, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
