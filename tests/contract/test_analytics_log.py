"""Analytics with Redis: gateways on several hosts ship turn records through one stream; every
reporter copies them into its own file, each record counted once, and only what is new."""

from __future__ import annotations

import uuid
from pathlib import Path

from gateway.analytics.recorder import Analytics, TurnRecord, connect
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


def test_a_record_survives_the_trip_exactly() -> None:
    thread = Thread("t1", "telegram:1", "telegram", "support", "asked", 1.5, agent="ann",
                    claimed_at=2.25, resolved_at=9.0, outcome="solved",
                    variants=(("exp", "bot"),), vars={"order": "A1234"})  # fmt: skip
    original = record("1", 0, thread=thread, shopper_turn=False, mode="handoff")
    assert decode(encode(original)) == original


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
