"""The claim-and-commit loop of one spawned process in the two-process test."""

from __future__ import annotations

import time
from typing import Any

from tests.contract.helpers import commit

TURN_S = 0.002  # a turn takes a moment, so neither process can starve the other


def process_main(spec: Any, worker: str, start: Any, results: Any) -> None:
    """Claim and commit from the shared store until its queue is empty; report what it took."""
    store = spec.open()
    claimed: list[tuple[str, str]] = []
    try:
        start.wait(30)  # both processes begin together
        stop = time.monotonic() + 20
        while store.queue_depth() > 0 and time.monotonic() < stop:
            claim = store.claim(worker, time.time(), 30.0)
            if claim is None:
                time.sleep(0.001)
                continue
            claimed.append((claim.conversation, claim.inbound.message_id))
            time.sleep(TURN_S)
            assert commit(store, claim, time.time()), f"{worker} lost a lease it just took"
    finally:
        store.close()
        results.put((worker, claimed))
