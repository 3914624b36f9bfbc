"""WhatsApp through Twilio: verify X-Twilio-Signature, parse (`adapters.whatsapp.events`),
render, send through the twilio library (`adapters.whatsapp.client`).

Buttons become a numbered list the shopper answers with "1", "2"..., or, when
TWILIO_QUICK_REPLY_CONTENT_SIDS names a twilio/quick-reply template for that many buttons,
real quick-reply buttons (ContentSid + ContentVariables). A reply carrying a `Template` the
settings name (`templates`: purpose → approved Content SID) goes as that template, which
WhatsApp allows outside the 24-hour session.
https://www.twilio.com/docs/usage/webhooks/webhooks-security
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from twilio.request_validator import RequestValidator
from twilio.rest import Client

from adapters.base import (
    DAY_S,
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
from adapters.common.text import numbered_options, split_text, split_with_footer, with_author
from adapters.whatsapp.client import RoutedHttpClient, classify_exception
from adapters.whatsapp.events import PREFIX, form_items, parse_params, strip_prefix
from flows.messages import Reply, short_payload

# https://www.twilio.com/docs/api/errors/21617: Body is at most 1,600 characters.
BODY_LIMIT = 1600
# https://www.twilio.com/docs/content/twilio-quick-reply: body ≤ 1,024 characters, 3 buttons
# in session without approval; WhatsApp titles ≤ 20 characters, ids ≤ 200.
TEMPLATE_BODY_LIMIT = 1024
TEMPLATE_BUTTONS_MAX = 3
TEMPLATE_TITLE_MAX = 20
TEMPLATE_ID_MAX = 200
TEMPLATE_VALUE_MAX = 200  # a name in a template: keep it short, WhatsApp caps the whole body
# https://www.twilio.com/docs/whatsapp/key-concepts#the-24-hour-window-or-24-hour-session
SESSION_WINDOW_S = DAY_S
FIND_LIMIT = 20  # the latest messages to one shopper searched for a lost send
CLOCK_SLACK_S = 2.0  # our clock and Twilio's may differ by this much


@dataclass(frozen=True, slots=True)
class WhatsAppConfig:
    """Twilio settings; the auth token never appears in repr."""

    account_sid: str
    auth_token: str = field(repr=False)
    from_number: str  # "whatsapp:+1202..."
    api_base_url: str | None = None
    quick_reply_sids: Mapping[int, str] = field(default_factory=dict)  # button count → HX…
    templates: Mapping[str, str] = field(default_factory=dict)  # "reopen", "csat" → HX…
    status_callback_url: str | None = None
    connect_timeout_s: float = 3.05
    read_timeout_s: float = 10.0


class _Params(dict[str, list[str]]):
    """A multi-dict with `getall`, the shape RequestValidator reads repeated keys from."""

    def getall(self, name: str) -> list[str]:
        return self[name]


class WhatsAppAdapter:
    """WhatsApp via Twilio: verify, parse, render, send, window."""

    channel = "whatsapp"
    # Twilio posts each sent message's fate to /webhooks/whatsapp/status (`parse` -> statuses):
    # the store keeps its platform id findable (see `delivery_reporting`).
    reports_delivery = True

    def __init__(self, config: WhatsAppConfig) -> None:
        self.config = config
        protect(config.auth_token)
        self._validator = RequestValidator(config.auth_token)
        self._http = RoutedHttpClient(
            config.api_base_url, config.connect_timeout_s, config.read_timeout_s
        )
        self._client = Client(config.account_sid, config.auth_token, http_client=self._http)

    # ---- verify ----

    def verify(self, request: WebhookRequest) -> bool:
        """X-Twilio-Signature over the public URL and the sorted params (or bodySHA256)."""
        signature = request.header("X-Twilio-Signature")
        if not signature:
            return False
        try:
            if "bodySHA256" in dict(parse_qsl(urlsplit(request.url).query)):
                payload: str | _Params = request.body.decode("utf-8")
            else:
                payload = _Params()
                for key, value in form_items(request.body):
                    payload.setdefault(key, []).append(value)
        except ValueError:  # not UTF-8 or not a form: it cannot carry a valid signature
            return False
        return bool(self._validator.validate(request.url, payload, signature))

    def handshake(self, request: WebhookRequest) -> HttpReply | None:
        return None

    # ---- parse ----

    def parse(self, request: WebhookRequest) -> ParseResult | ParseError:
        """One message or one status callback; a form, or a JSON object with the same fields."""
        try:
            params = _params(request)
        except ValueError:
            return ParseError("body", "not a UTF-8 form or JSON object")
        return parse_params(params, request.received_at)

    # ---- reply to the webhook ----

    def webhook_reply(self, result: ParseResult | ParseError) -> HttpReply:
        """Empty TwiML: replies go out through the API, after the queue."""
        if isinstance(result, ParseError):
            return parse_error_reply(result)
        return HttpReply(200, "<Response/>", "text/xml")

    # ---- render ----

    def render(
        self, reply: Reply, to: str, window: WindowDecision | None = None
    ) -> tuple[Outgoing, ...]:
        """Media first, then the text in ≤ 1,600-character parts; the options on the last.

        A reply whose template the settings name goes as that one approved message instead.
        """
        if reply.template is not None and self.has_template(reply.template.name):
            approved = self.config.templates[reply.template.name]
            values = _template_values(reply.template.variables)
            payload = {"content_sid": approved, "content_variables": values}
            return (Outgoing(self.channel, to, payload),)
        payloads: list[dict[str, object]] = [{"media_url": [m.url]} for m in reply.media]
        text = with_author(reply.text, reply.author)
        sid = self._template_sid(reply)
        if sid is not None:
            call = numbered_options((), reply.call)
            parts = (
                split_with_footer(text, call, BODY_LIMIT) if call else split_text(text, BODY_LIMIT)
            )
            pieces = split_text(parts[-1], TEMPLATE_BODY_LIMIT)
            texts = [*parts[:-1], *pieces]
            payloads += [{"body": t} for t in texts[:-1]]
            payloads.append({"content_sid": sid, "content_variables": _variables(texts[-1], reply)})
        else:
            options = numbered_options(reply.buttons, reply.call)
            payloads += [{"body": t} for t in split_with_footer(text, options, BODY_LIMIT)]
        return tuple(
            Outgoing(self.channel, to, p, part=i, parts=len(payloads))
            for i, p in enumerate(payloads, start=1)
        )

    def _template_sid(self, reply: Reply) -> str | None:
        buttons = reply.buttons
        fits = (
            0 < len(buttons) <= TEMPLATE_BUTTONS_MAX
            and reply.text.strip()
            and all(b.kind == "reply" and len(b.title) <= TEMPLATE_TITLE_MAX for b in buttons)
        )
        return self.config.quick_reply_sids.get(len(buttons)) if fits else None

    def has_template(self, name: str) -> bool:
        """Whether the settings name an approved template for this purpose ("reopen", "csat")."""
        return bool(self.config.templates.get(name))

    # ---- send ----

    def send(self, out: Outgoing) -> SendResult:
        kwargs = dict(out.payload)
        if self.config.status_callback_url:
            kwargs["status_callback"] = self.config.status_callback_url
        try:
            message = self._client.messages.create(
                to=PREFIX + strip_prefix(out.to), from_=self.config.from_number, **kwargs
            )
        except Exception as exc:  # classified into a value; unknown kinds re-raise
            return classify_exception(exc, self._http)
        return Sent(str(message.sid))

    def typing(self, to: str) -> SendResult | None:
        return None  # Twilio's WhatsApp API has no typing indicator in messages.create

    def find_sent(self, out: Outgoing, since: float) -> SentCheck:
        """Twilio keeps every message: the latest ones to this shopper from our number are
        listed, and one created since `since` with the same body or template is the lost
        send (https://www.twilio.com/docs/messaging/api/message-resource#read-multiple-message-resources)."""
        try:
            recent = self._client.messages.list(
                to=PREFIX + strip_prefix(out.to), from_=self.config.from_number, limit=FIND_LIMIT
            )
        except Exception as exc:  # the platform is still down: ask again later, send nothing
            result = classify_exception(exc, self._http)
            delay = result.delay_s if isinstance(result, RetryLater) else 5.0
            return RetryLater(delay, "find_sent", "could not list messages")
        for message in recent:
            created = message.date_created.timestamp() if message.date_created else 0.0
            if created >= since - CLOCK_SLACK_S and _same_message(message, out.payload):
                return Sent(str(message.sid))
        return NotSent()

    # ---- window ----

    def window(
        self, last_inbound_at: float | None, now: float, author: str = "bot"
    ) -> WindowDecision:
        """Free-form only within 24 h of the shopper's last message; then a template only."""
        if last_inbound_at is None:
            return WindowDecision(
                False, "the shopper has not written yet: template only", needs_template=True
            )
        if now - last_inbound_at < SESSION_WINDOW_S:
            return WindowDecision(True, "within the 24 h WhatsApp session")
        return WindowDecision(
            False,
            "more than 24 h since the shopper's last message: template only",
            needs_template=True,
        )

    def close(self) -> None:
        if self._http.session is not None:
            self._http.session.close()


def _params(request: WebhookRequest) -> dict[str, str]:
    content_type = (request.header("Content-Type") or "").lower()
    if "json" in content_type and request.body.strip():
        data = json.loads(request.body.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return {str(k): str(v) for k, v in data.items() if v is not None}
    return dict(form_items(request.body))


def _template_values(variables: tuple[str, ...]) -> str:
    """ContentVariables {"1": ..., "2": ...}: WhatsApp refuses empty values and values with
    newlines, tabs or long runs of spaces, so each is one trimmed line, "-" when empty."""
    values = {str(n): " ".join(v.split())[:TEMPLATE_VALUE_MAX] or "-" for n, v in
              enumerate(variables, start=1)}  # fmt: skip
    return json.dumps(values, ensure_ascii=False)


def _variables(body: str, reply: Reply) -> str:
    """ContentVariables for the quick-reply layout: {{1}} body, {{2k}} title k, {{2k+1}} id k."""
    values = {"1": body}
    for k, button in enumerate(reply.buttons, start=1):
        payload = button.payload
        values[str(2 * k)] = button.title
        values[str(2 * k + 1)] = (
            payload if len(payload) <= TEMPLATE_ID_MAX else short_payload(payload)
        )
    return json.dumps(values, ensure_ascii=False)


def _same_message(message: Any, payload: Mapping[str, Any]) -> bool:
    """Is a listed Message the one `payload` created? The same body; for a template (whose
    body Twilio renders), a body holding its first variable (the text of a quick-reply
    layout, the first name of a re-open template)."""
    listed = str(message.body or "")
    if payload.get("body") is not None:
        return listed == str(payload["body"])
    try:
        first = json.loads(payload.get("content_variables") or "{}").get("1")
    except (ValueError, AttributeError):
        first = None
    return first is not None and str(first) in listed  # no variable: it cannot be told
