"""The live flows file: validated before it replaces the running version, reloaded on change.

A broken new file is refused with its errors in the log and the last good version keeps
serving; conversations never see a half-loaded flow because the swap is one reference.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path

from flows.loader import check_file
from flows.model import Flow

logger = logging.getLogger(__name__)


class FlowHolder:
    def __init__(self, path: Path, environ: Mapping[str, str]) -> None:
        self.path = path
        self.environ = environ
        self._mtime = 0.0
        self._lock = threading.Lock()
        result = check_file(path, environ)
        if result.flow is None:
            errors = "\n".join(d.format() for d in result.errors)
            raise SystemExit(f"{path} has errors; fix them before starting:\n{errors}")
        self.flow: Flow = result.flow
        self._mtime = _mtime(path)

    def reload(self) -> bool:
        """Load the file again; True when a new version went live."""
        with self._lock:
            mtime = _mtime(self.path)
            result = check_file(self.path, self.environ)
            self._mtime = mtime
            if result.flow is None:
                for diag in result.errors:
                    logger.error("flows_reload_refused", extra={"error": diag.format()})
                return False
            if result.flow.version == self.flow.version:
                return False
            self.flow = result.flow
            logger.info("flows_reloaded", extra={"version": self.flow.version})
            return True

    def reload_if_changed(self) -> bool:
        if _mtime(self.path) != self._mtime:
            return self.reload()
        return False

    def watch(self, stop: threading.Event, interval_s: float = 1.0) -> threading.Thread:
        """Poll the file's modification time in a daemon thread until `stop` is set."""

        def loop() -> None:
            while not stop.wait(interval_s):
                try:
                    self.reload_if_changed()
                except OSError as exc:
                    logger.warning("flows_watch_failed", extra={"error": type(exc).__name__})

        thread = threading.Thread(target=loop, name="flows-watch", daemon=True)
        thread.start()
        return thread


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0
