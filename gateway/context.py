"""Everything one gateway process shares: settings, store, adapters, the live flow, metrics.

Built once by `gateway.assemble.build_gateway()`; the web app and the worker threads receive
it explicitly, so there are no module globals and tests can build as many as they like.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from adapters.registry import BuiltAdapters
from gateway.analytics.recorder import Analytics
from gateway.config import SECRET_NAMES, Config
from gateway.flow_holder import FlowHolder
from gateway.http_services import HttpServices
from gateway.inbox.store import InboxStore
from gateway.metrics import Metrics
from gateway.redaction import Redactor
from gateway.store.base import Store
from gateway.store_health import StoreHealth
from gateway.turns.circuit import Circuits
from gateway.turns.pacing import Pacer
from gateway.web.shedding import Backlog


class Wakeup(Protocol):
    """What wakes idle turn workers: a `threading.Event` in one process, a pipe between
    processes (`gateway.turns.runtime.PipeWakeup`)."""

    def set(self) -> None: ...

    def wait(self, timeout: float | None = None) -> bool: ...

    def clear(self) -> None: ...


@dataclass
class Gateway:
    config: Config
    store: Store
    adapters: BuiltAdapters
    flows: FlowHolder
    services: HttpServices
    inbox: InboxStore  # agents and threads; beside the messages in the store
    analytics: Analytics  # what each turn did, for reports
    metrics: Metrics = field(default_factory=Metrics)
    pacer: Pacer = field(default_factory=Pacer)  # per-chat send pace (Telegram)
    circuits: Circuits = field(default_factory=Circuits)  # platforms that are down right now
    store_health: StoreHealth = field(default_factory=StoreHealth)  # writes failing, and why
    backlog: Backlog = field(default_factory=Backlog)  # the queue's depth, read once a second
    redact: Redactor = field(default_factory=Redactor)
    turn_ready: Wakeup = field(default_factory=threading.Event)  # wakes idle workers
    outbox_ready: threading.Event = field(default_factory=threading.Event)  # wakes the sender

    def close(self) -> None:
        self.adapters.close()
        self.services.close()
        self.circuits.close()
        self.inbox.close()
        self.analytics.close()
        self.store.close()


def without_secrets(env: Mapping[str, str]) -> dict[str, str]:
    """What flows.yaml's `env:` may read: never the gateway's own secrets."""
    return {k: v for k, v in env.items() if k not in SECRET_NAMES}
