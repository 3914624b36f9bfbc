"""The sample flow's scripted conversations pass, and a failing one shows expected vs actual."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flows.flowtest import format_failure, run_file, text_matches
from tests.conftest import ROOT

SAMPLE_TESTS = ROOT / "tests" / "flows" / "sample.yaml"


@pytest.mark.parametrize("outcome", run_file(SAMPLE_TESTS), ids=lambda o: o.name)
def test_sample_flow_script(outcome) -> None:
    assert outcome.passed, format_failure(outcome)


def test_a_failing_script_shows_expected_and_actual_side_by_side(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        f"flow: {ROOT / 'flows.yaml'}\n"
        "tests:\n"
        "  - name: wrong greeting\n"
        "    variants: {bot_vs_callcenter: bot}\n"
        "    script:\n"
        "      - shopper: hi\n"
        "      - bot: Good evening, how may I serve you?\n"
    )
    (outcome,) = run_file(bad)
    assert not outcome.passed
    shown = format_failure(outcome, width=120)
    assert "line 7: the bot said something else" in shown
    assert "expected" in shown and "actual" in shown
    row = next(line for line in shown.splitlines() if "Good evening" in line)
    assert "Hi there! 👋 Welcome to Acme Shoes." in row  # the actual text, on the same row


def test_text_matching_folds_whitespace_and_takes_ellipsis_as_anything() -> None:
    assert text_matches("Hi  there", "Hi there")
    assert text_matches("Hi ... Shoes.", "Hi Ann! Welcome to Acme Shoes.")
    assert not text_matches("Hi", "Hi Ann")


def test_cli_runs_the_tests_of_flows_yaml_by_default() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "test"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1].endswith("passed, 0 failed")


def test_cli_test_exits_1_on_failure(tmp_path: Path) -> None:
    bad = tmp_path / "flows.tests.yaml"
    bad.write_text(
        f"flow: {ROOT / 'flows.yaml'}\ntests:\n  - name: x\n    script:\n      - shopper: hi\n      - bot: nope\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "test", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "FAIL x" in done.stdout and "0 passed, 1 failed" in done.stdout
