"""For any shopper input at any point of the sample flow, `step()` answers and never raises."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.engine import step
from flows.messages import Inbound, Shopper
from flows.model import Flow
from flows.services import CallResponse, StubServices
from flows.state import ConversationState

HOSTILE = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "🤷‍♀️👩‍👩‍👧‍👦",
        "مرحبا، أين طلبي؟",
        "invoice\u202eFDP.exe\u200b\u2066x\u2069",
        "<script>alert(1)</script>",
        "{{ 7*7 }}",
        "{% for x in range(10**9) %}",
        "1" * 10_000,
        "a" * 10_000,
        "99",
        "0",
        "-1",
        "/start",
        "/start " + "x" * 200,
    ]
)
TEXT = st.one_of(HOSTILE, st.text(max_size=300))
PAYLOAD = st.one_of(
    st.none(), st.text(max_size=80), st.sampled_from(["person", "~abc", "track-my-order"])
)


def services() -> StubServices:
    return StubServices(
        {
            "GET http://shop.test/orders/A1234": CallResponse(200, {"status": "shipped"}),
            "POST http://shop.test/coupons": CallResponse(201, ["not", "a", "dict"]),
        }
    )


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    node=st.sampled_from(
        ["menu", "ask_order", "csat", "anything_else", "returns", "order_not_found"]
    ),
    texts=st.lists(st.tuples(TEXT, PAYLOAD), min_size=1, max_size=6),
    channel=st.sampled_from(["whatsapp", "messenger", "telegram"]),
    name=st.one_of(st.none(), st.text(max_size=40)),
)
def test_step_never_raises_on_any_input(
    sample_flow: Flow,
    node: str,
    texts: list[tuple[str, str | None]],
    channel: str,
    name: str | None,
) -> None:
    state = ConversationState(
        node=node, mode="bot", variants=(("bot_vs_callcenter", "bot"),), turns=1
    )
    for i, (text, payload) in enumerate(texts):
        inbound = Inbound(
            channel=channel,
            conversation="p1",
            message_id=str(i),
            shopper=Shopper("p1", name=name),
            kind="button" if payload else "text",
            text=text,
            payload=payload,
        )
        result = step(sample_flow, state, inbound, services())
        state = ConversationState.from_json(result.state.to_json())
        assert state.mode in ("bot", "handoff", "ended")
        if state.mode == "bot":
            assert state.node in sample_flow.nodes
        for reply in result.replies:
            assert reply.text.strip()
        assert len(state.to_json()) < 4_000
