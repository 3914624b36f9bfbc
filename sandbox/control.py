"""The sandbox's own HTTP controls under `/_sandbox`: read recorded sends, set faults, add shoppers.

The same operations as the `Sandbox` Python object, for tests and benchmarks in other processes.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from sandbox.faults import make_fault
from sandbox.state import get_state

bp = Blueprint("control", __name__, url_prefix="/_sandbox")


def _bad(message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), 400


@bp.get("/health")
def health() -> Response:
    return jsonify({"ok": True})


@bp.get("/sent")
def sent() -> Response:
    """`?channel=&to=`; `?all=1` includes the calls that were answered with an error."""
    args = request.args
    found = get_state().recorder.select(
        ("send",),
        channel=args.get("channel") or None,
        conversation=args.get("to") or None,
        accepted_only=args.get("all") not in ("1", "true"),
    )
    return jsonify({"sent": found, "count": len(found)})


@bp.delete("/sent")
def clear() -> tuple[str, int]:
    get_state().recorder.clear()
    return "", 204


@bp.get("/webhooks")
def webhooks() -> Response:
    """What the simulator (and the Twilio status callbacks) posted, with the gateway's answers."""
    found = get_state().recorder.select(
        ("webhook", "status_callback"), channel=request.args.get("channel") or None
    )
    return jsonify({"webhooks": found, "count": len(found)})


@bp.post("/faults")
def add_fault() -> tuple[Response, int]:
    """JSON `{channel, status, body?, count? or for_s?, delay?, method?, retry_after?,
    acted?}`: the next `count` calls, or every call for `for_s` seconds (an outage)."""
    data: Any = request.get_json(silent=True)
    if not isinstance(data, dict) or "channel" not in data:
        return _bad("send a JSON object with at least 'channel'")
    try:
        fault = make_fault(
            str(data["channel"]),
            int(data["status"]) if data.get("status") else None,
            data.get("body"),
            float(data.get("delay") or 0),
            data.get("method"),
            int(data["retry_after"]) if data.get("retry_after") else None,
            bool(data.get("acted")),
        )
        for_s = float(data["for_s"]) if data.get("for_s") else None
        get_state().faults.add(fault, int(data.get("count", 1)), for_s)
    except (TypeError, ValueError) as exc:
        return _bad(str(exc))
    return jsonify({"pending": get_state().faults.pending()}), 201


@bp.get("/faults")
def list_faults() -> Response:
    return jsonify({"pending": get_state().faults.pending()})


@bp.delete("/faults")
def clear_faults() -> tuple[str, int]:
    get_state().faults.clear()
    return "", 204


@bp.post("/conversations_api")
def conversations_api() -> tuple[Response, int]:
    """JSON `{deny: true, code?: 10, status?: 400}` refuses Graph's Conversations API with
    that permission error; `{deny: false}` allows it again (so does `DELETE /faults`)."""
    data: Any = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("deny"), bool):
        return _bad("send a JSON object with a boolean 'deny'")
    faults = get_state().faults
    if data["deny"]:
        try:
            faults.deny_conversations(int(data.get("code", 10)), int(data.get("status", 400)))
        except (TypeError, ValueError) as exc:
            return _bad(str(exc))
    else:
        faults.allow_conversations()
    return jsonify({"denied": faults.denied is not None}), 200


@bp.post("/shoppers")
def add_shopper() -> tuple[Response, int]:
    """JSON `{channel, name, locale?}`: a simulated shopper the fake APIs know (profiles, chats)."""
    data: Any = request.get_json(silent=True)
    if not isinstance(data, dict) or not data.get("channel") or not data.get("name"):
        return _bad("send a JSON object with 'channel' and 'name'")
    try:
        shopper = get_state().shoppers.add(
            str(data["channel"]), str(data["name"]), data.get("locale")
        )
    except ValueError as exc:
        return _bad(str(exc))
    return jsonify(shopper.to_dict()), 201
