"""Everything one running sandbox remembers, attached to its Flask app (no module globals).

The three fake APIs share the recorder, the fault book and the shoppers; the id counters live here
so the simulator's messages and the bot's messages share one numbering per chat, as on Telegram.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Response, current_app

from sandbox.config import SandboxConfig
from sandbox.faults import Fault, FaultBook
from sandbox.recording import Entry, Recorder
from sandbox.shoppers import ShopperBook

EXTENSION = "shop_sandbox"


@dataclass
class SandboxState:
    """The sandbox's shared memory; every part is thread-safe on its own."""

    config: SandboxConfig
    recorder: Recorder = field(default_factory=Recorder)
    faults: FaultBook = field(default_factory=FaultBook)
    shoppers: ShopperBook = field(default_factory=ShopperBook)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _chat_message_ids: dict[str, int] = field(default_factory=dict)
    _update_ids: itertools.count = field(default_factory=lambda: itertools.count(700000001))
    twilio_messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    twilio_contents: dict[str, dict[str, Any]] = field(default_factory=dict)
    telegram_messages: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    telegram_callbacks: dict[str, str] = field(default_factory=dict)  # query id -> chat id
    telegram_webhook: dict[str, Any] = field(default_factory=dict)
    # Messenger conversations as the Conversations API lists them: PSID -> {"id": "t_…",
    # "messages": [{"id", "time", "text", "from_page"}, …] oldest first}
    messenger_threads: dict[str, dict[str, Any]] = field(default_factory=dict)

    def next_message_id(self, chat_id: str) -> int:
        """Telegram numbers messages per chat, the shopper's and the bot's in one series."""
        with self._lock:
            value = self._chat_message_ids.get(chat_id, 0) + 1
            self._chat_message_ids[chat_id] = value
            return value

    def next_update_id(self) -> int:
        with self._lock:
            return next(self._update_ids)

    def add_messenger_message(self, psid: str, mid: str, text: str, from_page: bool) -> None:
        """One message of the page's conversation with `psid`, the page's or the shopper's;
        the conversation (and its `t_` id) starts with its first message."""
        with self._lock:
            thread = self.messenger_threads.get(psid)
            if thread is None:
                number = 100000000000001 + len(self.messenger_threads)
                thread = {"id": f"t_{number}", "psid": psid, "messages": []}
                self.messenger_threads[psid] = thread
            thread["messages"].append(
                {"id": mid, "time": time.time(), "text": text, "from_page": from_page}
            )

    def messenger_thread(self, key: str) -> dict[str, Any] | None:
        """A copy of the conversation with PSID `key`, or with conversation id `key`."""
        with self._lock:
            thread = self.messenger_threads.get(key) or next(
                (t for t in self.messenger_threads.values() if t["id"] == key), None
            )
            return {**thread, "messages": list(thread["messages"])} if thread else None

    def messenger_message(self, mid: str) -> tuple[str, dict[str, Any]] | None:
        """(PSID, message) for a message id in any Messenger conversation."""
        with self._lock:
            for psid, thread in self.messenger_threads.items():
                for message in thread["messages"]:
                    if message["id"] == mid:
                        return psid, dict(message)
        return None

    def record_send(self, channel: str, method: str, to: str, **fields: Any) -> Entry:
        """Log one API call of the bot; `conversation` is the address without `whatsapp:`."""
        conversation = to.removeprefix("whatsapp:")
        return self.recorder.add(
            "send",
            {
                "channel": channel,
                "method": method,
                "to": to,
                "conversation": conversation,
                **fields,
            },
        )


def get_state() -> SandboxState:
    state: SandboxState = current_app.extensions[EXTENSION]
    return state


def new_sid(prefix: str) -> str:
    """A Twilio-style sid: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def take_fault(channel: str, method: str) -> Fault | None:
    """The fault waiting for this call, after its delay; None when the call should succeed."""
    fault = get_state().faults.take(channel, method)
    if fault is None:
        return None
    if fault.delay > 0:
        time.sleep(fault.delay)  # a stalled platform: lets clients hit their read timeout
    return fault if fault.status is not None and fault.status >= 400 else None


def fault_response(fault: Fault) -> Response:
    return Response(
        fault.body,
        status=fault.status,
        headers=list(fault.headers),
        content_type="application/json",
    )


def json_response(data: bytes, status: int = 200) -> Response:
    return Response(data, status=status, content_type="application/json")
