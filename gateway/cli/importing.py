"""`gateway import ...`: what happened outside the gateway, brought into its analytics.

A group, so each source is its own command: `gateway import calls FILE.csv` today, orders
next (issue 18).
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import click

from gateway.analytics.call_import import import_calls, read_calls
from gateway.analytics.phones import known_country
from gateway.analytics.turn_log import open_analytics
from gateway.config import Config


@click.group("import")
def import_group() -> None:
    """Bring calls (and later orders) from other systems into the experiment report."""


@import_group.command("calls")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def calls(file: Path) -> None:
    """Calls from a call-center CSV: call_id, started_at, from, to, duration_s, outcome and
    optionally cost. Bad rows are reported by line and skipped; importing twice changes
    nothing. National numbers are read in SHOP_COUNTRY."""
    try:
        config = Config.from_env(os.environ)
        country = known_country(config.shop_country)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        with file.open(newline="", encoding="utf-8-sig") as f:  # -sig: Excel's byte-order mark
            records, problems = read_calls(f, country)
    except (ValueError, csv.Error) as exc:  # no header, not UTF-8, not CSV
        click.echo(f"{file}: {exc}; nothing imported", err=True)
        sys.exit(1)
    for problem in problems:
        click.echo(f"{file}:{problem.line}: {problem.reason}; skipped", err=True)
    analytics = open_analytics(config.store_url, config.analytics_url)  # as `serve` writes
    try:
        summary = import_calls(analytics, records)
    except Exception as exc:  # the analytics file or Redis is away
        click.echo(f"{file}: the calls could not be recorded ({exc}); try again", err=True)
        sys.exit(1)
    finally:
        analytics.close()
    click.echo(
        f"{file}: imported {summary.imported}, updated {summary.updated}, "
        f"unchanged {summary.unchanged}, skipped {len(problems)}"
    )
