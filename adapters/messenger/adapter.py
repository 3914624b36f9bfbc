"""Facebook Messenger: X-Hub-Signature-256, the GET handshake, quick replies and button
templates, sending through pymessenger (`adapters.messenger.client.GraphBot`).

Buttons become quick replies (≤ 13, titles ≤ 20) when they are all replies, or a button
template (≤ 3 postback / web_url / phone_number buttons) when a link or a call is among them;
whatever does not fit degrades to the shared numbered text, never dropping an option.
https://developers.facebook.com/docs/messenger-platform/send-messages/quick-replies
https://developers.facebook.com/docs/messenger-platform/send-messages/template/button

A send whose answer was lost is looked up with the Conversations API (`find_sent`) where the
page token may read the page's conversations.
https://developers.facebook.com/docs/messenger-platform/conversations
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

from adapters.base import (
    DAY_S,
    CannotTell,
    Failed,
    HttpReply,
    NotSent,
    Outgoing,
    ParseError,
    ParseResult,
    RetryLater,
    SendResult,
    Sent,
    SentCheck,
    WebhookRequest,
    WindowDecision,
    parse_error_reply,
)
from adapters.common.redact import protect
from adapters.common.shape import ShapeError, load_json
from adapters.common.text import (
    CALL_MARK,
    numbered_options,
    split_text,
    split_with_footer,
    utf16_len,
    with_author,
)
from adapters.common.transport import transport_result
from adapters.messenger.client import DEFAULT_VERSION, GraphBot, response_result
from adapters.messenger.events import parse_body
from flows.messages import Button, Reply, Shopper, short_payload

# https://developers.facebook.com/docs/messenger-platform/reference/send-api: text ≤ 2,000.
TEXT_LIMIT = 2000
QUICK_REPLIES_MAX = 13  # .../send-messages/quick-replies
TITLE_MAX = 20  # quick reply and button titles
PAYLOAD_MAX = 1000  # quick reply / postback payloads
TEMPLATE_BUTTONS_MAX = 3  # .../send-messages/template/button: 1-3 buttons
TEMPLATE_TEXT_MAX = 640  # button template text
# https://developers.facebook.com/docs/messenger-platform/policy/policy-overview: 24 h standard
# window; HUMAN_AGENT tag up to 7 days, for messages written by a person only.
STANDARD_WINDOW_S = DAY_S
HUMAN_AGENT_WINDOW_S = 7 * DAY_S
MEDIA_TYPES = {"image": "image", "video": "video", "audio": "audio"}  # anything else: "file"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# https://developers.facebook.com/docs/messenger-platform/conversations: details are given for a
# conversation's 20 latest messages only; a lost send is looked for among them.
FIND_LIMIT = 20
CLOCK_SLACK_S = 2.0  # our clock and Meta's may differ by this much (created_time: whole seconds)
GRAPH_TIME = "%Y-%m-%dT%H:%M:%S%z"  # created_time: "2026-12-08T01:02:03+0000"
LOOKUP_PERMISSIONS = "pages_messaging, pages_read_engagement, pages_manage_metadata"

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MessengerConfig:
    """Messenger settings; secrets never appear in repr."""

    app_secret: str = field(repr=False)
    page_token: str = field(repr=False)
    verify_token: str = field(repr=False)
    page_id: str | None = None  # None: asked once (GET /me?fields=id) when a lookup needs it
    graph_base_url: str | None = None
    api_version: str = DEFAULT_VERSION
    connect_timeout_s: float = 3.05
    read_timeout_s: float = 10.0


class MessengerAdapter:
    """Messenger: verify, handshake, parse, render, send, typing, window."""

    channel = "messenger"
    reports_delivery = False  # its delivery and read receipts are recognised, not recorded

    def __init__(self, config: MessengerConfig) -> None:
        self.config = config
        protect(config.page_token, config.app_secret)
        self._page_id = config.page_id or None
        self._lookup_refused = threading.Event()  # said once (one adapter per process)
        self._bot = GraphBot(
            config.page_token,
            app_secret=config.app_secret,
            api_version=config.api_version,
            base_url=config.graph_base_url,
            connect_s=config.connect_timeout_s,
            read_s=config.read_timeout_s,
        )

    # ---- verify, handshake, parse ----

    def verify(self, request: WebhookRequest) -> bool:
        """X-Hub-Signature-256: HMAC-SHA256 of the raw body with the app secret."""
        header = request.header("X-Hub-Signature-256") or ""
        if not header.startswith("sha256="):
            return False
        key = self.config.app_secret.encode("utf-8")
        expected = "sha256=" + hmac.new(key, request.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode("ascii"), header.encode("utf-8", "replace"))

    def handshake(self, request: WebhookRequest) -> HttpReply | None:
        """GET ?hub.mode=subscribe&hub.verify_token=…: 200 with exactly the challenge, else 403."""
        params = request.params()
        token = params.get("hub.verify_token", "").encode("utf-8")
        challenge = params.get("hub.challenge", "")
        ok = hmac.compare_digest(token, self.config.verify_token.encode("utf-8"))
        if params.get("hub.mode") == "subscribe" and ok and challenge:
            return HttpReply(200, challenge, "text/plain")
        return HttpReply(403, "forbidden", "text/plain")

    def parse(self, request: WebhookRequest) -> ParseResult | ParseError:
        try:
            return parse_body(load_json(request.body))
        except ShapeError as exc:
            return exc.as_value()

    def webhook_reply(self, result: ParseResult | ParseError) -> HttpReply:
        if isinstance(result, ParseError):
            return parse_error_reply(result)
        return HttpReply(200, "EVENT_RECEIVED")

    # ---- render ----

    def render(
        self, reply: Reply, to: str, window: WindowDecision | None = None
    ) -> tuple[Outgoing, ...]:
        """Media first, then text parts; quick replies or a button template on the last."""
        envelope: dict[str, Any] = {"messaging_type": "RESPONSE"}
        if window is not None and window.messaging_type:
            envelope["messaging_type"] = window.messaging_type
            if window.tag:
                envelope["tag"] = window.tag
        messages = [_media(m.kind, m.url) for m in reply.media]
        messages += _text_messages(with_author(reply.text, reply.author), reply)
        return tuple(
            Outgoing(self.channel, to, {**envelope, "message": m}, part=i, parts=len(messages))
            for i, m in enumerate(messages, start=1)
        )

    # ---- send ----

    def send(self, out: Outgoing) -> SendResult:
        return self._post({"recipient": {"id": out.to}, **out.payload})

    def typing(self, to: str) -> SendResult | None:
        """sender_action typing_on; Messenger shows it until the next message or 20 s."""
        return self._post({"recipient": {"id": to}, "sender_action": "typing_on"})

    def find_sent(self, out: Outgoing, since: float) -> SentCheck:
        """Did `out` reach the shopper after `since`? The Conversations API is asked for the
        page's conversation with `out.to` and its latest `FIND_LIMIT` messages.

        - A message from the page, created at or after `since - CLOCK_SLACK_S`, with the
          payload's text is the lost send: `Sent(its mid)`. A text message (with or without
          quick replies) that no such message matches: `NotSent`.
        - A button template is compared on its template text, but Graph documents no text for
          a template, nor for an attachment (never compared): if the page sent anything since
          then that does not match, `CannotTell`; if it sent nothing, `NotSent`.
        - Every listed message is within the window (the list may end before the send):
          `CannotTell` unless one matched.
        - The page's token may not read conversations (it needs pages_messaging,
          pages_read_engagement, pages_manage_metadata and Advanced Access), or is invalid:
          `CannotTell`, logged once per process. A network error, a 5xx or a rate limit:
          `RetryLater`.
        """
        page = self._page()
        if not isinstance(page, str):
            return page
        found = self._read(f"{page}/conversations", {"platform": "messenger", "user_id": out.to})
        if not isinstance(found, dict):
            return found
        threads = found.get("data")
        if not isinstance(threads, list):
            return CannotTell()
        if not threads:
            return NotSent()  # no conversation: the page never wrote to this shopper
        thread = threads[0] if isinstance(threads[0], dict) else {}
        if not thread.get("id"):
            return CannotTell()
        fields = f"messages.limit({FIND_LIMIT}){{id,created_time,from,message}}"
        node = self._read(str(thread["id"]), {"fields": fields})
        if not isinstance(node, dict):
            return node
        return _find_in(_listed(node), page, out.payload, since - CLOCK_SLACK_S)

    def _page(self) -> str | SentCheck:
        """The page's id: from the settings, else asked once with the page token."""
        if self._page_id:
            return self._page_id
        me = self._read("me", {"fields": "id"})
        if not isinstance(me, dict):
            return me
        if not me.get("id"):
            return CannotTell()
        self._page_id = str(me["id"])
        return self._page_id

    def _read(self, path: str, params: Mapping[str, str]) -> dict[str, Any] | SentCheck:
        """A Graph read for `find_sent`: its JSON object, or what its failure means there."""
        result = self._bot.read(path, params)
        if isinstance(result, RetryLater):
            reason = "could not list messages"
            return RetryLater(result.delay_s, "find_sent", reason, result.throttled)
        if isinstance(result, Failed):
            if not self._lookup_refused.is_set():
                self._lookup_refused.set()
                _warn_lookup_refused(result.code)
            return CannotTell()
        return result

    def _post(self, payload: dict[str, Any]) -> SendResult:
        try:
            response = self._bot.post(payload)
        except Exception as exc:  # transport errors become values; anything else is a bug
            result = transport_result(exc)
            if result is None:
                raise
            return result
        return response_result(response)

    def profile(self, user_id: str) -> Shopper | None:
        """The shopper's name and locale: Messenger webhooks carry only the PSID."""
        try:
            data = self._bot.get_user_info(user_id)
        except (requests.RequestException, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        first = str(data.get("first_name") or "").strip() or None
        last = str(data.get("last_name") or "").strip()
        name = " ".join(p for p in (first, last) if p) or None
        locale = str(data.get("locale") or "") or None
        return Shopper(id=user_id, name=name, first_name=first, locale=locale)

    # ---- window ----

    def window(
        self, last_inbound_at: float | None, now: float, author: str = "bot"
    ) -> WindowDecision:
        """24 h RESPONSE window; then HUMAN_AGENT up to 7 days, for a person's message only."""
        if last_inbound_at is None:
            return WindowDecision(False, "the shopper has not written yet")
        age = now - last_inbound_at
        if age < STANDARD_WINDOW_S:
            return WindowDecision(True, "within the 24 h window", messaging_type="RESPONSE")
        if age < HUMAN_AGENT_WINDOW_S and author != "bot":
            return WindowDecision(
                True,
                "after 24 h: sent with the HUMAN_AGENT tag (agent replies, up to 7 days)",
                messaging_type="MESSAGE_TAG",
                tag="HUMAN_AGENT",
            )
        if age < HUMAN_AGENT_WINDOW_S:
            return WindowDecision(False, "more than 24 h: only an agent may reply (HUMAN_AGENT)")
        return WindowDecision(False, "more than 7 days since the shopper's last message")

    def close(self) -> None:
        self._bot.close()


def _warn_lookup_refused(code: str) -> None:
    """Graph refused the Conversations API (no secret, no text logged)."""
    logger.warning(
        "messenger_lookup_refused",
        extra={
            "channel": "messenger",
            "code": code,
            "error": f"the page token needs {LOOKUP_PERMISSIONS} (Advanced Access) to look up "
            "a reply whose answer was lost; until then such a reply is sent again",
        },
    )


def _listed(node: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The messages of a conversation node (`?fields=messages{...}`), newest first."""
    messages = node.get("messages")
    data = messages.get("data") if isinstance(messages, dict) else None
    return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []


def _find_in(
    listed: list[dict[str, Any]], page: str, payload: Mapping[str, Any], cutoff: float
) -> SentCheck:
    """`find_sent`'s verdict on a conversation's latest messages (see there)."""
    message = payload.get("message")
    wanted, exact = _comparable(message if isinstance(message, dict) else {})
    oldest = float("inf")
    recent: list[dict[str, Any]] = []
    for item in listed:
        created = _created(item)
        oldest = min(oldest, created)
        sender = item.get("from")
        if isinstance(sender, dict) and str(sender.get("id")) == page and created >= cutoff:
            recent.append(item)
    for item in recent:
        if wanted and str(item.get("message") or "").strip() == wanted:
            return Sent(str(item.get("id") or ""))
    if len(listed) >= FIND_LIMIT and oldest >= cutoff:
        return CannotTell()  # the list ends inside the window: the send may be older still
    return NotSent() if exact or not recent else CannotTell()


def _comparable(message: Mapping[str, Any]) -> tuple[str | None, bool]:
    """(the text to look for, whether a listed message shows it for certain): a text
    message's text, certain; a button template's text, uncertain; an attachment's: none."""
    if isinstance(message.get("text"), str):
        return message["text"].strip(), True
    attachment = message.get("attachment")
    payload = attachment.get("payload") if isinstance(attachment, dict) else None
    if isinstance(payload, dict) and isinstance(payload.get("text"), str):
        return payload["text"].strip(), False
    return None, False


def _created(item: Mapping[str, Any]) -> float:
    """A listed message's created_time in epoch seconds; 0 when it has none readable."""
    try:
        return datetime.strptime(str(item.get("created_time")), GRAPH_TIME).timestamp()
    except ValueError:
        return 0.0


def _media(kind: str, url: str) -> dict[str, Any]:
    kind = MEDIA_TYPES.get(kind, "file")
    return {"attachment": {"type": kind, "payload": {"url": url, "is_reusable": True}}}


def _text_messages(text: str, reply: Reply) -> list[dict[str, Any]]:
    buttons, call = reply.buttons, reply.call
    if not buttons and not call:
        return [{"text": t} for t in split_text(text, TEXT_LIMIT)]
    if call or any(b.kind != "reply" for b in buttons):
        template = _template_buttons(buttons, call)
        if template is not None:
            parts = split_text(text, TEXT_LIMIT, last_limit=TEMPLATE_TEXT_MAX) or [CALL_MARK]
            last = {"template_type": "button", "text": parts[-1], "buttons": template}
            tail = {"attachment": {"type": "template", "payload": last}}
            return [*({"text": t} for t in parts[:-1]), tail]
    elif len(buttons) <= QUICK_REPLIES_MAX:
        titled = all(_fits(b.title) for b in buttons)
        footer = "" if titled else numbered_options(buttons)
        parts = split_with_footer(text, footer, TEXT_LIMIT) or [numbered_options(buttons)]
        quick = [
            {"content_type": "text", "title": b.title if titled else str(i), "payload": _payload(b)}
            for i, b in enumerate(buttons, start=1)
        ]
        return [*({"text": t} for t in parts[:-1]), {"text": parts[-1], "quick_replies": quick}]
    parts = split_with_footer(text, numbered_options(buttons, call), TEXT_LIMIT)
    return [{"text": t} for t in parts]


def _template_buttons(buttons: tuple[Button, ...], call: str | None) -> list[dict[str, Any]] | None:
    """postback / web_url / phone_number buttons, or None if they do not all fit."""
    out: list[dict[str, Any]] = []
    for b in buttons:
        if not _fits(b.title):
            return None
        if b.kind == "reply":
            out.append({"type": "postback", "title": b.title, "payload": _payload(b)})
        elif b.kind == "url" and b.payload.startswith(("https://", "http://")):
            out.append({"type": "web_url", "title": b.title, "url": b.payload})
        elif b.kind == "call" and _E164.match(_e164(b.payload)):
            out.append({"type": "phone_number", "title": b.title, "payload": _e164(b.payload)})
        else:
            return None
    if call:
        if not _E164.match(_e164(call)):
            return None
        out.append(
            {"type": "phone_number", "title": f"{CALL_MARK} {_e164(call)}", "payload": _e164(call)}
        )
    return out if len(out) <= TEMPLATE_BUTTONS_MAX else None


def _fits(title: str) -> bool:
    return 0 < utf16_len(title) <= TITLE_MAX


def _payload(button: Button) -> str:
    return button.payload if len(button.payload) <= PAYLOAD_MAX else short_payload(button.payload)


def _e164(number: str) -> str:
    """'+48 (22) 123-45-67' → '+48221234567'; the Send API wants digits after '+'."""
    digits = re.sub(r"\D", "", number)
    return f"+{digits}" if number.strip().startswith("+") else digits
