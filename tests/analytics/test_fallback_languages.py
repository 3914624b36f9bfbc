"""Not-understood phrases per language: the recorder keeps each fallback's language (also
through the Redis turn log), the report counts the same words apart per language, and text,
JSON, CSV and the inbox's report page show them per language; an analytics file from before
the language was kept gets the column and its phrases show as "unknown language"."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.analytics.recorder import Analytics, connect, write_batch
from gateway.analytics.render import as_csv, as_json, as_text
from gateway.analytics.report import build_report
from gateway.analytics.turn_log import decode, encode
from gateway.inbox.model import Agent
from gateway.inbox.passwords import hash_password
from gateway.web.app import create_app
from tests.analytics.test_report import DAY, EXP, T0, node, turn
from tests.harness import MakeGateway

NOW = T0 + 10 * DAY
ARABIC = "أين طلبي"  # "where is my order"


def miss(text: str, language: str | None, at_node: str = "menu") -> dict:
    event = {"type": "Fallback", "node": at_node, "text": text, "misses": 1}
    if language is not None:
        event["language"] = language
    return event


# (conversation, phrase, language): "ok" is said by a Polish and an English shopper alike.
MISSES = [
    *((f"pl{i}", "gdzie jest moja paczka", "pl") for i in range(3)),
    *((f"po{i}", "ok", "pl") for i in range(2)),
    *((f"en{i}", "ok", "en") for i in range(4)),
    ("en9", "where is my parcel", "en"),
    ("ar0", ARABIC, "ar"),
]


def seed(recorder: Analytics) -> None:
    for i, (conv, text, language) in enumerate(MISSES):
        recorder.record(turn(conv, 0, T0 + i, [node("menu"), miss(text, language)]))
    recorder.flush()


@pytest.fixture
def analytics(tmp_path: Path) -> Iterator[Analytics]:
    recorder = Analytics(str(tmp_path / "a.db"))
    yield recorder
    recorder.close()


def text_sections(text: str) -> dict[str, list[tuple[int, str]]]:
    """The text report's not-understood part: heading -> [(count, phrase)] under it."""
    part = text.split("Not understood (add these as intent examples)\n", 1)[1].split("\n\n")[0]
    out: dict[str, list[tuple[int, str]]] = {}
    heading = ""
    for line in part.splitlines():
        row = re.match(r"^    +(\d+)  \S+ +\S+ +'(.*)'$", line)
        if row:
            out[heading].append((int(row[1]), row[2]))
        else:
            heading = line.strip()
            assert line == "  " + heading and heading not in out, line
            out[heading] = []
    return out


def test_phrases_are_counted_and_shown_per_language(analytics: Analytics) -> None:
    seed(analytics)
    report = build_report(analytics._db, {"bvc": EXP}, now=NOW)
    counted = {(f.language, f.phrase): f.count for f in report.fallbacks}
    assert counted == {("en", "ok"): 4, ("pl", "gdzie jest moja paczka"): 3, ("pl", "ok"): 2,
                       ("en", "where is my parcel"): 1, ("ar", ARABIC): 1}  # fmt: skip
    # Text: a heading per language, the language of the most frequent phrase first.
    assert text_sections(as_text(report)) == {
        "English (en)": [(4, "ok"), (1, "where is my parcel")],
        "Polish (pl)": [(3, "gdzie jest moja paczka"), (2, "ok")],
        "Arabic (ar)": [(1, ARABIC)],
    }
    # JSON: a language per phrase.
    data = json.loads(as_json(report))
    assert {(f["language"], f["phrase"]): f["count"] for f in data["fallbacks"]} == counted
    # CSV: a language column, filled on the fallback rows only.
    rows = list(csv.DictReader(io.StringIO(as_csv(report))))
    fallbacks = [r for r in rows if r["section"] == "fallback"]
    assert {(r["language"], r["value"]): int(r["count"]) for r in fallbacks} == counted
    assert {r["language"] for r in rows if r["section"] != "fallback"} == {""}
    # The rest of the report is as it was.
    assert [f.count for f in report.fallbacks] == [4, 3, 2, 1, 1]  # most frequent first
    assert rows[0].keys() >= {"section", "node", "metric", "value", "count", "note"}


def test_top_n_counts_languages_apart(analytics: Analytics) -> None:
    seed(analytics)
    report = build_report(analytics._db, {"bvc": EXP}, now=NOW, top_fallbacks=2)
    assert [(f.language, f.phrase) for f in report.fallbacks] == [
        ("en", "ok"), ("pl", "gdzie jest moja paczka"),
    ]  # fmt: skip


def test_the_language_travels_through_the_redis_turn_log(tmp_path: Path) -> None:
    """A gateway on Redis ships its turns as entries; what a reporter copies keeps the
    language (and an entry without one, as written before, records '')."""
    turns = [turn("pl0", 0, T0, [miss("gdzie jest moja paczka", "pl")]),
             turn("zh0", 0, T0 + 1, [miss("我的包裹在哪里", "zh-Hans")]),
             turn("old", 0, T0 + 2, [miss("where is my parcel", None)])]  # fmt: skip
    db = connect(str(tmp_path / "reporter.db"))
    try:
        write_batch(db, [decode(encode(t)) for t in turns])
        stored = db.execute("SELECT phrase, language FROM a_fallback ORDER BY at").fetchall()
    finally:
        db.close()
    assert stored == [("gdzie jest moja paczka", "pl"), ("我的包裹在哪里", "zh-Hans"),
                      ("where is my parcel", "")]  # fmt: skip


OLD_FALLBACK = """CREATE TABLE a_fallback (
    id INTEGER PRIMARY KEY, session INTEGER NOT NULL, at REAL NOT NULL,
    node TEXT NOT NULL, channel TEXT NOT NULL, phrase TEXT NOT NULL)"""


def test_a_file_from_before_languages_gets_the_column(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    old = sqlite3.connect(path)
    old.execute(OLD_FALLBACK)
    old.executemany(
        "INSERT INTO a_fallback(session, at, node, channel, phrase) VALUES (1, ?, 'menu', "
        "'whatsapp', ?)",
        [(T0, "where is my parcel"), (T0 + 1, "where is my parcel"), (T0 + 2, "hello?")],
    )
    old.commit()
    old.close()
    recorder = Analytics(path)  # connecting adds the column
    try:
        recorder.record(turn("n1", 0, T0 + 3, [miss("gdzie jest moja paczka", "pl")]))
        recorder.record(turn("n2", 0, T0 + 4, [miss("where is my parcel", "")]))  # not known
        recorder.flush()
        columns = [r[1] for r in recorder._db.execute("PRAGMA table_info(a_fallback)")]
        assert columns[-1] == "language"
        report = build_report(recorder._db, {"bvc": EXP}, now=NOW)
    finally:
        recorder.close()
    assert text_sections(as_text(report)) == {
        "unknown language": [(3, "where is my parcel"), (1, "hello?")],
        "Polish (pl)": [(1, "gdzie jest moja paczka")],
    }
    assert {f["language"] for f in json.loads(as_json(report))["fallbacks"]} == {"", "pl"}
    again = connect(path)  # once the column is there, connecting again changes nothing
    try:
        counts = again.execute("SELECT COUNT(*), COUNT(language) FROM a_fallback").fetchone()
        assert counts == (5, 5)
    finally:
        again.close()


def test_the_report_page_shows_phrases_per_language(
    make_gateway: MakeGateway, tmp_path: Path
) -> None:
    gw = make_gateway(tmp_path, SECRET_KEY="test-only-" + "k" * 32)  # the inbox is on with a key
    assert gw.analytics is not None and gw.inbox is not None
    seed(gw.analytics)
    gw.inbox.put_agent(Agent("ada", "Ada", hash_password("pw-123456789"), role="admin"))
    client = create_app(gw).test_client()
    login = client.post("/inbox/api/login", json={"login": "ada", "password": "pw-123456789"})
    assert login.status_code == 200, login.text
    page = client.get("/inbox/admin/report")
    assert page.status_code == 200
    html = page.text
    groups = re.findall(r'<tbody class="language" data-language="([^"]*)">\s*<tr><th[^>]*>'
                        r"([^<]*)</th></tr>(.*?)</tbody>", html, re.S)  # fmt: skip
    assert [(code, name) for code, name, _ in groups] == [
        ("en", "English (en)"), ("pl", "Polish (pl)"), ("ar", "Arabic (ar)"),
    ]  # fmt: skip
    phrases = {code: re.findall(r'<td class="phrase"[^>]*>([^<]*)</td>', body)
               for code, _, body in groups}  # fmt: skip
    assert phrases == {"en": ["ok", "where is my parcel"],
                       "pl": ["gdzie jest moja paczka", "ok"], "ar": [ARABIC]}  # fmt: skip
    assert f'<td class="phrase" dir="auto" lang="ar">{ARABIC}</td>' in html  # right to left
