"""open_store: the STORE_URL forms it accepts and the message for the others."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.store import open_store
from gateway.store.sqlite import SQLiteStore


def test_relative_sqlite_url_creates_the_parent_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///var/data/gateway.db")
    try:
        assert isinstance(store, SQLiteStore)
        assert store.ping()
        assert (tmp_path / "var" / "data" / "gateway.db").exists()
    finally:
        store.close()


def test_absolute_sqlite_url(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "gw.db"
    store = open_store(f"sqlite:///{target}")  # /abs/path gives sqlite:////abs/path
    try:
        assert store.ping()
        assert target.exists()
    finally:
        store.close()


def test_redis_url_opens_the_redis_store(redis_url: str) -> None:
    from gateway.store.redis import RedisStore

    store = open_store(redis_url)
    try:
        assert isinstance(store, RedisStore)
        assert store.ping()
    finally:
        store.close()


@pytest.mark.parametrize(
    "url",
    ["postgres://db/gw", "sqlite://gateway.db", "sqlite:///", "gateway.db", "sqlite:///:memory:"],
)
def test_unknown_store_urls_name_the_accepted_forms(url: str) -> None:
    with pytest.raises(ValueError, match=r"Accepted: sqlite:///relative/path\.db"):
        open_store(url)
