"""`step()`: matching, questions, fallbacks, handoff, splits, reloads and the template sandbox."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from flows.engine import resume, step
from flows.messages import (
    CallMade,
    Fallback,
    FlowResumed,
    GoalReached,
    HandoffRequested,
    IntentMatched,
    VariantAssigned,
    short_payload,
)
from flows.model import Flow
from flows.services import CallResponse, StubServices
from flows.split import bucket
from flows.state import ConversationState
from tests.conftest import flow_from, msg

MENU = """\
version: 1
settings:
  start: menu
  disclosure: "I'm a bot."
  person_button: {title: Talk to a person, goto: human}
  fallback: {say: "Sorry?", max_misses: 2, then: human}
intents:
  agent: {keywords: {en: [agent], es: [persona]}, examples: {en: ["talk to a real person"]}, goto: human}
  stop: {keywords: [stop], goto: bye}
nodes:
  menu:
    say: "Hi {{ user.first_name }}, pick one"
    buttons:
      - Track my order: track
      - Réturns & refunds: returns
      - {title: Shipping, payload: SHIP_PAYLOAD_THAT_IS_LONGER_THAN_SIXTY_FOUR_BYTES_FOR_TELEGRAM_XX, goto: ship}
  track:
    ask: Order number?
    save: order_id
    expect: {regex: '[A-Z]\\d{4}', case: upper}
    retries: 1
    on_invalid: human
    next: done
  returns: {say: Returns!, next: done}
  ship: {say: Shipping!, next: done}
  done: {say: "Done {{ vars.order_id }}", goal: resolved, end: true}
  human:
    say: A person will answer.
    handoff: {queue: support, reason: asked, then: done}
  bye: {say: Bye, end: stop}
"""


@pytest.fixture(scope="module")
def menu() -> Flow:
    return flow_from(MENU)


def at_menu(flow: Flow) -> ConversationState:
    return step(flow, ConversationState(), msg("hi")).state


def test_first_message_greets_by_name_and_discloses_the_bot(menu: Flow) -> None:
    result = step(menu, ConversationState(), msg("hello"))
    (reply,) = result.replies
    assert reply.text == "Hi Ann, pick one\n\nI'm a bot."
    assert [b.title for b in reply.buttons][-1] == "Talk to a person"
    assert result.state.node == "menu" and result.state.mode == "bot"


def test_disclosure_is_only_added_to_the_first_conversation_turn(menu: Flow) -> None:
    state = at_menu(menu)
    again = step(menu, state, msg("menu?", kind="start"))
    assert again.replies[0].text == "Hi Ann, pick one"


@pytest.mark.parametrize(
    ("text", "payload", "expected"),
    [
        ("", "track-my-order", "track"),
        ("track my order", None, "track"),
        ("TRACK MY ORDER", None, "track"),
        ("returns & refunds", None, "returns"),  # accent-insensitive: Réturns
        ("2", None, "returns"),
        ("3.", None, "ship"),
        ("trak my ordr", None, "track"),
        ("shiping", None, "ship"),
        (
            "",
            short_payload("SHIP_PAYLOAD_THAT_IS_LONGER_THAN_SIXTY_FOUR_BYTES_FOR_TELEGRAM_XX"),
            "ship",
        ),
    ],
)
def test_a_reply_picks_a_button_by_payload_title_number_or_fuzzy(
    menu: Flow, text: str, payload: str | None, expected: str
) -> None:
    result = step(menu, at_menu(menu), msg(text, payload))
    assert result.events[0].node == expected  # type: ignore[union-attr]


@pytest.mark.parametrize("text", ["9", "blorp", "", "🙂"])
def test_anything_else_is_a_fallback_with_the_question_again(menu: Flow, text: str) -> None:
    result = step(menu, at_menu(menu), msg(text))
    (reply,) = result.replies
    assert reply.text == "Sorry?\n\nHi Ann, pick one"
    assert len(reply.buttons) == 4
    assert result.events == (Fallback("menu", text, 1, "en"),)


def test_unknown_button_payload_is_a_fallback(menu: Flow) -> None:
    result = step(menu, at_menu(menu), msg("", "NO_SUCH_PAYLOAD"))
    assert isinstance(result.events[0], Fallback)


def test_repeated_fallbacks_hand_off(menu: Flow) -> None:
    state = at_menu(menu)
    state = step(menu, state, msg("blorp")).state
    result = step(menu, state, msg("blorp again"))
    assert HandoffRequested("support", "asked", "human") in result.events
    assert result.state.mode == "handoff" and result.state.queue == "support"


def test_keyword_intent_interrupts_a_question(menu: Flow) -> None:
    state = step(menu, at_menu(menu), msg("track my order")).state
    result = step(menu, state, msg("persona por favor"))
    assert result.events[0] == IntentMatched("agent", "track")
    assert result.state.mode == "handoff"


def test_keywords_only_count_in_short_messages(menu: Flow) -> None:
    state = step(menu, at_menu(menu), msg("track my order")).state
    result = step(menu, state, msg("when will the delay on my parcel finally stop, it is so late"))
    assert not any(isinstance(e, IntentMatched) for e in result.events)


def test_example_phrases_match_fuzzily(menu: Flow) -> None:
    result = step(menu, at_menu(menu), msg("could I talk to a real person please"))
    assert result.events[0] == IntentMatched("agent", "menu")


def test_question_validates_normalises_and_saves(menu: Flow) -> None:
    state = step(menu, at_menu(menu), msg("1")).state
    result = step(menu, state, msg("  a1234 "))
    assert result.state.vars["order_id"] == "A1234"
    assert result.replies[0].text == "Done A1234"
    assert GoalReached("resolved", "done") in result.events
    assert result.state.mode == "ended"


def test_invalid_answers_retry_then_take_on_invalid(menu: Flow) -> None:
    state = step(menu, at_menu(menu), msg("1")).state
    first = step(menu, state, msg("no idea"))
    assert first.replies[0].text == "Sorry?\n\nOrder number?"
    assert first.state.node == "track"
    second = step(menu, first.state, msg("still no idea"))
    assert second.state.mode == "handoff"


def test_handoff_silences_bot_until_resolved(menu: Flow) -> None:
    state = step(menu, at_menu(menu), msg("agent")).state
    for text in ("hello?", "agent", "stop", ""):
        result = step(menu, state, msg(text))
        assert result.replies == () and result.events == ()
        state = result.state
    resumed = resume(menu, state, msg(""))
    assert resumed.replies[0].text == "Done"
    assert resumed.state.mode == "ended"


def test_stop_intent_ends_as_opt_out(menu: Flow) -> None:
    result = step(menu, at_menu(menu), msg("stop"))
    assert result.replies[0].text == "Bye"
    assert type(result.events[-1]).__name__ == "ConversationStopped"


def test_reload_with_vanished_node_resumes_at_resume_at(menu: Flow) -> None:
    state = replace(at_menu(menu), node="old_node_gone", version="v0")
    result = step(menu, state, msg("hi"))
    assert result.events[0] == FlowResumed("old_node_gone", "menu", menu.version)
    assert result.state.node == "menu" and result.replies


def test_state_round_trips_through_json(menu: Flow) -> None:
    state = step(menu, step(menu, at_menu(menu), msg("1")).state, msg("bad")).state
    assert ConversationState.from_json(state.to_json()) == state
    assert len(state.to_json()) < 200


def test_step_is_deterministic(menu: Flow) -> None:
    state = at_menu(menu)
    assert step(menu, state, msg("trak my ordr")) == step(menu, state, msg("trak my ordr"))


SPLIT = """\
version: 1
settings: {start: s, disclosure: bot}
nodes:
  s:
    split:
      experiment: exp
      variants:
        - {name: a, weight: 30, goto: a}
        - {name: b, weight: 70, goto: b}
  a: {say: A, end: true}
  b: {say: B, end: true}
"""


def test_split_assignment_is_sticky_and_weighted() -> None:
    flow = flow_from(SPLIT)
    counts: Counter[str] = Counter()
    for i in range(4000):
        result = step(flow, ConversationState(), msg("hi", conversation=f"shopper-{i}"))
        (assigned,) = [e for e in result.events if isinstance(e, VariantAssigned)]
        counts[assigned.variant] += 1
        again = step(flow, ConversationState(), msg("hi", conversation=f"shopper-{i}"))
        assert again.replies == result.replies  # the same shopper always lands in the same variant
    assert 0.27 < counts["a"] / 4000 < 0.33


def test_split_bucket_is_a_stable_hash_not_pythons_hash() -> None:
    assert bucket("exp", "telegram:42") == 5913  # the same on every process and host, forever


def test_recorded_variant_wins_over_the_hash_when_weights_change() -> None:
    flow = flow_from(SPLIT)
    state = ConversationState(variants=(("exp", "a"),), turns=1)
    result = step(flow, state, msg("hi", conversation="anyone"))
    assert result.replies[0].text == "A"
    assert not any(isinstance(e, VariantAssigned) for e in result.events)


CALL = """\
version: 1
settings: {start: look, disclosure: bot}
env: {API: "http://default.test"}
nodes:
  look:
    call:
      method: POST
      url: "{{ env.API }}/orders/{{ vars.id }}"
      headers: {X-Shop: "{{ shop.name }}"}
      json: {id: "{{ vars.id }}", n: "{{ vars.n + 1 }}", fixed: 3}
      save: order
      on_error: failed
    next: ok
  ok: {say: "Status {{ vars.order.status }}", end: true}
  failed: {say: "Could not look it up", end: true}
"""


def test_call_node_renders_the_request_and_saves_json() -> None:
    flow = flow_from(CALL.replace("nodes:", "shop: {name: Acme}\nnodes:"))
    seen = []

    def answer(request):
        seen.append(request)
        return CallResponse(200, {"status": "shipped"})

    services = StubServices({"POST http://default.test/orders/A1": answer})
    state = ConversationState(vars={"id": "A1", "n": 1}, turns=1)
    result = step(flow, state, msg("hi"), services)
    assert result.replies[0].text == "Status shipped"
    assert seen[0].json == {"id": "A1", "n": 2, "fixed": 3}
    assert seen[0].headers == (("X-Shop", "Acme"),)
    assert CallMade("look", "POST", "http://default.test/orders/A1", 200, True) in result.events


def test_call_error_takes_the_error_path() -> None:
    flow = flow_from(CALL)
    result = step(flow, ConversationState(vars={"id": "A1"}, turns=1), msg("hi"), StubServices({}))
    assert result.replies[0].text == "Could not look it up"


def test_a_raising_service_takes_the_error_path_instead_of_crashing() -> None:
    class Broken:
        def call(self, request):
            raise ConnectionError("boom")

    result = step(
        flow_from(CALL), ConversationState(vars={"id": "A1"}, turns=1), msg("hi"), Broken()
    )
    assert result.replies[0].text == "Could not look it up"


def test_environment_is_only_what_the_file_whitelists() -> None:
    from flows.loader import check_text

    flow = check_text(CALL, environ={"API": "http://real.test", "SECRET_KEY": "s3cret"}).flow
    assert flow is not None
    assert dict(flow.env) == {"API": "http://real.test"}


@pytest.mark.parametrize(
    "template",
    [
        "{{ user.__class__.__mro__ }}",
        "{{ vars.__class__.__init__.__globals__ }}",
        "{{ (1).__class__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ lipsum.__globals__ }}",
    ],
)
def test_templates_cannot_reach_python_internals(template: str) -> None:
    flow = flow_from(
        "version: 1\nsettings: {start: a, disclosure: bot}\nnodes:\n"
        f"  a: {{say: 'x {template} y', end: true}}\n"
    )
    text = step(flow, ConversationState(), msg("hi")).replies[0].text
    assert "class" not in text and "function" not in text and "module" not in text


def test_per_channel_text_is_used_on_that_channel() -> None:
    flow = flow_from(
        "version: 1\nsettings: {start: a, disclosure: bot}\nnodes:\n"
        "  a:\n    say: {text: Tap a button, whatsapp: Reply with a number}\n    end: true\n"
    )
    assert (
        step(flow, ConversationState(), msg("x", channel="whatsapp"))
        .replies[0]
        .text.startswith("Reply with a number")
    )
    assert step(flow, ConversationState(), msg("x")).replies[0].text.startswith("Tap a button")


def test_call_link_becomes_a_tap_to_call_reply(sample_flow: Flow) -> None:
    state = ConversationState(variants=(("bot_vs_callcenter", "call_center"),))
    result = step(sample_flow, state, msg("hi"))
    assert result.replies[-1].call == "+12025550100"


def test_start_deep_link_is_saved_as_ref(menu: Flow) -> None:
    inbound = replace(
        msg("/start ref_SPRING24-pl", kind="start"), extras=(("start_param", "ref_SPRING24-pl"),)
    )
    result = step(menu, ConversationState(), inbound)
    assert result.state.vars["ref"] == "ref_SPRING24-pl"


BARE_QUESTION = """\
version: 1
settings:
  start: q
  disclosure: bot
  person_button: {title: Talk to a person, goto: human}
intents:
  agent: {examples: ["talk to a real person", "can I speak to someone"], goto: human}
  stop: {keywords: [stop], goto: bye}
nodes:
  q: {ask: How many pairs?, save: pairs, expect: {number: {min: 1, max: 9}}, next: done}
  done: {say: "{{ vars.pairs }} pairs", end: true}
  human: {say: A person will answer., handoff: support}
  bye: {say: Bye, end: stop}
"""


def test_a_number_typed_at_a_bare_question_is_an_answer_not_the_person_button() -> None:
    flow = flow_from(BARE_QUESTION)
    state = step(flow, ConversationState(), msg("hi")).state
    result = step(flow, state, msg("1"))
    assert result.state.vars["pairs"] == 1 and result.state.mode == "ended"


@pytest.mark.parametrize("text", ["to", "a", "someone", "can", "real"])
def test_one_word_of_an_example_phrase_does_not_trigger_the_intent(text: str) -> None:
    flow = flow_from(BARE_QUESTION)
    state = step(flow, ConversationState(), msg("hi")).state
    result = step(flow, state, msg(text))
    assert not any(isinstance(e, IntentMatched) for e in result.events)


def test_a_question_mentioning_stop_does_not_opt_out() -> None:
    flow = flow_from(BARE_QUESTION)
    state = step(flow, ConversationState(), msg("hi")).state
    result = step(flow, state, msg("when will this delay finally stop?"))
    assert result.state.mode == "bot"


def test_a_long_sentence_does_not_fuzzily_pick_a_menu_button(menu: Flow) -> None:
    result = step(menu, at_menu(menu), msg("when will the delay on my order stop being so long?"))
    assert isinstance(result.events[0], Fallback)


def test_call_link_is_kept_on_a_node_with_buttons() -> None:
    flow = flow_from(
        "version: 1\nsettings: {start: a, disclosure: bot}\nnodes:\n"
        "  a:\n    say: Call or pick\n    call_link: '+12025550100'\n    buttons:\n      - Done: b\n"
        "  b: {say: ok, end: true}\n"
    )
    assert step(flow, ConversationState(), msg("hi")).replies[0].call == "+12025550100"


def test_blank_display_name_greets_without_a_name() -> None:
    flow = flow_from(MENU)
    result = step(flow, ConversationState(), msg("hi", name="   "))
    assert result.replies[0].text.startswith("Hi , pick one")
