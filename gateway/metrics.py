"""Prometheus metrics, one registry per app (no module globals): `/metrics` serves them."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.received = Counter("gw_received", "Shopper messages received", ["channel"], registry=r)
        self.deduplicated = Counter(
            "gw_deduplicated", "Platform redeliveries dropped by dedupe", ["channel"], registry=r
        )
        self.rejected = Counter(
            "gw_rejected",
            "Webhooks refused (signature, body, size)",
            ["channel", "status"],
            registry=r,
        )
        self.processed = Counter("gw_processed", "Turns processed", ["channel"], registry=r)
        self.turn_failures = Counter(
            "gw_turn_failures", "Turns that raised and were retried", ["channel"], registry=r
        )
        self.buried = Counter(
            "gw_buried", "Shopper messages buried after failing too often", ["channel"],
            registry=r,
        )  # fmt: skip
        self.buried_now = Gauge(
            "gw_buried_messages", "Buried messages waiting for an operator", registry=r
        )
        self.sent = Counter("gw_sent", "Platform messages sent", ["channel"], registry=r)
        self.send_failed = Counter(
            "gw_send_failed", "Sends that failed", ["channel", "outcome"], registry=r
        )
        self.send_paced = Counter(
            "gw_send_paced", "Sends put off to keep a chat's pace", ["channel"], registry=r
        )
        self.send_held = Counter(
            "gw_send_held", "Sends held back while the platform's circuit is open", ["channel"],
            registry=r,
        )  # fmt: skip
        self.platform_down = Gauge(
            "gw_platform_down", "1 while a platform's circuit is open (an outage)", ["channel"],
            registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge("gw_queue_depth", "Shopper messages waiting", registry=r)
        self.step_seconds = Histogram(
            "gw_step_seconds", "Time to process one turn", ["channel"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.send_seconds = Histogram(
            "gw_send_seconds", "From a platform send's request to reading its answer (a turn "
            "worker reads it after its next turn)", ["channel"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip

    def render(self) -> bytes:
        return generate_latest(self.registry)
