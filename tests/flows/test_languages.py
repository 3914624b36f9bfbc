"""Every text in the shopper's language: translations, the language chosen and kept, the
system's own sentences, and what `gateway check` says about missing translations."""

from __future__ import annotations

from dataclasses import replace

import pytest
from click.testing import CliRunner

from flows.engine import step
from flows.i18n.choice import LanguageState, choose_language
from flows.i18n.formatting import wait_phrase
from flows.i18n.languages import from_locale, from_phone
from flows.loader import check_text
from flows.messages import Attachment, Inbound, Shopper
from flows.state import ConversationState
from flows.understanding.language import LanguageGuess, LanguageGuesser
from gateway.cli.main import main
from tests.conftest import flow_from, msg

LANGS = ("en", "pl", "ro", "ar", "zh-Hans", "zh-Hant")

FLOW = """\
version: 1
settings:
  start: menu
  languages: [en, pl, zh-Hans, zh-Hant]
  disclosure: {en: "I'm a bot.", pl: "Jestem botem.", zh-Hans: 我是机器人。, zh-Hant: 我是機器人。}
  fallback: {say: {en: Sorry?, pl: Słucham?, zh-Hans: 什么？, zh-Hant: 什麼？}}
intents:
  returns:
    title: {en: Returns, pl: Zwroty, zh-Hans: 退货, zh-Hant: 退貨}
    examples:
      en: [I want to return my shoes, how do I send them back, refund please]
      pl: [chcę zwrócić buty, jak odesłać paczkę, zwrot pieniędzy]
      zh-Hans: [我要退货, 怎么退款]
    goto: returns
nodes:
  menu:
    say: {en: Pick one, pl: Wybierz, zh-Hans: 请选择}
    buttons:
      - {title: {en: Track my order, pl: Śledź zamówienie, zh-Hans: 查询订单}, goto: track}
      - {title: {en: Returns, pl: Zwroty, zh-Hans: 退货}, goto: returns}
  track:
    ask: {en: Order number?, pl: Numer zamówienia?, zh-Hans: 订单号？}
    save: order_id
    expect: {regex: '[A-Z]\\d{4}', case: upper}
    next: done
  returns: {say: {en: Returns!, pl: Zwroty!, zh-Hans: 退货！}, next: done}
  done: {say: "{{ vars.order_id }}", end: true}
"""


def said(flow_text: str, *texts: str, **shopper: str) -> list[list[str]]:
    flow = flow_from(flow_text)
    state = ConversationState()
    out = []
    for n, text in enumerate(texts):
        inbound = replace(msg(text), message_id=str(n), shopper=Shopper("c1", "Ann", **shopper))
        result = step(flow, state, inbound)
        state = result.state
        out.append([r.text for r in result.replies])
    return out


def test_a_polish_shopper_reads_polish_from_the_first_message() -> None:
    (first,) = said(FLOW, "cześć")
    assert first == ["Wybierz\n\nJestem botem."]


def test_a_missing_traditional_text_is_converted_from_simplified() -> None:
    (first,) = said(FLOW, "你好", locale="zh_TW")
    assert first == ["請選擇\n\n我是機器人。"]


def test_buttons_show_in_the_shoppers_language_and_any_languages_title_picks_them() -> None:
    flow = flow_from(FLOW)
    result = step(flow, ConversationState(), msg("dzień dobry"))
    assert [b.title for b in result.replies[0].buttons] == ["Śledź zamówienie", "Zwroty"]
    picked = step(flow, result.state, msg("Track my order"))
    assert picked.state.node == "track"


def test_neutral_messages_never_flip_the_language() -> None:
    replies = said(FLOW, "dzień dobry", "ok", "👍", "A1234")
    assert replies[1][0].startswith("Słucham?") and replies[2][0].startswith("Słucham?")


def test_an_opener_with_an_intent_and_a_slot_skips_the_menu_and_the_question() -> None:
    text = FLOW.replace("goto: returns\nnodes", "goto: track\nnodes")
    flow = flow_from(text.replace("  fallback:", "  understanding: {confidence: 0.3}\n  fallback:"))
    result = step(flow, ConversationState(), msg("chcę zwrócić buty A1234"))
    assert [r.text for r in result.replies] == ["A1234\n\nJestem botem."]
    assert result.state.vars["order_id"] == "A1234"


def test_an_opener_not_understood_gets_the_greeting_and_menu_only() -> None:
    (first,) = said(FLOW, "hello there")
    assert first == ["Pick one\n\nI'm a bot."]


def test_arabic_indic_and_full_width_digits_validate_as_ascii() -> None:
    flow = flow_from(FLOW)
    state = step(flow, ConversationState(), msg("hi")).state
    state = step(flow, state, msg("", "track-my-order")).state
    assert step(flow, state, msg("A١٢٣٤")).state.vars["order_id"] == "A1234"
    assert step(flow, state, msg("Ａ１２３４")).state.vars["order_id"] == "A1234"


def test_unsure_between_intents_offers_them_as_buttons() -> None:
    text = FLOW.replace(
        "  fallback:", "  understanding: {confidence: 0.99, suggest: 0.0}\n  fallback:"
    ).replace(
        "    goto: returns\nnodes:",
        "    goto: returns\n  shipping:\n    title: {en: Shipping}\n"
        "    examples: {en: [how much is shipping, delivery cost]}\n    goto: returns\nnodes:",
    )
    flow = flow_from(text)
    state = step(flow, ConversationState(), msg("hi")).state
    result = step(flow, state, msg("I want to return my shoes"))
    (reply,) = result.replies
    assert reply.text == "I'm not sure I understood. Did you mean one of these?"
    assert {b.payload for b in reply.buttons} == {"intent:returns", "intent:shipping"}
    tapped = step(flow, result.state, msg("", "intent:returns"))
    assert tapped.state.node is None and tapped.replies[0].text == "Returns!"


def test_the_shopper_picks_a_language_by_name() -> None:
    replies = said(FLOW, "hi", "polski")
    assert replies[1] == ["Dobrze, będę pisać po polsku.", "Wybierz"]


@pytest.mark.parametrize(
    "text",
    ["x" * 20_000, "😀😀😀", "\u200b\u202e\u2066abc\u2069", "A1234 أين 我的 zamówienie", ""],
)
def test_hostile_text_always_gets_an_answer_in_the_shoppers_language(text: str) -> None:
    flow = flow_from(FLOW)
    state = step(flow, ConversationState(), msg("dzień dobry")).state
    inbound = replace(msg(text), attachments=(Attachment("image", "https://x/y.jpg"),))
    result = step(flow, state, inbound)
    assert result.replies and result.state.language in LANGS


def test_missing_translations_are_warnings_with_the_line_and_what_shoppers_get() -> None:
    text = FLOW.replace("pl: Wybierz, ", "")
    result = check_text(text, "shop.yaml")
    messages = [d.format() for d in result.warnings]
    assert (
        "shop.yaml:17:10: warning: 'nodes.menu.say' has no 'pl' text: Polish shoppers read the"
        " English text; add 'pl: ...' beside the other languages"
    ) in messages
    assert not any("zh-Hant" in m and "menu.say" in m and "English" in m for m in messages)
    assert any("'nodes.menu.say' has no 'zh-Hant' text" in m and "OpenCC" in m for m in messages)


def test_check_strict_makes_missing_translations_errors(tmp_path) -> None:
    path = tmp_path / "flows.yaml"
    path.write_text(FLOW.replace("pl: Wybierz, ", ""), encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["check", str(path)]).exit_code == 0
    strict = runner.invoke(main, ["check", "--strict", str(path)])
    assert strict.exit_code == 1 and "error: 'nodes.menu.say' has no 'pl' text" in strict.output


def test_too_few_examples_and_colliding_examples_are_warned() -> None:
    text = FLOW.replace(
        "    goto: returns\nnodes:",
        "    goto: returns\n  money:\n    examples: [refund please, where is my money]\n"
        "    goto: returns\nnodes:",
    )
    messages = [d.message for d in check_text(text).warnings]
    assert any("intent 'returns' has 2 examples in 'zh-Hans'" in m for m in messages)
    assert any("intent 'returns' has 0 examples in 'zh-Hant'" in m for m in messages)
    assert "'refund please' is an example of both 'returns' and 'money'" in messages


def test_understand_prints_one_json_object_a_line(tmp_path) -> None:
    path = tmp_path / "flows.yaml"
    path.write_text(FLOW, encoding="utf-8")
    out = CliRunner().invoke(
        main, ["understand", str(path), "--format", "json"], input="chcę zwrócić buty\nok\n"
    )
    import json

    rows = [json.loads(line) for line in out.output.splitlines()]
    assert [set(r) >= {"text", "language", "intent", "confidence", "entities"} for r in rows]
    assert rows[0]["language"] == "pl" and rows[0]["intent"] == "returns"
    assert rows[1]["language"] is None and rows[1]["intent"] is None


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("gdzie jest moja paczka", "pl"),
        ("vreau să returnez pantofii", "ro"),
        ("أين طلبي", "ar"),
        ("我的订单在哪里", "zh-Hans"),
        ("我的訂單在哪裡", "zh-Hant"),
        ("free shipping من كام؟", "ar"),
    ],
)
def test_the_language_of_a_message(text: str, language: str) -> None:
    guess = LanguageGuesser(LANGS).guess(text)
    assert guess is not None and guess.language == language


@pytest.mark.parametrize("text", ["ok", "A1234", "👍", "tak", "  ", "12345"])
def test_short_or_neutral_messages_have_no_language(text: str) -> None:
    assert LanguageGuesser(LANGS).guess(text) is None


def test_the_language_changes_only_when_written_steadily_or_beyond_doubt() -> None:
    weak = LanguageGuess(("ro", "en"), 0.7, False)
    once = choose_language(LanguageState("en"), weak, None, LANGS)
    assert once.language == "en" and once.heard == "ro"
    assert choose_language(once, weak, None, LANGS).language == "ro"
    sure = LanguageGuess(("ar",), 1.0, True)
    assert choose_language(LanguageState("en"), sure, None, LANGS).language == "ar"
    neutral = LanguageGuess(("zh-Hans", "zh-Hant"), 0.5, False)
    assert choose_language(LanguageState("zh-Hant"), neutral, None, LANGS).language == "zh-Hant"


def test_the_first_message_defers_to_the_platforms_hint_when_unsure() -> None:
    unsure = LanguageGuess(("en", "ro"), 0.6, False)
    assert choose_language(LanguageState(None), unsure, "ro", LANGS).language == "ro"
    assert choose_language(LanguageState(None), None, None, LANGS).language == "en"


@pytest.mark.parametrize(
    ("locale", "phone", "language"),
    [
        ("pl", None, "pl"),
        ("pl_PL", None, "pl"),
        ("zh-hant", None, "zh-Hant"),
        ("zh_TW", None, "zh-Hant"),
        ("zh_CN", None, "zh-Hans"),
        (None, "whatsapp:+48601234567", "pl"),
        (None, "+40721234567", "ro"),
        (None, "+971501234567", "ar"),
        (None, "+85291234567", "zh-Hant"),
    ],
)
def test_platform_hints(locale: str | None, phone: str | None, language: str) -> None:
    assert (from_locale(locale, LANGS) or from_phone(phone, LANGS)) == language


def test_waits_use_each_languages_plural_forms() -> None:
    assert wait_phrase(120, "pl") == "2 minuty"
    assert wait_phrase(300, "pl") == "5 minut"
    assert wait_phrase(180, "en") == "3 minutes"


def test_inbound_language_hint_from_a_whatsapp_number() -> None:
    flow = flow_from(FLOW)
    inbound = Inbound(
        "whatsapp",
        "+48601234567",
        "1",
        Shopper("+48601234567", "Ann", phone="+48601234567"),
        text="ok",
    )
    assert step(flow, ConversationState(), inbound).state.language == "pl"


def test_language_is_a_name_templates_and_switch_know() -> None:
    text = """\
version: 1
settings: {start: a, disclosure: {en: bot, pl: bot}, languages: [en, pl]}
nodes:
  a:
    switch:
      - when: language == 'pl'
        goto: b
      - else: c
  b: {say: {en: B, pl: Polski}, end: true}
  c: {say: {en: "C {{ language }}", pl: "C {{ language }}"}, end: true}
"""
    assert check_text(text).diagnostics == ()
    assert said(text, "dzień dobry") == [["Polski\n\nbot"]]
    assert said(text, "hello there friend") == [["C en\n\nbot"]]


def test_language_as_the_first_message_still_greets_and_discloses_the_bot() -> None:
    flow = flow_from(FLOW)
    first = step(flow, ConversationState(), msg("/language"))
    assert [r.text for r in first.replies] == [
        "Pick one\n\nI'm a bot.",
        "Which language would you like me to write in?",
    ]
    picked = step(flow, first.state, msg("", "language:pl"))
    assert [r.text for r in picked.replies] == ["Dobrze, będę pisać po polsku.", "Wybierz"]
    assert picked.state.language == "pl"


def test_another_script_switches_at_once_and_the_hint_picks_the_chinese() -> None:
    neutral = LanguageGuess(("zh-Hans", "zh-Hant"), 0.5, False)
    assert choose_language(LanguageState("en"), neutral, "zh-Hant", LANGS).language == "zh-Hant"
    assert choose_language(LanguageState("en"), neutral, None, LANGS).language == "zh-Hans"


def test_a_number_typed_for_an_offer_picks_from_the_offer_not_the_menu() -> None:
    flow = flow_from(FLOW)
    listed = step(flow, step(flow, ConversationState(), msg("hi")).state, msg("/language"))
    assert listed.state.offer[1] == "language:pl"
    picked = step(flow, listed.state, msg("2"))  # WhatsApp shows the list numbered
    assert picked.state.language == "pl" and picked.state.node == "menu"
    assert picked.state.offer == ()
    at_menu = step(flow, picked.state, msg("2"))  # no offer any more: the menu's second
    assert at_menu.state.node is None and at_menu.replies[0].text == "Zwroty!"


def test_a_title_typed_for_a_did_you_mean_offer_picks_that_intent() -> None:
    text = FLOW.replace(
        "  fallback:", "  understanding: {confidence: 0.99, suggest: 0.0}\n  fallback:"
    ).replace(
        "    goto: returns\nnodes:",
        "    goto: returns\n  shipping:\n    title: {en: Shipping}\n"
        "    examples: {en: [how much is shipping, delivery cost]}\n    goto: track\nnodes:",
    )
    flow = flow_from(text)
    state = step(flow, ConversationState(), msg("hi")).state
    offered = step(flow, state, msg("I want to return my shoes"))
    assert set(offered.state.offer) == {"intent:returns", "intent:shipping"}
    assert step(flow, offered.state, msg("shipping")).state.node == "track"
