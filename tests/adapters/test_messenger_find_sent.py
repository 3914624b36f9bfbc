"""Messenger's `find_sent` against the sandbox's Conversations API, over real HTTP: a send whose
answer was lost is found by its text among the page's latest messages since the reply was made,
and a page token without the rights to read conversations gives "cannot tell"."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from itertools import count
from typing import Any

import pytest
import requests
from adapter_helpers import PAGE_TOKEN, messenger_config

from adapters.base import CannotTell, NotSent, Outgoing, RetryLater, Sent, Uncertain
from adapters.messenger.adapter import CLOCK_SLACK_S, FIND_LIMIT, MessengerAdapter
from flows.messages import Attachment, Button, Reply
from sandbox.config import TEST_PAGE_ID
from sandbox.server import Sandbox

_names = count(1)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(env={}) as sb:
        yield sb


@pytest.fixture
def adapter(sandbox: Sandbox) -> Iterator[MessengerAdapter]:
    sandbox.clear_faults()
    built = MessengerAdapter(
        messenger_config(graph_base_url=sandbox.graph_base_url, read_timeout_s=2.0)
    )
    yield built
    built.close()
    sandbox.clear_faults()


@pytest.fixture
def psid(sandbox: Sandbox) -> str:
    """A new shopper, so each test reads its own conversation."""
    return sandbox.add_shopper("messenger", f"Find Sent {next(_names)}")["address"]


def shopper_says(sandbox: Sandbox, psid: str, text: str) -> None:
    r = requests.post(f"{sandbox.base_url}/_sim/api/send", timeout=5,
                      json={"channel": "messenger", "address": psid, "text": text})  # fmt: skip
    assert r.status_code == 201, r.text


def text(adapter: MessengerAdapter, psid: str, words: str) -> Outgoing:
    (out,) = adapter.render(Reply(words), psid)
    return out


def test_a_sent_reply_is_found_with_the_id_the_send_returned(
    adapter: MessengerAdapter, sandbox: Sandbox, psid: str
) -> None:
    shopper_says(sandbox, psid, "hi")
    since = time.time()
    out = text(adapter, psid, "Welcome to the shop 👕")
    sent = adapter.send(out)
    assert isinstance(sent, Sent) and sent.platform_message_id.startswith("m_")
    shopper_says(sandbox, psid, "menu please")  # the shopper wrote since: still found
    assert adapter.find_sent(out, since) == sent


def test_quick_replies_are_compared_on_their_text(
    adapter: MessengerAdapter, sandbox: Sandbox, psid: str
) -> None:
    since = time.time()
    (out,) = adapter.render(Reply("Pick a size", buttons=(Button("M", "size:M"),)), psid)
    assert "quick_replies" in out.payload["message"]
    sent = adapter.send(out)
    assert adapter.find_sent(out, since) == sent


def test_the_right_part_of_a_split_reply_is_found(
    adapter: MessengerAdapter, sandbox: Sandbox, psid: str
) -> None:
    since = time.time()
    parts = adapter.render(Reply("\n\n".join(f"Paragraph {n} " + "x" * 1500 for n in range(3))),
                           psid)  # fmt: skip
    assert len(parts) == 3
    sent = [adapter.send(out) for out in parts[:2]]
    assert adapter.find_sent(parts[1], since) == sent[1]
    assert adapter.find_sent(parts[0], since) == sent[0]
    assert adapter.find_sent(parts[2], since) == NotSent()


def test_a_reply_never_sent_is_not_found(
    adapter: MessengerAdapter, sandbox: Sandbox, psid: str
) -> None:
    out = text(adapter, psid, "Your order has shipped")
    assert adapter.find_sent(out, time.time()) == NotSent()  # no conversation at all
    shopper_says(sandbox, psid, "Your order has shipped")  # the shopper's words are not ours
    adapter.send(text(adapter, psid, "Something else"))
    assert adapter.find_sent(out, time.time() - 5) == NotSent()


def test_the_same_text_sent_before_the_reply_was_made_is_not_taken_for_it(
    adapter: MessengerAdapter, sandbox: Sandbox, psid: str
) -> None:
    out = text(adapter, psid, "Sorry, I did not get that.")
    earlier = adapter.send(out)
    assert isinstance(earlier, Sent)
    # The same words again, for a reply made later than the slack allows: not that one.
    made_later = time.time() + CLOCK_SLACK_S + 1.0
    assert adapter.find_sent(out, made_later) == NotSent()


def test_a_send_whose_answer_timed_out_is_found(
    sandbox: Sandbox, psid: str
) -> None:
    slow = MessengerAdapter(
        messenger_config(graph_base_url=sandbox.graph_base_url, read_timeout_s=0.2)
    )
    try:
        since = time.time()
        out = text(slow, psid, "Your code is 4411")
        sandbox.fail_next("messenger", None, delay=0.6, method="messages")
        assert isinstance(slow.send(out), Uncertain)
        time.sleep(0.6)  # the platform finishes the send the client gave up on
        [delivered] = sandbox.sent("messenger", to=psid)
        assert slow.find_sent(out, since) == Sent(delivered["id"])
    finally:
        slow.close()
        sandbox.clear_faults()


@pytest.mark.parametrize("code", [10, 200, 190])
def test_a_token_that_may_not_read_conversations_cannot_tell(
    adapter: MessengerAdapter, sandbox: Sandbox, psid: str, code: int
) -> None:
    since = time.time()
    out = text(adapter, psid, "Hello")
    adapter.send(out)
    sandbox.deny_conversations_api(code)
    assert adapter.find_sent(out, since) == CannotTell()
    assert [r["status"] for r in sandbox.reads("messenger", to=psid)][-1] == 400


def test_the_refusal_is_logged_once_without_the_token(
    adapter: MessengerAdapter,
    sandbox: Sandbox,
    psid: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = text(adapter, psid, "Hello")
    sandbox.deny_conversations_api(200, status=403)
    with caplog.at_level(logging.DEBUG):
        assert adapter.find_sent(out, time.time()) == CannotTell()
        assert adapter.find_sent(out, time.time()) == CannotTell()
    warnings = [r for r in caplog.records if r.name == "adapters.messenger.adapter"]
    assert [(r.levelno, r.getMessage()) for r in warnings] == [
        (logging.WARNING, "messenger_lookup_refused")
    ]
    assert warnings[0].code == "200"
    assert "pages_read_engagement" in warnings[0].error
    for record in caplog.records:
        assert PAGE_TOKEN not in record.getMessage() + str(record.__dict__)
        assert "Hello" not in str(record.__dict__.get("error"))


@pytest.mark.parametrize(
    ("status", "body", "throttled"),
    [
        (500, None, False),
        (503, None, False),
        (400, "rate_limit", True),  # Graph's rate limits are codes (613), not HTTP 429
        (400, "app_rate_limit", True),
        (429, b"Too Many Requests", True),  # a proxy's 429, no Graph body
    ],
)
def test_a_platform_down_or_throttling_means_ask_again_later(
    adapter: MessengerAdapter, sandbox: Sandbox, psid: str, status: int, body: Any, throttled: bool
) -> None:
    since = time.time()
    out = text(adapter, psid, "Hello")
    adapter.send(out)
    sandbox.fail_next("messenger", status, body=body, method="conversations")
    found = adapter.find_sent(out, since)
    assert isinstance(found, RetryLater), found
    assert (found.code, found.reason, found.throttled) == (
        "find_sent", "could not list messages", throttled)  # fmt: skip
    assert found.delay_s > 0
    assert adapter.find_sent(out, since) == Sent(sandbox.sent("messenger", to=psid)[-1]["id"])


def test_a_lookup_that_times_out_means_ask_again_later(sandbox: Sandbox, psid: str) -> None:
    slow = MessengerAdapter(
        messenger_config(graph_base_url=sandbox.graph_base_url, read_timeout_s=0.2)
    )
    try:
        sandbox.fail_next("messenger", None, delay=0.5, method="conversations")
        found = slow.find_sent(text(slow, psid, "Hi"), time.time())
        assert isinstance(found, RetryLater) and found.code == "find_sent", found
    finally:
        slow.close()
        sandbox.clear_faults()


def test_a_graph_server_error_during_the_page_lookup_is_retried_later(
    sandbox: Sandbox, psid: str
) -> None:
    fresh = MessengerAdapter(messenger_config(graph_base_url=sandbox.graph_base_url))
    try:
        sandbox.fail_next("messenger", 500, method="me")
        assert isinstance(fresh.find_sent(text(fresh, psid, "Hi"), time.time()), RetryLater)
        assert fresh.find_sent(text(fresh, psid, "Hi"), time.time()) == NotSent()
    finally:
        fresh.close()
        sandbox.clear_faults()


def test_the_page_id_is_asked_once_or_taken_from_the_settings(
    sandbox: Sandbox, psid: str
) -> None:
    asked = MessengerAdapter(messenger_config(graph_base_url=sandbox.graph_base_url))
    told = MessengerAdapter(
        messenger_config(graph_base_url=sandbox.graph_base_url, page_id=TEST_PAGE_ID)
    )
    try:
        since = time.time()
        out = text(asked, psid, "Hello")
        sent = asked.send(out)
        before = len([r for r in sandbox.reads("messenger") if r["method"] == "me"])
        assert asked.find_sent(out, since) == sent
        assert asked.find_sent(out, since) == sent
        assert told.find_sent(out, since) == sent
        after = len([r for r in sandbox.reads("messenger") if r["method"] == "me"])
        assert after - before == 1
    finally:
        asked.close()
        told.close()


def test_a_wrong_page_id_in_the_settings_cannot_tell(sandbox: Sandbox, psid: str) -> None:
    """Graph answers that the object does not exist (100/33): nothing to retry."""
    other = MessengerAdapter(
        messenger_config(graph_base_url=sandbox.graph_base_url, page_id="100000000000999")
    )
    try:
        since = time.time()
        out = text(other, psid, "Hello from the page")
        other.send(out)
        assert other.find_sent(out, since) == CannotTell()
    finally:
        other.close()


def test_media_and_templates_are_found_only_when_nothing_went_since(
    adapter: MessengerAdapter, sandbox: Sandbox, psid: str
) -> None:
    since = time.time()
    (image,) = adapter.render(Reply("", media=(Attachment("image", "https://x.test/a.png"),)), psid)
    (template,) = adapter.render(
        Reply("Track it?", buttons=(Button("Track", "https://x.test/t", kind="url"),)), psid
    )
    assert template.payload["message"]["attachment"]["type"] == "template"
    assert adapter.find_sent(image, since) == NotSent()  # the page sent nothing since
    assert adapter.find_sent(template, since) == NotSent()
    adapter.send(image)
    # Graph shows neither an image nor a template as text: a message since may be either.
    assert adapter.find_sent(image, since) == CannotTell()
    assert adapter.find_sent(template, since) == CannotTell()


def test_a_window_longer_than_the_list_cannot_be_told(
    adapter: MessengerAdapter, sandbox: Sandbox, psid: str
) -> None:
    since = time.time()
    out = text(adapter, psid, "The first reply")
    for n in range(FIND_LIMIT):
        adapter.send(text(adapter, psid, f"Later reply {n}"))
    assert adapter.find_sent(out, since) == CannotTell()  # it could be older than the list


def test_conversation_ids_and_times_are_shaped_like_graphs(
    adapter: MessengerAdapter, sandbox: Sandbox, psid: str
) -> None:
    shopper_says(sandbox, psid, "hi")
    sent = adapter.send(text(adapter, psid, "Hello"))
    assert isinstance(sent, Sent)
    graph = f"{sandbox.graph_base_url}/v25.0"
    auth = {"access_token": "t"}
    found = requests.get(f"{graph}/{TEST_PAGE_ID}/conversations", timeout=5,
                         params={**auth, "platform": "messenger", "user_id": psid}).json()  # fmt: skip
    [conversation] = found["data"]
    assert conversation["id"].startswith("t_")
    assert set(conversation) == {"id", "updated_time"}
    listed = requests.get(f"{graph}/{conversation['id']}/messages", timeout=5,
                          params={**auth, "fields": "id,created_time,from,to,message"}).json()  # fmt: skip
    page, shopper = listed["data"]  # newest first
    assert (page["id"], page["message"], page["from"]["id"]) == (
        sent.platform_message_id, "Hello", TEST_PAGE_ID)  # fmt: skip
    assert page["to"]["data"][0]["id"] == psid
    assert (shopper["message"], shopper["from"]["id"]) == ("hi", psid)
    assert len(page["created_time"]) == 24 and page["created_time"].endswith("+0000")
    me = requests.get(f"{graph}/me", params={**auth, "fields": "id"}, timeout=5).json()
    assert me == {"id": TEST_PAGE_ID}
    assert requests.get(f"{graph}/me", params={"fields": "id"}, timeout=5).status_code == 400


def test_the_control_api_denies_and_allows_the_conversations_api(
    adapter: MessengerAdapter, sandbox: Sandbox, psid: str
) -> None:
    """For benchmarks and tests in another process: `POST /_sandbox/conversations_api`."""
    since = time.time()
    out = text(adapter, psid, "Hello")
    sent = adapter.send(out)
    control = f"{sandbox.base_url}/_sandbox/conversations_api"
    r = requests.post(control, json={"deny": True, "code": 10, "status": 403}, timeout=5)
    assert r.json() == {"denied": True}
    assert adapter.find_sent(out, since) == CannotTell()
    assert sandbox.reads("messenger", to=psid)[-1]["status"] == 403
    assert requests.post(control, json={"deny": False}, timeout=5).json() == {"denied": False}
    assert adapter.find_sent(out, since) == sent
    assert requests.post(control, json={"deny": "yes"}, timeout=5).status_code == 400
