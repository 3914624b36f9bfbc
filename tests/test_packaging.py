"""`pip install .` gives a gateway that starts: pyproject declares every package the product
imports, and the image's runtime pins are those of the lock file."""

from __future__ import annotations

import ast
import sys
from importlib import metadata

from devtools.runtime_requirements import canonical, closure, runtime_lines
from tests.conftest import ROOT

PRODUCT = ("gateway", "flows", "adapters")


def imported_top_level_modules() -> dict[str, str]:
    """Third-party modules the product imports, each with one file that does."""
    found: dict[str, str] = {}
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in PRODUCT:
                        found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_imported_package_is_a_declared_dependency() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = closure(project["dependencies"])
    providers = metadata.packages_distributions()
    undeclared = {
        module: where
        for module, where in imported_top_level_modules().items()
        if module != "_typeshed"  # type checkers' own stubs, under TYPE_CHECKING only
        and not any(canonical(d) in declared for d in providers.get(module, [module]))
    }
    assert undeclared == {}, f"add to pyproject's dependencies: {undeclared}"


def test_the_runtime_requirements_file_is_up_to_date() -> None:
    written = (ROOT / "requirements-runtime.txt").read_text().splitlines()
    lines = [line for line in written if line and not line.startswith("#")]
    assert lines == runtime_lines(), "run: make lock"


def test_the_runtime_set_leaves_out_the_test_and_bench_tools() -> None:
    names = {canonical(line.split("==")[0]) for line in runtime_lines()}
    assert not names & {"pytest", "playwright", "ruff", "hypothesis", "scikit-learn", "py-spy"}
