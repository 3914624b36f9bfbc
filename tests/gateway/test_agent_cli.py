"""`gateway agent add|remove|list`: accounts with argon2 hashes, clear errors, no clear text."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli.main import main
from gateway.inbox.passwords import hash_password, verify_password
from gateway.inbox.sqlite_inbox import SQLiteInbox


def run(db: Path, *args: str, stdin: str = "") -> tuple[int, str]:
    result = CliRunner().invoke(main, ["agent", *args], input=stdin,
                                env={"STORE_URL": f"sqlite:///{db}"})  # fmt: skip
    return result.exit_code, result.output


def test_add_list_remove(tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    code, out = run(db, "add", "bea", "--name", "Bea Ortiz", "--role", "supervisor",
                    "--capacity", "2", "--queues", "support, orders", "--password-stdin",
                    stdin="correct horse battery\n")  # fmt: skip
    assert code == 0, out
    assert out == "agent bea saved (supervisor, capacity 2)\n"
    inbox = SQLiteInbox(str(db))
    bea = inbox.agent("bea")
    inbox.close()
    assert bea is not None and bea.queues == ("support", "orders")
    assert "correct horse" not in bea.password_hash and bea.password_hash.startswith("$argon2id$")
    assert verify_password(bea.password_hash, "correct horse battery")
    code, out = run(db, "list")
    assert "bea" in out and "Bea Ortiz" in out and "0/2 threads" in out and "off duty" in out
    assert run(db, "remove", "bea") == (0, "agent bea removed\n")
    code, out = run(db, "remove", "bea")
    assert code == 1 and "there is no agent 'bea'" in out


def test_a_short_password_is_refused(tmp_path: Path) -> None:
    code, out = run(tmp_path / "gw.db", "add", "x", "--name", "X", "--password-stdin",
                    stdin="short\n")  # fmt: skip
    assert code == 1 and "at least 10 characters" in out


@pytest.mark.parametrize("stored", [None, "", "not-a-hash"])
def test_verify_never_raises_and_refuses_what_it_cannot_check(stored: str | None) -> None:
    assert verify_password(stored, "whatever-password") is False
    assert verify_password(hash_password("right-password"), "wrong-password") is False


def test_photo_is_stored_and_only_http_urls_are_taken(tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    photo = "https://cdn.acme.example/team/bea.jpg"
    code, out = run(db, "add", "bea", "--name", "Bea", "--photo", photo, "--password-stdin",
                    stdin="correct horse battery\n")  # fmt: skip
    assert code == 0, out
    inbox = SQLiteInbox(str(db))
    bea = inbox.agent("bea")
    inbox.close()
    assert bea is not None and bea.photo_url == photo
    code, out = run(db, "add", "sam", "--name", "Sam", "--photo", "http://cdn.acme.example/s.jpg",
                    "--password-stdin", stdin="correct horse battery\n")  # fmt: skip
    assert code == 0 and "the inbox shows https:// photos only" in out
    for bad in ("javascript:alert(1)", "data:image/png;base64,AAAA", "file:///etc/passwd",
                "cdn.acme.example/bea.jpg", "https://", 'https://x.example/a.jpg"><script>',
                "https://x.example/a b.jpg"):  # fmt: skip
        code, out = run(db, "add", "eve", "--name", "Eve", "--photo", bad, "--password-stdin",
                        stdin="correct horse battery\n")  # fmt: skip
        assert code == 2 and "Invalid value for --photo" in out and "http(s) URL" in out, bad
    inbox = SQLiteInbox(str(db))
    assert inbox.agent("eve") is None
    inbox.close()
