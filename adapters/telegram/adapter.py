"""Telegram: the webhook secret header, updates parsed by `adapters.telegram.events`, inline
keyboards, sent through python-telegram-bot's `Bot` (see `adapters.telegram.client`).

Text goes out as plain text, without parse_mode: nothing a shopper typed (names, echoed
answers) can ever be read as HTML or MarkdownV2. Buttons become an inline keyboard;
callback_data over 64 bytes is replaced by `short_payload`, which the engine accepts.
https://core.telegram.org/bots/api#sendmessage
https://core.telegram.org/bots/api#inlinekeyboardbutton
"""

from __future__ import annotations

import hmac
import json
import re
import warnings
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from telegram import Bot
from telegram.constants import ChatAction, InlineKeyboardButtonLimit, MessageLimit
from telegram.warnings import PTBUserWarning

from adapters.base import (
    CannotTell,
    HttpReply,
    Outgoing,
    Pace,
    ParseError,
    ParseResult,
    PendingSend,
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
    split_with_footer,
    utf16_len,
    with_author,
)
from adapters.telegram.client import TelegramBot
from adapters.telegram.events import classify
from flows.messages import Button, Reply, short_payload

TEXT_LIMIT = MessageLimit.MAX_TEXT_LENGTH  # sendMessage: 1-4096 characters after entities
CALLBACK_DATA_MAX = InlineKeyboardButtonLimit.MAX_CALLBACK_DATA  # 64 bytes
KEYBOARD_MAX = 100  # inline keyboard buttons per message (Telegram's practical cap)
ROW_TITLE_MAX = 12  # short titles share a row, up to three per row
URL_SCHEMES = ("https://", "http://", "tg://")  # tel: is refused for inline URL buttons
SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")  # setWebhook secret_token
MEDIA_METHODS = {"image": "sendPhoto", "video": "sendVideo", "audio": "sendAudio"}
MEDIA_FIELDS = {"sendPhoto": "photo", "sendVideo": "video", "sendAudio": "audio",
                "sendDocument": "document"}  # fmt: skip
# We call sendMessage & co. through `do_api_request` on purpose (see `_send`); PTB would warn
# about that on every call.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.send", category=PTBUserWarning)


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    """Telegram settings; the bot token and the webhook secret never appear in repr."""

    bot_token: str = field(repr=False)
    secret_token: str = field(repr=False)
    api_base_url: str | None = None  # as PTB's base_url, e.g. http://127.0.0.1:8081/bot
    connect_timeout_s: float = 3.05
    read_timeout_s: float = 10.0


class TelegramAdapter:
    """Telegram: verify, parse, render, send, typing; no window (a bot may always write)."""

    channel = "telegram"
    reports_delivery = False

    # "Avoid sending more than one message per second" per chat; short bursts are tolerated
    # (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this).
    pace: Pace | None = Pace(interval_s=1.0, burst=3)

    def __init__(self, config: TelegramConfig) -> None:
        self.config = config
        protect(config.bot_token, config.secret_token)
        self._bot = TelegramBot(
            config.bot_token, config.api_base_url, config.connect_timeout_s, config.read_timeout_s
        )

    def verify(self, request: WebhookRequest) -> bool:
        """X-Telegram-Bot-Api-Secret-Token equals the secret given to setWebhook (constant time)."""
        header = request.header("X-Telegram-Bot-Api-Secret-Token")
        if header is None:
            return False
        return hmac.compare_digest(header.encode("utf-8"), self.config.secret_token.encode("utf-8"))

    def handshake(self, request: WebhookRequest) -> HttpReply | None:
        return None

    def parse(self, request: WebhookRequest) -> ParseResult | ParseError:
        try:
            return classify(load_json(request.body), request.received_at)
        except ShapeError as exc:
            return exc.as_value()

    def webhook_reply(self, result: ParseResult | ParseError) -> HttpReply:
        """200; a button press is answered in the response itself (no extra API call)."""
        if isinstance(result, ParseError):
            return parse_error_reply(result)
        for inbound in result.inbound:
            query_id = inbound.extra("callback_query_id")
            if query_id:
                body = {"method": "answerCallbackQuery", "callback_query_id": query_id}
                return HttpReply(200, _json(body), "application/json")
        return HttpReply(200, "")

    # ---- render ----

    def render(
        self, reply: Reply, to: str, window: WindowDecision | None = None
    ) -> tuple[Outgoing, ...]:
        """Media first, then text parts of ≤ 4,096; the inline keyboard on the last part."""
        payloads: list[dict[str, Any]] = [
            {"method": MEDIA_METHODS.get(m.kind, "sendDocument"), "url": m.url} for m in reply.media
        ]
        text = with_author(reply.text, reply.author)
        keyboard, footer = _keyboard(reply.buttons, reply.call)
        parts = split_with_footer(text, footer, TEXT_LIMIT)
        if keyboard and not parts:
            parts = [numbered_options(reply.buttons)]
        for i, part in enumerate(parts, start=1):
            payload: dict[str, Any] = {"method": "sendMessage", "text": part}
            if keyboard and i == len(parts):
                payload["reply_markup"] = {"inline_keyboard": keyboard}
            payloads.append(payload)
        return tuple(
            Outgoing(self.channel, to, p, part=i, parts=len(payloads))
            for i, p in enumerate(payloads, start=1)
        )

    # ---- send ----

    def send(self, out: Outgoing) -> SendResult:
        return self.start_send(out).result()

    def start_send(self, out: Outgoing) -> PendingSend:
        """`send` in two halves: the request is written now, the answer read by `result()`."""
        call = self._bot.start(lambda bot: _send(bot, int(out.to), out.payload))

        def finish() -> SendResult:
            result, failure = call.outcome()
            if failure is not None:
                return failure
            message_id = result.get("message_id", "") if isinstance(result, dict) else ""
            # Telegram numbers messages per chat: the chat makes the id unique across chats.
            return Sent(f"{out.to}:{message_id}")

        return PendingSend(finish)

    def typing(self, to: str) -> SendResult | None:
        """sendChatAction typing: shown for 5 s or until the next message."""
        _, failure = self._bot.call(lambda bot: bot.send_chat_action(int(to), ChatAction.TYPING))
        return failure or Sent("")

    def find_sent(self, out: Outgoing, since: float) -> SentCheck:
        """The Bot API cannot list a chat's messages: a lost send is sent again."""
        return CannotTell()

    def answer_callback_query(self, callback_query_id: str, text: str | None = None) -> SendResult:
        """Stop the button's spinner, when `webhook_reply` could not (e.g. a replayed update)."""
        _, failure = self._bot.call(lambda bot: bot.answer_callback_query(callback_query_id, text))
        return failure or Sent("")

    def window(
        self, last_inbound_at: float | None, now: float, author: str = "bot"
    ) -> WindowDecision:
        """Telegram has no messaging window; a blocked bot shows up as `Unreachable` or 403."""
        return WindowDecision(True, "Telegram has no messaging window")

    def close(self) -> None:
        self._bot.close()


def _keyboard(
    buttons: tuple[Button, ...], call: str | None
) -> tuple[list[list[dict[str, str]]], str]:
    """Inline keyboard rows, and the text footer for what cannot be a button (calls)."""
    if len(buttons) > KEYBOARD_MAX:
        return [], numbered_options(buttons, call)
    keys: list[dict[str, str]] = []
    lines: list[str] = []
    for b in buttons:
        if b.kind == "reply":
            keys.append({"text": b.title, "callback_data": callback_data(b.payload)})
        elif b.kind == "url" and b.payload.startswith(URL_SCHEMES):
            keys.append({"text": b.title, "url": b.payload})
        else:  # a phone number (or an odd URL) cannot be an inline button: show it in the text
            lines.append(
                f"{CALL_MARK} {b.title}: {b.payload}"
                if b.kind == "call"
                else f"{b.title}: {b.payload}"
            )
    if call:
        lines.append(f"{CALL_MARK} {call}")
    width = 3 if all(utf16_len(k["text"]) <= ROW_TITLE_MAX for k in keys) else 1
    rows = [keys[i : i + width] for i in range(0, len(keys), width)]
    return rows, "\n".join(lines)


def callback_data(payload: str) -> str:
    """The payload if it fits 64 bytes, else its `short_payload` stand-in."""
    return (
        payload if 0 < len(payload.encode("utf-8")) <= CALLBACK_DATA_MAX else short_payload(payload)
    )


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _send(bot: Bot, chat_id: int, p: dict[str, Any]) -> Coroutine[Any, Any, Any]:
    """PTB's generic `do_api_request` for one rendered payload: PTB builds, sends and checks
    the call, and hands back the raw result. The typed methods (`send_message`...) would also
    turn every answer into a `Message` and the keyboard into PTB objects and back (more CPU a
    send than our whole turn's engine step: `bench/bench_tg_send.py`), only for us to read
    `message_id`."""
    if p["method"] == "sendMessage":
        kwargs: dict[str, Any] = {"chat_id": chat_id, "text": p["text"]}
        if p.get("reply_markup"):
            kwargs["reply_markup"] = p["reply_markup"]
    else:
        kwargs = {"chat_id": chat_id, MEDIA_FIELDS[p["method"]]: p["url"]}
    return bot.do_api_request(p["method"], kwargs)
