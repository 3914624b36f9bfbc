"""The inbox store contract: every backend opens threads once, claims atomically within
capacity, transfers, resolves, and keeps sessions revocable."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.inbox.model import Agent, CapacityFull, NotWaiting, Thread, UnknownAgent
from gateway.inbox.store import InboxStore

BACKENDS = ["sqlite", "redis"]
Opener = Callable[[], InboxStore]


@pytest.fixture(params=BACKENDS)
def open_more(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens stores on this test's own database; a second one is another process's view."""
    if request.param == "sqlite":
        from gateway.inbox.sqlite_inbox import SQLiteInbox

        path = str(tmp_path / "inbox.db")

        def make() -> InboxStore:
            return SQLiteInbox(path)
    else:
        from gateway.inbox.redis_inbox import RedisInbox

        url = request.getfixturevalue("redis_url")
        prefix = f"t{uuid.uuid4().hex[:12]}:"  # a fresh inbox per test on the shared server

        def make() -> InboxStore:
            return RedisInbox(url, prefix=prefix)

    opened: list[InboxStore] = []

    def opener() -> InboxStore:
        opened.append(make())
        return opened[-1]

    yield opener
    for store in opened:
        store.close()
    if request.param == "redis":
        import redis

        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def inbox(open_more: Opener) -> InboxStore:
    return open_more()


def agent(login: str, capacity: int = 2, queues: tuple[str, ...] = ()) -> Agent:
    return Agent(login, login.title(), "hash", capacity=capacity, queues=queues)


def thread(n: int, at: float | None = None, queue: str = "support") -> Thread:
    return Thread(f"t{n}", f"telegram:{n}", "telegram", queue, "asked", at or 1000.0 + n)


def test_agents_are_added_replaced_listed_and_removed(inbox: InboxStore) -> None:
    inbox.put_agent(agent("bea"))
    inbox.put_agent(agent("ann", queues=("orders",)))
    inbox.put_agent(Agent("bea", "Beatriz", "h2", capacity=3))
    assert [a.login for a in inbox.agents()] == ["ann", "bea"]
    bea = inbox.agent("bea")
    assert bea is not None and (bea.display_name, bea.capacity) == ("Beatriz", 3)
    assert inbox.agent("ann").queues == ("orders",)  # type: ignore[union-attr]
    inbox.set_on_duty("ann", True)
    assert inbox.agent("ann").on_duty is True  # type: ignore[union-attr]
    assert inbox.remove_agent("ann") is True
    assert inbox.remove_agent("ann") is False
    assert inbox.agent("ann") is None


def test_sessions_expire_and_end_and_die_with_their_agent(inbox: InboxStore) -> None:
    inbox.put_agent(agent("ann"))
    inbox.create_session("tok1", "ann", expires_at=200.0)
    inbox.create_session("tok2", "ann", expires_at=200.0)
    assert inbox.session_agent("tok1", now=100.0) == "ann"
    assert inbox.session_agent("tok1", now=201.0) is None
    inbox.end_session("tok1")
    assert inbox.session_agent("tok1", now=100.0) is None
    inbox.remove_agent("ann")
    assert inbox.session_agent("tok2", now=100.0) is None


def test_a_conversation_has_one_open_thread_and_opening_is_idempotent(inbox: InboxStore) -> None:
    first = inbox.open_thread(thread(1))
    assert inbox.open_thread(thread(1)) == first
    other = Thread("t1-again", "telegram:1", "telegram", "orders", "again", 2000.0)
    assert inbox.open_thread(other).id == "t1"  # still the open one
    assert inbox.open_thread_of("telegram:1") == first
    assert inbox.count_waiting() == 1


def test_waiting_is_oldest_first_per_queue_and_paged(inbox: InboxStore) -> None:
    for n, at in [(1, 30.0), (2, 10.0), (3, 20.0)]:
        inbox.open_thread(thread(n, at, queue="orders" if n == 3 else "support"))
    assert [t.id for t in inbox.waiting()] == ["t2", "t3", "t1"]
    assert [t.id for t in inbox.waiting("support")] == ["t2", "t1"]
    assert [t.id for t in inbox.waiting(limit=1, offset=1)] == ["t3"]
    assert inbox.count_waiting("orders") == 1


def test_claim_respects_capacity_and_never_takes_a_thread_twice(inbox: InboxStore) -> None:
    inbox.put_agent(agent("ann", capacity=2))
    inbox.put_agent(agent("bob"))
    for n in range(1, 5):
        inbox.open_thread(thread(n))
    claimed = inbox.claim("t1", "ann", now=5000.0)
    assert (claimed.status, claimed.agent, claimed.claimed_at) == ("assigned", "ann", 5000.0)
    with pytest.raises(NotWaiting, match="taken by ann"):
        inbox.claim("t1", "bob", now=5001.0)
    inbox.claim("t2", "ann", now=5002.0)
    with pytest.raises(CapacityFull, match="already has 2 of 2 threads"):
        inbox.claim("t3", "ann", now=5003.0)
    with pytest.raises(UnknownAgent):
        inbox.claim("t3", "nobody", now=5003.0)
    assert [t.id for t in inbox.assigned_to("ann")] == ["t1", "t2"]
    assert [t.id for t in inbox.waiting()] == ["t3", "t4"]
    assert inbox.recent_waits("support") == [5002.0 - 1002.0, 5000.0 - 1001.0]


@pytest.mark.parametrize("connections", ["shared", "one_per_agent"])
def test_twenty_agents_racing_never_double_claim_or_overfill(
    inbox: InboxStore, open_more: Opener, connections: str
) -> None:
    """One store shared by threads, or one per agent as separate processes would have."""
    stores = {f"a{i:02d}": inbox if connections == "shared" else open_more() for i in range(20)}
    for i in range(20):
        inbox.put_agent(agent(f"a{i:02d}", capacity=2))
    for n in range(30):
        inbox.open_thread(thread(n))
    taken: list[tuple[str, str]] = []
    lock = threading.Lock()

    def grab(login: str) -> None:
        for t in [f"t{n}" for n in range(30)]:
            try:
                stores[login].claim(t, login, now=9000.0)
            except (NotWaiting, CapacityFull):
                continue
            with lock:
                taken.append((t, login))

    workers = [threading.Thread(target=grab, args=(f"a{i:02d}",)) for i in range(20)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    ids = [t for t, _ in taken]
    assert len(ids) == len(set(ids)) == 30
    for i in range(20):
        assert len(inbox.assigned_to(f"a{i:02d}")) <= 2


def test_transfer_to_an_agent_or_back_to_a_queue(inbox: InboxStore) -> None:
    inbox.put_agent(agent("ann"))
    inbox.put_agent(agent("sup", capacity=1))
    inbox.open_thread(thread(1))
    inbox.open_thread(thread(2))
    inbox.claim("t1", "ann", now=10.0)
    moved = inbox.transfer("t1", "sup", None, now=11.0)
    assert (moved.agent, moved.status, moved.claimed_at) == ("sup", "assigned", 10.0)
    inbox.claim("t2", "ann", now=12.0)
    with pytest.raises(CapacityFull):
        inbox.transfer("t2", "sup", None, now=13.0)
    back = inbox.transfer("t2", None, "orders", now=14.0)
    assert (back.agent, back.status, back.queue) == (None, "waiting", "orders")
    assert [t.id for t in inbox.waiting("orders")] == ["t2"]


def test_resolve_closes_once_and_a_new_handoff_opens_a_new_thread(inbox: InboxStore) -> None:
    inbox.put_agent(agent("ann"))
    inbox.open_thread(thread(1))
    inbox.claim("t1", "ann", now=10.0)
    inbox.responded("t1", now=11.0)
    inbox.responded("t1", now=15.0)
    done = inbox.resolve("t1", "solved", now=20.0)
    assert (done.status, done.outcome, done.resolved_at, done.first_response_at) == (
        "resolved", "solved", 20.0, 11.0,
    )  # fmt: skip
    with pytest.raises(NotWaiting):
        inbox.resolve("t1", "solved", now=21.0)
    assert inbox.assigned_to("ann") == []
    assert inbox.open_thread_of("telegram:1") is None
    again = Thread("t1b", "telegram:1", "telegram", "support", "again", 3000.0)
    assert inbox.open_thread(again).id == "t1b"
    assert [t.id for t in inbox.threads_of("telegram:1")] == ["t1b", "t1"]


def test_touch_and_version_move_with_changes(inbox: InboxStore) -> None:
    before = inbox.version()
    assert inbox.touch("telegram:1", at=50.0) is None
    inbox.open_thread(thread(1))
    touched = inbox.touch("telegram:1", at=5000.0)
    assert touched is not None and touched.last_message_at == 5000.0
    assert inbox.version() > before
    kept = Thread("t9", "whatsapp:+1", "whatsapp", "support", "asked", 1.0,
                  variants=(("exp", "bot"),), vars={"order_id": "A1234"})  # fmt: skip
    inbox.open_thread(kept)
    assert inbox.thread("t9") == kept


def test_variants_vars_times_and_unicode_come_back_exactly(inbox: InboxStore) -> None:
    """Redis scripts must not re-encode what Python wrote: Lua's cjson turns [] into {} and
    writes numbers with 14 digits. Every change keeps the thread exact, in every backend."""
    inbox.put_agent(Agent("zoë", "Zoë Ñandú 😀", "h", capacity=1))
    plain = Thread("t-ü", "telegram:ünï", "telegram", "søg/ø", 'asked "why"\n', 1717171717.123456,
                   shopper_name="Zoë 😀\u2028")  # fmt: skip
    rich = Thread("t-r", "whatsapp:+1", "whatsapp", "support", "asked", 1717171717.000001,
                  variants=(("exp", "bot"), ("ü", "")),
                  vars={"items": [], "meta": {}, "deep": [[], {}], "n": 12345678901234567,
                        "f": 0.1, "name": "Zoë"})  # fmt: skip
    assert (plain.variants, plain.vars) == ((), {})
    for t in (plain, rich):
        assert inbox.open_thread(t) == t
        assert inbox.thread(t.id) == t
    stored = inbox.thread("t-ü")
    assert stored is not None and (type(stored.variants), type(stored.vars)) == (tuple, dict)
    assert inbox.waiting("support") == [rich]
    assert inbox.thread("t-r").vars["deep"] == [[], {}]  # type: ignore[union-attr]

    claimed = inbox.claim("t-ü", "zoë", now=1717171800.987654)
    assert claimed == replace(plain, status="assigned", agent="zoë", claimed_at=1717171800.987654,
                              updated_at=1717171800.987654)  # fmt: skip
    assert inbox.thread("t-ü") == claimed and inbox.assigned_to("zoë") == [claimed]
    assert inbox.recent_waits("søg/ø") == [1717171800.987654 - 1717171717.123456]
    with pytest.raises(CapacityFull, match="Zoë Ñandú 😀 already has 1 of 1 threads"):
        inbox.claim("t-r", "zoë", now=1717171801.5)
    touched = inbox.touch("telegram:ünï", at=1717171802.000003)
    assert touched == replace(claimed, last_message_at=1717171802.000003,
                              updated_at=1717171802.000003)  # fmt: skip
    back = inbox.transfer("t-ü", None, "ørders", now=1717171803.25)
    inbox.responded("t-ü", now=1717171804.125)
    done = inbox.resolve("t-ü", "løst ✓", now=1717171805.0625)
    assert done == replace(back, status="resolved", outcome="løst ✓", resolved_at=1717171805.0625,
                           first_response_at=1717171804.125, updated_at=1717171805.0625)  # fmt: skip
    assert (back.queue, back.agent, back.status) == ("ørders", None, "waiting")
    assert inbox.thread("t-ü") == done and inbox.threads_of("telegram:ünï") == [done]
    assert inbox.recent_waits("ørders") == [1717171800.987654 - 1717171717.123456]
    assert inbox.thread("t-r") == rich
