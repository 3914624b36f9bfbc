"""The WSGI entry for gunicorn: `gunicorn 'gateway.wsgi:app'` (web only; run `gateway worker`s).

Set GATEWAY_INLINE_WORKERS=1 to also run worker threads inside each web process.
"""

from __future__ import annotations

import atexit
import os

from gateway.assemble import build_gateway
from gateway.config import Config
from gateway.logs import setup_logging
from gateway.turns.runtime import Runtime
from gateway.web.app import create_app

_config = Config.from_env()
setup_logging(_config.log_level)
_gateway = build_gateway(_config)
if os.environ.get("GATEWAY_INLINE_WORKERS") == "1":
    # A gunicorn worker that exits (a deploy, a restart) lets its turn workers finish: the
    # turn in hand is committed, the last reply recorded as sent, and the message its commit
    # claimed ahead goes back to the queue at once instead of waiting out its lease.
    atexit.register(Runtime(_gateway, _config.workers).start().stop)
app = create_app(_gateway)
