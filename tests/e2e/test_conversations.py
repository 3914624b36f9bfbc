"""End to end on real HTTP: signed webhooks in, replies observed at the platform sandbox."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.e2e.conftest import Stack, sign
from tests.harness import metric


@pytest.mark.parametrize("channel", ["whatsapp", "messenger", "telegram"])
def test_three_turn_conversation_on_each_channel(stack: Stack, channel: str) -> None:
    shopper = stack.shopper(channel, "Ann Lee")
    stack.say(channel, shopper, "hi")
    sent = stack.wait_sent(channel, shopper, 2)
    assert sent[0]["text"].startswith("Hi Ann! 👋 Welcome to Acme Shoes.")
    assert "a bot" in sent[0]["text"]
    stack.say(channel, shopper, "trak my ordr")
    sent = stack.wait_sent(channel, shopper, 3)
    assert sent[2]["text"].startswith("What's your order number?")
    stack.say(channel, shopper, "A1234")
    sent = stack.wait_sent(channel, shopper, 5)
    assert "A1234 is on its way" in sent[3]["text"]
    assert sent[4]["text"].startswith("Is there anything else")


def test_history_is_saved_in_order_and_redacted(stack: Stack) -> None:
    shopper = stack.shopper("telegram")
    stack.say("telegram", shopper, "hi")
    stack.wait_sent("telegram", shopper, 2)
    stack.say("telegram", shopper, "my card 4111 1111 1111 1111 exp 12/29 cvv 123")
    stack.wait_sent("telegram", shopper, 3)
    time.sleep(0.1)
    history = stack.gw.store.history(f"telegram:{shopper}")
    texts = [(h.direction, h.text) for h in history]
    assert texts[0] == ("in", "hi")
    assert texts[1][0] == "out" and texts[1][1].startswith("Hi Ann!")
    card_line = next(t for d, t in texts if d == "in" and "card" in t)
    assert "4111" not in card_line and "123" not in card_line and "[card redacted]" in card_line
    events = stack.gw.store.events(f"telegram:{shopper}")
    fallback = next(e for e in events if e["type"] == "Fallback")  # the text the bot did not get
    assert "4111" not in fallback["text"] and "[card redacted]" in fallback["text"]


def test_platform_redelivery_yields_one_reply(stack: Stack) -> None:
    first = stack.post_fixture("telegram/text_private.json")
    second = stack.post_fixture("telegram/text_private_redelivery.json")
    assert first.status_code == second.status_code == 200
    chat = str(json.loads(sign.read_fixture("telegram/text_private.json"))["message"]["chat"]["id"])
    stack.wait_sent("telegram", chat, 3)
    time.sleep(0.5)
    sent = stack.sandbox.sent("telegram", to=chat)
    # "Is this coat still available in size M?" in Chinese: the greeting, the answer to the
    # product question and what happens next, all in Simplified Chinese, once.
    assert len(sent) == 3
    assert sent[0]["text"].startswith("您好，测试！")
    assert metric(stack.gw, "gw_deduplicated_total", channel="telegram") == 1


def test_fifty_messages_of_one_conversation_are_processed_in_arrival_order(stack: Stack) -> None:
    shopper = stack.shopper("telegram")
    stack.say("telegram", shopper, "hi")
    stack.wait_sent("telegram", shopper, 2)
    for i in range(50):
        stack.say("telegram", shopper, f"message {i}")
    inbound = stack.wait_inbound("telegram", shopper, 51)
    assert inbound[1:] == [f"message {i}" for i in range(50)]


def test_platform_500_then_200_is_retried(stack: Stack) -> None:
    shopper = stack.shopper("telegram")
    stack.sandbox.fail_next("telegram", 500, count=1)
    stack.say("telegram", shopper, "hi")
    sent = stack.wait_sent("telegram", shopper, 2)
    assert sent[0]["text"].startswith("Hi Ann!")
    attempts = stack.sandbox.attempts("telegram", to=shopper)
    assert [a["status"] for a in attempts][:2] == [500, 200]


def test_platform_400_goes_to_the_dead_letter_list(stack: Stack) -> None:
    shopper = stack.shopper("telegram")
    stack.sandbox.fail_next("telegram", 400, body="chat_not_found", count=1)
    stack.say("telegram", shopper, "hi")
    stack.wait_sent("telegram", shopper, 1)  # the menu still goes out after the dead greeting
    dead = stack.gw.store.dead_letters()
    assert len(dead) == 1 and dead[0].conversation == f"telegram:{shopper}"
    assert "permanent" in (dead[0].last_error or "")
    assert stack.gw.store.retry_dead(dead[0].id, time.time())
    stack.gw.outbox_ready.set()
    stack.wait_sent("telegram", shopper, 2)


def test_health_ready_and_metrics(stack: Stack) -> None:
    assert requests.get(stack.url + "/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(stack.url + "/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["store"] is True
    stack.post_fixture("telegram/text_private.json")
    metrics = requests.get(stack.url + "/metrics", timeout=5).text
    assert 'gw_received_total{channel="telegram"} 1.0' in metrics


def test_outbox_command_lists_and_retries_dead_letters(stack: Stack) -> None:
    import subprocess
    import sys

    shopper = stack.shopper("telegram")
    stack.sandbox.fail_next("telegram", 403, body="blocked", count=1)
    stack.say("telegram", shopper, "hi")
    stack.wait_sent("telegram", shopper, 1)
    env = {"STORE_URL": stack.gw.config.store_url, "PATH": "/usr/bin:/bin"}
    listed = subprocess.run([sys.executable, "-m", "gateway", "outbox", "--failed"], env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.strip().splitlines()
    item_id = line.split("\t")[0]
    assert item_id.startswith(f"telegram:{shopper}:") and "unreachable" in line
    retried = subprocess.run([sys.executable, "-m", "gateway", "outbox", "--retry", item_id], env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert retried.returncode == 0 and "queued again" in retried.stdout
    missing = subprocess.run([sys.executable, "-m", "gateway", "outbox", "--retry", "nope"], env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert missing.returncode == 1 and "no dead-letter message nope" in missing.stderr
