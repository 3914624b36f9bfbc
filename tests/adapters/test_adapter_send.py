"""Sending through the real client libraries (twilio, pymessenger, python-telegram-bot) against
the local sandbox on a free port: every outbound fixture's error class, timeouts, typing."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from adapter_helpers import FIXTURES, messenger_config, sign, telegram_config, whatsapp_config

from adapters.base import Failed, RetryLater, Sent, Uncertain
from adapters.messenger.adapter import MessengerAdapter
from adapters.messenger.client import response_result
from adapters.telegram.adapter import TelegramAdapter
from adapters.whatsapp.adapter import WhatsAppAdapter
from adapters.whatsapp.client import message_resource_result
from flows.messages import Attachment, Button, Reply
from sandbox.server import Sandbox

MANIFEST = sign.load_manifest()
CHANNEL = {"twilio": "whatsapp", "messenger": "messenger", "telegram": "telegram"}
TO = {"whatsapp": "+447700900123", "messenger": "7300000000000001", "telegram": "100000002"}
ERRORS = sorted(
    rel
    for rel, e in MANIFEST.items()
    if e["direction"] == "outbound_response" and e["http_status"] >= 400
)
# expect tag → (result type, failure kind)
OUTCOMES: dict[str, tuple[type, str | None]] = {
    "retry_later": (RetryLater, None),
    "permanent_failure": (Failed, "permanent"),
    "failed_outside_window": (Failed, "outside_window"),
    "config_error_alert": (Failed, "config_error"),
    "mark_unreachable": (Failed, "unreachable"),
    "uncertain_maybe_sent": (Uncertain, None),
}
PLATFORM_CODES = {
    "outbound/twilio_429_20429.json": "20429",
    "outbound/twilio_400_21211.json": "21211",
    "outbound/twilio_500_20500.json": "20500",
    "outbound/graph_613_rate_limit.json": "613",
    "outbound/graph_4_app_rate_limit.json": "4",
    "outbound/graph_10_2018278_outside_window.json": "10/2018278",
    "outbound/graph_551_user_unavailable.json": "551/1545041",
    "outbound/graph_190_invalid_token.json": "190",
    "outbound/telegram_429.json": "429",
    "outbound/telegram_403_blocked.json": "403",
    "outbound/telegram_400_chat_not_found.json": "400",
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(env={}) as sb:
        yield sb


def _build(channel: str, base_url: str, read_s: float = 5.0) -> Any:
    timeouts = {"connect_timeout_s": 1.0, "read_timeout_s": read_s}
    if channel == "whatsapp":
        return WhatsAppAdapter(whatsapp_config(api_base_url=base_url, **timeouts))
    if channel == "messenger":
        return MessengerAdapter(messenger_config(graph_base_url=base_url, **timeouts))
    return TelegramAdapter(telegram_config(api_base_url=base_url, **timeouts))


def _base(sandbox: Sandbox, channel: str) -> str:
    return {
        "whatsapp": sandbox.twilio_base_url,
        "messenger": sandbox.graph_base_url,
        "telegram": sandbox.telegram_base_url,
    }[channel]


@pytest.fixture
def live(sandbox: Sandbox) -> Iterator[dict[str, Any]]:
    sandbox.clear()
    sandbox.clear_faults()
    built = {channel: _build(channel, _base(sandbox, channel)) for channel in TO}
    yield built
    for adapter in built.values():
        adapter.close()


def _send_all(adapter: Any, reply: Reply, to: str) -> list[Any]:
    return [adapter.send(out) for out in adapter.render(reply, to)]


@pytest.mark.parametrize("channel", ["whatsapp", "messenger", "telegram"])
def test_reply_is_sent_through_the_real_client(
    live: dict[str, Any], sandbox: Sandbox, channel: str
) -> None:
    results = _send_all(
        live[channel], Reply("Pick a size 👕", buttons=(Button("M", "size:M"),)), TO[channel]
    )
    assert all(isinstance(r, Sent) and r.platform_message_id for r in results)
    (sent,) = sandbox.sent(channel)
    assert sent["to"].removeprefix("whatsapp:") == TO[channel]
    assert "Pick a size 👕" in sent["text"]


def test_whatsapp_sends_from_the_configured_number(live: dict[str, Any], sandbox: Sandbox) -> None:
    live["whatsapp"].send(live["whatsapp"].render(Reply("Hi"), TO["whatsapp"])[0])
    raw = sandbox.sent("whatsapp")[0]["raw"]
    assert (raw["From"], raw["To"], raw["Body"]) == (
        "whatsapp:+12025550100",
        "whatsapp:+447700900123",
        "Hi",
    )


def test_whatsapp_quick_reply_template_goes_out_as_content_sid(sandbox: Sandbox) -> None:
    sandbox.clear()
    sid = sandbox.add_content(
        {"twilio/quick-reply": {"body": "{{1}}", "actions": [{"title": "{{2}}", "id": "{{3}}"}]}}
    )
    adapter = WhatsAppAdapter(
        whatsapp_config(api_base_url=sandbox.twilio_base_url, quick_reply_sids={1: sid})
    )
    try:
        (out,) = adapter.render(
            Reply("Track it?", buttons=(Button("Track", "TRACK"),)), TO["whatsapp"]
        )
        assert isinstance(adapter.send(out), Sent)
    finally:
        adapter.close()
    raw = sandbox.sent("whatsapp")[0]["raw"]
    assert raw["ContentSid"] == sid
    assert json.loads(raw["ContentVariables"]) == {"1": "Track it?", "2": "Track", "3": "TRACK"}


def test_messenger_human_agent_tag_reaches_the_send_api(
    live: dict[str, Any], sandbox: Sandbox
) -> None:
    adapter = live["messenger"]
    window = adapter.window(0.0, 3 * 86400.0, author="Ann")
    (out,) = adapter.render(Reply("Back to you", author="Ann"), TO["messenger"], window)
    assert isinstance(adapter.send(out), Sent)
    raw = sandbox.sent("messenger")[0]["raw"]
    assert (raw["messaging_type"], raw["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")


def test_telegram_keyboard_and_photo_reach_the_bot_api(
    live: dict[str, Any], sandbox: Sandbox
) -> None:
    reply = Reply(
        "Nice?",
        buttons=(Button("Yes", "yes"),),
        media=(Attachment("image", "https://cdn.test/a.jpg"),),
    )
    results = _send_all(live["telegram"], reply, TO["telegram"])
    assert all(isinstance(r, Sent) for r in results)
    photo, text = sandbox.sent("telegram")
    assert photo["raw"]["photo"] == "https://cdn.test/a.jpg"
    assert text["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "yes"
    assert "parse_mode" not in text["raw"]


@pytest.mark.parametrize("channel", ["messenger", "telegram"])
def test_typing_indicator_is_a_separate_call(
    live: dict[str, Any], sandbox: Sandbox, channel: str
) -> None:
    assert isinstance(live[channel].typing(TO[channel]), Sent)
    assert len(sandbox.sent(channel)) == 1


def test_whatsapp_has_no_typing_indicator(live: dict[str, Any]) -> None:
    assert live["whatsapp"].typing(TO["whatsapp"]) is None


def test_telegram_callback_query_can_be_answered_explicitly(
    live: dict[str, Any], sandbox: Sandbox
) -> None:
    sandbox.state.telegram_callbacks["4382000000000000003"] = TO["telegram"]  # as if pressed
    assert isinstance(live["telegram"].answer_callback_query("4382000000000000003"), Sent)
    assert sandbox.sent("telegram")[0]["raw"]["callback_query_id"] == "4382000000000000003"


def test_telegram_expired_callback_query_is_a_permanent_failure(live: dict[str, Any]) -> None:
    result = live["telegram"].answer_callback_query("no-such-query")
    assert isinstance(result, Failed) and (result.kind, result.code) == ("permanent", "400")


@pytest.mark.parametrize("rel", ERRORS)
def test_platform_error_is_classified_on_its_own_code(
    live: dict[str, Any], sandbox: Sandbox, rel: str
) -> None:
    entry = MANIFEST[rel]
    channel = CHANNEL[entry["platform"]]
    sandbox.fail_next(channel, entry["http_status"], body=(FIXTURES / rel).read_bytes())
    (out,) = live[channel].render(Reply("Hello"), TO[channel])
    result = live[channel].send(out)
    kind, failure = OUTCOMES[entry["expect"]]
    assert isinstance(result, kind), result
    assert getattr(result, "kind", None) == failure
    assert result.code == PLATFORM_CODES[rel]


def test_telegram_retry_after_is_honoured(live: dict[str, Any], sandbox: Sandbox) -> None:
    sandbox.fail_next("telegram", 429, body=(FIXTURES / "outbound/telegram_429.json").read_bytes())
    result = live["telegram"].send(live["telegram"].render(Reply("Hi"), TO["telegram"])[0])
    assert result == RetryLater(7.0, "429", "flood control", throttled=True)


def test_twilio_retry_after_header_is_honoured(live: dict[str, Any], sandbox: Sandbox) -> None:
    sandbox.fail_next("whatsapp", 429, retry_after=12)
    result = live["whatsapp"].send(live["whatsapp"].render(Reply("Hi"), TO["whatsapp"])[0])
    assert isinstance(result, RetryLater) and result.delay_s == 12.0


def test_fetched_message_failed_with_63016_needs_a_template() -> None:
    rel = "outbound/twilio_message_failed_63016.json"
    assert MANIFEST[rel]["expect"] == "failed_needs_template"
    resource = json.loads((FIXTURES / rel).read_bytes())
    assert message_resource_result(resource) == Failed(
        "needs_template", "63016", "outside the 24 h window: an approved template is required"
    )


@pytest.mark.parametrize("channel", ["whatsapp", "messenger", "telegram"])
def test_sent_carries_the_platform_message_id(
    live: dict[str, Any], sandbox: Sandbox, channel: str
) -> None:
    result = live[channel].send(live[channel].render(Reply("Hi"), TO[channel])[0])
    recorded = sandbox.sent(channel)[0]
    platform_id = str(recorded.get("id") or recorded.get("message_id"))
    if channel == "telegram":  # numbered per chat: the chat makes it unique
        platform_id = f"{TO[channel]}:{platform_id}"
    assert result == Sent(platform_id)


def test_success_fixture_bodies_give_sent_with_their_ids() -> None:
    """The sandbox answers successes itself, so the recorded 200/201 bodies are read directly."""
    twilio = json.loads((FIXTURES / "outbound/twilio_create_201.json").read_bytes())
    assert message_resource_result(twilio) == Sent("SM00000000000000000000000000005001")
    graph = requests.Response()
    graph.status_code, graph._content = (
        200,
        (FIXTURES / "outbound/graph_send_200.json").read_bytes(),
    )
    assert response_result(graph) == Sent(
        "m_FAKE-mid-0020-aGVsbG8tdGhpcy1pcy1hLWZha2UtbWVzc2FnZS1pZA"
    )


@pytest.mark.parametrize("channel", ["whatsapp", "messenger", "telegram"])
def test_read_timeout_means_maybe_sent(sandbox: Sandbox, channel: str) -> None:
    sandbox.clear_faults()
    adapter = _build(channel, _base(sandbox, channel), read_s=0.2)
    try:
        sandbox.fail_next(channel, None, delay=0.6)
        result = adapter.send(adapter.render(Reply("Slow"), TO[channel])[0])
    finally:
        adapter.close()
    assert isinstance(result, Uncertain), result


@pytest.mark.parametrize("channel", ["whatsapp", "messenger", "telegram"])
def test_connection_refused_means_not_sent_retry_later(channel: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again at once: nothing listens there
    adapter = _build(channel, f"http://127.0.0.1:{port}/")
    try:
        result = adapter.send(adapter.render(Reply("Hi"), TO[channel])[0])
    finally:
        adapter.close()
    assert isinstance(result, RetryLater), result


def test_telegram_gateway_error_without_a_json_body_is_retried(
    live: dict[str, Any], sandbox: Sandbox
) -> None:
    sandbox.fail_next("telegram", 502, body=b"<html>Bad Gateway</html>")
    result = live["telegram"].send(live["telegram"].render(Reply("Hi"), TO["telegram"])[0])
    assert isinstance(result, RetryLater) and result.code == "502"


def test_telegram_connection_dropped_after_the_request_means_maybe_sent() -> None:
    """The Bot API read the request and hung up: it may have sent the message."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def hang_up() -> None:
            conn, _ = server.accept()
            conn.recv(65536)
            conn.close()

        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        adapter = _build("telegram", f"http://127.0.0.1:{server.getsockname()[1]}/bot")
        try:
            result = adapter.send(adapter.render(Reply("Hi"), TO["telegram"])[0])
        finally:
            adapter.close()
        thread.join(5)
    assert result == Uncertain("connection_lost", "connection dropped after sending")
