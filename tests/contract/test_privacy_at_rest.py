"""Cards and CVVs never reach a store's bytes: redacted in `enqueue`, before the first write.

Every form a shopper may type (ASCII, Arabic-Indic, Persian and full-width digits; spaces,
dots, dashes or none) in every field they control (text, button payload, names, a contact's
name, a location's name, free-text extras), against the real SQLite files (database, -wal,
ingress) and a real redis-server's append-only file. Each check has a positive control: the
message's other words are found in the same bytes, so the bytes read are the right ones.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from flows.messages import Contact, Inbound, Location, Shopper
from gateway.redaction import CARD_MASK
from gateway.store.base import Store
from gateway.store.sqlite import SQLiteStore
from tests.conftest import free_port
from tests.contract.helpers import LEASE, T0, TTL, commit

ARABIC, PERSIAN, FULLWIDTH = 0x0660, 0x06F0, 0xFF10


def in_script(ascii_digits: str, zero: int) -> str:
    return "".join(chr(zero + int(c)) if c.isdigit() else c for c in ascii_digits)


def luhn_card(prefix: str) -> str:
    """`prefix` (15 digits) with the check digit that makes it pass Luhn."""
    for last in "0123456789":
        digits = prefix + last
        total = 0
        for i, ch in enumerate(reversed(digits)):
            n = int(ch) * (2 if i % 2 else 1)
            total += n - 9 if n > 9 else n
        if total % 10 == 0:
            return digits
    raise AssertionError


def grouped(digits: str, sep: str) -> str:
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


# One card per form, each a different number, so a hit names its form.
FORMS = {
    "ascii spaces": grouped(luhn_card("453914880343646"), " "),
    "ascii dots": grouped(luhn_card("455673758921234"), "."),
    "ascii dashes": grouped(luhn_card("518765432109876"), "-"),
    "ascii plain": luhn_card("601198765432101"),
    "arabic-indic": in_script(grouped(luhn_card("402400719283746"), " "), ARABIC),
    "persian": in_script(grouped(luhn_card("431940123456789"), " "), PERSIAN),
    "full-width": in_script(grouped(luhn_card("549876123498761"), ""), FULLWIDTH),
    "arabic-indic dashes": in_script(grouped(luhn_card("376543219876543"), "-"), ARABIC),
}


def needles(card: str) -> set[bytes]:
    """Every way the card's digits could sit in a file: as typed, without separators, in ASCII,
    and JSON-escaped (\\u0664...)."""
    compact = "".join(c for c in card if c.isdecimal())
    ascii_digits = "".join(str(int(c)) for c in compact)
    forms = {card, compact, ascii_digits}
    forms |= {json.dumps(f)[1:-1] for f in forms}  # ensure_ascii escapes
    return {f.encode("utf-8") for f in forms}


def hostile(card: str, n: int = 0, channel: str = "telegram") -> Inbound:
    cvv = in_script("737", ARABIC) if any("\u0660" <= c <= "\u0669" for c in card) else "737"
    return Inbound(
        channel=channel,
        conversation=f"priv{n}",
        message_id=f"priv{n}-m",
        shopper=Shopper(id=f"priv{n}", name=f"Ann {card}", first_name=card, phone="+48600700800"),
        kind="button",
        text=f"marker-text my card {card} cvv {cvv} thanks",
        payload=f"pay:{card}",
        contact=Contact(phone="+48600700800", name=f"Bob {card}"),
        location=Location(1.0, 2.0, name=f"home {card}", address=f"street {card}"),
        timestamp=T0,
        # A 16-digit Luhn-valid platform id must survive: it is an id, not a card.
        extras=(("callback_query_id", "4111111111111111"), ("note", f"note {card}")),
    )


def read_all(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def assert_absent(blob: bytes, card: str) -> None:
    for needle in needles(card):
        assert needle not in blob, f"{card!r} found on disk as {needle!r}"


@pytest.mark.parametrize("form", list(FORMS))
def test_a_claimed_message_holds_no_card_in_any_field(store: Store, form: str) -> None:
    card = FORMS[form]
    assert store.enqueue(hostile(card), T0, TTL)
    claim = store.claim("w", T0, LEASE)
    assert claim is not None
    got = claim.inbound
    flat = json.dumps([got.text, got.payload, got.shopper.name, got.shopper.first_name,
                       got.contact and got.contact.name, got.location and got.location.name,
                       got.location and got.location.address, got.extras], ensure_ascii=False)  # fmt: skip
    assert_absent(flat.encode(), card)
    assert "737" not in got.text and "\u0667\u0663\u0667" not in got.text  # the CVV
    assert got.text.startswith("marker-text my card " + CARD_MASK)
    assert got.shopper.first_name == CARD_MASK and got.shopper.name == f"Ann {CARD_MASK}"
    assert got.payload == f"pay:{CARD_MASK}"
    # What is not the shopper's free text stays as it came.
    assert got.extras[0] == ("callback_query_id", "4111111111111111")
    assert (
        got.shopper.phone == "+48600700800" and got.contact and got.contact.phone == "+48600700800"
    )
    assert (got.message_id, got.conversation) == ("priv0-m", "priv0")


def test_order_numbers_and_luhn_invalid_numbers_are_kept(store: Store) -> None:
    text = "order A1234, ref 1234 5678 9012 3456, tracking 4111 1111 1111 1112"
    message = replace(hostile("0"), text=text, payload="A1234", extras=())
    assert store.enqueue(message, T0, TTL)
    claim = store.claim("w", T0, LEASE)
    assert claim is not None and claim.inbound.text == text and claim.inbound.payload == "A1234"


# ---- SQLite: the bytes of every file ----


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path


def test_sqlite_files_never_hold_the_card_bytes(folder: Path) -> None:
    store = SQLiteStore(str(folder / "gateway.db"))
    try:
        for n, card in enumerate(FORMS.values()):
            assert store.enqueue(hostile(card, n), T0 + n, TTL)
        before_claim = read_all(folder)  # in the ingress file (and its WAL) only, so far
        assert b"marker-text" in before_claim  # positive control: the messages are there
        assert (folder / "gateway.db-ingress-wal").exists()
        for card in FORMS.values():
            assert_absent(before_claim, card)
        for _ in FORMS:  # queue, history, outbox, events: the worker's commits
            claim = store.claim("w", T0 + 100, LEASE)
            assert claim is not None
            assert commit(store, claim, T0 + 100)
        running = read_all(folder)
        assert running.count(b"marker-text") >= 2 * len(FORMS)  # history and outbox rows too
        for card in FORMS.values():
            assert_absent(running, card)
    finally:
        store.close()
    closed = read_all(folder)  # the WAL checkpointed into the database files
    assert b"marker-text" in closed
    for card in FORMS.values():
        assert_absent(closed, card)


def test_sqlite_files_are_created_0600_whatever_the_umask(folder: Path) -> None:
    old = os.umask(0)  # SQLite alone would create 0644 files here
    try:
        store = SQLiteStore(str(folder / "gateway.db"))
        try:
            assert store.enqueue(hostile("x", 0), T0, TTL)
            claim = store.claim("w", T0, LEASE)
            assert claim is not None and commit(store, claim, T0)
            names = ["gateway.db", "gateway.db-wal", "gateway.db-shm", "gateway.db-lock",
                     "gateway.db-ingress", "gateway.db-ingress-wal", "gateway.db-ingress-shm",
                     "gateway.db-ingress-lock"]  # fmt: skip
            modes = {n: stat.S_IMODE((folder / n).stat().st_mode) for n in names}
            assert modes == dict.fromkeys(names, 0o600)
        finally:
            store.close()
    finally:
        os.umask(old)


def test_an_existing_database_file_keeps_its_mode(folder: Path) -> None:
    """Only new files are made private: an operator's chosen mode is left alone."""
    path = folder / "gateway.db"
    SQLiteStore(str(path)).close()
    path.chmod(0o640)
    SQLiteStore(str(path)).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


# ---- Redis: its append-only file ----


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A redis-server of our own that writes every command to its AOF (as a careful
    production setup would, for durability), in `tmp_path`."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("no redis-server binary on PATH (install it in CI)")
        pytest.skip("no redis-server binary on PATH")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "yes", "--appendfsync", "always", "--dir", str(tmp_path), "--daemonize", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0", tmp_path
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_redis_aof_never_holds_the_card_bytes(aof_redis: tuple[str, Path]) -> None:
    from gateway.store.redis import RedisStore

    url, folder = aof_redis
    store = RedisStore(url, prefix="privacy")
    try:
        for n, card in enumerate(FORMS.values()):
            assert store.enqueue(hostile(card, n), T0 + n, TTL)
        for _ in FORMS:
            claim = store.claim("w", T0 + 100, LEASE)
            assert claim is not None
            assert commit(store, claim, T0 + 100)
    finally:
        store.close()
    deadline = time.monotonic() + 5
    while b"marker-text" not in (blob := read_all(folder)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert blob.count(b"marker-text") >= 2 * len(FORMS)  # positive control: queue, history
    for card in FORMS.values():
        assert_absent(blob, card)
