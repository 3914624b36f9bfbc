"""The whole gateway on real HTTP with a real SQLite store: shoppers send cards in every digit
form, in their text and in their display name. Afterwards no byte of any file the gateway
wrote (store, -wal, -shm, ingress, inbox, analytics) holds the card's digits, the replies the
platform received do not echo them, IBAN/PESEL/CNP are gone from history while emails and
phones stay there for agents, and the not-understood phrases hold neither."""

from __future__ import annotations

import re
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.redaction import CARD_MASK, EMAIL_MASK, IBAN_MASK, ID_MASK, PHONE_MASK
from tests.contract.test_privacy_at_rest import FORMS, assert_absent, read_all
from tests.e2e.conftest import Stack, start_stack

CONTACTS = "my mail is jan.kowalski@example.pl and phone +48 600 700 800"
IDS = "ref A1234, 1234 5678 9012 3456, IBAN PL61 1090 1014 0000 0712 1981 2874, PESEL 44051401359, CNP 1800101221144"


def compact(card: str) -> str:
    return "".join(c for c in card if c.isdecimal())


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Path, dict]]:
    folder = Path(tmp_path_factory.mktemp("privacy"))
    stack, stop = start_stack(folder)
    seen: dict = {"sent": {}, "history": {}}
    try:
        chats = []
        for card in FORMS.values():  # the card as first name (Telegram) and in the text
            chat = stack.shopper("telegram", f"{compact(card)} Lee")
            chats.append(("telegram", chat, card))
        for form in ("arabic-indic", "ascii spaces"):  # as WhatsApp's ProfileName, with spaces
            card = FORMS[form]
            chats.append(("whatsapp", stack.shopper("whatsapp", f"Ann {card}"), card))
        for channel, chat, _ in chats:
            stack.say(channel, chat, "hi")
        for channel, chat, card in chats:
            stack.wait_sent(channel, chat, 2)
            stack.say(channel, chat, f"my card {card} exp 12/29 cvv 123")
        other = stack.shopper("telegram", "Kim Data")
        stack.say("telegram", other, "hi")
        stack.wait_sent("telegram", other, 2)
        stack.say("telegram", other, CONTACTS)
        stack.wait_sent("telegram", other, 3)
        stack.say("telegram", other, IDS)
        assert len(stack.wait_inbound("telegram", other, 3)) == 3
        for channel, chat, card in chats:
            stack.wait_sent(channel, chat, 3)
            assert len(stack.wait_inbound(channel, chat, 2)) == 2
            seen["sent"][card] = seen["sent"].get(card, []) + stack.sandbox.sent(channel, to=chat)
            seen["history"][card] = stack.gw.store.history(f"{channel}:{chat}")
        seen["other"] = stack.gw.store.history(f"telegram:{other}")
        time.sleep(0.3)  # the last commits' events and the analytics batch
        stack.gw.analytics.flush()  # type: ignore[union-attr]
        seen["running"] = read_all(folder)  # the WALs are live: read them now
        seen["modes"] = {
            p.name: stat.S_IMODE(p.stat().st_mode)
            for p in folder.iterdir()
            if p.name.startswith("gw.db") and not p.name.startswith("gw-")
        }
    finally:
        stop()
    seen["closed"] = read_all(folder)
    db = sqlite3.connect(folder / "gw-analytics.db")
    seen["phrases"] = [r[0] for r in db.execute("SELECT phrase FROM a_fallback")]
    db.close()
    yield stack, folder, seen


@pytest.mark.parametrize("form", list(FORMS))
def test_no_file_holds_the_card_while_running_or_after(run: tuple, form: str) -> None:
    _, _, seen = run
    assert b"Kim" in seen["running"] and b"Kim" in seen["closed"]  # positive control
    assert_absent(seen["running"], FORMS[form])
    assert_absent(seen["closed"], FORMS[form])


@pytest.mark.parametrize("form", list(FORMS))
def test_replies_and_history_never_echo_the_card(run: tuple, form: str) -> None:
    _, _, seen = run
    card = FORMS[form]
    sent = " ".join(str(m) for m in seen["sent"][card])
    assert compact(card) not in sent and card not in sent
    history = seen["history"][card]
    texts = " ".join(h.text + str(h.data) for h in history)
    assert compact(card) not in texts and card not in texts
    assert re.search(r"(?<!\w)123(?!\w)", texts) is None  # the CVV (ids are hex: 5eb1231f...)
    assert f"my card {CARD_MASK} exp" in texts
    if "telegram" in history[0].conversation:  # the greeting named the shopper: the mask
        assert CARD_MASK in sent


def test_history_redacts_ids_but_keeps_what_an_agent_needs(run: tuple) -> None:
    _, _, seen = run
    texts = [h.text for h in seen["other"] if h.direction == "in"]
    assert texts[1] == CONTACTS  # emails and phones stay in history by default
    assert texts[2] == (
        f"ref A1234, 1234 5678 9012 3456, IBAN {IBAN_MASK}, PESEL {ID_MASK}, CNP {ID_MASK}"
    )


def test_not_understood_phrases_hold_no_email_or_phone(run: tuple) -> None:
    _, _, seen = run
    assert f"my mail is {EMAIL_MASK} and phone {PHONE_MASK}" in seen["phrases"]
    joined = " ".join(seen["phrases"])
    assert "kowalski" not in joined and "600 700 800" not in joined
    assert b"jan.kowalski@example.pl" not in (Path(run[1]) / "gw-analytics.db").read_bytes()


def test_store_files_are_private(run: tuple) -> None:
    _, _, seen = run
    modes = seen["modes"]
    assert {"gw.db", "gw.db-wal", "gw.db-shm", "gw.db-ingress", "gw.db-ingress-wal"} <= set(modes)
    assert set(modes.values()) == {0o600}, modes
