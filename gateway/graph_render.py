"""SVG pictures of a flow: `flows.graph.to_dot()` piped through Graphviz's `dot`.

This lives in the gateway, not in `flows/`, because it runs a process; the DOT text itself is
built by the pure `flows.graph`.
"""

from __future__ import annotations

import shutil
import subprocess

from flows.graph import to_dot
from flows.model import Flow

DEFAULT_TIMEOUT = 20.0  # seconds; a few hundred nodes lay out in well under one
INSTALL_HINT = "install Graphviz: apt-get install graphviz"


class GraphRenderError(RuntimeError):
    """Graphviz could not draw the picture."""


class GraphvizMissing(GraphRenderError):
    """The `dot` program is not installed (or not where we were told)."""


def to_svg(flow: Flow, dot_binary: str = "dot", timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """The flow drawn as SVG; raises `GraphvizMissing` or `GraphRenderError` with the fix."""
    return dot_to_svg(to_dot(flow), dot_binary, timeout)


def dot_to_svg(source: str, dot_binary: str = "dot", timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """Any DOT text through `dot -Tsvg`."""
    program = shutil.which(dot_binary)
    if program is None:
        raise GraphvizMissing(f"Graphviz's '{dot_binary}' program was not found; {INSTALL_HINT}")
    try:
        done = subprocess.run(
            [program, "-Tsvg"],
            input=source.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:  # removed between the lookup and the run
        raise GraphvizMissing(
            f"Graphviz's '{dot_binary}' program vanished; {INSTALL_HINT}"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise GraphRenderError(
            f"Graphviz took longer than {timeout:g}s to draw the flow; "
            "try again with a longer timeout"
        ) from exc
    except OSError as exc:
        raise GraphRenderError(f"cannot run Graphviz's '{program}': {exc}; {INSTALL_HINT}") from exc
    if done.returncode != 0:
        problem = done.stderr.decode("utf-8", "replace").strip()[:500] or "no message"
        raise GraphRenderError(f"Graphviz failed (exit {done.returncode}): {problem}")
    return done.stdout


__all__ = ["GraphRenderError", "GraphvizMissing", "dot_to_svg", "to_svg"]
