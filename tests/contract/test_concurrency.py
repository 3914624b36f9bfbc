"""Many workers at once: every message exactly once, in order, one per conversation at a time.

"In flight" runs from the claim returning to the commit starting: a second claim of the same
conversation inside that window is the bug these tests catch.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
from collections import Counter

from gateway.store.base import Store
from tests.contract.claimers import process_main
from tests.contract.conftest import StoreSpec
from tests.contract.helpers import TTL, commit, inbound, key

CONVERSATIONS = 20
MESSAGES = 400


def _fill(store: Store, conversations: int, messages: int) -> dict[str, list[str]]:
    expected: dict[str, list[str]] = {}
    rng = random.Random(7)
    counters = [0] * conversations
    now = time.time()
    for _ in range(messages):
        c = rng.randrange(conversations)
        conv, n = f"c{c}", counters[c]
        counters[c] += 1
        assert store.enqueue(inbound(conv, n), now, TTL)
        expected.setdefault(key(conv), []).append(f"{conv}-{n}")
    return expected


def test_threads_process_every_message_once_and_in_order(store: Store) -> None:
    expected = _fill(store, CONVERSATIONS, MESSAGES)
    lock = threading.Lock()
    busy: set[str] = set()
    order: dict[str, list[str]] = {}
    problems: list[str] = []
    committed = Counter[str]()

    def work(name: str) -> None:
        stop = time.monotonic() + 20
        while sum(committed.values()) < MESSAGES and time.monotonic() < stop:
            claim = store.claim(name, time.time(), 30.0)
            if claim is None:
                time.sleep(0.0005)
                continue
            with lock:
                if claim.conversation in busy:
                    problems.append(f"two in flight for {claim.conversation}")
                busy.add(claim.conversation)
                order.setdefault(claim.conversation, []).append(claim.inbound.message_id)
            with lock:  # from here on the next message may be claimed as soon as we commit
                busy.discard(claim.conversation)
            ok = commit(store, claim, time.time())
            with lock:
                if not ok:
                    problems.append(f"lost lease on {claim.inbound.message_id}")
                committed[name] += 1

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert problems == []
    assert order == expected
    assert sum(committed.values()) == MESSAGES
    assert store.queue_depth() == 0
    for conv, ids in expected.items():
        assert [
            h.data["message_id"] for h in store.history(conv, limit=1000) if h.direction == "in"
        ] == ids


def test_threads_send_each_outbox_item_once_and_in_order(store: Store) -> None:
    expected = _fill(store, 10, 60)
    while (claim := store.claim("w", time.time(), 30.0)) is not None:
        assert commit(store, claim, time.time(), replies=2)
    lock = threading.Lock()
    busy: set[str] = set()
    sent: dict[str, list[str]] = {}
    problems: list[str] = []
    total = 120

    def send(name: str) -> None:
        stop = time.monotonic() + 20
        while sum(map(len, sent.values())) < total and time.monotonic() < stop:
            items = store.claim_outbox(time.time(), 30.0, 4)
            if not items:
                time.sleep(0.0005)
                continue
            for item in items:
                with lock:
                    if item.conversation in busy:
                        problems.append(f"two in flight for {item.conversation}")
                    busy.add(item.conversation)
                    sent.setdefault(item.conversation, []).append(item.id)
                with lock:
                    busy.discard(item.conversation)
                store.outbox_sent(item.id, f"p-{item.id}", time.time())

    threads = [threading.Thread(target=send, args=(f"s{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert problems == []
    assert sent == {
        conv: [f"{conv}:{mid}:{i}" for mid in mids for i in range(2)]
        for conv, mids in expected.items()
    }


def test_two_processes_never_claim_the_same_message(spec: StoreSpec) -> None:
    store = spec.open()
    try:
        expected = _fill(store, 10, 200)
    finally:
        store.close()
    ctx = multiprocessing.get_context("spawn")
    results, start = ctx.Queue(), ctx.Barrier(2)
    procs = [
        ctx.Process(target=process_main, args=(spec, f"p{i}", start, results)) for i in range(2)
    ]
    for p in procs:
        p.start()
    got = dict(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    results.close()
    results.join_thread()

    claimed = [m for items in got.values() for m in items]
    assert len(claimed) == 200
    assert len(set(claimed)) == 200  # no message claimed twice
    assert all(got.values()), "one process did all the work: no real concurrency was tested"
    store = spec.open()
    try:
        assert store.queue_depth() == 0
        for conv, ids in expected.items():
            history = store.history(conv, limit=1000)
            assert [h.data["message_id"] for h in history if h.direction == "in"] == ids
    finally:
        store.close()
