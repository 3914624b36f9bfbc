"""Analytics with Redis: gateways on several hosts ship turn records through one stream; every
reporter copies them into its own file, each record counted once, and only what is new."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from pathlib import Path

import pytest

from gateway.analytics.recorder import Analytics, TurnRecord, connect, recorded, write_batch
from gateway.analytics.turn_log import RedisTurnLog, decode, encode
from gateway.inbox.model import Thread

EVENTS = [{"type": "NodeEntered", "node": "menu"}, {"type": "GoalReached", "goal": "resolved"},
          {"type": "Fallback", "node": "menu", "text": "¿dónde está mi pedido? 📦"}]  # fmt: skip


def record(conv: str, n: int, **kw: object) -> TurnRecord:
    return TurnRecord(f"telegram:{conv}", f"m{n}", "telegram", 1_795_000_000.0 + n, EVENTS,
                      fresh=n == 0, variants=(("exp", "bot"),), phone_nodes=frozenset({"cc"}),
                      **kw)  # type: ignore[arg-type]  # fmt: skip


def sessions(db_path: Path) -> tuple[int, int]:
    db = connect(str(db_path))
    try:
        return db.execute("SELECT COUNT(*), COALESCE(SUM(turns), 0) FROM a_session").fetchone()
    finally:
        db.close()


def tables(db_path: Path) -> dict[str, list[tuple[object, ...]]]:
    db = connect(str(db_path))
    try:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: sorted(db.execute(f"SELECT * FROM {n}").fetchall(), key=repr) for n in names}
    finally:
        db.close()


EVERY_KIND = [
    {"type": "VariantAssigned", "experiment": "exp", "variant": "bot", "node": "start"},
    {"type": "NodeEntered", "node": "cc", "at": 5.0, "channel": "telegram", "i": 0},
    {"type": "IntentMatched", "intent": "track", "node": "menu"},
    {"type": "Fallback", "node": "menu", "misses": 2,
     "text": "  Where IS my\n order " + "ÄÖ " * 80},  # normalised, cut past the 120 kept
    {"type": "Fallback", "node": "menu", "misses": 1, "text": "x" * 119 + " tail"},
    {"type": "CallMade", "node": "track", "method": "GET", "url": "https://shop/o/1",
     "status": 200, "ok": True},
    {"type": "GoalReached", "goal": "resolved", "node": "done"},
    {"type": "HandoffRequested", "queue": "orders", "reason": "asked", "node": "h"},
    {"type": "Rated", "kind": "csat", "score": 4, "node": "csat"},
    {"type": "Rated", "kind": "nps", "score": 9, "node": "nps"},
    {"type": "ConversationEnded", "node": "bye"},
]  # fmt: skip


def test_an_entry_keeps_what_the_recorder_reads(tmp_path: Path) -> None:
    thread = Thread("t1", "telegram:1", "telegram", "support", "asked", 1.5, agent="ann",
                    claimed_at=2.25, resolved_at=9.0, outcome="solved", status="resolved",
                    variants=(("exp", "bot"),), vars={"order": "A1234"})  # fmt: skip
    turns = [
        TurnRecord("telegram:1", "m0", "telegram", 1_795_000_000.5, EVERY_KIND, fresh=True,
                   variants=(("exp", "bot"),), phone_nodes=frozenset({"cc", "other"})),
        TurnRecord("telegram:1", "m1", "telegram", 1_795_000_001.0, [], shopper_turn=False,
                   mode="handoff", thread=thread),
        TurnRecord("whatsapp:+1", "m2", "sms", 1_795_000_002.0, EVENTS),  # not the key's prefix
    ]  # fmt: skip
    for turn in turns:
        assert decode(encode(turn)) == recorded(turn)
    # What the stream gives back records exactly what the record itself records.
    for name, batch in (("direct", turns), ("trip", [decode(encode(t)) for t in turns])):
        db = connect(str(tmp_path / f"{name}.db"))
        write_batch(db, batch, now=1_795_000_100.0)  # keys written at one time in both
        db.close()
    assert tables(tmp_path / "direct.db") == tables(tmp_path / "trip.db")
    kept = decode(encode(turns[0]))
    assert [e["type"] for e in kept.events] == [
        "NodeEntered", "Fallback", "Fallback", "GoalReached", "HandoffRequested", "Rated",
        "Rated", "ConversationEnded",
    ]  # fmt: skip
    assert kept.phone_nodes == {"cc"}  # of the call-link nodes, the one entered
    resolved = decode(encode(turns[1])).thread
    assert resolved is not None and resolved.vars == {}  # what the bot collected stays out
    assert (resolved.status, resolved.agent, resolved.resolved_at) == ("resolved", "ann", 9.0)
    db = connect(str(tmp_path / "trip.db"))
    phrases = [r[0] for r in db.execute("SELECT phrase FROM a_fallback")]
    db.close()
    assert "where is my order äö äö" in " ".join(phrases) and "x" * 119 + " " in phrases


def test_an_ordinary_turn_is_a_short_entry_and_the_object_form_is_still_read() -> None:
    turn = record("7000000000", 1)
    assert encode(turn) == (
        '["telegram:7000000000","m1",1795000001.0,[["NodeEntered","menu"],'
        '["GoalReached","resolved"],["Fallback","menu","¿dónde está mi pedido? 📦"]],'
        '0,1,0,"bot",[["exp","bot"]]]'
    )
    old = (
        '{"conversation":"telegram:7000000000","message_id":"m1","channel":"telegram",'
        '"at":1795000001.0,"events":[{"type":"NodeEntered","node":"menu"},'
        '{"type":"GoalReached","goal":"resolved"},{"type":"Fallback","node":"menu",'
        '"text":"¿dónde está mi pedido? 📦"}],"shopper_turn":true,"fresh":false,'
        '"mode":"bot","variants":[["exp","bot"]],"phone_nodes":["cc"],"thread":null}'
    )
    assert decode(old) == turn


def test_two_hosts_one_stream_every_reporter_sees_all_once(redis_url: str, tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    hosts = [Analytics(str(tmp_path / f"host{i}.db"), sink=RedisTurnLog(redis_url, prefix))
             for i in range(2)]  # fmt: skip
    try:
        for n in range(3):  # conversation 1 on host 0, conversation 2 on host 1
            hosts[0].record(record("1", n))
            hosts[1].record(record("2", n))
        hosts[1].record(record("1", 2))  # a message processed again on the other host
        for host in hosts:
            host.flush()
        log = RedisTurnLog(redis_url, prefix)
        for reporter in ("r1", "r2"):
            db = connect(str(tmp_path / f"{reporter}.db"))
            assert log.ingest(db) == 6  # 7 shipped, one of them twice
            assert log.ingest(db) == 0  # nothing new
            db.close()
            assert sessions(tmp_path / f"{reporter}.db") == (2, 6)
        hosts[0].record(record("1", 3))
        hosts[0].flush()
        db = connect(str(tmp_path / "r1.db"))
        assert log.ingest(db) == 1  # only the new one is read
        db.close()
        assert sessions(tmp_path / "r1.db") == (2, 7)
        assert sessions(tmp_path / "host0.db") == (0, 0)  # hosts ship, they do not keep
        # The gateway's own reader: its file brought up to date from the stream first.
        reader = hosts[0].reader()
        assert reader.execute("SELECT COUNT(*) FROM a_session").fetchone()[0] == 2
        reader.close()
        log.close()
    finally:
        for host in hosts:
            host.close()


def test_an_unreachable_redis_keeps_the_records_for_the_next_flush(tmp_path: Path) -> None:
    sink = RedisTurnLog("redis://127.0.0.1:1/0")  # nothing listens on port 1
    analytics = Analytics(str(tmp_path / "a.db"), sink=sink)
    analytics.record(record("1", 0))
    analytics.flush()  # logs the failure, raises nothing
    assert analytics._pending.qsize() == 1
    analytics.sink = None  # e.g. Redis back (here: straight to the file) and the next flush
    analytics.flush()
    assert analytics._pending.qsize() == 0
    analytics.close()
    assert sessions(tmp_path / "a.db") == (1, 1)


def test_failing_flushes_log_one_line_then_one_on_recovery(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A flush every second while Redis is away is not a line every second (a full disk made
    ~50 a run): one when it starts failing, one when it works again."""
    analytics = Analytics(str(tmp_path / "a.db"), sink=RedisTurnLog("redis://127.0.0.1:1/0"))
    with caplog.at_level(logging.WARNING, logger="gateway.analytics.recorder"):
        for n in range(5):
            analytics.record(record(str(n), 0))
            analytics.flush()
        analytics.sink = None
        analytics.flush()
    lines = [r.getMessage().split(":")[0] for r in caplog.records]
    assert lines == ["store_write_failed", "store_write_recovered"]
    analytics.close()
    assert sessions(tmp_path / "a.db") == (5, 5)


def test_seen_keys_are_kept_eight_days_then_forgotten(tmp_path: Path) -> None:
    """A message recorded again within the window counts once; keys recorded longer ago go,
    so the table does not keep a row per message for ever."""
    db = connect(str(tmp_path / "a.db"))
    day, now = 86_400.0, 1_800_000_000.0  # when the keys are written, not the turns' times
    try:
        assert write_batch(db, [record("a", 0), record("b", 0)], now=now) == 2
        assert write_batch(db, [record("a", 0)], now=now + 7 * day) == 0  # counted once
        assert write_batch(db, [record("c", 0)], now=now + 7 * day) == 1
        assert write_batch(db, [record("d", 0)], now=now + 9 * day) == 1
        keys = db.execute("SELECT conversation FROM a_seen ORDER BY conversation").fetchall()
        assert keys == [("telegram:c",), ("telegram:d",)]  # a and b were past the window
        assert db.execute("SELECT count(*) FROM a_session").fetchone()[0] == 4  # none lost
    finally:
        db.close()


def test_a_file_from_before_the_window_gets_its_keys_timed(tmp_path: Path) -> None:
    """An analytics file written before keys expired has no `seen_at`: it is added, and the
    old keys (at 0) are the first to go."""
    path = str(tmp_path / "a.db")
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE a_seen (conversation TEXT NOT NULL, message_id TEXT NOT NULL, "
                "PRIMARY KEY (conversation, message_id)) WITHOUT ROWID")  # fmt: skip
    old.execute("INSERT INTO a_seen VALUES ('telegram:old', 'm1')")
    old.commit()
    old.close()
    db = connect(path)
    try:
        assert write_batch(db, [record("new", 1)]) == 1
        assert db.execute("SELECT conversation FROM a_seen").fetchall() == [("telegram:new",)]
    finally:
        db.close()
