"""Structured logs: one JSON object per line, a stable event name, ids, never bodies or secrets.

Call sites log `logger.info("turn_done", extra={"conversation": key, "ms": 3.1})`; the formatter
turns the message and the known extra fields into one JSON line.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from adapters.common.redact import secret_filter

# Client libraries' own logging is kept at or above these levels whatever LOG_LEVEL says: below
# them they print whole requests, with shoppers' text and names (python-telegram-bot at DEBUG),
# query strings with credentials (urllib3 at DEBUG: the Graph appsecret_proof), or a dozen
# lines of request and response headers for every WhatsApp message (twilio at INFO).
LIBRARY_FLOORS = {
    "telegram": logging.INFO,
    "urllib3": logging.INFO,
    "httpx": logging.WARNING,
    "httpcore": logging.INFO,
    "twilio.http_client": logging.WARNING,
}
FIELDS = (
    "conversation", "channel", "message_id", "outbox_id", "attempt", "ms", "status", "code",
    "error", "kind", "version", "node", "count", "path", "worker",
)  # fmt: skip


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the whole process (idempotent)."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(secret_filter())  # our own tracebacks may carry a URL with a token
    root.addHandler(handler)
    root.setLevel(level)
    for name, floor in LIBRARY_FLOORS.items():
        logging.getLogger(name).setLevel(max(root.level, floor))
    logging.Formatter.converter = time.gmtime
