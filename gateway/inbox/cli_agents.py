"""`gateway agent add|remove|list|unlock`: inbox accounts, kept in the same store as the
gateway's."""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit

import click

from gateway.config import Config
from gateway.inbox.backends import open_inbox
from gateway.inbox.model import DEFAULT_CAPACITY, Agent, Role
from gateway.inbox.passwords import hash_password
from gateway.inbox.store import InboxStore


def _inbox() -> InboxStore:
    return open_inbox(Config.from_env(os.environ).store_url)


@click.group()
def agent() -> None:
    """Manage inbox agents (STORE_URL names the store)."""


@agent.command("add")
@click.argument("login")
@click.option("--name", "display_name", required=True, help="The name shoppers see.")
@click.option("--role", type=click.Choice(["agent", "supervisor", "admin"]), default="agent",
              show_default=True)  # fmt: skip
@click.option("--capacity", type=click.IntRange(1, 50), default=DEFAULT_CAPACITY, show_default=True)
@click.option("--queues", default="", help="Comma-separated queues served (default: all).")
@click.option(
    "--photo",
    "photo_url",
    callback=lambda _c, _p, url: checked_photo(url),
    help="http(s) URL of a photo sent with 'has joined' (https: shown in the inbox too).",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
def add(login: str, display_name: str, role: Role, capacity: int, queues: str,
        photo_url: str | None, password_stdin: bool) -> None:  # fmt: skip
    """Add an agent, or replace the one with the same login (asks for a password; replacing
    ends the agent's sessions)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        hashed = hash_password(password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    inbox = _inbox()
    try:
        old = inbox.agent(login)
        inbox.put_agent(
            Agent(
                login,
                display_name,
                hashed,
                role=role,
                capacity=capacity,
                queues=tuple(q.strip() for q in queues.split(",") if q.strip()),
                photo_url=photo_url,
                # A new password: every session begun with the old one ends at its next request.
                session_version=old.session_version + 1 if old else 0,
            )
        )
    finally:
        inbox.close()
    click.echo(f"agent {login} saved ({role}, capacity {capacity})")
    if photo_url and not photo_url.startswith("https://"):
        click.echo("note: shoppers get this http:// photo, but the inbox shows https:// photos "
                   "only (browsers block the rest on an https page)", err=True)  # fmt: skip


MAX_PHOTO_URL = 2000
NOT_IN_URLS = set('"<>\\^`{|}')  # never unencoded in a URL (RFC 3986)


def checked_photo(url: str | None) -> str | None:
    """Only a plain http(s) URL: it goes into the inbox's <img> and to every platform, which
    fetch it themselves (no javascript:, data: or file: URLs, no spaces)."""
    if url is None:
        return None
    parts = urlsplit(url)
    plain = url.isprintable() and not any(c.isspace() or c in NOT_IN_URLS for c in url)
    if parts.scheme not in ("http", "https") or not parts.hostname or not plain:
        raise click.BadParameter(
            f"{url!r} is not an http(s) URL; give one like https://shop.example/team/bea.jpg",
            param_hint="--photo",
        )
    if len(url) > MAX_PHOTO_URL:
        raise click.BadParameter(f"longer than {MAX_PHOTO_URL} characters", param_hint="--photo")
    return url


@agent.command("remove")
@click.argument("login")
def remove(login: str) -> None:
    """Remove an agent; their sessions end at once."""
    inbox = _inbox()
    try:
        if not inbox.remove_agent(login):
            raise click.ClickException(f"there is no agent {login!r}")
    finally:
        inbox.close()
    click.echo(f"agent {login} removed")


@agent.command("unlock")
@click.argument("login")
def unlock_agent(login: str) -> None:
    """Lift a lockout after failed logins (logged)."""
    from gateway.inbox.auth import unlock  # Flask only where the command needs it

    inbox = _inbox()
    try:
        if inbox.agent(login) is None:
            raise click.ClickException(f"there is no agent {login!r}")
        forgotten = unlock(inbox, login, by="the command line")
    finally:
        inbox.close()
    click.echo(f"agent {login} unlocked ({forgotten} failed logins forgotten)")


@agent.command("list")
def list_agents() -> None:
    """Every agent with role, capacity, queues and whether they are on duty."""
    inbox = _inbox()
    try:
        for a in inbox.agents():
            duty = "on duty" if a.on_duty else "off duty"
            queues = ",".join(a.queues) or "all queues"
            load = len(inbox.assigned_to(a.login))
            click.echo(f"{a.login:<16} {a.display_name:<20} {a.role:<10} "
                       f"{load}/{a.capacity} threads  {queues:<20} {duty}")  # fmt: skip
    finally:
        inbox.close()
