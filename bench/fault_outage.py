"""A Twilio outage against the real gateway and sandbox: replies lost and doubled.

1,000 WhatsApp conversations (BENCH_OUTAGE_CHATS) each say "hi" (two replies) while Twilio
answers 500 for 60 seconds (BENCH_OUTAGE_S); the first 3 of those 500s come after the message
had gone out (Twilio's "maybe sent"). Counted at the fake platform: every reply must arrive
once. Prints `name: value unit` lines. Run: `make faults` or `.venv/bin/python
bench/fault_outage.py` (about BENCH_OUTAGE_S + 30 seconds).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import start_stack  # noqa: E402  (the real stack the e2e tests use)

CHATS = int(os.environ.get("BENCH_OUTAGE_CHATS", "1000"))
OUTAGE_S = float(os.environ.get("BENCH_OUTAGE_S", "60"))
ACTED = 3  # fewer than the circuit breaker's threshold: the timed outage is what opens it
REPLIES = 2


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        stack, stop = start_stack(Path(tmp))
        try:
            shoppers = [
                stack.shopper("whatsapp", f"Shopper {i}", variant=None) for i in range(CHATS)
            ]
            sandbox = stack.sandbox
            sandbox.fail_next("whatsapp", 500, count=ACTED, method="messages.create", acted=True)
            sandbox.fail_for("whatsapp", OUTAGE_S, 500, method="messages.create")
            started = time.monotonic()
            for shopper in shoppers:
                stack.say("whatsapp", shopper, "hi")
            wanted = CHATS * REPLIES
            deadline = started + OUTAGE_S + 120
            while time.monotonic() < deadline and len(sandbox.sent("whatsapp")) < wanted:
                time.sleep(0.25)
            done = time.monotonic() - started
            time.sleep(2)  # a reply sent twice would arrive now
            lost = doubled = 0
            by_shopper: dict[str, Counter[str]] = {}
            for entry in sandbox.sent("whatsapp"):
                by_shopper.setdefault(entry["conversation"], Counter())[entry["text"]] += 1
            for shopper in shoppers:
                texts = by_shopper.get(shopper, Counter())
                lost += max(0, REPLIES - len(texts))
                doubled += sum(n - 1 for n in texts.values())
            failed = sum(1 for a in sandbox.attempts("whatsapp") if a.get("status") == 500)
            print(f"outage_chats: {CHATS} chats x {REPLIES} replies, {OUTAGE_S:.0f} s of HTTP 500")
            print(f"outage_replies_lost: {lost} replies")
            print(f"outage_replies_doubled: {doubled} replies")
            print(f"outage_dead_letters: {len(stack.gw.store.dead_letters())} replies")
            print(f"outage_platform_500s_answered: {failed} requests")
            print(f"outage_all_delivered_after_s: {done:.1f} s")
            print(f"outage_recovery_after_end_s: {max(0.0, done - OUTAGE_S):.1f} s")
        finally:
            stop()


if __name__ == "__main__":
    main()
