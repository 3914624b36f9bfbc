"""Claim-and-commit loops shared by the thread and process concurrency tests."""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.store.base import Store
from tests.contract.helpers import commit

Record = Callable[[str, str], None]


def drain(
    store: Store,
    worker: str,
    total: int,
    done: Callable[[], int],
    record: Record,
    *,
    deadline_s: float = 20.0,
) -> int:
    """Claim and commit until `done()` reaches `total`; returns how many this worker committed."""
    mine = 0
    stop = time.monotonic() + deadline_s
    while done() < total and time.monotonic() < stop:
        claim = store.claim(worker, time.time(), 30.0)
        if claim is None:
            time.sleep(0.001)
            continue
        record(claim.conversation, claim.inbound.message_id)
        assert commit(store, claim, time.time()), f"{worker} lost a lease it just took"
        mine += 1
    return mine


def process_main(spec: object, worker: str, total: int, results: object) -> None:
    """Entry point of a spawned process: drain the shared store, report what it claimed."""
    store = spec.open()  # type: ignore[attr-defined]
    claimed: list[tuple[str, str]] = []
    try:
        drain(
            store,
            worker,
            total,
            lambda: total - store.queue_depth(),
            lambda conv, mid: claimed.append((conv, mid)),
        )
    finally:
        store.close()
        results.put((worker, claimed))  # type: ignore[attr-defined]
