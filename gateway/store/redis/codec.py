"""How the Redis store writes its values: history lines, the state, outbox items and buried
messages, each as compact JSON (see keys.py for the key layout). Pure functions."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from flows.messages import Inbound, from_dict
from flows.state import ConversationState
from gateway.store.base import (
    Buried,
    Conversation,
    Direction,
    HistoryEntry,
    OutboxItem,
    compact_json,
)

# History lines. The usual (direction, author) pairs are written as one digit and data's
# usual keys as one letter: [at, who, text, data?]. Any other line is written in full,
# [at, direction, author, text, data?], as every line was before (those are still read).
_WHO: tuple[tuple[Direction, str], ...] = (("in", "shopper"), ("out", "bot"), ("system", "system"))
_SHORT = {
    "kind": "k", "message_id": "m", "name": "n", "buttons": "b", "payload": "p", "call": "c",
    "attachments": "a", "location": "l", "agent": "g", "thread": "t",
}  # fmt: skip
_LONG = {short: long for long, short in _SHORT.items()}


def history_line(h: HistoryEntry) -> str:
    """One history line: a JSON array, the data left out when empty."""
    pair = (h.direction, h.author)
    if pair in _WHO and _LONG.keys().isdisjoint(h.data):  # no key that would read as short
        data = {_SHORT.get(k, k): v for k, v in h.data.items()}
        who = _WHO.index(pair)
        return compact_json([h.at, who, h.text, data] if data else [h.at, who, h.text])
    return compact_json(
        [h.at, h.direction, h.author, h.text, h.data]
        if h.data
        else [h.at, h.direction, h.author, h.text]
    )


def history_entry(key: str, seq: int, line: str) -> HistoryEntry:
    at, who, *rest = json.loads(line)
    if isinstance(who, int):
        (direction, author), (text, *data) = _WHO[who], rest
        return HistoryEntry(
            key, at, direction, author, text,
            {_LONG.get(k, k): v for k, v in data[0].items()} if data else {}, seq,
        )  # fmt: skip
    author, text, *data = rest
    return HistoryEntry(key, at, who, author, text, data[0] if data else {}, seq)


# The state: a JSON array of these fields, the trailing ones at their default left out (the
# often-set first). ConversationState.to_json()'s object form is still read, and is written
# if the state has a field this list does not know yet.
_STATE = ("node", "mode", "version", "turns", "vars", "variants", "misses", "retries",
          "queue", "resume", "language", "heard", "heard_count", "offer")  # fmt: skip
_STATE_DEFAULTS = {
    f.name: f.default_factory() if callable(f.default_factory) else f.default
    for f in fields(ConversationState)
}
_STATE_OTHER = tuple(name for name in _STATE_DEFAULTS if name not in _STATE)


def state_out(state: ConversationState) -> str:
    if any(getattr(state, n) != _STATE_DEFAULTS[n] for n in _STATE_OTHER):
        return state.to_json()
    values = [getattr(state, n) for n in _STATE]
    while values and values[-1] == _STATE_DEFAULTS[_STATE[len(values) - 1]]:
        values.pop()
    if len(values) > _STATE.index("variants"):
        values[_STATE.index("variants")] = [list(v) for v in state.variants]
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False, default=str)


def state_in(text: str | None) -> ConversationState:
    if not text or not text.startswith("["):
        return ConversationState.from_json(text)
    data = dict(zip(_STATE, json.loads(text), strict=False))
    if "variants" in data:
        data["variants"] = tuple((str(a), str(b)) for a, b in data["variants"])
    if "offer" in data:
        data["offer"] = tuple(str(p) for p in data["offer"])
    return ConversationState(**data)


def buried_entry(conversation: str, raw: str) -> Buried:
    """A `:x` entry: [attempts, error, buried_at, [arrived_at, id, inbound]]."""
    attempts, error, buried_at, (_arrived, entry_id, message) = json.loads(raw)
    return Buried(
        id=entry_id, conversation=conversation, inbound=from_dict(Inbound, message),
        error=error, attempts=int(attempts), buried_at=float(buried_at),
    )  # fmt: skip


def buried_score(oldest: str | None) -> float | str:
    """The buried index's score for a conversation: its oldest burial ("" when none is left)."""
    return json.loads(oldest)[2] if oldest else ""


def outbox_item(conversation: str, item_id: str, raw: str) -> OutboxItem:
    mutable, immutable, *rest = raw.split("\n", 2)
    status, attempts, next_at, _lease, platform_id, delivery, error, seq = json.loads(mutable)
    fixed = json.loads(immutable)
    if len(fixed) == 3:  # written before payloads had a line of their own
        channel, payload, created_at = fixed
    else:
        (channel, created_at), payload = fixed, json.loads(rest[0]) if rest else {}
    return OutboxItem(
        id=item_id,
        conversation=conversation,
        channel=channel,
        payload=payload,
        created_at=created_at,
        status=status,
        attempts=attempts,
        next_at=float(next_at),
        last_error=error,
        platform_id=platform_id,
        delivery=delivery,
        seq=seq,
    )


def conversation_of(key: str, state: str | None, last_inbound: Any, updated: Any) -> Conversation:
    return Conversation(
        key, state_in(state), float(last_inbound or 0.0),
        float(updated or 0.0),
    )  # fmt: skip


def flat_pairs(mapping: dict[str, str]) -> list[str]:
    return [x for pair in mapping.items() for x in pair]


def pairs(reply: Any) -> list[tuple[Any, Any]]:
    """A raw reply of field-value (or member-score) pairs as pairs: a flat array in RESP2, a
    map (HGETALL) or an array of pairs (WITHSCORES) in RESP3."""
    if isinstance(reply, dict):
        return list(reply.items())
    if reply and isinstance(reply[0], list):
        return [(a, b) for a, b in reply]
    return list(zip(reply[::2], reply[1::2], strict=True))
