"""Keep platform secrets out of the client libraries' own log lines.

The Telegram token is part of every Bot API URL and the Graph page token rides in the query
string, so httpx (INFO), urllib3 (DEBUG) and PTB (DEBUG) would print them as soon as someone
turns logging up. One filter on those loggers replaces every registered secret with `***`.
The gateway also gives it a scrubber (`scrub_with`) that masks payment cards in every line.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

# Loggers that print request URLs; a filter works only on the logger that emits the record.
LIBRARY_LOGGERS = (
    "httpx",
    "telegram.Bot",
    "telegram.ext.ExtBot",
    "telegram.request",
    "urllib3.connectionpool",
    "twilio.http_client",
)
MASK = "***"


class SecretFilter(logging.Filter):
    """Rewrites a record whose message contains a registered secret; never drops a record."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: frozenset[str] = frozenset()
        self._scrub: Callable[[str], str] | None = None
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        if len(secret) >= 8:  # short values would mask ordinary words
            with self._lock:
                self._secrets = self._secrets | {secret}

    def scrub_with(self, scrub: Callable[[str], str]) -> None:
        """Also rewrite every message (and an `error` field) with `scrub` (payment cards)."""
        self._scrub = scrub

    def filter(self, record: logging.LogRecord) -> bool:
        secrets, scrub = self._secrets, self._scrub
        if not secrets and scrub is None:
            return True
        message = original = record.getMessage()
        if any(s in message for s in secrets):
            for s in secrets:
                message = message.replace(s, MASK)
        if scrub is not None:
            message = scrub(message)
            error = record.__dict__.get("error")
            if isinstance(error, str):
                record.error = scrub(error)
        if message != original:
            record.msg, record.args = message, None
        return True


_FILTER = SecretFilter()
_installed = False
_install_lock = threading.Lock()


def protect(*secrets: str) -> None:
    """Mask `secrets` in the client libraries' logs from now on (idempotent)."""
    global _installed
    for secret in secrets:
        _FILTER.add(secret)
    with _install_lock:
        if not _installed:
            for name in LIBRARY_LOGGERS:
                logging.getLogger(name).addFilter(_FILTER)
            _installed = True


def secret_filter() -> SecretFilter:
    """The filter that masks every protected secret, for the application's own log handler."""
    return _FILTER
