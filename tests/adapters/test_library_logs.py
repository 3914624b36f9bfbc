"""What the platform client libraries write into the gateway's log: never a shopper's text or
name, not even at LOG_LEVEL=DEBUG, and no request dumps. A child process configures logging as
`gateway serve` does and sends one reply through each real client to the local sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.server import Sandbox

ROOT = Path(__file__).resolve().parents[2]
SEND = """
import json, sys
sys.path.insert(0, sys.argv[3])
from adapter_helpers import messenger_config, telegram_config, whatsapp_config
from adapters.messenger.adapter import MessengerAdapter
from adapters.telegram.adapter import TelegramAdapter
from adapters.whatsapp.adapter import WhatsAppAdapter
from flows.messages import Button, Reply
from gateway.logs import setup_logging

setup_logging(sys.argv[1])
urls, t = json.loads(sys.argv[2]), {"connect_timeout_s": 2.0, "read_timeout_s": 5.0}
for adapter, to in [
    (WhatsAppAdapter(whatsapp_config(api_base_url=urls["whatsapp"], **t)), "+447700900123"),
    (MessengerAdapter(messenger_config(graph_base_url=urls["messenger"], **t)), "7300000000000001"),
    (TelegramAdapter(telegram_config(api_base_url=urls["telegram"], **t)), "100000002"),
]:
    for out in adapter.render(Reply("Order Z9876 for Zelda Quux", buttons=(Button("Yes", "y"),)), to):
        print(type(adapter.send(out)).__name__)
    adapter.close()
"""


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_client_libraries_log_no_message_text_and_no_request_dumps(level: str) -> None:
    with Sandbox(env={}) as sandbox:
        urls = {
            "whatsapp": sandbox.twilio_base_url,
            "messenger": sandbox.graph_base_url,
            "telegram": sandbox.telegram_base_url,
        }
        run = subprocess.run(
            [sys.executable, "-c", SEND, level, json.dumps(urls), str(ROOT / "tests" / "adapters")],
            capture_output=True, text=True, cwd=ROOT, timeout=60,
        )  # fmt: skip
        assert [len(sandbox.sent(channel)) for channel in urls] == [1, 1, 1]
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["Sent"] * 3
    lines = [json.loads(line) for line in run.stderr.splitlines()]  # each one a JSON event
    assert "Zelda" not in run.stderr and "Z9876" not in run.stderr  # PTB's debug lines had both
    assert "appsecret_proof" not in run.stderr  # urllib3's debug lines: the Graph query string
    assert not [line for line in lines if line["logger"].startswith("twilio")]  # 11 a message
