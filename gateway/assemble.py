"""Putting one gateway process together from its configuration (the composition root).

Everything that needs a built `Gateway` (the inbox service, as the flow's `inbox` status) is
wired here, so that `gateway.context` depends on none of it.
"""

from __future__ import annotations

import os

from adapters.common.redact import protect
from adapters.registry import build_adapters, delivery_reporting
from gateway.analytics.turn_log import open_analytics
from gateway.config import SECRET_NAMES, Config
from gateway.context import Gateway, without_secrets
from gateway.flow_holder import FlowHolder
from gateway.http_services import HttpServices
from gateway.inbox.backends import open_inbox
from gateway.inbox.service import InboxService
from gateway.redaction import Redactor
from gateway.store import open_store
from gateway.turns.circuit import Circuits
from gateway.turns.outages import open_outage_board


def build_gateway(config: Config) -> Gateway:
    # PTB 22 warns on integer retry_after unless told to use timedelta; we read both forms.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    protect(*(v for k, v in config.env.items() if k in SECRET_NAMES and v))
    store = open_store(config.store_url, delivery_reporting())  # creates the SQLite folder
    gw = Gateway(
        config=config,
        store=store,
        adapters=build_adapters(config.env),
        flows=FlowHolder(config.flows_path, without_secrets(config.env)),
        services=HttpServices(),
        inbox=open_inbox(config.store_url),
        analytics=open_analytics(config.store_url, config.analytics_url),
        redact=Redactor(config.redact_patterns, config.redact_history),
        circuits=Circuits(board=open_outage_board(config.store_url)),
    )
    gw.services.status_source = InboxService(gw, gw.inbox).status  # agents on duty
    return gw
