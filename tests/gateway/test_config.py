"""Settings come from the environment with the DESIGN.md names; secrets never show in repr."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from gateway.cli.main import main
from gateway.config import VARIABLES, Config
from tests.conftest import ROOT


def test_defaults() -> None:
    config = Config.from_env({})
    assert (
        config.store_url == "sqlite:///var/gateway.db"
        and config.port == 8080
        and config.workers == 4
    )


def test_secrets_are_not_in_repr() -> None:
    config = Config.from_env({"TELEGRAM_BOT_TOKEN": "123:very-secret", "SECRET_KEY": "s3cr3t"})
    assert "very-secret" not in repr(config) and "s3cr3t" not in repr(config)


def test_bad_number_names_the_variable_and_the_fix() -> None:
    with pytest.raises(
        ValueError, match="PORT='eighty' is not a whole number; set it like PORT=8080"
    ):
        Config.from_env({"PORT": "eighty"})


def test_public_base_url_loses_its_trailing_slash() -> None:
    assert (
        Config.from_env({"PUBLIC_BASE_URL": "https://bot.shop.example/"}).public_base_url
        == "https://bot.shop.example"
    )


def test_every_design_variable_is_documented() -> None:
    for name in (
        "FLOWS_PATH",
        "STORE_URL",
        "PUBLIC_BASE_URL",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_WHATSAPP_FROM",
        "MESSENGER_APP_SECRET",
        "MESSENGER_PAGE_TOKEN",
        "MESSENGER_VERIFY_TOKEN",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_SECRET_TOKEN",
        "TWILIO_API_BASE_URL",
        "GRAPH_API_BASE_URL",
        "TELEGRAM_API_BASE_URL",
        "PORT",
        "WORKERS",
        "SECRET_KEY",
    ):
        assert name in VARIABLES


INBOX_VARIABLES = ("TWILIO_REOPEN_CONTENT_SID", "TWILIO_CSAT_CONTENT_SID", "INBOX_REOPEN_S")


def test_inbox_variables_are_in_serve_help_and_the_readme() -> None:
    shown = CliRunner().invoke(main, ["serve", "--help"]).output.splitlines()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in INBOX_VARIABLES:
        (line,) = [x for x in shown if x.split()[:1] == [name]]  # one line each, not rewrapped
        assert VARIABLES[name] in line
        assert f"`{name}`" in readme
    assert Config.from_env({}).reopen_s == 0 and Config.from_env({"INBOX_REOPEN_S": "90"}).reopen_s == 90
    with pytest.raises(ValueError, match="INBOX_REOPEN_S='soon' is not a whole number"):
        Config.from_env({"INBOX_REOPEN_S": "soon"})


def test_the_send_overlap_is_on_for_both_stores_unless_set_off() -> None:
    redis_url, sqlite_url = "redis://127.0.0.1:6379/0", "sqlite:///var/gw.db"
    assert Config.from_env({"STORE_URL": redis_url}).send_overlap
    assert Config.from_env({"STORE_URL": sqlite_url}).send_overlap
    assert Config.from_env({}).send_overlap
    assert not Config.from_env({"STORE_URL": sqlite_url, "SEND_OVERLAP": "0"}).send_overlap
    assert not Config.from_env({"STORE_URL": redis_url, "SEND_OVERLAP": "off"}).send_overlap
    with pytest.raises(ValueError, match="SEND_OVERLAP='maybe' is neither on nor off"):
        Config.from_env({"SEND_OVERLAP": "maybe"})
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "`SEND_OVERLAP`" in readme and "`MAX_TURN_ATTEMPTS`" in readme
