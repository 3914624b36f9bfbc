"""The fake Telegram Bot API through python-telegram-bot's real `Bot`."""

from __future__ import annotations

import asyncio
import datetime as dtm
import time

import pytest
import requests
from conftest import BOT_TOKEN, fixture_bytes
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter


def call(sb, action):
    """Run `action(bot)` with a real PTB Bot pointed at the sandbox."""

    async def main():
        async with Bot(BOT_TOKEN, base_url=sb.telegram_base_url) as bot:
            return await action(bot)

    return asyncio.run(main())


KEYBOARD = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("S", callback_data="size:S"),
            InlineKeyboardButton("M", callback_data="size:M"),
        ]
    ]
)


def test_telegram_get_me_is_the_bot_of_the_token(sb):
    me = call(sb, lambda bot: bot.get_me())
    assert me.id == 7000000001 and me.is_bot and me.username == "sandbox_shop_bot"
    assert sb.sent() == []  # configuration calls are not sends


def test_telegram_send_message_returns_a_real_message(sb):
    shopper = sb.add_shopper("telegram", "Jan Testowy")
    chat_id = int(shopper["address"])
    message = call(sb, lambda bot: bot.send_message(chat_id, "Pick a size", reply_markup=KEYBOARD))
    assert message.text == "Pick a size" and message.chat.id == chat_id
    assert message.chat.first_name == "Jan" and message.from_user.is_bot
    assert message.reply_markup == KEYBOARD
    [sent] = sb.sent("telegram")
    assert sent["to"] == str(chat_id) and sent["method"] == "sendMessage"
    assert sent["buttons"] == [
        {"title": "S", "payload": "size:S", "kind": "callback"},
        {"title": "M", "payload": "size:M", "kind": "callback"},
    ]
    assert sent["reply_markup"]["inline_keyboard"][0][1]["callback_data"] == "size:M"
    assert sent["id"] == message.message_id


def test_telegram_message_ids_grow_per_chat(sb):
    async def two(bot):
        return [(await bot.send_message(chat, "x")).message_id for chat in (5, 5, 6)]

    assert call(sb, two) == [1, 2, 1]


def test_telegram_reply_keyboard_is_recorded(sb):
    markup = ReplyKeyboardMarkup([[KeyboardButton("Yes"), KeyboardButton("No")]])
    call(sb, lambda bot: bot.send_message(42, "Sure?", reply_markup=markup))
    assert [b["kind"] for b in sb.sent()[0]["buttons"]] == ["keyboard", "keyboard"]


def test_telegram_html_text_is_recorded_as_the_shopper_reads_it(sb):
    message = call(
        sb,
        lambda bot: bot.send_message(42, "<b>Bold</b> &amp; <i>it</i>", parse_mode=ParseMode.HTML),
    )
    assert message.text == "Bold & it"
    assert sb.sent()[0]["raw"]["text"] == "<b>Bold</b> &amp; <i>it</i>"


def test_telegram_chat_action_and_edit_markup(sb):
    async def flow(bot):
        assert await bot.send_chat_action(42, ChatAction.TYPING) is True
        message = await bot.send_message(42, "Pick", reply_markup=KEYBOARD)
        return await bot.edit_message_reply_markup(42, message.message_id, reply_markup=None)

    edited = call(sb, flow)
    assert edited.reply_markup is None and edited.text == "Pick"
    assert [s["method"] for s in sb.sent()] == [
        "sendChatAction",
        "sendMessage",
        "editMessageReplyMarkup",
    ]
    assert sb.sent()[2]["target"] == edited.message_id


def test_telegram_send_photo_by_url_and_by_upload(sb):
    async def flow(bot):
        await bot.send_photo(42, "https://shop.example/shoe.jpg", caption="New")
        return await bot.send_photo(42, b"\x89PNG fake bytes", caption="Upload")

    message = call(sb, flow)
    assert message.caption == "Upload" and len(message.photo) == 3
    first, second = sb.sent()
    assert first["media"] == ["https://shop.example/shoe.jpg"] and first["text"] == "New"
    assert second["media"][0].startswith("[upload")


def test_telegram_accepts_plain_json_bodies(sb):
    response = requests.post(
        f"{sb.telegram_base_url}{BOT_TOKEN}/sendMessage",
        json={
            "chat_id": 42,
            "text": "hi",
            "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]},
        },
        timeout=5,
    )
    body = response.json()
    assert (
        body["ok"] is True
        and body["result"]["reply_markup"]["inline_keyboard"][0][0]["text"] == "A"
    )


def test_telegram_unknown_method_is_404(sb):
    response = requests.post(f"{sb.telegram_base_url}{BOT_TOKEN}/sendDice", timeout=5)
    assert response.status_code == 404 and response.json()["ok"] is False


@pytest.mark.parametrize(
    ("kwargs", "description"),
    [
        ({"chat_id": 42, "text": " "}, "message text is empty"),
        ({"chat_id": 42, "text": "x" * 4097}, "message is too long"),
        (
            {
                "chat_id": 42,
                "text": "x",
                "reply_markup": InlineKeyboardMarkup(
                    [[InlineKeyboardButton("x", callback_data="d" * 65)]]
                ),
            },
            "BUTTON_DATA_INVALID",
        ),
    ],
)
def test_telegram_invalid_sends_raise_bad_request(sb, kwargs, description):
    with pytest.raises(BadRequest, match=f"(?i){description}"):  # PTB re-cases the text
        call(sb, lambda bot: bot.send_message(**kwargs))


def test_telegram_answer_unknown_callback_query_is_bad_request(sb):
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        call(sb, lambda bot: bot.answer_callback_query("123"))


def test_telegram_429_raises_retry_after_7(sb, monkeypatch):
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # PTB 22 warns on the int form
    sb.fail_next("telegram", 429)
    with pytest.raises(RetryAfter) as err:
        call(sb, lambda bot: bot.send_message(42, "x"))
    assert err.value.retry_after == dtm.timedelta(seconds=7)


def test_telegram_429_retry_after_can_be_set(sb, monkeypatch):
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    sb.fail_next("telegram", 429, retry_after=2)
    with pytest.raises(RetryAfter) as err:
        call(sb, lambda bot: bot.send_message(42, "x"))
    assert err.value.retry_after == dtm.timedelta(seconds=2)


@pytest.mark.parametrize(
    ("status", "error", "fixture"),
    [
        (403, Forbidden, "telegram_403_blocked.json"),
        (400, BadRequest, "telegram_400_chat_not_found.json"),
        (500, NetworkError, None),
    ],
)
def test_telegram_faults_raise_ptb_errors(sb, status, error, fixture):
    sb.fail_next("telegram", status, count=2)
    with pytest.raises(error):
        call(sb, lambda bot: bot.send_message(42, "x"))
    response = requests.post(
        f"{sb.telegram_base_url}{BOT_TOKEN}/sendMessage",
        json={"chat_id": 42, "text": "x"},
        timeout=5,
    )
    assert response.status_code == status
    if fixture:
        assert response.content == fixture_bytes(f"outbound/{fixture}")
    assert call(sb, lambda bot: bot.send_message(42, "x")).text == "x"


def test_telegram_fault_for_one_method_skips_others(sb):
    sb.fail_next("telegram", 403, method="sendMessage")
    with pytest.raises(Forbidden):
        call(sb, lambda bot: _typing_then_send(bot))
    assert [a["method"] for a in sb.attempts()] == ["sendChatAction", "sendMessage"]


async def _typing_then_send(bot):
    await bot.send_chat_action(42, ChatAction.TYPING)
    await bot.send_message(42, "x")


def test_telegram_delay_then_success_lets_clients_time_out(sb):
    sb.fail_next("telegram", None, delay=0.5)

    async def slow(bot):
        return await bot.send_message(42, "x", read_timeout=0.1)

    with pytest.raises(NetworkError):  # TimedOut is a NetworkError
        call(sb, slow)
    # the platform still delivers it once its delay is over: the "maybe sent" case
    deadline = time.monotonic() + 3
    while not sb.sent() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [s["text"] for s in sb.sent()] == ["x"]
