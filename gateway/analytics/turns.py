"""From a processed turn to the `TurnRecord` the analytics keep (the worker's side)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flows.model import Flow
from flows.state import ConversationState
from gateway.analytics.recorder import TurnRecord
from gateway.inbox.model import Thread
from gateway.store.base import Claim

_PHONE: dict[str, frozenset[str]] = {}  # flow version -> nodes with a call link


def phone_nodes(flow: Flow) -> frozenset[str]:
    """Nodes that send the shopper to the call-center number (a `call_link`)."""
    nodes = _PHONE.get(flow.version)
    if nodes is None:
        nodes = frozenset(n.id for n in flow.nodes.values() if n.call_link is not None)
        if len(_PHONE) > 16:  # a long-running process sees a few reloads, not thousands
            _PHONE.clear()
        _PHONE[flow.version] = nodes
    return nodes


def shopper_record(
    flow: Flow,
    claim: Claim,
    before: ConversationState,
    after: ConversationState,
    events: Sequence[dict[str, Any]],
    now: float,
) -> TurnRecord:
    inbound = claim.inbound
    return TurnRecord(
        conversation=claim.conversation,
        message_id=inbound.message_id,
        channel=inbound.channel,
        at=now,
        events=events,
        fresh=before.mode == "new",
        mode=after.mode,
        variants=after.variants,
        phone_nodes=phone_nodes(flow),
    )


def agent_record(
    flow: Flow,
    claim: Claim,
    after: ConversationState,
    events: Sequence[dict[str, Any]],
    thread: Thread | None,
    now: float,
) -> TurnRecord:
    return TurnRecord(
        conversation=claim.conversation,
        message_id=claim.inbound.message_id,
        channel=claim.inbound.channel,
        at=now,
        events=events,
        shopper_turn=False,
        mode=after.mode,
        variants=after.variants,
        phone_nodes=phone_nodes(flow),
        thread=thread,
    )
