"""The inbox's Flask blueprint and the request's gateway, shared by the modules that add
routes to it (web.py: pages and API; dashboard.py: the report), which import this and not
each other."""

from __future__ import annotations

from flask import Blueprint, current_app

from gateway.context import Gateway
from gateway.inbox.store import InboxStore
from gateway.inbox.views import shown_photo

bp = Blueprint("inbox", __name__, url_prefix="/inbox", template_folder="templates",
               static_folder="static")  # fmt: skip
bp.add_app_template_global(shown_photo, "shown_photo")  # the header's photo of the agent


def current_gateway() -> Gateway:
    gateway: Gateway = current_app.extensions["gateway"]
    return gateway


def current_inbox() -> InboxStore:
    """The inbox store of the gateway serving this request."""
    return current_gateway().inbox
