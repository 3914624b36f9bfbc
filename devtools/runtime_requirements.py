"""Write requirements-runtime.txt: the exact pins of what the product needs to run, no more.

The pins come from requirements.txt (the one lock file); which packages to keep is the closure
of pyproject's `dependencies` over the installed packages' own requirements. The image
installs this file, so it carries no test runner, browser driver, linter or profiler.

Run: `.venv/bin/python -m devtools.runtime_requirements` (`make lock` does it).
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
HEADER = (
    "# Exact pins of what the gateway needs at run time (the image installs this file).\n"
    "# Generated from requirements.txt and pyproject.toml by: make lock\n"
)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    """requirements.txt's `name==version` lines, by canonical name."""
    found: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            found[canonical(name)] = f"{name}=={version}"
    return found


def closure(roots: list[str]) -> set[str]:
    """Every distribution the roots need on this platform, extras included where asked."""
    env = {key: str(value) for key, value in default_environment().items()}
    seen: set[str] = set()
    todo = [Requirement(r) for r in roots]
    while todo:
        req = todo.pop()
        name = canonical(req.name)
        extras = req.extras
        key = name + "".join(sorted(f"[{e}]" for e in extras))
        if key in seen:
            continue
        seen.add(key)
        seen.add(name)
        for raw in metadata.requires(req.name) or []:
            dep = Requirement(raw)
            if dep.marker is None or any(
                dep.marker.evaluate({**env, "extra": extra}) for extra in (*extras, "")
            ):
                todo.append(dep)
    return {k for k in seen if "[" not in k}


def runtime_lines() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = pins(ROOT / "requirements.txt")
    needed = closure(project["dependencies"])
    missing = sorted(needed - pinned.keys())
    if missing:
        raise SystemExit(f"not pinned in requirements.txt: {', '.join(missing)} (make lock)")
    return [pinned[name] for name in sorted(needed)]


def main() -> None:
    out = ROOT / "requirements-runtime.txt"
    out.write_text(HEADER + "\n".join(runtime_lines()) + "\n")
    print(f"{out.name}: {len(runtime_lines())} packages", file=sys.stderr)


if __name__ == "__main__":
    main()
