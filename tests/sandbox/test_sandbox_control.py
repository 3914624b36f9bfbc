"""The sandbox's HTTP controls, for tests and benchmarks in another process."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import requests
from conftest import BOT_TOKEN

from sandbox.server import Sandbox


def send_telegram(sb, chat_id: int, text: str) -> requests.Response:
    url = f"{sb.telegram_base_url}{BOT_TOKEN}/sendMessage"
    return requests.post(url, json={"chat_id": chat_id, "text": text}, timeout=5)


def test_http_sent_filters_by_channel_and_to_and_clears(sb):
    send_telegram(sb, 1, "a")
    send_telegram(sb, 2, "b")
    body = requests.get(f"{sb.base_url}/_sandbox/sent", params={"to": "2"}, timeout=5).json()
    assert body["count"] == 1 and body["sent"][0]["text"] == "b"
    body = requests.get(f"{sb.base_url}/_sandbox/sent?channel=messenger", timeout=5).json()
    assert body["count"] == 0
    assert requests.delete(f"{sb.base_url}/_sandbox/sent", timeout=5).status_code == 204
    assert sb.sent() == []


def test_http_faults_apply_in_order_and_count_down(sb):
    fault = {"channel": "telegram", "status": 403, "count": 2}
    response = requests.post(f"{sb.base_url}/_sandbox/faults", json=fault, timeout=5)
    assert response.status_code == 201 and response.json()["pending"][0]["count"] == 2
    statuses = [send_telegram(sb, 1, "x").status_code for _ in range(3)]
    assert statuses == [403, 403, 200]
    assert requests.get(f"{sb.base_url}/_sandbox/faults", timeout=5).json()["pending"] == []
    every = requests.get(f"{sb.base_url}/_sandbox/sent?all=1", timeout=5).json()
    assert [s["status"] for s in every["sent"]] == [403, 403, 200]


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 400},
        {"channel": "sms", "status": 400},
        {"channel": "messenger", "status": 400, "body": "no_such_error"},
        {"channel": "telegram", "status": 400, "count": 0},
    ],
)
def test_http_bad_fault_is_400_with_the_reason(sb, fault):
    response = requests.post(f"{sb.base_url}/_sandbox/faults", json=fault, timeout=5)
    assert response.status_code == 400 and response.json()["error"]


def test_http_faults_can_be_cleared(sb):
    sb.fail_next("telegram", 500, count=5)
    requests.delete(f"{sb.base_url}/_sandbox/faults", timeout=5)
    assert send_telegram(sb, 1, "x").status_code == 200


def test_http_shoppers_get_stable_fake_identities(sb):
    url = f"{sb.base_url}/_sandbox/shoppers"
    first = requests.post(url, json={"channel": "whatsapp", "name": "Ana"}, timeout=5).json()
    again = requests.post(url, json={"channel": "whatsapp", "name": "Ana"}, timeout=5).json()
    other = requests.post(url, json={"channel": "whatsapp", "name": "Bo"}, timeout=5).json()
    assert first == again and first["address"].startswith("+120255501")
    assert other["address"] != first["address"]


def test_recording_is_ordered_under_concurrent_sends(sb):
    def burst(chat: int) -> None:
        for i in range(20):
            send_telegram(sb, chat, str(i))

    threads = [threading.Thread(target=burst, args=(c,)) for c in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = sb.sent()
    assert len(sent) == 60
    assert [s["seq"] for s in sent] == sorted(s["seq"] for s in sent)
    for chat in ("1", "2", "3"):
        assert [s["text"] for s in sb.sent(to=chat)] == [str(i) for i in range(20)]


def test_sandbox_base_url_needs_a_running_sandbox():
    with pytest.raises(RuntimeError, match="not running"):
        _ = Sandbox(env={}).base_url


def test_module_entry_point_prints_help():
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "--gateway-url" in result.stdout and "--port" in result.stdout
