"""Report figures: `gateway report` over a million stored conversations, and the analytics
recorder's write rate.

The analytics file (gateway/analytics/schema.py, created by the recorder's own `connect`, so WAL
and the real indexes) gets 1,000,000 sessions shaped like the sample flows.yaml: experiment
bot_vs_callcenter 50/50, sticky per conversation; WhatsApp 50%, Messenger 30%, Telegram 20%;
20% of sessions from a shopper who came before; starts spread evenly over the 60 days before
NOW. The call-center arm is welcome, route, call_center (phone, ended); the bot arm walks
nineteen paths through the sample tree (track an order, a late order and its coupon, returns,
shipping, two or three topics in one session, a person asked for, an order number not
understood, left at the menu, stopped). Overall: ~40% reach a goal, ~5.5% are handed to a person
(each with a thread, claimed and resolved by one of 25 agents, 5% still open), ~24% answer the
CSAT question, ~10% have 1-2 fallbacks (~275 distinct phrases, Zipf-like counts), ~7 a_node
rows per session (the call-center arm has 3, the bot arm 11), one a_seen row per shopper
message with platform-shaped ids (Twilio MessageSid, Messenger mid, Telegram update id) and
three per thread. The rows go in with bulk SQL (executemany into temporary tables, then
INSERT ... SELECT joined with small per-path tables), not through the recorder, which would
take an hour; row counts and shares are printed on stderr. Tables are written in session id
order as the recorder does; a_seen in key order (loaded in time order instead, the file came
out about 1% bigger). `ANALYZE` is not run: `gateway report` meets files that never had it.

- `report_1m_s`: what `gateway report` does once flows.yaml is loaded: a new connection
  (`recorder.connect`), `build_report` over the whole period (the sample's experiment, its
  node order for the funnel) and the text rendering. Median of 3 runs, each on a fresh
  connection with the file in the OS cache (as on the server that wrote it).
  `report_1m_since7d_s`: the same with `--since` the last 7 days (~117,000 sessions).
  `report_render_text_ms`: the text rendering alone.
- `report_1m_vs_scan_ratio`: `report_1m_s` over the median time of `SELECT SUM(turns) FROM
  a_session` on a fresh connection: one read of every session row (turns is in no index, so a
  full table scan, the least any report over every session must do). "The report costs N
  table scans" holds on a slower or busier machine where the seconds do not; the scans are
  interleaved with the report runs so a burst of load hits both.
- `analytics_bytes_per_session`: the file size after a WAL checkpoint over the sessions, every
  table and index included (a_seen is the biggest part, ~38%).
- `analytics_record_turns_per_s`: 20,000 TurnRecords (~6,800 new sessions walking the same
  paths with their goal, handoff, rating, fallback and end events, and the agents' resolve
  actions with their threads) through `Analytics.record` and `flush` into the loaded file
  after the report figures, from the first `record` to the end of `flush`: the real write path
  with its exactly-once check and its session lookup among a million sessions.

Prints `name: value unit` lines; progress on stderr. Environment: BENCH_QUICK=1 (100,000
sessions and 2,000 turns; the names stay the same). Takes about 2 minutes on 2 cores. Run:
`make bench` or `.venv/bin/python bench/bench_report.py`.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flows.loader import load_flow  # noqa: E402
from flows.model import Flow  # noqa: E402
from gateway.analytics.recorder import Analytics, TurnRecord, connect  # noqa: E402
from gateway.analytics.render import as_text  # noqa: E402
from gateway.analytics.report import build_report  # noqa: E402
from gateway.inbox.model import Thread  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK") == "1"
SESSIONS = 100_000 if QUICK else 1_000_000
RECORDS = 2_000 if QUICK else 20_000
RUNS = 3
DAY = 86_400.0
DAYS = 60
NOW = datetime(2027, 1, 1, tzinfo=UTC).timestamp()
EXPERIMENT = "bot_vs_callcenter"
RETURNING = 0.2  # share of sessions from a conversation seen before
CHANNELS = (("whatsapp", 0.5), ("messenger", 0.3), ("telegram", 0.2))
EXTRA_FALLBACK = 0.12  # bot sessions on a path without a fallback that still have one
AGENTS = tuple(f"agent{i:02d}" for i in range(25))
GOAL_AT = {"order_status": "order_tracked", "coupon_given": "coupon_issued",
           "returns_how": "return_explained", "resolved": "resolved"}  # fmt: skip
BUTTON_NODES = ("menu", "anything_else", "returns", "order_not_found")
THANKS = "THANKS"  # thanks_happy or thanks_sorry, by the CSAT answer


@dataclass(frozen=True)
class Walk:
    name: str
    weight: int  # of 100 bot sessions
    nodes: tuple[str, ...]
    turns: int  # shopper messages (fallbacks add theirs)
    waiting: int = 1  # left on a bot question
    ended: int = 0
    handoff: str | None = None  # the queue
    rated: bool = False
    fallbacks: int = 0  # at the menu

    @property
    def goals(self) -> tuple[str, ...]:
        return tuple(GOAL_AT[n] for n in self.nodes if n in GOAL_AT)


START = ("welcome", "route", "menu")
TRACK = ("ask_order", "lookup_order", "order_status")
RATE = ("resolved", "csat", "csat_thanks", THANKS)
BOT_WALKS = (
    Walk("track_rated", 8, (*START, *TRACK, "order_shipped", "anything_else", *RATE), 5, 0, 1, rated=True),
    Walk("coupon_rated", 4, (*START, *TRACK, "order_delayed", "coupon", "coupon_given", "anything_else", *RATE), 5, 0, 1, rated=True),
    Walk("track_then_returns_rated", 10, (*START, *TRACK, "order_shipped", "anything_else", "returns", "returns_how", *RATE), 7, 0, 1, rated=True),
    Walk("track_returns_shipping_rated", 9, (*START, *TRACK, "order_shipped", "anything_else", "returns", "returns_how", "shipping", *RATE), 8, 0, 1, rated=True),
    Walk("coupon_then_shipping_rated", 6, (*START, *TRACK, "order_delayed", "coupon", "coupon_given", "anything_else", "shipping", *RATE), 6, 0, 1, rated=True),
    Walk("refund_then_track_rated", 7, (*START, "returns", "refund_status", "anything_else", *TRACK, "order_delivered", *RATE), 7, 0, 1, rated=True),
    Walk("track_then_person_rated", 3, (*START, *TRACK, "order_delayed", "coupon", "coupon_given", "anything_else", "handoff_request", *RATE), 6, 0, 1, handoff="support", rated=True),
    Walk("track_not_rated", 10, (*START, *TRACK, "order_shipped", "anything_else", "returns", "returns_how", "resolved", "csat"), 5),
    Walk("track_twice_left", 10, (*START, "ask_order", "lookup_order", "order_not_found", "order_status", "order_processing", "anything_else", "returns", "refund_status"), 6),
    Walk("returns_then_track_left", 9, (*START, "returns", "returns_how", "anything_else", *TRACK, "order_delivered"), 5),
    Walk("order_not_found_left", 2, (*START, "ask_order", "lookup_order", "order_not_found"), 3),
    Walk("order_invalid_handoff", 2, (*START, "ask_order", "handoff_order"), 5, 0, handoff="orders"),
    Walk("track_then_person", 3, (*START, *TRACK, "order_delayed", "coupon", "coupon_given", "anything_else", "handoff_request"), 4, 0, handoff="support"),
    Walk("shipping_left", 1, (*START, "shipping", "anything_else"), 2),
    Walk("person", 2, (*START, "handoff_request"), 2, 0, handoff="support"),
    Walk("not_understood_handoff", 1, (*START, "handoff_unsure"), 3, 0, handoff="support", fallbacks=2),
    Walk("left_at_menu", 5, START, 1),
    Walk("left_at_menu_fallback", 7, START, 2, fallbacks=1),
    Walk("stopped", 1, (*START, "stopped"), 2, 0, 1),
)  # fmt: skip
CALL_CENTER = Walk("call_center", 0, ("welcome", "route", "call_center"), 1, 0, 1)
WALKS = (*BOT_WALKS, CALL_CENTER)


def phrases() -> list[str]:
    """About 300 distinct things shoppers type that the menu does not understand."""
    asks = ("where is my", "wheres my", "track my", "i want to cancel my", "cancel my",
            "change the address of my", "refund for my", "i didnt get my", "problem with my",
            "exchange my", "wrong size on my", "invoice for my", "is there a discount on my",
            "can i return my", "how long for my")  # fmt: skip
    things = ("order", "parcel", "package", "shoes", "sneakers", "delivery", "refund",
              "return", "boots", "sandals", "coupon", "gift card", "payment", "account",
              "size")  # fmt: skip
    out = [f"{a} {t}" for a in asks for t in things]
    out += ["hello", "hi", "?", "ok", "thanks", "human", "agent please", "speak to someone",
            "do you ship to mexico", "black friday", "black friday deals", "size chart",
            "are these waterproof", "store near me", "opening hours", "i need help",
            "not working", "lol", "👍", "???", "stop", "help", "yes", "no", "maybe later",
            "what is your phone number", "promo code", "do you have size 46", "gift wrap",
            "my order is late", "still waiting", "where is it", "when will it arrive",
            "can i pay with paypal", "klarna", "afterpay", "students discount", "price match",
            "the link does not work", "app is broken", "password reset", "delete my account",
            "unsubscribe", "why was i charged twice", "damaged box", "missing item",
            "A12345", "order 1234", "#A1234", "its been 2 weeks"]  # fmt: skip
    return out


def conversation_key(channel: str, index: int) -> str:
    if channel == "whatsapp":
        return f"whatsapp:+1{2_000_000_000 + index * 7:010d}"
    if channel == "messenger":
        return f"messenger:{6_100_000_000_000_000 + index * 13}"
    return f"telegram:{5_000_000_000 + index * 3}"


# Platform-shaped message ids for a_seen: Twilio's MessageSid, a Messenger mid, a Telegram
# update id (random, so they land in the index as real ones do).
MESSAGE_ID_SQL = """CASE s.channel
    WHEN 'whatsapp' THEN 'SM' || lower(hex(randomblob(16)))
    WHEN 'messenger' THEN 'm_' || hex(randomblob(43))
    ELSE CAST(100000000 + abs(random() % 900000000) AS TEXT) END"""


@dataclass
class Loaded:
    rows: dict[str, int]
    shares: dict[str, float]


def populate(path: str, sessions: int, rng: random.Random) -> Loaded:
    """`sessions` sessions with their variants, goals, nodes, fallbacks, threads and seen ids.

    Python draws what differs per session (start, conversation, path, CSAT answer, fallbacks,
    threads); SQL expands it into the tables from small per-path tables."""
    db = connect(path)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-1000000")  # 1 GB while loading
    db.execute("PRAGMA temp_store=MEMORY")
    texts = phrases()
    weights = [1.0 / (1 + r) ** 0.9 for r in range(len(texts))]
    starts = sorted(NOW - DAYS * DAY + rng.random() * DAYS * DAY for _ in range(sessions))
    bot_paths = rng.choices(range(len(BOT_WALKS)), [p.weight for p in BOT_WALKS], k=sessions)
    answers = rng.choices((5, 4, 3, 2, 1), (40, 28, 12, 8, 12), k=sessions)
    channels = [c for c, _ in CHANNELS]
    channel_of = rng.choices(channels, [w for _, w in CHANNELS], k=sessions)
    conversations: list[tuple[int, str, str, str]] = []  # id, key, channel, variant
    gen_rows, fallback_rows, thread_rows = [], [], []
    agent_s: list[tuple[float, int]] = []
    for i, started in enumerate(starts, start=1):
        if conversations and rng.random() < RETURNING:
            conv = conversations[rng.randrange(len(conversations))]
        else:
            channel = channel_of[i - 1]
            conv = (len(conversations) + 1, conversation_key(channel, len(conversations)),
                    channel, "bot" if rng.random() < 0.5 else "call_center")  # fmt: skip
            conversations.append(conv)
        p = bot_paths[i - 1] if conv[3] == "bot" else len(BOT_WALKS)
        walk = WALKS[p]
        csat = answers[i - 1] if walk.rated else None
        misses = walk.fallbacks
        if conv[3] == "bot" and not misses and rng.random() < EXTRA_FALLBACK:
            misses = 1
        for m in range(misses):
            at_node = (
                "menu"
                if walk.fallbacks
                else rng.choice([n for n in walk.nodes if n in BUTTON_NODES])
            )
            phrase = rng.choices(texts, weights)[0]
            fallback_rows.append((i, started + 20 * (m + 1), at_node, conv[2], phrase))
        if walk.handoff is not None:
            created = started + 45.0 * (walk.turns + misses)
            claimed = created + rng.uniform(30, 900)
            first = claimed + rng.uniform(20, 300)
            resolved: float | None = first + rng.uniform(120, 1800)
            outcome: str | None = "solved" if rng.random() < 0.8 else "not_solved"
            if rng.random() < 0.05:
                resolved = outcome = None
            else:
                agent_s.append((resolved - claimed, i))  # type: ignore[operator]
            thread_rows.append((f"{rng.getrandbits(128):032x}", i, conv[1], conv[2],
                                walk.handoff, rng.choice(AGENTS), created, claimed, first,
                                resolved, outcome))  # fmt: skip
        gen_rows.append((i, conv[0], p, csat, started, misses))
    print(f"report: {sessions:,} sessions drawn, writing them", file=sys.stderr)
    db.execute("BEGIN")
    db.execute("CREATE TEMP TABLE conv(id INTEGER PRIMARY KEY, key TEXT, channel TEXT, "
               "variant TEXT)")  # fmt: skip
    db.executemany("INSERT INTO conv VALUES (?, ?, ?, ?)", conversations)
    db.execute("CREATE TEMP TABLE gen(id INTEGER PRIMARY KEY, conv INTEGER, path INTEGER, "
               "csat INTEGER, started REAL, misses INTEGER)")  # fmt: skip
    db.executemany("INSERT INTO gen VALUES (?, ?, ?, ?, ?, ?)", gen_rows)
    db.execute("CREATE TEMP TABLE path(id INTEGER PRIMARY KEY, turns INTEGER, handoff INTEGER, "
               "phone INTEGER, ended INTEGER, waiting INTEGER, goal INTEGER, last_node TEXT)")  # fmt: skip
    db.execute("CREATE TEMP TABLE path_node(path INTEGER, node TEXT, happy INTEGER)")
    db.execute("CREATE TEMP TABLE path_goal(path INTEGER, goal TEXT)")
    for p, walk in enumerate(WALKS):
        db.execute("INSERT INTO path VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (p, walk.turns, int(walk.handoff is not None), int(walk is CALL_CENTER),
                    walk.ended, walk.waiting, int(bool(walk.goals)), walk.nodes[-1]))  # fmt: skip
        for node in walk.nodes:
            if node == THANKS:
                db.execute("INSERT INTO path_node VALUES (?, 'thanks_happy', 1)", (p,))
                db.execute("INSERT INTO path_node VALUES (?, 'thanks_sorry', 0)", (p,))
            else:
                db.execute("INSERT INTO path_node VALUES (?, ?, NULL)", (p, node))
        db.executemany("INSERT INTO path_goal VALUES (?, ?)", [(p, g) for g in walk.goals])
    db.execute("CREATE INDEX temp.path_node_path ON path_node(path)")
    db.execute("CREATE INDEX temp.path_goal_path ON path_goal(path)")
    happy = "(g.csat >= 4)"
    db.execute(
        f"""INSERT INTO a_session(id, conversation, channel, started_at, last_at, turns, handoff,
                phone, ended, waiting, goal, last_node, csat)
            SELECT g.id, c.key, c.channel, g.started, g.started + 45.0 * (p.turns + g.misses),
                p.turns + g.misses, p.handoff, p.phone, p.ended, p.waiting, p.goal,
                CASE p.last_node WHEN ? THEN CASE WHEN {happy} THEN 'thanks_happy'
                    ELSE 'thanks_sorry' END ELSE p.last_node END, g.csat
            FROM gen g JOIN conv c ON c.id = g.conv JOIN path p ON p.id = g.path
            ORDER BY g.id""",
        (THANKS,),
    )
    db.executemany("UPDATE a_session SET agent_s = ? WHERE id = ?", agent_s)
    db.execute("INSERT INTO a_variant SELECT g.id, ?, c.variant FROM gen g "
               "JOIN conv c ON c.id = g.conv ORDER BY g.id", (EXPERIMENT,))  # fmt: skip
    db.execute("INSERT INTO a_goal SELECT g.id, pg.goal FROM gen g "
               "JOIN path_goal pg ON pg.path = g.path ORDER BY g.id")  # fmt: skip
    db.execute(f"INSERT INTO a_node SELECT g.id, pn.node FROM gen g "
               f"JOIN path_node pn ON pn.path = g.path "
               f"WHERE pn.happy IS NULL OR pn.happy = {happy} ORDER BY g.id")  # fmt: skip
    db.executemany("INSERT INTO a_fallback(session, at, node, channel, phrase) VALUES "
                   "(?, ?, ?, ?, ?)", fallback_rows)  # fmt: skip
    db.executemany("INSERT INTO a_thread VALUES (?,?,?,?,?,?,?,?,?,?,?)", thread_rows)
    # One seen id per shopper message, in the order the recorder writes them (by time, so
    # conversations land all over the index), and three per thread for the agents' actions.
    db.execute(
        f"""INSERT INTO a_seen(conversation, message_id)
            WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < 64)
            SELECT s.conversation, {MESSAGE_ID_SQL} FROM a_session s JOIN k ON k.n <= s.turns
            ORDER BY 1, 2"""
    )
    db.execute("INSERT INTO a_seen(conversation, message_id) SELECT t.conversation, "
               "'agent:' || lower(hex(randomblob(16))) "
               "FROM a_thread t JOIN (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3)")  # fmt: skip
    for table in ("gen", "conv", "path", "path_node", "path_goal"):
        db.execute(f"DROP TABLE temp.{table}")
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    tables = ("a_session", "a_variant", "a_goal", "a_node", "a_fallback", "a_thread", "a_seen")
    rows = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    share = db.execute(
        "SELECT AVG(goal), AVG(handoff), AVG(phone), AVG(csat IS NOT NULL) FROM a_session"
    ).fetchone()
    db.close()
    shares = dict(zip(("goal", "handoff", "phone", "csat"), share, strict=True))
    shares["conversations"] = len(conversations) / sessions
    shares["fallback"] = len({row[0] for row in fallback_rows}) / sessions
    shares["distinct_phrases"] = len({row[4] for row in fallback_rows})
    return Loaded(rows, shares)


def report_once(path: str, flow: Flow, since: float | None) -> tuple[float, float, str]:
    """What `gateway report` does once flows.yaml is loaded: seconds to build, to render."""
    start = time.perf_counter()
    db = connect(path)
    try:
        built = build_report(db, flow.experiments, NOW, since, None, tuple(flow.nodes))
    finally:
        db.close()
    built_at = time.perf_counter()
    text = as_text(built)
    return built_at - start, time.perf_counter() - built_at, text


def scan_once(path: str) -> float:
    start = time.perf_counter()
    db = connect(path)
    try:
        db.execute("SELECT SUM(turns) FROM a_session").fetchone()
    finally:
        db.close()
    return time.perf_counter() - start


def turn_records(count: int, rng: random.Random) -> Iterator[TurnRecord]:
    """Shopper turns (and the agents' resolve actions) of sessions walking the same paths."""
    made = s = 0
    bot_weights = [p.weight for p in BOT_WALKS]
    while made < count:
        s += 1
        channel = rng.choices([c for c, _ in CHANNELS], [w for _, w in CHANNELS])[0]
        conversation = f"{channel}:bench-record-{s}"
        variant = "bot" if rng.random() < 0.5 else "call_center"
        walk = rng.choices(BOT_WALKS, bot_weights)[0] if variant == "bot" else CALL_CENTER
        at = NOW + s
        nodes = list(walk.nodes)
        csat = rng.choice((5, 4, 3, 1)) if walk.rated else None
        if walk.rated:
            nodes[nodes.index(THANKS)] = "thanks_happy" if (csat or 0) >= 4 else "thanks_sorry"
        # The first message walks to the menu (or the phone); the rest split what follows.
        chunks: list[list[dict[str, Any]]] = [[_node(n) for n in nodes[:3]]]
        rest = nodes[3:]
        per = max(1, -(-len(rest) // max(walk.turns - 1, 1)))
        for k in range(0, len(rest), per):
            chunks.append([_node(n) for n in rest[k : k + per]])
        for _ in range(walk.fallbacks):
            chunks.insert(1, [{"type": "Fallback", "node": "menu", "text": "where is my PARCEL"}])
        mode = "bot"
        for t, events in enumerate(chunks):
            extra: list[dict[str, Any]] = []
            for e in events:
                goal = GOAL_AT.get(str(e.get("node")))
                if goal:
                    extra.append({"type": "GoalReached", "goal": goal})
                if e.get("node") == "csat_thanks":
                    extra.insert(0, {"type": "Rated", "kind": "csat", "score": csat})
            events = events + extra
            last = t == len(chunks) - 1
            if last and walk.handoff:
                events.append({"type": "HandoffRequested", "queue": walk.handoff})
                mode = "handoff"
            if last and walk.ended:
                events.append({"type": "ConversationEnded"})
                mode = "ended"
            yield TurnRecord(
                conversation=conversation, message_id=f"m{s}-{t}", channel=channel,
                at=at + 30 * t, events=events, fresh=t == 0, mode=mode,
                variants=((EXPERIMENT, variant),), phone_nodes=frozenset({"call_center"}),
            )  # fmt: skip
            made += 1
        if walk.handoff:
            created = at + 30 * len(chunks)
            thread = Thread(f"bench-th-{s}", conversation, channel, walk.handoff, "asked",
                            created, status="resolved", agent=rng.choice(AGENTS),
                            claimed_at=created + 60, first_response_at=created + 120,
                            resolved_at=created + 600, outcome="solved")  # fmt: skip
            yield TurnRecord(
                conversation=conversation, message_id=f"agent:{s}", channel=channel,
                at=created + 600, events=[_node("anything_else")], shopper_turn=False,
                variants=((EXPERIMENT, variant),), thread=thread,
            )  # fmt: skip
            made += 1


def _node(name: str) -> dict[str, Any]:
    return {"type": "NodeEntered", "node": name}


def record_rate(path: str, count: int) -> float:
    records = list(turn_records(count, random.Random(11)))[:count]
    analytics = Analytics(path)
    try:
        start = time.perf_counter()
        for record in records:
            analytics.record(record)
        analytics.flush()
        elapsed = time.perf_counter() - start
    finally:
        analytics.close()
    return len(records) / elapsed


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        path = str(work / "analytics.db")
        start = time.perf_counter()
        loaded = populate(path, SESSIONS, random.Random(7))
        size = os.path.getsize(path)
        print(f"report: loaded in {time.perf_counter() - start:.1f} s, "
              f"{size / 1e6:.0f} MB; rows {dict(loaded.rows)}", file=sys.stderr)  # fmt: skip
        print("report: shares " + ", ".join(f"{k} {v:.3f}" for k, v in loaded.shares.items())
              + f"; a_node per session {loaded.rows['a_node'] / SESSIONS:.2f}",
              file=sys.stderr)  # fmt: skip
        flow = load_flow(ROOT / "flows.yaml", {})
        full, since, scans, render = [], [], [], []
        for _ in range(RUNS):  # interleaved, so a burst of load hits all three alike
            scans.append(scan_once(path))
            build_s, render_s, text = report_once(path, flow, None)
            full.append(build_s + render_s)
            render.append(render_s)
            build_s, render_s, _ = report_once(path, flow, NOW - 7 * DAY)
            since.append(build_s + render_s)
            print(f"report: full {full[-1]:.2f} s, since 7 days {since[-1]:.2f} s, "
                  f"scan {scans[-1]:.3f} s", file=sys.stderr)  # fmt: skip
        print(f"report: {len(text.splitlines())} lines of text; recording {RECORDS:,} turns",
              file=sys.stderr)  # fmt: skip
        rate = record_rate(path, RECORDS)
        median = statistics.median
        lines = [
            ("report_1m_s", f"{median(full):.2f}", "s"),
            ("report_1m_since7d_s", f"{median(since):.2f}", "s"),
            ("report_render_text_ms", f"{median(render) * 1000:.1f}", "ms"),
            ("report_1m_vs_scan_ratio", f"{median(full) / median(scans):.0f}", "x"),
            ("analytics_bytes_per_session", f"{size / SESSIONS:.0f}", "bytes"),
            ("analytics_record_turns_per_s", f"{rate:.0f}", "turns/s"),
        ]
        for name, value, unit in lines:
            print(f"{name}: {value} {unit}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
